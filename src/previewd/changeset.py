"""Changesets: an upload (JSON, tar, zip or multipart) turned into validated files.

Every parser does the same three things: it passes each name through
:func:`previewd.paths.clean_path`, streams each content into the blob store
while counting the bytes it really got (never the sizes an archive claims),
and checks the whole set of paths for collisions. A rejected upload leaves at
most orphan blobs behind: they are content-addressed and nothing points at
them.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import gzip
import hashlib
import lzma
import re
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, BinaryIO, cast

from previewd.blobs import BlobStore, is_digest
from previewd.config import Limits, MiB
from previewd.errors import (
    BlobNotFound,
    InvalidArchive,
    InvalidContent,
    InvalidPath,
    LimitExceeded,
)
from previewd.paths import check_collisions, clean_path

BOMB_RATIO = 200  # deflate tops out near 1000:1; real files stay far below 200:1
BOMB_MIN_BYTES = 1 * MiB
_TAR_META_BYTES = 1 * MiB  # tarfile reads a pax or GNU long-name header into memory whole
_TAR_ENTRY_BYTES = 4096  # what one entry may add to its content: headers and padding
_TAR_TRAILER_BYTES = 1 * MiB  # zeros after the end-of-archive marker: record padding


@dataclass(frozen=True, slots=True)
class FileSpec:
    digest: str  # sha256 hex; the content is already in the blob store
    size: int
    mode: int  # 0o644 or 0o755: only the executable bit is kept


@dataclass
class Changeset:
    files: dict[str, FileSpec]  # clean path -> content written or overwritten
    deletes: set[str] = field(default_factory=set)  # clean paths removed from the base
    base: str | None = None  # "latest", a deployment id, or None for a fresh snapshot


def file_mode(mode: int) -> int:
    """Keep only what a deployment cares about: executable or not."""
    return 0o755 if mode & 0o111 else 0o644


def _check_size(limits: Limits, path: str, size: int, total_before: int) -> None:
    if size > limits.max_file_bytes or total_before + size > limits.max_deployment_bytes:
        raise _too_large(limits, path, size)


def _too_large(limits: Limits, path: str, size: int) -> LimitExceeded:
    """The error for a file of ``size`` bytes that does not fit (the file, or the total)."""
    if size > limits.max_file_bytes:
        return LimitExceeded(
            f"The file {path!r} is larger than the limit of {limits.max_file_bytes} bytes.",
            hint="Leave large media out of the preview, or make it smaller.",
        )
    return LimitExceeded(
        f"The files add up to more than the limit of {limits.max_deployment_bytes} bytes "
        f"(passed at {path!r}).",
        hint="Leave out build output, dependencies and large media.",
    )


class _Builder:
    """Collects the files of one changeset, holding them to the limits as they arrive."""

    def __init__(self, blobs: BlobStore, limits: Limits) -> None:
        self.blobs = blobs
        self.limits = limits
        self.files: dict[str, FileSpec] = {}
        self.paths: list[str] = []  # every path counted, duplicates included
        self.total = 0

    def count(self, path: str) -> None:
        """Take one more file, or raise LimitExceeded."""
        if len(self.paths) >= self.limits.max_files:
            raise LimitExceeded(
                f"More than {self.limits.max_files} files (the next one is {path!r}).",
                hint="Leave out build output and dependencies such as node_modules.",
            )
        self.paths.append(path)

    def add(self, path: str, spec: FileSpec) -> None:
        _check_size(self.limits, path, spec.size, self.total)
        self.total += spec.size
        self.files[path] = spec

    def add_stream(self, path: str, stream: BinaryIO, mode: int) -> None:
        room = min(self.limits.max_file_bytes, self.limits.max_deployment_bytes - self.total)
        # The meter stops the stream before put_stream's own limit would, naming the file.
        meter = _Meter(stream, room, lambda size: _too_large(self.limits, path, size))
        digest, size = self.blobs.put_stream(cast(BinaryIO, meter), max_bytes=room)
        self.add(path, FileSpec(digest, size, file_mode(mode)))

    def finish(self, deletes: Iterable[str] = (), base: str | None = None) -> Changeset:
        deletes = set(deletes)
        if both := sorted(deletes & self.files.keys()):
            raise InvalidPath(f"The path {both[0]!r} is both written and deleted.")
        check_collisions([*self.paths, *sorted(deletes)])
        return Changeset(files=self.files, deletes=deletes, base=base)


class _Meter:
    """A reader that raises ``too_much(bytes so far)`` once more than ``limit`` bytes came."""

    def __init__(self, inner: Any, limit: int, too_much: Callable[[int], Exception]) -> None:
        self.inner = inner
        self.limit = limit
        self.too_much = too_much
        self.seen = 0

    def read(self, size: int = -1) -> bytes:
        data: bytes = self.inner.read(size)
        self.seen += len(data)
        if self.seen > self.limit:
            raise self.too_much(self.seen)
        return data


class _Guard:
    """A reader that turns a decompressor's complaints into InvalidArchive about ``what``."""

    def __init__(self, inner: Any, what: str, errors: tuple[type[Exception], ...]) -> None:
        self.inner = inner
        self.what = what
        self.errors = errors

    def read(self, size: int = -1) -> bytes:
        try:
            data: bytes = self.inner.read(size)
        except self.errors as e:
            raise _corrupt(self.what, e) from None
        return data


