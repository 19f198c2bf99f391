"""What makes two reports the same problem: a fingerprint that survives rebuilds.

A rebuild changes many things that do not change the problem: the deployment
id in the hostname, the content hash in ``assets/index-3f2a9c1b.js``, the line
and column in a minified bundle, memory addresses, timestamps, ports, temporary
paths, ids in URLs. :func:`normalize` erases those from a text, and
:func:`fingerprint` hashes the kind of problem with its normalized facts.

Line numbers are left out of every fingerprint, also in source files: an edit
above an error moves it without changing it, and the condensed message still
names the line of the newest sighting.
"""

from __future__ import annotations

import hashlib
import posixpath
import re

from previewd.edge.content_types import is_fingerprinted

_URL_ORIGIN = re.compile(r"\b(?:https?|wss?)://[^/\s'\"()<>]+", re.IGNORECASE)
_QUERY = re.compile(r"(?<=[\w/.-])\?[^\s'\"()<>]*")
_PATH_TOKEN = re.compile(r"[\w@./~+-]+\.[A-Za-z][A-Za-z0-9]{0,5}\b")
# file.js:12:5, file.py:12, (file.js:1:2000): positions, dropped
_POSITION = re.compile(r"(\.[A-Za-z][A-Za-z0-9]{0,5})(?::\d+){1,2}")
_LINE_WORD = re.compile(r"\b(line|col(?:umn)?|offset|position)\s*:?\s*\d+", re.IGNORECASE)
_HEX_ADDRESS = re.compile(r"\b0x[0-9a-fA-F]+\b")
_UUID = re.compile(
    r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
)
_TIME = re.compile(
    r"\b\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?(?:Z|[+-]\d\d:?\d\d)?)?\b"
    r"|\b\d\d:\d\d:\d\d(?:[.,]\d+)?\b"
)
_TEMP = re.compile(r"(?:/tmp|/var/tmp|/private/var/folders|/dev/shm)/[^\s'\"():,]+")
_SANDBOX_ROOT = re.compile(r"(?<![\w.])/work/")
_DEPLOYMENT_ID = re.compile(r"\b[0-9][a-z0-9]{11}\b")
_PORT = re.compile(r"\b(port|localhost|127\.0\.0\.1)([\s:]+)\d{2,5}\b", re.IGNORECASE)
_LONG_NUMBER = re.compile(r"\d{4,}")
_LONG_HEX = re.compile(r"\b(?=[0-9a-f]*\d)[0-9a-f]{12,}\b")
_SPACE = re.compile(r"\s+")
_HASH_PART = re.compile(r"(?=[A-Za-z0-9_]*\d)[A-Za-z0-9_]{6,}|[0-9a-f]{8,}")

# a path segment that names one thing among many: /items/42, /u/3f2a…, /orders/<uuid>
_ID_SEGMENT = re.compile(
    r"[0-9]+|[0-9a-fA-F]{8,}|[0-9a-fA-F-]{36}|(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{16,}"
)


def unhash(path: str) -> str:
    """``assets/index-3f2a9c1b.js`` → ``assets/index-*.js``; other paths unchanged."""
    if not is_fingerprinted(path):
        return path
    folder, base = posixpath.split(path)
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    if len(stem) >= 10 and stem[-9] == "-":  # Vite and Rollup: name-XXXXXXXX
        stem = stem[:-9] + "-*"
    else:
        parts = []
        for part in stem.split("."):
            head, dash, tail = part.rpartition("-")
            if _HASH_PART.fullmatch(tail):
                part = f"{head}{dash}*"
            parts.append(part)
        stem = ".".join(parts)
    base = f"{stem}.{ext}" if ext else stem
    return posixpath.join(folder, base) if folder else base


def normalize(text: str) -> str:
    """``text`` without what differs between builds and runs of the same problem."""
    text = _URL_ORIGIN.sub("", text)
    text = _QUERY.sub("", text)
    text = _TEMP.sub("/tmp/*", text)
    text = _SANDBOX_ROOT.sub("", text)
    text = _POSITION.sub(r"\1", text)
    text = _PATH_TOKEN.sub(lambda m: unhash(m.group(0)), text)
    text = _LINE_WORD.sub(r"\1 N", text)
    text = _UUID.sub("<uuid>", text)
    text = _TIME.sub("<time>", text)
    text = _HEX_ADDRESS.sub("0x?", text)
    text = _PORT.sub(r"\1\2N", text)
    text = _DEPLOYMENT_ID.sub("<deployment>", text)
    text = _LONG_HEX.sub("<hex>", text)
    text = _LONG_NUMBER.sub("N", text)
    return _SPACE.sub(" ", text).strip()


def path_template(path: str) -> str:
    """A request path with its ids replaced: ``/api/items/42?x=1`` → ``/api/items/:id``."""
    path = path.partition("?")[0].partition("#")[0]
    segments = [":id" if _ID_SEGMENT.fullmatch(s) else s for s in path.split("/")]
    return "/".join(segments) or "/"


def source_file(url_or_path: str | None) -> str | None:
    """Where a browser error came from, as a path in the deployment: no origin, no query,
    no hash in the name (``https://x--shop.localhost/assets/a-1b2c3d4e.js?v=2`` →
    ``assets/a-*.js``)."""
    if not url_or_path:
        return None
    path = _URL_ORIGIN.sub("", url_or_path).partition("?")[0].partition("#")[0]
    return unhash(path.lstrip("/")) or "/"


def fingerprint(kind: str, *facts: str | int | None) -> str:
    """The hash of ``kind`` and its facts, normalized (32 hex digits)."""
    parts = [kind, *(normalize(str(f)) if f is not None else "" for f in facts)]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
