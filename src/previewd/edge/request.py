"""One parsed HTTP request, and the output a handler answers it on."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol


class Request:
    """The request line and headers; a body is not kept (static routes refuse bodies).

    The headers a handler needs on every request are picked out while parsing;
    ``headers`` keeps all of them, in order, for handlers that forward them.
    """

    __slots__ = (
        "accept_encoding",
        "body_size",
        "canned",
        "connection",
        "headers",
        "host",
        "if_none_match",
        "if_range",
        "keep_alive",
        "method",
        "range",
        "target",
    )

    def __init__(self) -> None:
        self.method = b""
        self.target = b""
        self.keep_alive = True  # the parser's verdict from the version and Connection
        self.connection: bytes | None = None  # the Connection header as sent
        self.headers: list[tuple[bytes, bytes]] = []
        self.host: bytes | None = None
        self.if_none_match: bytes | None = None
        self.if_range: bytes | None = None
        self.range: bytes | None = None
        self.accept_encoding: bytes | None = None
        self.body_size = 0
        # A response decided by the connection itself (400, 413, 431…), sent in
        # pipeline order instead of calling the handler.
        self.canned: bytes | None = None

    @property
    def is_head(self) -> bool:
        return self.method == b"HEAD"

    def __repr__(self) -> str:
        return f"<Request {self.method.decode()} {self.target!r} host={self.host!r}>"


class Output(Protocol):
    """The connection as a handler sees it: write bytes, wait while the client is slow."""

    def write(self, data: bytes | memoryview) -> None: ...

    async def drain(self) -> None:
        """Return once the client has taken enough of what was written; raise
        :class:`ConnectionError` if it went away."""
        ...


class Handler(Protocol):
    """Answers requests. Returns ``None`` when the whole response was written
    synchronously (the hot path), or an awaitable that finishes it; the
    connection answers pipelined requests in order either way."""

    def handle(self, request: Request, out: Output) -> Awaitable[None] | None: ...
