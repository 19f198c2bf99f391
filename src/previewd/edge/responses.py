"""Response bytes: status lines, header blocks, and the per-second Date header.

Handlers build a *head* (status line and headers, without ``Date`` and the
blank line) once per file and variant, and finish every response with
:meth:`DateHeader.tail`, so the hot path is a concatenation, not formatting.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from email.utils import formatdate

from previewd.edge.request import Request

REASONS = {
    200: "OK",
    206: "Partial Content",
    304: "Not Modified",
    308: "Permanent Redirect",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Content Too Large",
    414: "URI Too Long",
    416: "Range Not Satisfiable",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

HTML = "text/html; charset=utf-8"
NO_STORE = "no-store"


def head(status: int, headers: Iterable[tuple[str, str]]) -> bytes:
    """``HTTP/1.1 <status>`` and ``headers`` (plus ``Server``), without Date and blank line."""
    lines = [f"HTTP/1.1 {status} {REASONS[status]}\r\nServer: previewd\r\n"]
    lines.extend(f"{name}: {value}\r\n" for name, value in headers)
    return "".join(lines).encode("latin-1")


class DateHeader:
    """The end of every response head: ``Date`` (formatted once a second) and the blank line."""

    __slots__ = ("_close", "_keep", "_keep_alive", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._keep = self._keep_alive = self._close = b""

    def tail(self, request: Request) -> bytes:
        """``Date`` + blank line, with the ``Connection`` header ``request`` needs."""
        second = int(time.time())
        if second != self._second:
            self._refresh(second)
        if not request.keep_alive:
            return self._close
        # An HTTP/1.0 client keeps the connection only if told so; it asked with
        # "Connection: keep-alive", and saying it to an HTTP/1.1 client is harmless.
        return self._keep if request.connection is None else self._keep_alive

    def _refresh(self, second: int) -> None:
        date = b"Date: " + formatdate(second, usegmt=True).encode() + b"\r\n\r\n"
        self._keep = date
        self._keep_alive = b"Connection: keep-alive\r\n" + date
        self._close = b"Connection: close\r\n" + date
        self._second = second


def simple(
    status: int,
    body: bytes,
    tail: bytes,
    *,
    head_only: bool = False,
    content_type: str = HTML,
    headers: Iterable[tuple[str, str]] = (),
) -> bytes:
    """A whole small response (error pages, redirects), not cached."""
    block = head(
        status,
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Cache-Control", NO_STORE),
            *headers,
        ],
    )
    return block + tail if head_only else block + tail + body