def _corrupt(what: str, error: Exception | str) -> InvalidArchive:
    reason = str(error).rstrip(".") or type(error).__name__
    return InvalidArchive(
        f"{what} is corrupt or truncated: {reason}.",
        hint="Check that the whole archive was sent and that tar or unzip can read it.",
    )


# JSON ---------------------------------------------------------------------------------


def from_json(body: Any, blobs: BlobStore, limits: Limits) -> Changeset:
    """Parse an already decoded JSON body into a changeset.

    The body is ``{"files": {path: file}, "delete"?: [path, ...], "base"?: str | None}``
    and a file is a UTF-8 string, ``{"content": str, "encoding"?: "utf-8" | "base64",
    "mode"?: int}``, or ``{"digest": sha256, "size"?: int, "mode"?: int}`` naming a
    blob uploaded before. Everything is validated before the first blob is written.
    """
    if not isinstance(body, dict):
        raise _bad("The body must be a JSON object with a 'files' object.")
    if unknown := sorted(set(body) - {"files", "delete", "base"}, key=str):
        raise _bad(f"The field {unknown[0]!r} is unknown; use 'files', 'delete' and 'base'.")
    files = body.get("files")
    if not isinstance(files, dict):
        raise _bad("The field 'files' must be an object mapping paths to contents.")
    deletes = body.get("delete", [])
    if not isinstance(deletes, list) or not all(isinstance(p, str) for p in deletes):
        raise _bad("The field 'delete' must be a list of paths.")
    base = body.get("base")
    if base is not None and (not isinstance(base, str) or not base.strip()):
        raise _bad("The field 'base' must be 'latest', a deployment id, or null.")

    builder = _Builder(blobs, limits)
    inline: list[bytes] = []
    for raw, value in files.items():
        path = clean_path(raw)
        builder.count(path)
        spec = _json_file(path, value, blobs)
        if isinstance(spec, bytes):
            inline.append(spec)
            spec = FileSpec(hashlib.sha256(spec).hexdigest(), len(spec), _json_mode(path, value))
        builder.add(path, spec)
    changeset = builder.finish([clean_path(p) for p in deletes], base)
    for data in inline:
        blobs.put(data)
    return changeset


def _json_file(path: str, value: Any, blobs: BlobStore) -> bytes | FileSpec:
    """One entry of 'files': its bytes, or the FileSpec of a blob already stored."""
    if isinstance(value, str):
        return _utf8(path, value)
    if not isinstance(value, dict):
        raise _bad(f"The file {path!r} must be a string or an object.")
    if unknown := sorted(set(value) - {"content", "encoding", "digest", "size", "mode"}):
        raise _bad(f"The file {path!r} has the unknown field {unknown[0]!r}.")
    if ("content" in value) == ("digest" in value):
        raise _bad(f"The file {path!r} needs exactly one of 'content' and 'digest'.")
    if "digest" in value:
        return _stored(path, value, blobs)
    if "size" in value:
        raise _bad(f"The file {path!r} has 'size', which goes with 'digest' only.")
    content, encoding = value["content"], value.get("encoding", "utf-8")
    if not isinstance(content, str):
        raise _bad(f"The 'content' of {path!r} must be a string.")
    if encoding == "utf-8":
        return _utf8(path, content)
    if encoding == "base64":
        try:
            return base64.b64decode(content, validate=True)
        except binascii.Error as e:
            raise _bad(f"The 'content' of {path!r} is not valid base64: {e}.") from None
    raise _bad(f"The 'encoding' of {path!r} must be 'utf-8' or 'base64', not {encoding!r}.")


