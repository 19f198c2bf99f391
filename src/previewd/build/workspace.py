"""Work folders: a snapshot laid out for a step, and what the step wrote taken back as blobs.

Files go in as hard links to their blobs: no byte is copied. Blobs are
root-owned and read-only (0444), so the sandbox (an unprivileged uid) can read
them but neither write nor chmod them, and the kernel's ``protected_hardlinks``
keeps it from linking them elsewhere. The folders are the sandbox's, so a tool
may still *replace* a source file (write a new one, rename it over); one that
rewrites a file in place gets EACCES. Executable files are copied instead
(a blob has no x bit).

Everything here runs after the step's sandbox is gone (the runtime kills its
whole cgroup before it returns), so nothing can swap a folder for a symlink
between a check and a use. Walks never follow symlinks: what a build leaves
behind is data, never a path to act on.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from previewd.blobs.local import LocalBlobStore
from previewd.changeset import FileSpec, file_mode
from previewd.errors import InvalidPath, LimitExceeded
from previewd.paths import clean_path
from previewd.runtimes.base import MiB

Owner = tuple[int, int]
Note = Callable[[str], None]


class OutputError(Exception):
    """What a step left is not a usable output (the builder names the step)."""


@dataclass(frozen=True)
class OutputLimits:
    """What one step's output may hold; the same limits as an upload."""

    max_files: int = 10_000
    max_file_bytes: int = 50 * MiB
    max_bytes: int = 500 * MiB


def materialise(
    files: Mapping[str, FileSpec], blobs: LocalBlobStore, dest: Path, owner: Owner
) -> None:
    """Lay ``files`` out in the new folder ``dest``; its folders belong to ``owner``."""
    dest.mkdir(parents=True)
    os.chown(dest, *owner)
    made: set[str] = set()
    for path in sorted(files):
        parent = os.path.dirname(path)
        missing = []
        while parent and parent not in made:
            missing.append(parent)
            parent = os.path.dirname(parent)
        for folder in reversed(missing):
            os.mkdir(dest / folder)
            os.chown(dest / folder, *owner)
            made.add(folder)
    for path, spec in files.items():
        source, target = blobs.path(spec.digest), dest / path
        if spec.mode & 0o111:
            _copy(source, target, 0o555)
        else:
            _link(source, target)


def link_tree(tree: Path, dest: Path, top_owner: Owner | None = None) -> int:
    """Recreate ``tree`` at ``dest`` with hard links (symlinks as symlinks); count the files.

    The folders are made read-only for the sandbox, but for ``dest`` itself
    when ``top_owner`` is given: tools keep caches there (``node_modules/.vite``,
    ``node_modules/.cache``).
    """
    # on the warm-rebuild path: plain strings and bound functions, ~15 µs a file
    link, symlink, mkdir, readlink = os.link, os.symlink, os.mkdir, os.readlink
    count = 0
    mkdir(dest)
    stack = [(str(tree), str(dest))]
    while stack:
        source, target = stack.pop()
        with os.scandir(source) as entries:
            for entry in entries:
                to = f"{target}/{entry.name}"
                if entry.is_symlink():
                    symlink(readlink(entry.path), to)
                elif entry.is_dir(follow_symlinks=False):
                    mkdir(to, 0o755)
                    stack.append((entry.path, to))
                else:
                    try:
                        link(entry.path, to)
                    except OSError:
                        _link(Path(entry.path), Path(to))  # the slow path: copy when it must
                    count += 1
    if top_owner is not None:
        os.chown(dest, *top_owner)
    return count


def seal(tree: Path) -> None:
    """Make ``tree`` root-owned and read-only for good (it becomes a cache entry).

    Set-uid/gid bits go, FIFOs and sockets go, and a file linked from elsewhere
    (its link count above one) is replaced by a copy, so sealing never reaches
    an inode outside the tree.
    """
    uid, gid = os.geteuid(), os.getegid()
    for folder, dirs, files in os.walk(tree):
        for name in (*dirs, *files):
            path = os.path.join(folder, name)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                os.chown(path, uid, gid, follow_symlinks=False)
            elif stat.S_ISDIR(st.st_mode):
                os.chown(path, uid, gid)
                os.chmod(path, 0o555)
            elif stat.S_ISREG(st.st_mode):
                if st.st_nlink > 1:
                    _copy(Path(path), Path(path + ".previewd-copy"), st.st_mode & 0o555)
                    os.replace(path + ".previewd-copy", path)
                    continue
                os.chown(path, uid, gid)
                os.chmod(path, st.st_mode & 0o555)
            else:
                os.unlink(path)
    os.chown(tree, uid, gid)
    os.chmod(tree, 0o555)


