"""Work folders: blobs linked in without copying, outputs collected without following links out."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from previewd.blobs.local import LocalBlobStore
from previewd.build.workspace import (
    OutputError,
    OutputLimits,
    collect,
    link_tree,
    materialise,
    real_dir,
    seal,
)
from tests.builds.helpers import snapshot

NOBODY = (65534, 65534)


@pytest.fixture
def blobs(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


def test_files_are_hard_links_to_their_blobs_in_folders_the_sandbox_owns(
    blobs: LocalBlobStore, tmp_path: Path
) -> None:
    source = snapshot(blobs, {"index.html": "<h1>", "src/a/b.js": "b", "run.sh": ("echo", 0o755)})
    dest = tmp_path / "work"
    materialise(source.files, blobs, dest, NOBODY)
    page = dest / "index.html"
    assert page.stat().st_ino == blobs.path(source.files["index.html"].digest).stat().st_ino
    assert stat.S_IMODE(page.stat().st_mode) == 0o444 and page.stat().st_uid == 0
    for folder in (dest, dest / "src", dest / "src/a"):
        assert (folder.stat().st_uid, folder.stat().st_gid) == NOBODY
    # a blob has no x bit: executables are copies, still not writable by the sandbox
    script = (dest / "run.sh").stat()
    assert script.st_ino != blobs.path(source.files["run.sh"].digest).stat().st_ino
    assert (stat.S_IMODE(script.st_mode), script.st_uid) == (0o555, 0)
    assert (dest / "run.sh").read_text() == "echo"


def test_a_dependency_tree_is_restored_by_hard_links_with_its_symlinks(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "pkg/bin").mkdir(parents=True)
    (tree / "pkg/bin/cli.js").write_text("#!/usr/bin/env node")
    (tree / ".bin").mkdir()
    (tree / ".bin/cli").symlink_to("../pkg/bin/cli.js")
    (tree / "alias").symlink_to("pkg")
    seal(tree)
    dest = tmp_path / "work" / "node_modules"
    dest.parent.mkdir()
    assert link_tree(tree, dest, NOBODY) == 1
    assert (dest / "pkg/bin/cli.js").stat().st_ino == (tree / "pkg/bin/cli.js").stat().st_ino
    assert os.readlink(dest / ".bin/cli") == "../pkg/bin/cli.js"
    assert os.readlink(dest / "alias") == "pkg"
    assert (dest.stat().st_uid, (dest / "pkg").stat().st_uid) == (65534, 0)


def test_sealing_makes_a_tree_root_owned_read_only_and_inert(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub/file.js").write_text("x")
    (tree / "setuid").write_text("x")
    os.chmod(tree / "setuid", 0o4755)
    os.mkfifo(tree / "fifo")
    outside = tmp_path / "outside"
    outside.write_text("not the tree's")
    os.link(outside, tree / "linked")
    for path in (tree, tree / "sub", tree / "sub/file.js", tree / "setuid", tree / "linked"):
        os.chown(path, 65534, 65534)
    seal(tree)
    assert not (tree / "fifo").exists()
    assert stat.S_IMODE((tree / "setuid").stat().st_mode) == 0o555
    for path in (tree, tree / "sub", tree / "sub/file.js", tree / "linked"):
        st = path.stat()
        assert st.st_uid == 0 and not st.st_mode & 0o222, path
    # the inode linked in from outside was copied, not sealed
    assert outside.stat().st_uid == 65534 and outside.stat().st_nlink == 1
    assert (tree / "linked").read_text() == "not the tree's"


def test_collect_keeps_files_and_links_inside_and_leaves_the_rest_out(
    blobs: LocalBlobStore, tmp_path: Path
) -> None:
    top = tmp_path / "work"
    out = top / "dist"
    (out / "assets").mkdir(parents=True)
    (out / "index.html").write_text("<h1>built</h1>")
    (out / "assets/app.js").write_text("js")
    os.chmod(out / "assets/app.js", 0o755)
    (out / "alias.html").symlink_to("index.html")
    (out / "passwd").symlink_to("/etc/passwd")
    (out / "up").symlink_to("../../..")
    (out / "sneaky").symlink_to("assets/../../secret")
    (top / "secret").write_text("outside dist")
    (out / "folder-link").symlink_to("assets")
    os.mkfifo(out / "pipe")
    notes: list[str] = []
    files = collect(top, "dist", blobs, note=notes.append)
    assert set(files) == {"index.html", "assets/app.js", "alias.html"}
    assert blobs.read(files["alias.html"].digest) == b"<h1>built</h1>"
    assert files["assets/app.js"].mode == 0o755 and files["index.html"].mode == 0o644
    assert len(notes) == 5
    assert any("passwd: a symbolic link to outside" in n for n in notes)
    assert any("pipe: a FIFO" in n for n in notes)


def test_an_output_folder_that_is_a_symlink_is_not_followed(
    blobs: LocalBlobStore, tmp_path: Path
) -> None:
    top = tmp_path / "work"
    top.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere/secret").write_text("host file")
    (top / "dist").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(OutputError, match="dist/ is a symbolic link"):
        collect(top, "dist", blobs)
    with pytest.raises(OutputError, match="does not exist"):
        collect(top, "build", blobs)
    assert real_dir(top, "dist") is None and real_dir(top, ".") == top


def test_collect_stops_at_the_output_limits(blobs: LocalBlobStore, tmp_path: Path) -> None:
    top = tmp_path / "work"
    top.mkdir()
    for i in range(3):
        (top / f"f{i}").write_text("x" * 10)
    with pytest.raises(OutputError, match="more than 2 files"):
        collect(top, ".", blobs, limits=OutputLimits(max_files=2))
    with pytest.raises(OutputError, match="too large"):
        collect(top, ".", blobs, limits=OutputLimits(max_bytes=25))
    assert len(collect(top, ".", blobs, skip={"f0"})) == 2
