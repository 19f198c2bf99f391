"""A local folder as the SDK sends it: path → digest, size, mode, where the bytes are."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import NamedTuple

from previewd.errors import InvalidPath

# Folders a deploy of a working tree leaves out: tool state, never site content.
IGNORED = frozenset({".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", ".DS_Store"})


class Entry(NamedTuple):
    """One file of a scanned folder."""

    digest: str  # sha256 hex of the bytes
    size: int
    mode: int  # 0o644 or 0o755
    source: str  # where the bytes are on this machine


# (st_mtime_ns, st_size, st_ino) → Entry: a watcher rescans without re-hashing what did not change
DigestCache = MutableMapping[str, tuple[tuple[int, int, int], Entry]]


def scan(
    root: Path,
    *,
    skip: Callable[[str], bool] | None = None,
    cache: DigestCache | None = None,
) -> Iterator[tuple[str, Entry]]:
    """(path, entry) for every file under ``root``; symlinks must stay inside it.

    ``skip(relative_path)`` leaves out more files or folders (a folder's path
    has no trailing slash). ``cache`` keeps digests between scans.
    """
    root = root.resolve()
    if not root.is_dir():
        raise InvalidPath(f"{root} is not a folder")
    for folder, dirs, files in os.walk(root):
        here = Path(folder).relative_to(root).as_posix()
        prefix = "" if here == "." else here + "/"
        dirs[:] = sorted(d for d in dirs if d not in IGNORED and not (skip and skip(prefix + d)))
        for name in sorted(files):
            rel = prefix + name
            if name in IGNORED or (skip and skip(rel)):
                continue
            try:
                entry = _entry(root, Path(folder) / name, rel, cache)
            except FileNotFoundError:
                continue  # removed since the listing (an editor's save, a watched folder)
            yield rel, entry


def _entry(root: Path, source: Path, rel: str, cache: DigestCache | None) -> Entry:
    real = source.resolve()
    if not real.is_relative_to(root):
        raise InvalidPath(
            f"{rel} is a symlink to {real}, outside the folder being deployed",
            hint="Copy the file into the folder, or remove the link.",
        )
    info = real.stat()
    if not stat.S_ISREG(info.st_mode):
        raise InvalidPath(f"{rel} is not a regular file")
    key = (info.st_mtime_ns, info.st_size, info.st_ino)
    if cache is not None and (hit := cache.get(rel)) and hit[0] == key:
        return hit[1]
    entry = Entry(
        digest=sha256(real),
        size=info.st_size,
        mode=0o755 if info.st_mode & 0o111 else 0o644,
        source=str(real),
    )
    if cache is not None:
        cache[rel] = (key, entry)
    return entry


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()