def real_dir(top: Path, rel: str) -> Path | None:
    """``top/rel`` if each part of ``rel`` is a real folder (no symlink), else None."""
    path = top
    for part in () if rel == "." else rel.split("/"):
        path = path / part
        try:
            if not stat.S_ISDIR(os.lstat(path).st_mode):
                return None
        except FileNotFoundError:
            return None
    return path


def collect(
    top: Path,
    rel: str,
    blobs: LocalBlobStore,
    *,
    skip: Collection[str] = (),
    limits: OutputLimits = OutputLimits(),
    note: Note = lambda _: None,
) -> dict[str, FileSpec]:
    """Store the files under ``top/rel`` as blobs; return them by path relative to ``rel``.

    ``skip`` names entries of the folder itself to leave out (``node_modules``).
    A symlink is taken as the file it names when that file is inside the
    folder; links out of it, links to folders, FIFOs, sockets and devices are
    left out, each with a ``note``.
    """
    out = real_dir(top, rel)
    if out is None:
        shown = "the work folder" if rel == "." else f"{rel}/"
        what = "is a symbolic link" if os.path.islink(top / rel) else "does not exist"
        raise OutputError(f"its output folder {shown} {what}")
    real = os.path.realpath(out)
    files: dict[str, FileSpec] = {}
    total = 0
    stack: list[tuple[str, str]] = [("", str(out))]
    while stack:
        prefix, folder = stack.pop()
        with os.scandir(folder) as scan:
            entries = sorted(scan, key=lambda e: e.name)
        for entry in entries:
            path = prefix + entry.name
            if not prefix and entry.name in skip:
                continue
            st = entry.stat(follow_symlinks=False)
            source = entry.path
            if stat.S_ISDIR(st.st_mode):
                stack.append((path + "/", entry.path))
                continue
            if stat.S_ISLNK(st.st_mode):
                target = os.path.realpath(entry.path)
                if os.path.commonpath([target, real]) != real:
                    note(f"left out {path}: a symbolic link to outside the output folder")
                    continue
                if not os.path.isfile(target):
                    note(f"left out {path}: a symbolic link to a folder or to nothing")
                    continue
                source = target
            elif not stat.S_ISREG(st.st_mode):
                note(f"left out {path}: {_kind(st.st_mode)}, not a regular file")
                continue
            try:
                path = clean_path(path)
            except InvalidPath as exc:
                note(f"left out a file: {exc.message}")
                continue
            if len(files) >= limits.max_files:
                raise OutputError(f"it wrote more than {limits.max_files} files")
            room = min(limits.max_file_bytes, limits.max_bytes - total)
            spec = _store(source, blobs, room, path, limits)
            total += spec.size
            files[path] = spec
    return files


def remove(path: Path) -> None:
    """Remove a work folder and all in it (whatever the sandbox did to its modes)."""
    shutil.rmtree(path, ignore_errors=True)


def _store(
    source: str, blobs: LocalBlobStore, room: int, path: str, limits: OutputLimits
) -> FileSpec:
    fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as file:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OutputError(f"{path} changed while it was collected")
        try:
            digest, size = blobs.put_stream(file, max_bytes=room)
        except LimitExceeded:
            raise OutputError(
                f"its output is too large at {path} (limits: {limits.max_file_bytes} bytes a "
                f"file, {limits.max_bytes} bytes in all)"
            ) from None
    return FileSpec(digest, size, file_mode(st.st_mode))


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError as exc:
        # another file system, or a link count at its limit: copy, read-only as a blob is
        if exc.errno not in (errno.EXDEV, errno.EMLINK, errno.EPERM):
            raise
        _copy(source, target, 0o444)


def _copy(source: Path, target: Path, mode: int) -> None:
    shutil.copyfile(source, target, follow_symlinks=False)
    os.chmod(target, mode)


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device file"
    return "an unknown kind of file"