def _stored(path: str, value: dict[str, Any], blobs: BlobStore) -> FileSpec:
    digest = value["digest"]
    if "encoding" in value:
        raise _bad(f"The file {path!r} has 'encoding', which goes with 'content' only.")
    if not isinstance(digest, str) or not is_digest(digest):
        raise _bad(f"The 'digest' of {path!r} must be a SHA-256 as 64 lowercase hex digits.")
    if not blobs.has(digest):
        raise BlobNotFound(
            f"The file {path!r} names the blob {digest}, which is not in the store.",
            hint="Upload the content first, or send it inline as 'content'.",
        )
    size = blobs.size(digest)
    if "size" in value and value["size"] != size:
        raise _bad(f"The 'size' of {path!r} is {value['size']!r}, but its blob holds {size}.")
    return FileSpec(digest, size, _json_mode(path, value))


def _json_mode(path: str, value: Any) -> int:
    mode = value.get("mode", 0o644) if isinstance(value, dict) else 0o644
    if type(mode) is not int or not 0 <= mode <= 0o7777:
        raise _bad(f"The 'mode' of {path!r} must be an integer such as 420 (0o644) or 493 (0o755).")
    return file_mode(mode)


def _utf8(path: str, text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise _bad(f"The content of {path!r} is not valid UTF-8 text.") from None


def _bad(message: str) -> InvalidContent:
    return InvalidContent(
        message,
        hint='Send {"files": {"src/app.js": "text"}}, or a file as {"content": "...", '
        '"encoding": "base64", "mode": 493} or {"digest": "<sha256>"}.',
    )


# tar ----------------------------------------------------------------------------------

# Magic bytes long enough that no tar starts with them: a tar starts with its
# first member's name, and "BZh.txt" or "PKGBUILD" are fine names.
_DECOMPRESSORS: list[tuple[re.Pattern[bytes], str, Callable[[Any], Any]]] = [
    (re.compile(rb"\x1f\x8b\x08"), "gzip", lambda f: gzip.GzipFile(fileobj=f, mode="rb")),
    (re.compile(rb"BZh[1-9](1AY&SY|\x17rE8P\x90)"), "bzip2", bz2.BZ2File),
    (re.compile(rb"\xfd7zXZ\x00"), "xz", lzma.LZMAFile),
]
_ZIP_MAGIC = re.compile(rb"PK(\x03\x04|\x05\x06)")
_ZSTD_MAGIC = re.compile(rb"\x28\xb5\x2f\xfd")
_DECOMPRESS_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError)

_TAR_KINDS = {
    tarfile.SYMTYPE: "symbolic link",
    tarfile.LNKTYPE: "hard link",
    tarfile.CHRTYPE: "character device",
    tarfile.BLKTYPE: "block device",
    tarfile.FIFOTYPE: "FIFO",
}
_TAR_META_TYPES = {
    tarfile.XHDTYPE,
    tarfile.XGLTYPE,
    tarfile.SOLARIS_XHDTYPE,
    tarfile.GNUTYPE_LONGNAME,
    tarfile.GNUTYPE_LONGLINK,
}


