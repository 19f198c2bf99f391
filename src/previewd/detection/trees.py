"""Source trees: the read-only view of files that detection looks at.

Detection never executes anything and reads only small files, so a tree is
two methods: the paths it holds and the bytes of one of them, up to a limit.
A folder on disk and a stored snapshot are the two implementations.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Protocol

from previewd.blobs import BlobStore
from previewd.changeset import FileSpec
from previewd.config import MiB
from previewd.errors import InvalidPath, LimitExceeded, NotFound
from previewd.paths import clean_path

READ_LIMIT = 1 * MiB
SKIPPED_DIRS = frozenset({".git", ".hg", ".svn", "node_modules", ".venv", "__pycache__"})


class SourceTree(Protocol):
    """What detection reads. Paths are relative and ``/``-separated."""

    def paths(self) -> Iterable[str]: ...

    def read(self, path: str, limit: int = READ_LIMIT) -> bytes | None:
        """The bytes of ``path``, None if it is absent; LimitExceeded past ``limit`` bytes."""
        ...


def skipped(path: str) -> bool:
    """True for a file inside a folder detection ignores (dependencies, VCS, caches)."""
    return any(part in SKIPPED_DIRS for part in path.split("/")[:-1])


def _too_large(path: str, limit: int) -> LimitExceeded:
    return LimitExceeded(f"{path} is larger than {limit} bytes; detection does not read it.")


class DirectoryTree:
    """The files of a local folder.

    Symbolic links are followed only while they stay inside the folder, and
    linked directories are not entered; FIFOs, sockets and devices are neither
    listed nor opened.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = os.path.realpath(root)
        if not os.path.isdir(self.root):
            raise NotFound(f"{os.fspath(root)!r} is not a directory.")

    def paths(self) -> Iterator[str]:
        pending = [""]
        while pending:
            folder = pending.pop()
            try:
                entries = list(os.scandir(os.path.join(self.root, folder)))
            except OSError:
                continue
            for entry in entries:
                path = f"{folder}/{entry.name}" if folder else entry.name
                if not _usable(path):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if entry.name not in SKIPPED_DIRS:
                        pending.append(path)
                elif entry.is_file(follow_symlinks=False) or (
                    entry.is_symlink() and self._regular_inside(path)
                ):
                    yield path

    def read(self, path: str, limit: int = READ_LIMIT) -> bytes | None:
        path = clean_path(path)
        if skipped(path):
            return None
        full = self._inside(path)
        if full is None:
            return None
        try:
            # O_NONBLOCK: opening a FIFO must not wait for a writer.
            fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):  # a directory, a FIFO, a device
                return None
            if info.st_size > limit:
                raise _too_large(path, limit)
            with os.fdopen(fd, "rb", closefd=False) as file:
                data = file.read(limit + 1)
        finally:
            os.close(fd)
        if len(data) > limit:  # it grew since fstat
            raise _too_large(path, limit)
        return data

    def _inside(self, path: str) -> str | None:
        """The real location of ``path`` if it resolves inside the folder."""
        full = os.path.realpath(os.path.join(self.root, path))
        if os.path.commonpath([full, self.root]) != self.root:
            return None
        return full

    def _regular_inside(self, path: str) -> bool:
        full = self._inside(path)
        return full is not None and Path(full).is_file()


def _usable(path: str) -> bool:
    """Names an upload could carry; others (not UTF-8, control characters) are left out."""
    try:
        return clean_path(path) == path
    except InvalidPath:
        return False


class SnapshotTree:
    """The files of a snapshot manifest, their bytes read from the blob store by digest."""

    def __init__(self, files: Mapping[str, FileSpec], blobs: BlobStore) -> None:
        self.files = files
        self.blobs = blobs

    def paths(self) -> Iterator[str]:
        return (path for path in self.files if not skipped(path))

    def read(self, path: str, limit: int = READ_LIMIT) -> bytes | None:
        path = clean_path(path)
        spec = self.files.get(path)
        if spec is None or skipped(path):
            return None
        if spec.size > limit:
            raise _too_large(path, limit)
        with self.blobs.open(spec.digest) as content:
            data = content.read(limit + 1)
        if len(data) > limit:
            raise _too_large(path, limit)
        return data
