"""File paths inside a deployment: the one gate every uploaded name passes.

A clean path is relative, ``/``-separated, NFC-normalised, and can neither
escape the deployment's tree (no ``/x``, ``C:\\x``, ``..``) nor hide in it
(no control characters, no ``.git``). A set of clean paths must also be
writable to any file system at once: no two may differ only in case or in
Unicode normalisation, and no file may also be a directory of another.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from previewd.errors import InvalidPath

MAX_SEGMENT_BYTES = 255  # NAME_MAX on Linux, macOS and Windows
MAX_PATH_BYTES = 1024

_HINT = "Send a relative path like 'src/app.js'."
_DRIVE = re.compile(r"[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0, DEL and C1, NUL included
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def clean_path(raw: str) -> str:
    """Return ``raw`` normalised (NFC, leading ``./`` dropped), or raise InvalidPath."""
    if not isinstance(raw, str):
        raise InvalidPath(f"Invalid path {raw!r}: a path must be a string.", hint=_HINT)
    path = unicodedata.normalize("NFC", raw)
    if path.startswith("./"):
        path = path[2:]
    reason = _problem(path)
    if reason is not None:
        shown = repr(raw) if len(raw) <= 200 else f"{raw[:200]!r}..."
        raise InvalidPath(f"Invalid path {shown}: {reason}.", hint=_HINT)
    return path


def _problem(path: str) -> str | None:
    """Why ``path`` (normalised, leading ``./`` dropped) is refused, or None."""
    if not path:
        return "the path is empty"
    if len(path) > MAX_PATH_BYTES:  # every character takes at least one byte
        return f"it is longer than {MAX_PATH_BYTES} bytes"
    if bad := _CONTROL.search(path):
        return f"it contains the control character {bad.group()!r}"
    if _SURROGATE.search(path):  # what decoding left of bytes that were not UTF-8
        return "it is not valid UTF-8"
    if path.startswith("/"):
        return "it is absolute"
    if _DRIVE.match(path):
        return "it starts with a Windows drive letter"
    if "\\" in path:
        return "backslashes are not allowed; separate directories with '/'"
    if len(path.encode("utf-8")) > MAX_PATH_BYTES:
        return f"it is longer than {MAX_PATH_BYTES} bytes"
    for segment in path.split("/"):
        if segment == "":
            return "it has an empty segment ('//' or a trailing '/')"
        if segment in (".", ".."):
            return f"it has a {segment!r} segment"
        # Windows ignores trailing dots and spaces, and macOS ignores case.
        if segment.casefold().rstrip(". ") == ".git":
            return "it writes into '.git'"
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            return f"the name {segment[:40]!r}... is longer than {MAX_SEGMENT_BYTES} bytes"
    return None


def _key(path: str) -> str:
    # Two paths with the same key land on one file of a case-insensitive or
    # normalising file system (macOS, Windows), so a tree may hold only one.
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", path).casefold())


def check_collisions(paths: Iterable[str]) -> None:
    """Raise InvalidPath if two of ``paths`` would land on the same file or directory.

    Refused: the same path twice, two paths that differ only in case or in
    Unicode normalisation, and a path that is a file while another path needs
    it as a directory (``a`` and ``a/b``).
    """
    files: dict[str, str] = {}  # key -> the path that made it a file
    dirs: dict[str, str] = {}  # key -> a path below that directory
    for path in paths:
        key = _key(path)
        if key in files:
            other = files[key]
            if other == path:
                raise InvalidPath(f"The path {path!r} is given twice.", hint=_HINT)
            raise InvalidPath(
                f"The paths {other!r} and {path!r} differ only in case or Unicode "
                "normalisation; they would be one file on macOS and Windows.",
                hint="Rename one of them.",
            )
        if key in dirs:
            raise _file_and_dir(path, dirs[key])
        parts = key.split("/")
        for end in range(1, len(parts)):
            parent = "/".join(parts[:end])
            if parent in files:
                raise _file_and_dir(files[parent], path)
            dirs.setdefault(parent, path)
        files[key] = path


def _file_and_dir(file: str, below: str) -> InvalidPath:
    return InvalidPath(
        f"The path {file!r} is a file, but {below!r} needs it to be a directory.",
        hint="Rename one of them.",
    )
