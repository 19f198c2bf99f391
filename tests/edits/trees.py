"""Helpers for the edit-format tests: a tree of files, and a message applied to it."""

from __future__ import annotations

import pytest

from previewd.edits import Tree, apply, parse
from previewd.errors import EditFailed
from previewd.paths import clean_path


def tree(files: dict[str, str] | None = None) -> Tree:
    """A Tree over ``files``; reading a path the test did not give fails loudly."""
    base = {path: content.encode() for path, content in (files or {}).items()}
    return Tree(frozenset(base), base.__getitem__)


def run(message: str, files: dict[str, str] | None = None) -> Tree:
    """Parse ``message`` and apply it to ``files``."""
    return apply(parse(message).edits, tree(files))


def texts(result: Tree) -> dict[str, str]:
    return {path: data.decode() for path, data in result.written.items()}


def refused(message: str, files: dict[str, str] | None = None) -> EditFailed:
    """The error a message gets, whether parsing or applying refuses it."""
    with pytest.raises(EditFailed) as caught:
        run(message, files)
    return caught.value


def assert_inside(path: str) -> None:
    """``path`` stays inside the tree: already clean, relative, no '..', no '.git'."""
    assert clean_path(path) == path
    segments = path.split("/")
    assert not path.startswith("/") and "\\" not in path and "\x00" not in path
    assert ".." not in segments and "" not in segments
    assert all(s.casefold().rstrip(". ") != ".git" for s in segments)


# Paths that must never reach a tree, whatever the format.
HOSTILE = [
    "../x.js",
    "a/../../x.js",
    "/etc/passwd",
    "C:\\x.js",
    "C:/x.js",
    "a\\b.js",
    "a\x00b.js",
    ".git/config",
    "src/.GIT/hooks/pre-commit",
    "a//b.js",
]
