from __future__ import annotations

import os
from pathlib import Path

import pytest

from previewd.detection import DirectoryTree, detect
from previewd.errors import InvalidPath, LimitExceeded, NotFound
from tests.detection.helpers import package, snapshot_tree, write


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder next to the tree, holding what the tree must not reveal."""
    write(tmp_path / "outside", {"secret.txt": "s3cret", "package.json": package({"build": "x"})})
    return tmp_path / "outside"


def test_directory_tree_does_not_follow_symlinks_out(tmp_path: Path, outside: Path) -> None:
    root = write(tmp_path / "tree", {"index.html": "<h1>", "sub/page.html": "<p>"})
    (root / "leak.txt").symlink_to(outside / "secret.txt")
    (root / "package.json").symlink_to(outside / "package.json")
    (root / "linked").symlink_to(outside, target_is_directory=True)
    (root / "dangling").symlink_to(tmp_path / "nowhere")
    (root / "alias.html").symlink_to("sub/page.html")  # stays inside: fine
    (root / "sub" / "up.html").symlink_to("../index.html")
    tree = DirectoryTree(root)

    assert sorted(tree.paths()) == ["alias.html", "index.html", "sub/page.html", "sub/up.html"]
    assert tree.read("leak.txt") is None
    assert tree.read("package.json") is None
    assert tree.read("linked/secret.txt") is None
    assert tree.read("dangling") is None
    assert tree.read("alias.html") == b"<p>"
    assert tree.read("sub/up.html") == b"<h1>"
    detection = detect(tree)
    assert detection.parts == ("static",)  # the linked package.json was never read
    assert not any("secret" in reason or "outside" in reason for reason in detection.reasons)


def test_directory_tree_skips_dependencies_and_vcs(tmp_path: Path) -> None:
    root = write(
        tmp_path / "tree",
        {
            "index.html": "",
            "node_modules/vite/package.json": "{}",
            ".git/config": "",
            ".venv/pyvenv.cfg": "",
            "pkg/__pycache__/m.pyc": "",
            "pkg/m.py": "",
            ".github/workflows/ci.yml": "",
        },
    )
    tree = DirectoryTree(root)
    assert sorted(tree.paths()) == [".github/workflows/ci.yml", "index.html", "pkg/m.py"]
    assert tree.read("node_modules/vite/package.json") is None
    assert tree.read("pkg/__pycache__/m.pyc") is None


def test_directory_tree_reads_up_to_the_limit(tmp_path: Path) -> None:
    root = write(tmp_path / "tree", {"a.txt": "x" * 100})
    tree = DirectoryTree(root)
    assert tree.read("a.txt", limit=100) == b"x" * 100
    with pytest.raises(LimitExceeded, match=r"a\.txt is larger than 99 bytes"):
        tree.read("a.txt", limit=99)
    assert tree.read("missing.txt") is None
    with pytest.raises(InvalidPath):
        tree.read("../tree/a.txt")
    with pytest.raises(InvalidPath):
        tree.read("/etc/passwd")


def test_directory_tree_neither_lists_nor_opens_a_fifo(tmp_path: Path) -> None:
    root = write(tmp_path / "tree", {"index.html": ""})
    os.mkfifo(root / "package.json")  # opening it for reading would block without O_NONBLOCK
    (root / "folder").mkdir()
    tree = DirectoryTree(root)
    assert list(tree.paths()) == ["index.html"]
    assert tree.read("package.json") is None
    assert tree.read("folder") is None


def test_directory_tree_needs_a_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(NotFound):
        DirectoryTree(tmp_path / "file")
    with pytest.raises(NotFound):
        DirectoryTree(tmp_path / "missing")


def test_snapshot_tree_reads_blobs_by_digest(tmp_path: Path) -> None:
    tree = snapshot_tree(
        tmp_path / "blobs",
        {"package.json": package({"build": "vite build"}, dev={"vite": "5"}), "big.txt": "y" * 10},
    )
    assert sorted(tree.paths()) == ["big.txt", "package.json"]
    assert tree.read("big.txt") == b"y" * 10
    assert tree.read("nope") is None
    with pytest.raises(LimitExceeded):
        tree.read("big.txt", limit=9)
    detection = detect(tree)
    assert detection.client is not None
    assert detection.client.framework == "Vite"
