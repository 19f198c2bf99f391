"""One parsed HTTP request, and the output a handler answers it on."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from previewd.edge.upstream import Target


class Request:
    """The request line and headers; a body is not kept (static routes refuse bodies).

    The headers a handler needs on every request are picked out while parsing;
    ``headers`` keeps all of them, in order, for handlers that forward them.

    A request for a handler that streams (the proxy: ``Handler.route`` said so
    when its headers arrived) is handed over before its body: ``body`` yields
    the body as it arrives, and ``tunnel`` (an upgrade request) what the
    client sends after the request once the upgrade is accepted.
    """

    __slots__ = (
        "accept_encoding",
        "body",
        "body_size",
        "canned",
        "client",
        "connection",
        "headers",
        "host",
        "http10",
        "if_none_match",
        "if_range",
        "keep_alive",
        "method",
        "range",
        "target",
        "tunnel",
        "upstream",
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
        self.client = b""  # the peer's address, for X-Forwarded-For
        self.http10 = False  # set for streamed requests only
        self.body: Inbound | None = None  # set for streamed requests
        self.tunnel: Inbound | None = None  # set for streamed upgrade requests
        self.upstream: Target | None = None  # chosen by the route

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


class StreamingHandler(Handler, Protocol):
    """A handler that may take some requests before their body (the proxy)."""

    def route(self, request: Request) -> bool:
        """Called when the headers are in: True to get ``request`` now, with ``body`` set."""
        ...


class _Flow(Protocol):
    def pause_inbound(self) -> None: ...

    def resume_inbound(self) -> None: ...


class Inbound:
    """Bytes from the client handed to a handler as they arrive, with flow control.

    The connection feeds it; past ``HIGH`` buffered bytes it stops reading the
    client until the handler has taken the buffer down to ``LOW``.
    """

    __slots__ = ("_chunks", "_done", "_error", "_flow", "_paused", "_waiter", "buffered")

    HIGH = 256 * 1024
    LOW = 64 * 1024

    def __init__(self, flow: _Flow) -> None:
        self._flow = flow
        self._chunks: deque[bytes] = deque()
        self.buffered = 0
        self._done = False
        self._error: BaseException | None = None
        self._paused = False
        self._waiter: asyncio.Future[None] | None = None

    @property
    def complete(self) -> bool:
        """All of it arrived (it may not all have been read yet)."""
        return self._done

    def feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self.buffered += len(data)
        if self.buffered > self.HIGH and not self._paused:
            self._paused = True
            self._flow.pause_inbound()
        self._wake()

    def feed_eof(self) -> None:
        self._done = True
        self._wake()

    def fail(self, exc: BaseException) -> None:
        if not self._done:
            self._error = exc
            self._wake()

    async def read(self) -> bytes:
        """The next chunk; ``b""`` at the end; :class:`ConnectionError` if the client left."""
        chunks = self._chunks
        while not chunks:
            if self._error is not None:
                raise self._error
            if self._done:
                return b""
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        chunk = chunks.popleft()
        self.buffered -= len(chunk)
        if self._paused and self.buffered <= self.LOW:
            self._paused = False
            self._flow.resume_inbound()
        return chunk

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
