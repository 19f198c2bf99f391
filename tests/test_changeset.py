from __future__ import annotations

import base64
import bz2
import gzip
import hashlib
import io
import lzma
import struct
import tarfile
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from previewd.blobs import LocalBlobStore
from previewd.changeset import Changeset, FileSpec, from_json, from_parts, from_tar, from_zip
from previewd.config import Limits, MiB
from previewd.errors import (
    BlobNotFound,
    InvalidArchive,
    InvalidContent,
    InvalidPath,
    LimitExceeded,
    PreviewdError,
)

SMALL = Limits(max_files=5, max_file_bytes=1000, max_deployment_bytes=2500)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class SpyBlobs(LocalBlobStore):
    """A real blob store that remembers how it was written to."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.calls: list[str] = []

    def put(self, data: bytes) -> str:
        self.calls.append("put")
        return super().put(data)

    def put_stream(self, stream: Any, *, max_bytes: int) -> tuple[str, int]:
        self.calls.append("put_stream")
        return super().put_stream(stream, max_bytes=max_bytes)

    def stored(self) -> set[str]:
        """Digests of every blob on disk; also checks no temporary file was left."""
        assert list(self._tmp.iterdir()) == []
        return {p.parent.name + p.name for p in self.root.glob("??/*")}


@pytest.fixture
def blobs(tmp_path: Path) -> SpyBlobs:
    return SpyBlobs(tmp_path / "blobs")


class OneWay:
    """A stream that can only be read forwards, counting what was taken from it."""

    def __init__(self, source: bytes | io.BufferedIOBase) -> None:
        self.source = io.BytesIO(source) if isinstance(source, bytes) else source
        self.consumed = 0

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size)
        self.consumed += len(data)
        return data


def fails(
    error: type[PreviewdError], call: Any, *args: Any, names: tuple[str, ...] = ()
) -> PreviewdError:
    """Run ``call(*args)``; it must raise ``error`` whose message holds every one of ``names``."""
    with pytest.raises(error) as caught:
        call(*args)
    for name in names:
        assert name in caught.value.message, f"{name!r} not in {caught.value.message!r}"
    return caught.value


# JSON ---------------------------------------------------------------------------------


def test_json_happy_path(blobs: SpyBlobs) -> None:
    stored = blobs.put(b"\x89PNG...")
    body = {
        "files": {
            "index.html": "<h1>hi</h1>\n",
            "./run.sh": {"content": "#!/bin/sh\n", "mode": 0o755},
            "bin/data": {"content": base64.b64encode(b"\x00\xff").decode(), "encoding": "base64"},
            "logo.png": {"digest": stored, "size": 7, "mode": 0o744},
            "é.txt": {"content": "x", "encoding": "utf-8", "mode": 0o600},
        },
        "delete": ["old.css", "./gone/x.js"],
        "base": "latest",
    }
    changeset = from_json(body, blobs, Limits())
    assert changeset == Changeset(
        files={
            "index.html": FileSpec(sha(b"<h1>hi</h1>\n"), 12, 0o644),
            "run.sh": FileSpec(sha(b"#!/bin/sh\n"), 10, 0o755),
            "bin/data": FileSpec(sha(b"\x00\xff"), 2, 0o644),
            "logo.png": FileSpec(stored, 7, 0o755),
            "é.txt": FileSpec(sha(b"x"), 1, 0o644),
        },
        deletes={"old.css", "gone/x.js"},
        base="latest",
    )
    for path, spec in changeset.files.items():
        assert blobs.size(spec.digest) == spec.size, path
    assert blobs.read(changeset.files["bin/data"].digest) == b"\x00\xff"


def test_json_minimal_body_has_no_base(blobs: SpyBlobs) -> None:
    changeset = from_json({"files": {}}, blobs, Limits())
    assert changeset == Changeset(files={}, deletes=set(), base=None)


def test_json_same_content_twice_stores_one_blob(blobs: SpyBlobs) -> None:
    body = {
        "files": {
            "a.txt": "same",
            "b/a.txt": "same",
            "c": {"content": "c2FtZQ==", "encoding": "base64"},
        }
    }
    changeset = from_json(body, blobs, Limits())
    assert {spec.digest for spec in changeset.files.values()} == {sha(b"same")}
    assert blobs.stored() == {sha(b"same")}
    from_json(body, blobs, Limits())
    assert blobs.stored() == {sha(b"same")}


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ([], ("body", "JSON object")),
        ({"file": {}}, ("'file'",)),
        ({}, ("'files'",)),
        ({"files": ["a.txt"]}, ("'files'",)),
        ({"files": {}, "delete": "a.txt"}, ("'delete'",)),
        ({"files": {}, "delete": [1]}, ("'delete'",)),
        ({"files": {}, "base": 3}, ("'base'",)),
        ({"files": {}, "base": ""}, ("'base'",)),
        ({"files": {"a.txt": 1}}, ("'a.txt'", "string or an object")),
        ({"files": {"a.txt": None}}, ("'a.txt'",)),
        ({"files": {"a.txt": {"contents": "x"}}}, ("'a.txt'", "'contents'")),
        ({"files": {"a.txt": {}}}, ("'a.txt'", "'content' and 'digest'")),
        ({"files": {"a.txt": {"content": "x", "digest": "0" * 64}}}, ("'a.txt'",)),
        ({"files": {"a.txt": {"content": 5}}}, ("'content'", "'a.txt'")),
        ({"files": {"a.txt": {"content": "x", "encoding": "hex"}}}, ("'encoding'", "'hex'")),
        ({"files": {"a.txt": {"content": "x", "size": 1}}}, ("'a.txt'", "'size'")),
        ({"files": {"a.txt": {"content": "x", "mode": "755"}}}, ("'mode'", "'a.txt'")),
        ({"files": {"a.txt": {"content": "x", "mode": True}}}, ("'mode'", "'a.txt'")),
        ({"files": {"a.txt": {"content": "x", "mode": -1}}}, ("'mode'", "'a.txt'")),
        ({"files": {"a.txt": {"content": "x", "mode": 0o17777}}}, ("'mode'", "'a.txt'")),
        ({"files": {"a.txt": "\ud800"}}, ("'a.txt'", "UTF-8")),
        ({"files": {"a.txt": {"digest": "ABC"}}}, ("'digest'", "'a.txt'")),
        ({"files": {"a.txt": {"digest": 12}}}, ("'digest'", "'a.txt'")),
        (
            {"files": {"a.txt": {"digest": "0" * 64, "encoding": "base64"}}},
            ("'a.txt'", "'encoding'"),
        ),
    ],
)
def test_json_refuses_malformed_bodies(body: Any, names: tuple[str, ...], blobs: SpyBlobs) -> None:
    fails(InvalidContent, from_json, body, blobs, Limits(), names=names)
    assert blobs.stored() == set()


def test_json_refuses_invalid_base64(blobs: SpyBlobs) -> None:
    body = {"files": {"img/a.png": {"content": "not base64!", "encoding": "base64"}}}
    error = fails(InvalidContent, from_json, body, blobs, Limits(), names=("'img/a.png'", "base64"))
    assert error.status == 400


def test_json_refuses_a_digest_not_in_the_store(blobs: SpyBlobs) -> None:
    missing = sha(b"never uploaded")
    body = {"files": {"big.bin": {"digest": missing}}}
    error = fails(BlobNotFound, from_json, body, blobs, Limits(), names=("'big.bin'", missing))
    assert error.status == 404


def test_json_refuses_a_wrong_size_for_a_digest(blobs: SpyBlobs) -> None:
    digest = blobs.put(b"12345")
    body = {"files": {"x": {"digest": digest, "size": 4}}}
    fails(InvalidContent, from_json, body, blobs, Limits(), names=("'x'", "'size'", "5"))


@pytest.mark.parametrize(
    ("files", "delete", "names"),
    [
        ({"../etc/passwd": "x"}, [], ("'../etc/passwd'", "'..'")),
        ({"ok.txt": "x"}, ["/abs"], ("'/abs'", "absolute")),
        ({"a.txt": "x"}, ["a.txt"], ("'a.txt'", "written and deleted")),
        ({"a.txt": "x"}, ["./a.txt"], ("'a.txt'", "written and deleted")),
        ({"a.txt": "x", "./a.txt": "y"}, [], ("'a.txt'", "twice")),
        ({"A.txt": "x"}, ["a.txt"], ("'A.txt'", "'a.txt'", "case")),
        ({"lib": "x"}, ["lib/old.js"], ("'lib'", "'lib/old.js'", "directory")),
        ({"\u00e9": "x", "e\u0301": "y"}, [], ("'\u00e9'", "twice")),  # equal once NFC
    ],
)
def test_json_refuses_bad_and_colliding_paths(
    files: dict[str, str], delete: list[str], names: tuple[str, ...], blobs: SpyBlobs
) -> None:
    fails(InvalidPath, from_json, {"files": files, "delete": delete}, blobs, Limits(), names=names)
    assert blobs.stored() == set()  # paths are checked before anything is written


@pytest.mark.parametrize(
    ("files", "names"),
    [
        ({f"f{i}": "x" for i in range(6)}, ("More than 5 files", "'f5'")),
        ({"small": "x", "big.bin": "x" * 1001}, ("'big.bin'", "1000 bytes")),
        ({f"f{i}": "x" * 900 for i in range(3)}, ("add up to more than", "2500", "'f2'")),
    ],
)
def test_json_limits(files: dict[str, str], names: tuple[str, ...], blobs: SpyBlobs) -> None:
    error = fails(LimitExceeded, from_json, {"files": files}, blobs, SMALL, names=names)
    assert error.status == 413
    assert blobs.stored() == set()


def test_json_counts_stored_blobs_against_the_limits(blobs: SpyBlobs) -> None:
    digest = blobs.put(b"x" * 2000)
    body = {"files": {"a": {"digest": digest}, "b": "y" * 600}}
    fails(LimitExceeded, from_json, body, blobs, Limits(max_deployment_bytes=2500), names=("'b'",))


# tar ----------------------------------------------------------------------------------


def member(
    name: str, data: bytes = b"", mode: int = 0o644, **attrs: Any
) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    for key, value in attrs.items():
        setattr(info, key, value)
    if info.type != tarfile.REGTYPE:
        info.size = 0
    return info, data


def make_tar(*members: tuple[tarfile.TarInfo, bytes], compression: str = "", **kw: Any) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=f"w:{compression}", **kw) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buffer.getvalue()


def read_tar(data: bytes, blobs: SpyBlobs, limits: Limits | None = None) -> Changeset:
    return from_tar(OneWay(data), blobs, limits or Limits())  # type: ignore[arg-type]


TREE = (
    member("./", type=tarfile.DIRTYPE),
    member("./site-main", type=tarfile.DIRTYPE),
    member("./site-main/index.html", b"<h1>hello</h1>\n"),
    member("./site-main/bin/serve", b"#!/bin/sh\nexec true\n", mode=0o750),
    member("./site-main/copy.html", b"<h1>hello</h1>\n", mode=0o600),
)


@pytest.mark.parametrize("compression", ["", "gz", "bz2", "xz"])
def test_tar_happy_path(compression: str, blobs: SpyBlobs) -> None:
    changeset = read_tar(make_tar(*TREE, compression=compression), blobs)
    page = FileSpec(sha(b"<h1>hello</h1>\n"), 15, 0o644)
    assert changeset == Changeset(
        files={
            "site-main/index.html": page,  # the top-level directory is kept
            "site-main/bin/serve": FileSpec(sha(b"#!/bin/sh\nexec true\n"), 20, 0o755),
            "site-main/copy.html": page,
        },
        deletes=set(),
        base=None,
    )
    assert blobs.stored() == {page.digest, sha(b"#!/bin/sh\nexec true\n")}
    assert blobs.read(page.digest) == b"<h1>hello</h1>\n"
    assert set(blobs.calls) == {"put_stream"}  # contents are streamed, never read whole


@pytest.mark.parametrize("first", ["BZh9.txt", "BZh.txt", "PKGBUILD"])
def test_tar_whose_first_name_looks_like_magic_bytes(first: str, blobs: SpyBlobs) -> None:
    changeset = read_tar(make_tar(member(first, b"x"), member("z", b"y")), blobs)
    assert list(changeset.files) == [first, "z"]


def test_tar_with_pax_and_gnu_long_names(blobs: SpyBlobs) -> None:
    long = "/".join(["d" * 100] * 3) + "/é.txt"
    for fmt in (tarfile.PAX_FORMAT, tarfile.GNU_FORMAT):
        changeset = read_tar(make_tar(member(long, b"x"), format=fmt), blobs)
        assert list(changeset.files) == [long]


@pytest.mark.parametrize(
    ("info", "kind"),
    [
        (
            member("link", type=tarfile.SYMTYPE, linkname="/etc/passwd"),
            "symbolic link to '/etc/passwd'",
        ),
        (member("hard", type=tarfile.LNKTYPE, linkname="index.html"), "hard link to 'index.html'"),
        (member("tty", type=tarfile.CHRTYPE, devmajor=4, devminor=1), "character device"),
        (member("sda", type=tarfile.BLKTYPE, devmajor=8), "block device"),
        (member("pipe", type=tarfile.FIFOTYPE), "FIFO"),
        (member("vol", type=b"V"), "unsupported type b'V'"),
    ],
)
def test_tar_refuses_links_and_devices(info: Any, kind: str, blobs: SpyBlobs) -> None:
    data = make_tar(member("index.html", b"x"), info, format=tarfile.GNU_FORMAT)
    name = info[0].name
    fails(InvalidArchive, read_tar, data, blobs, names=(f"'{name}'", kind))


@pytest.mark.parametrize(
    ("names", "error", "fragments"),
    [
        (["a.txt", "a.txt"], InvalidPath, ("'a.txt'", "twice")),
        (["a.txt", "./a.txt"], InvalidPath, ("'a.txt'", "twice")),
        (["App.js", "app.js"], InvalidPath, ("'App.js'", "'app.js'", "case")),
        (["caf\u00e9.txt", "cafe\u0301.txt"], InvalidPath, ("'café.txt'", "twice")),
        (["lib", "lib/x.js"], InvalidPath, ("'lib' is a file", "'lib/x.js'")),
        (["../escape.txt"], InvalidPath, ("'../escape.txt'", "'..'")),
        (["/etc/cron.d/x"], InvalidPath, ("'/etc/cron.d/x'", "absolute")),
        (["C:\\evil.txt"], InvalidPath, ("'C:\\\\evil.txt'", "drive")),
        (["dir\\file.txt"], InvalidPath, ("'dir\\\\file.txt'", "backslash")),
        (["a\x1b[2Jb"], InvalidPath, ("'a\\x1b[2Jb'", "control character")),
        ([".git/hooks/post-checkout"], InvalidPath, ("'.git/hooks/post-checkout'", ".git")),
        (["n" * 300], InvalidPath, ("longer than 255 bytes",)),
    ],
)
def test_tar_refuses_bad_paths(
    names: list[str], error: type[PreviewdError], fragments: tuple[str, ...], blobs: SpyBlobs
) -> None:
    data = make_tar(*(member(name, b"x") for name in names))
    fails(error, read_tar, data, blobs, names=fragments)


def test_tar_refuses_names_that_are_not_utf8(blobs: SpyBlobs) -> None:
    data = make_tar(member("caf\xe9.txt", b"x"), format=tarfile.GNU_FORMAT, encoding="latin-1")
    fails(InvalidPath, read_tar, data, blobs, names=("'caf\\udce9.txt'", "UTF-8"))


@pytest.mark.parametrize(
    ("sizes", "names"),
    [
        ([1] * 6, ("More than 5 files", "'f5'")),
        ([10, 1001], ("'f1'", "larger than the limit of 1000 bytes")),
        ([900, 900, 900], ("add up to more than the limit of 2500 bytes", "'f2'")),
    ],
)
def test_tar_limits(sizes: list[int], names: tuple[str, ...], blobs: SpyBlobs) -> None:
    data = make_tar(
        *(member(f"f{i}", b"x" * size) for i, size in enumerate(sizes)), compression="gz"
    )
    fails(LimitExceeded, read_tar, data, blobs, SMALL, names=names)
    assert len(blobs.stored()) <= 1  # what came before the offender, never the offender


def test_tar_limits_directory_entries(blobs: SpyBlobs) -> None:
    dirs = [member(f"d{i}", type=tarfile.DIRTYPE) for i in range(120)]
    fails(LimitExceeded, read_tar, make_tar(*dirs), blobs, SMALL, names=("more than 110 entries",))


def _gzip_bomb(path: Path, *files: tuple[str, int]) -> Path:
    """A .tar.gz of files of zeros, written without ever holding or compressing them whole.

    Concatenated gzip members are one gzip stream, so one compressed MiB of
    zeros, repeated, makes a file that inflates a thousandfold.
    """
    zeros = gzip.compress(bytes(MiB), compresslevel=9)
    with path.open("wb") as out:
        for name, size in files:
            info = tarfile.TarInfo(name)
            info.size = size
            out.write(gzip.compress(info.tobuf(format=tarfile.GNU_FORMAT)))
            for _ in range(size // MiB):
                out.write(zeros)
        out.write(gzip.compress(bytes(2 * tarfile.BLOCKSIZE)))
    return path


def test_tar_gzip_bomb_is_stopped_early(tmp_path: Path, blobs: SpyBlobs) -> None:
    bomb = _gzip_bomb(tmp_path / "bomb.tar.gz", ("zeros.bin", 1024 * MiB))  # 1 GiB
    assert bomb.stat().st_size < 2 * MiB
    with bomb.open("rb") as f:
        stream = OneWay(f)  # type: ignore[arg-type]
        fails(LimitExceeded, from_tar, stream, blobs, Limits(), names=("'zeros.bin'", "larger"))
    # Stopped just past the 50 MiB file limit: about 1/20 of the input was read.
    assert stream.consumed < bomb.stat().st_size / 10
    assert blobs.stored() == set()


def test_tar_gzip_bomb_of_many_files_is_stopped_at_the_total(
    tmp_path: Path, blobs: SpyBlobs
) -> None:
    bomb = _gzip_bomb(tmp_path / "many.tar.gz", *((f"z{i}", MiB) for i in range(200)))
    limits = Limits(max_file_bytes=2 * MiB, max_deployment_bytes=8 * MiB)
    with bomb.open("rb") as f:
        stream = OneWay(f)  # type: ignore[arg-type]
        fails(LimitExceeded, from_tar, stream, blobs, limits, names=("add up to more", "'z8'"))
    assert stream.consumed < bomb.stat().st_size / 10


def test_tar_bytes_outside_files_count_too(blobs: SpyBlobs) -> None:
    # A GNU long-name header is not file content, yet tarfile inflates it: ~800 KB
    # here, under the 1 MiB header cap but past what 1 file of 1000 bytes needs.
    long_name = tarfile.TarInfo("n" * 800_000).tobuf(format=tarfile.GNU_FORMAT)
    limits = Limits(max_files=1, max_deployment_bytes=1000)
    raw = long_name + bytes(1024)
    fails(LimitExceeded, read_tar, gzip.compress(raw), blobs, limits, names=("archive bomb",))


def test_tar_refuses_a_huge_extended_header(blobs: SpyBlobs) -> None:
    info = tarfile.TarInfo("x")
    info.type, info.size = tarfile.XHDTYPE, 2 * MiB
    raw = info.tobuf(format=tarfile.USTAR_FORMAT) + bytes(2 * MiB) + bytes(1024)
    fails(
        InvalidArchive, read_tar, gzip.compress(raw), blobs, names=("extended header", str(2 * MiB))
    )


def _corrupt_second_header(data: bytes) -> bytes:
    broken = bytearray(data)
    broken[1024 + 10] ^= 0xFF  # the second member's name; its checksum no longer fits
    return bytes(broken)


GOOD = make_tar(member("a.txt", b"a" * 100), member("b.txt", b"b" * 100))


@pytest.mark.parametrize(
    ("data", "names"),
    [
        (b"", ("corrupt or truncated",)),
        (b"this is not an archive at all" * 40, ("corrupt or truncated",)),
        (GOOD[:700], ("corrupt or truncated",)),  # inside the first file's data
        (GOOD[: 1024 + 100], ("corrupt or truncated",)),  # inside the second header
        (GOOD[:2048], ("corrupt or truncated",)),  # no end-of-archive marker
        (_corrupt_second_header(GOOD), ("corrupt or truncated", "checksum")),
        (gzip.compress(GOOD)[:-30], ("gzip", "corrupt or truncated")),
        (gzip.compress(GOOD)[:10] + b"garbage!" * 20, ("gzip", "corrupt or truncated")),
        (bz2.compress(GOOD)[:-10], ("bzip2", "corrupt or truncated")),
        (lzma.compress(GOOD)[:-10], ("xz", "corrupt or truncated")),
        (b"PK\x03\x04" + bytes(100), ("zip archive, not a tar",)),
        (b"\x28\xb5\x2f\xfd" + bytes(100), ("zstd",)),
    ],
)
def test_tar_refuses_corrupt_archives(data: bytes, names: tuple[str, ...], blobs: SpyBlobs) -> None:
    fails(InvalidArchive, read_tar, data, blobs, names=names)
    assert list((blobs.root / "tmp").iterdir()) == []


def test_tar_empty_archive_is_an_empty_changeset(blobs: SpyBlobs) -> None:
    assert read_tar(make_tar(), blobs) == Changeset(files={}, deletes=set())


# zip ----------------------------------------------------------------------------------


def zip_entry(name: str, mode: int = 0o100644) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
    info.external_attr = mode << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def make_zip(*entries: tuple[zipfile.ZipInfo | str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names, on purpose here
        for entry, data in entries:
            archive.writestr(entry, data)
    return buffer.getvalue()


def read_zip(data: bytes, blobs: SpyBlobs, limits: Limits | None = None) -> Changeset:
    return from_zip(io.BytesIO(data), blobs, limits or Limits())


def test_zip_happy_path(blobs: SpyBlobs) -> None:
    stored = zip_entry("repo-main/raw.txt")
    stored.compress_type = zipfile.ZIP_STORED
    squeezed = zip_entry("repo-main/lzma.txt")
    squeezed.compress_type = zipfile.ZIP_LZMA
    data = make_zip(
        (zip_entry("repo-main/", 0o40755), b""),
        ("repo-main/index.html", b"<p>hi</p>"),  # made on "Windows": no unix mode at all
        (zip_entry("repo-main/start.sh", 0o100755), b"#!/bin/sh\n"),
        (stored, b"stored"),
        (squeezed, b"<p>hi</p>"),
        (zip_entry("repo-main/dir/", 0o40755), b""),
    )
    changeset = read_zip(data, blobs)
    page = FileSpec(sha(b"<p>hi</p>"), 9, 0o644)
    assert changeset == Changeset(
        files={
            "repo-main/index.html": page,
            "repo-main/start.sh": FileSpec(sha(b"#!/bin/sh\n"), 10, 0o755),
            "repo-main/raw.txt": FileSpec(sha(b"stored"), 6, 0o644),
            "repo-main/lzma.txt": page,
        }
    )
    assert blobs.stored() == {page.digest, sha(b"#!/bin/sh\n"), sha(b"stored")}
    assert set(blobs.calls) == {"put_stream"}


@pytest.mark.parametrize(
    ("mode", "kind"),
    [
        (0o120777, "symbolic link"),
        (0o010644, "FIFO"),
        (0o020644, "character device"),
        (0o060644, "block device"),
        (0o140755, "socket"),
    ],
)
def test_zip_refuses_links_and_devices(mode: int, kind: str, blobs: SpyBlobs) -> None:
    data = make_zip(("ok.txt", b"x"), (zip_entry("assets/link", mode), b"/etc/passwd"))
    fails(InvalidArchive, read_zip, data, blobs, names=("'assets/link'", kind))
    assert blobs.stored() == set()  # refused before anything was read


@pytest.mark.parametrize(
    ("names", "fragments"),
    [
        (["a.txt", "a.txt"], ("'a.txt'", "twice")),
        (["Index.html", "index.HTML"], ("'Index.html'", "'index.HTML'", "case")),
        (["n\u00e4me", "na\u0308me"], ("'n\u00e4me'", "twice")),
        (["x/y", "x"], ("'x' is a file", "'x/y'")),
        (["../../evil.sh"], ("'../../evil.sh'", "'..'")),
        (["/root/.ssh/authorized_keys"], ("absolute",)),
        (["C:/Users/x"], ("'C:/Users/x'", "drive")),
        (["a\\b"], ("'a\\\\b'", "backslash")),
        (["deep/.git/config"], ("'deep/.git/config'", ".git")),
    ],
)
def test_zip_refuses_bad_paths(
    names: list[str], fragments: tuple[str, ...], blobs: SpyBlobs
) -> None:
    fails(
        InvalidPath, read_zip, make_zip(*((name, b"x") for name in names)), blobs, names=fragments
    )
    assert blobs.stored() == set()


@pytest.mark.parametrize(
    ("sizes", "names"),
    [
        ([1] * 6, ("More than 5 files", "'f5'")),
        ([10, 1001], ("'f1'", "larger than the limit of 1000 bytes")),
        ([900, 900, 900], ("add up to more than the limit of 2500 bytes", "'f2'")),
    ],
)
def test_zip_limits_are_checked_up_front(
    sizes: list[int], names: tuple[str, ...], blobs: SpyBlobs
) -> None:
    data = make_zip(*((f"f{i}", b"x" * size) for i, size in enumerate(sizes)))
    fails(LimitExceeded, read_zip, data, blobs, SMALL, names=names)
    assert blobs.stored() == set()


def test_zip_bomb_is_refused_by_its_ratio(blobs: SpyBlobs) -> None:
    data = make_zip(("ok.txt", b"fine"), ("zeros.bin", bytes(16 * MiB)))
    assert len(data) < 100_000
    fails(LimitExceeded, read_zip, data, blobs, names=("'zeros.bin'", "zip bomb"))
    assert blobs.stored() == set()


def test_zip_compressible_small_files_are_fine(blobs: SpyBlobs) -> None:
    changeset = read_zip(make_zip(("zeros.bin", bytes(MiB))), blobs)  # 1000:1, but only 1 MiB
    assert changeset.files["zeros.bin"].size == MiB


def test_zip_refuses_a_nul_in_a_name(blobs: SpyBlobs) -> None:
    # zipfile cuts names at a NUL, both writing and reading; patch one in.
    data = make_zip(("safe.txt#.exe", b"x")).replace(b"safe.txt#.exe", b"safe.txt\x00.exe")
    fails(InvalidPath, read_zip, data, blobs, names=("'safe.txt\\x00.exe'", "control character"))


def _patch_sizes(data: bytes, name: bytes, size: int) -> bytes:
    """Make the entry ``name`` declare ``size`` uncompressed bytes, everywhere."""
    out = bytearray(data)
    local = out.find(b"PK\x03\x04")
    while local >= 0:
        (name_len,) = struct.unpack_from("<H", out, local + 26)
        if out[local + 30 : local + 30 + name_len] == name:
            struct.pack_into("<I", out, local + 22, size)
        local = out.find(b"PK\x03\x04", local + 4)
    central = out.find(b"PK\x01\x02")
    while central >= 0:
        (name_len,) = struct.unpack_from("<H", out, central + 28)
        if out[central + 46 : central + 46 + name_len] == name:
            struct.pack_into("<I", out, central + 24, size)
        central = out.find(b"PK\x01\x02", central + 4)
    return bytes(out)


def test_zip_member_that_holds_more_than_it_declares(blobs: SpyBlobs) -> None:
    data = _patch_sizes(make_zip(("liar.bin", bytes(range(256)) * 400)), b"liar.bin", 1000)
    fails(InvalidArchive, read_zip, data, blobs, names=("'liar.bin'", "corrupt"))


def _patch_central(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, out.index(b"PK\x01\x02") + offset, value)
    return bytes(out)


def _flip_data(data: bytes) -> bytes:
    out = bytearray(data)
    for i in range(60, 90):
        out[i] ^= 0x55
    return bytes(out)


TEXT_ZIP = make_zip(("page.html", b"<p>some text that compresses</p>" * 100))


@pytest.mark.parametrize(
    ("data", "names"),
    [
        (b"", ("corrupt or truncated",)),
        (b"not a zip" * 100, ("corrupt or truncated",)),
        (TEXT_ZIP[: len(TEXT_ZIP) // 2], ("corrupt or truncated",)),
        (_flip_data(TEXT_ZIP), ("'page.html'", "corrupt")),
        (_patch_central(TEXT_ZIP, 16, "<I", 0xDEADBEEF), ("'page.html'", "corrupt", "CRC")),
        (_patch_central(TEXT_ZIP, 8, "<H", 0x1), ("'page.html'", "encrypted")),
        (_patch_central(TEXT_ZIP, 10, "<H", 9), ("'page.html'", "compression method 9")),
        (TEXT_ZIP.replace(b"page.html", b"page.htm!", 1), ("'page.html'", "corrupt")),
    ],
)
def test_zip_refuses_corrupt_archives(data: bytes, names: tuple[str, ...], blobs: SpyBlobs) -> None:
    fails(InvalidArchive, read_zip, data, blobs, names=names)
    assert list((blobs.root / "tmp").iterdir()) == []


# multipart ----------------------------------------------------------------------------


def parts(*items: tuple[str, bytes]) -> Iterator[tuple[str, io.BytesIO]]:
    return ((name, io.BytesIO(data)) for name, data in items)


def test_parts_happy_path(blobs: SpyBlobs) -> None:
    changeset = from_parts(
        parts(("index.html", b"<p>"), ("./css/a.css", b"p{}"), ("b.css", b"p{}")), blobs, Limits()
    )
    assert changeset == Changeset(
        files={
            "index.html": FileSpec(sha(b"<p>"), 3, 0o644),
            "css/a.css": FileSpec(sha(b"p{}"), 3, 0o644),
            "b.css": FileSpec(sha(b"p{}"), 3, 0o644),
        }
    )
    assert blobs.stored() == {sha(b"<p>"), sha(b"p{}")}
    assert set(blobs.calls) == {"put_stream"}


@pytest.mark.parametrize(
    ("items", "error", "names"),
    [
        ([("../x", b"")], InvalidPath, ("'../x'",)),
        ([("a", b""), ("A", b"")], InvalidPath, ("'a'", "'A'")),
        ([("a", b""), ("a/b", b"")], InvalidPath, ("'a' is a file", "'a/b'")),
        ([(f"f{i}", b"") for i in range(6)], LimitExceeded, ("More than 5 files",)),
        ([("big", b"x" * 1001)], LimitExceeded, ("'big'", "1000 bytes")),
        (
            [("a", b"x" * 1000), ("b", b"x" * 1000), ("c", b"x" * 501)],
            LimitExceeded,
            ("'c'", "add up"),
        ),
    ],
)
def test_parts_refuses(
    items: list[tuple[str, bytes]],
    error: type[PreviewdError],
    names: tuple[str, ...],
    blobs: SpyBlobs,
) -> None:
    fails(error, from_parts, parts(*items), blobs, SMALL, names=names)
    assert list((blobs.root / "tmp").iterdir()) == []


def test_a_file_at_the_limits_is_accepted(blobs: SpyBlobs) -> None:
    items = [("a", b"x" * 1000), ("b", b"y" * 1000), ("c", b"z" * 500)]
    changeset = from_parts(parts(*items), blobs, SMALL)
    assert sum(spec.size for spec in changeset.files.values()) == 2500
    tar = make_tar(*(member(name, data) for name, data in items))
    assert read_tar(tar, blobs, SMALL) == changeset
    assert read_zip(make_zip(*items), blobs, SMALL) == changeset


@pytest.mark.parametrize(
    "data",
    [
        GOOD + GOOD,  # two archives, one after the other
        GOOD + b"trailing garbage",
        GOOD + bytes(2 * MiB),  # more padding than any tar writes
        gzip.compress(GOOD) + gzip.compress(GOOD),
    ],
)
def test_tar_refuses_data_after_the_end(data: bytes, blobs: SpyBlobs) -> None:
    fails(InvalidArchive, read_tar, data, blobs, names=("after its end-of-archive marker",))


def test_tar_allows_zero_padding_after_the_end(blobs: SpyBlobs) -> None:
    changeset = read_tar(GOOD + bytes(20 * tarfile.RECORDSIZE), blobs)
    assert sorted(changeset.files) == ["a.txt", "b.txt"]