class _TarInfo(tarfile.TarInfo):
    """A TarInfo that refuses what tarfile would quietly accept."""

    @classmethod
    def frombuf(cls, buf: bytes | bytearray, encoding: str, errors: str) -> _TarInfo:
        try:
            info = super().frombuf(buf, encoding, errors)
        except tarfile.EOFHeaderError:  # type: ignore[attr-defined]  # the end-of-archive marker
            raise
        # tarfile would take a bad or missing header after the first one for the
        # end of the archive, and drop the files after it without a word.
        except tarfile.EmptyHeaderError:  # type: ignore[attr-defined]
            raise _corrupt("The tar archive", "it ends before its end-of-archive marker") from None
        except tarfile.HeaderError as e:
            raise _corrupt("The tar archive", e) from None
        if info.type in _TAR_META_TYPES and info.size > _TAR_META_BYTES:
            raise InvalidArchive(
                f"The tar archive has a {info.size}-byte extended header; "
                f"at most {_TAR_META_BYTES} bytes are allowed."
            )
        return info


def from_tar(stream: BinaryIO, blobs: BlobStore, limits: Limits) -> Changeset:
    """Read a tar archive (plain, gzip, bzip2 or xz) in one streaming pass."""
    head = _read_up_to(stream, 10)
    source: Any = _Prefixed(head, stream)
    what = "The tar archive"
    for magic, name, opener in _DECOMPRESSORS:
        if magic.match(head):
            what = f"The {name}-compressed tar archive"
            source = _Guard(opener(source), what, _DECOMPRESS_ERRORS)
            break
    else:
        if _ZIP_MAGIC.match(head):
            raise InvalidArchive("This is a zip archive, not a tar.", hint="Send it as a zip.")
        if _ZSTD_MAGIC.match(head):
            raise InvalidArchive(
                "The archive is compressed with zstd, which previewd does not read.",
                hint="Compress it with gzip, bzip2 or xz.",
            )
    max_entries = 2 * limits.max_files + 100  # directories are entries too
    max_tar_bytes = limits.max_deployment_bytes + max_entries * _TAR_ENTRY_BYTES

    def bomb(size: int) -> Exception:
        return LimitExceeded(
            f"{what} unpacks to more than {max_tar_bytes} bytes, more than its files may "
            "hold; it looks like an archive bomb."
        )

    # Counting what the decompressor yields, under tarfile, bounds every byte
    # tarfile sees: contents, headers and the padding it skips.
    meter = _Meter(source, max_tar_bytes, bomb)
    builder = _Builder(blobs, limits)
    try:
        with tarfile.open(
            fileobj=cast(BinaryIO, meter), mode="r|", tarinfo=_TarInfo, encoding="utf-8"
        ) as tar:
            for entries, member in enumerate(tar, 1):
                if entries > max_entries:
                    raise LimitExceeded(f"{what} has more than {max_entries} entries.")
                if member.isdir():
                    continue
                if not member.isreg():
                    raise _not_regular(member.name, _tar_kind(member), member.linkname)
                path = clean_path(member.name)
                builder.count(path)
                content = tar.extractfile(member)
                assert content is not None  # a regular member always has content
                builder.add_stream(path, cast(BinaryIO, content), member.mode)
            _check_trailer(meter, what)
    except tarfile.TarError as e:
        raise _corrupt(what, e) from None
    return builder.finish()


def _check_trailer(stream: _Meter, what: str) -> None:
    """Refuse data after the end-of-archive marker, and read to the end of the stream.

    tarfile stops at the marker. Past it a tar holds only zeros, so anything
    else is a second archive whose files would be dropped without a word; and
    reading on lets the decompressor check its CRC, catching a cut-off upload.
    """
    rest = 0
    while chunk := stream.read(64 * 1024):
        rest += len(chunk)
        if rest > _TAR_TRAILER_BYTES or chunk.count(0) != len(chunk):
            raise InvalidArchive(
                f"{what} has data after its end-of-archive marker.",
                hint="Send one archive per upload; concatenated archives are not read.",
            )


def _tar_kind(member: tarfile.TarInfo) -> str:
    return _TAR_KINDS.get(member.type, f"member of unsupported type {member.type!r}")


def _not_regular(name: str, kind: str, target: str = "") -> InvalidArchive:
    to = f" to {target!r}" if target else ""
    return InvalidArchive(
        f"The archive member {name!r} is a {kind}{to}; only regular files and "
        "directories are allowed.",
        hint="Replace links with copies of the files they point to.",
    )


def _read_up_to(stream: BinaryIO, size: int) -> bytes:
    data = b""
    while len(data) < size and (chunk := stream.read(size - len(data))):
        data += chunk
    return data


