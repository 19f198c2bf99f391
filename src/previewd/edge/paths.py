"""Request target → the file of a Site that answers it.

``/`` and ``dir/`` serve ``index.html``; ``/docs`` redirects to ``/docs/`` when
``docs/index.html`` exists; ``/about`` serves ``about.html``; a SPA serves its
``index.html`` for unknown extension-less paths; everything else is the
deployment's ``404.html`` or a 404 page of ours. Resolutions are memoised on
the Site, so a hot path costs one dict lookup.
"""

from __future__ import annotations

import posixpath
import re
from typing import NamedTuple
from urllib.parse import quote, unquote_to_bytes

from previewd.edge.routes import FileEntry, Site
from previewd.errors import InvalidPath

_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\\]")
_MEMO_LIMIT = 4096  # per Site: paths are chosen by clients, memory is not


class Resolution(NamedTuple):
    status: int  # 200 a file, 308 a redirect to `location`, 404 not found
    entry: FileEntry | None  # what to send (the site's 404.html for a 404, if any)
    path: str  # the file's path in the site, for messages
    location: str = ""  # for 308: the new path, query not included


def split_target(target: bytes) -> tuple[bytes, bytes]:
    """``b"/a%20b?x=1"`` → ``(b"/a%20b", b"?x=1")``. The path stays percent-encoded."""
    if b"?" not in target and b"#" not in target:
        return target, b""
    path, mark, query = target.partition(b"?")
    path = path.partition(b"#")[0]
    return path, (mark + query.partition(b"#")[0]) if mark else b""


def decode_path(raw: bytes) -> str:
    """Percent-decode a request path into a site path without its leading slash.

    Raises :class:`~previewd.errors.InvalidPath` for what no honest client
    sends: no leading slash, invalid percent-encoding or UTF-8, NUL and other
    control bytes, backslashes, and ``.`` or ``..`` segments (encoded or not).
    """
    if not raw.startswith(b"/"):
        raise InvalidPath("the request path must start with '/'")
    if b"%" in raw:
        if _BAD_ESCAPE.search(raw):
            raise InvalidPath("the request path has an invalid percent-encoding")
        raw = unquote_to_bytes(raw)
    try:
        path = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidPath("the request path is not UTF-8") from None
    if _CONTROL.search(path):
        raise InvalidPath("the request path holds control characters or backslashes")
    path = path[1:]
    if "." in path:
        for segment in path.split("/"):
            if segment in (".", ".."):
                raise InvalidPath("the request path holds '.' or '..' segments")
    return path


def resolve(site: Site, raw_path: bytes) -> Resolution:
    """The resolution of ``raw_path`` (still percent-encoded) in ``site``, memoised."""
    memo = site.resolved
    found = memo.get(raw_path)
    if found is None:
        found = _resolve(site, decode_path(raw_path))
        if len(memo) < _MEMO_LIMIT:
            memo[raw_path] = found
    return found


def _resolve(site: Site, path: str) -> Resolution:
    files = site.files
    if path == "" or path.endswith("/"):
        index = path + "index.html"
        if index in files:
            return Resolution(200, files[index], index)
    else:
        if path in files:
            return Resolution(200, files[path], path)
        if path + "/index.html" in files:
            return Resolution(308, None, path, _quote("/" + path + "/"))
        if path + ".html" in files:
            return Resolution(200, files[path + ".html"], path + ".html")
    if site.spa and "index.html" in files and not posixpath.splitext(path.rstrip("/"))[1]:
        return Resolution(200, files["index.html"], "index.html")
    return Resolution(404, files.get("404.html"), path)


def _quote(path: str) -> str:
    # Built from the decoded, validated path: a raw "//evil.example" can never
    # become a Location that leaves the site.
    return quote(path, safe="/:@!$&'()*+,;=~")
