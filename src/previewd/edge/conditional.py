"""Conditional and range requests (RFC 9110 §13-14): If-None-Match, If-Range, Range.

ETags are the blob digest, ``"<digest>"``, or ``"<digest>-<encoding>"`` for a
compressed variant. A validator for any variant of the same bytes matches:
they are the same content, only the transfer form differs.
"""

from __future__ import annotations

import re

ENCODINGS = ("br", "gzip")
_SPEC = re.compile(r"[ \t]*([0-9]*)-([0-9]*)[ \t]*")


class Unsatisfiable(Exception):
    """The Range lies wholly beyond the end of the file (416)."""


def etag(digest: str, encoding: str | None = None) -> str:
    return f'"{digest}-{encoding}"' if encoding else f'"{digest}"'


def _same_content(tag: str, digest: str) -> bool:
    if tag == digest:
        return True
    base, dash, suffix = tag.rpartition("-")
    return bool(dash) and base == digest and suffix in ENCODINGS


def none_match(header: bytes, digest: str) -> bool:
    """True when ``If-None-Match: header`` matches the file (so the answer is 304).

    Weak comparison, as RFC 9110 asks for If-None-Match: ``W/"x"`` matches ``"x"``.
    """
    text = header.decode("latin-1").strip()
    if text == "*":
        return True
    for item in text.split(","):
        tag = item.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        if len(tag) >= 2 and tag[0] == tag[-1] == '"' and _same_content(tag[1:-1], digest):
            return True
    return False


def if_range_holds(header: bytes, digest: str) -> bool:
    """True when ``If-Range`` allows the range: a strong ETag of this content.

    We send no Last-Modified, so a date can never match and asks for the whole file.
    """
    tag = header.decode("latin-1").strip()
    return len(tag) >= 2 and tag[0] == tag[-1] == '"' and _same_content(tag[1:-1], digest)


def byte_range(header: bytes, size: int) -> tuple[int, int] | None:
    """The one range ``Range: header`` asks of ``size`` bytes, as inclusive (first, last).

    ``None`` means "send the whole file": an unknown unit, a malformed value, or
    several ranges (allowed: a server may ignore Range). Raises
    :class:`Unsatisfiable` when no byte of the file is in the range.
    """
    unit, eq, spec = header.decode("latin-1").partition("=")
    if not eq or unit.strip().lower() != "bytes" or "," in spec:
        return None
    match = _SPEC.fullmatch(spec)
    if match is None:
        return None
    first, last = match.groups()
    if first == "":
        if last == "":
            return None
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise Unsatisfiable
        return max(0, size - suffix), size - 1
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        raise Unsatisfiable
    return start, (min(int(last), size - 1) if last else size - 1)