class _Prefixed:
    """``head`` (bytes already read from ``inner`` to sniff its type), then the rest."""

    def __init__(self, head: bytes, inner: BinaryIO) -> None:
        self.head = head
        self.inner = inner

    def read(self, size: int = -1) -> bytes:
        if not self.head:
            return self.inner.read(size)
        if size < 0:
            data, self.head = self.head + self.inner.read(), b""
        else:
            data, self.head = self.head[:size], self.head[size:]
        return data


# zip ----------------------------------------------------------------------------------

_ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
_ZIP_KINDS = {
    stat.S_IFLNK: "symbolic link",
    stat.S_IFCHR: "character device",
    stat.S_IFBLK: "block device",
    stat.S_IFIFO: "FIFO",
    stat.S_IFSOCK: "socket",
}
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    OSError,  # bz2 complains with a bare OSError
    NotImplementedError,
    RuntimeError,
)


def from_zip(stream: BinaryIO, blobs: BlobStore, limits: Limits) -> Changeset:
    """Read a zip archive from a seekable file.

    Its directory is checked before any content is read: names, types, the
    declared sizes against the limits, and the compression ratio of each file.
    """
    try:
        archive = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
        raise _corrupt("The zip archive", e) from None
    builder = _Builder(blobs, limits)
    with archive:
        members = []
        declared = 0
        for info in archive.infolist():
            unix_mode = info.external_attr >> 16
            kind = stat.S_IFMT(unix_mode)
            if info.is_dir() or kind == stat.S_IFDIR:
                continue
            if kind not in (0, stat.S_IFREG):
                name = _ZIP_KINDS.get(kind, f"member of unsupported type {oct(kind)}")
                raise _not_regular(info.filename, name)
            # zipfile cuts .filename at a NUL; the original shows what was sent.
            path = clean_path(info.orig_filename)
            builder.count(path)
            _check_zip_member(info, path, limits, declared)
            declared += info.file_size
            members.append((path, info, unix_mode))
        check_collisions(builder.paths)  # before a single byte is inflated
        for path, info, unix_mode in members:
            what = f"The zip member {info.filename!r}"
            try:
                content = archive.open(info)
            except _ZIP_ERRORS as e:
                raise _corrupt(what, e) from None
            with content:
                # zipfile stops at the declared size and then finds the CRC wrong,
                # so a member that lies about its size ends here too.
                guarded = _Guard(content, what, _ZIP_ERRORS)
                builder.add_stream(path, cast(BinaryIO, guarded), unix_mode)
    return builder.finish()


def _check_zip_member(info: zipfile.ZipInfo, path: str, limits: Limits, declared: int) -> None:
    if info.flag_bits & 0x1:
        raise InvalidArchive(
            f"The zip member {info.filename!r} is encrypted.", hint="Send it without a password."
        )
    if info.compress_type not in _ZIP_METHODS:
        raise InvalidArchive(
            f"The zip member {info.filename!r} uses compression method {info.compress_type}, "
            "which previewd does not read.",
            hint="Use deflate, bzip2, lzma or no compression.",
        )
    _check_size(limits, path, info.file_size, declared)
    if info.file_size > BOMB_MIN_BYTES and info.file_size > BOMB_RATIO * info.compress_size:
        ratio = info.file_size // max(info.compress_size, 1)
        raise LimitExceeded(
            f"The zip member {info.filename!r} would expand {ratio}:1 "
            f"({info.compress_size} to {info.file_size} bytes); it looks like a zip bomb.",
            hint=f"previewd refuses files over {BOMB_MIN_BYTES} bytes that compress "
            f"better than {BOMB_RATIO}:1.",
        )


# multipart ----------------------------------------------------------------------------


def from_parts(
    parts: Iterable[tuple[str, BinaryIO]], blobs: BlobStore, limits: Limits
) -> Changeset:
    """Read multipart form parts: (the part's filename, its content). Modes are 0o644."""
    builder = _Builder(blobs, limits)
    for filename, content in parts:
        path = clean_path(filename)
        builder.count(path)
        builder.add_stream(path, content, 0o644)
    return builder.finish()
