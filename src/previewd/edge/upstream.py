"""Upstreams of the proxy: where a preview's server listens, and kept-alive connections to it.

A route points at an :class:`Upstream` (one server) or a :class:`Balancer`
(several instances of one server): either way the proxy awaits ``ready()``,
then sends the request to ``pick()``.

An :class:`Upstream` is what a route points at: an address (a unix socket path,
or ``(host, port)`` for tests and development) and the supervisor's hooks:
``ready()`` is awaited before connecting (wake a sleeping preview) and
``touch()`` is called on every request and while a tunnel carries traffic
(activity for scale to zero). Each Upstream keeps its own bounded pool of idle
HTTP/1.1 connections.

:class:`UpstreamConnection` is one connection: an ``asyncio.Protocol`` with an
httptools response parser, handing the response head and then body chunks to
the proxy with flow control both ways.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import cast

import httptools

Address = str | tuple[str, int]

HIGH = 256 * 1024  # body bytes buffered before reading the upstream pauses
LOW = 64 * 1024
MAX_HEADER_BYTES = 64 * 1024  # a response head larger than this is refused (a hostile app)


class UpstreamClosed(ConnectionError):
    """The upstream closed or reset the connection before the response was complete."""


class Upstream:
    """A preview's server as the proxy reaches it, with a pool of idle connections."""

    __slots__ = ("_idle", "active", "address", "connections_made", "max_idle", "ready", "touch")

    def __init__(
        self,
        address: Address,
        *,
        ready: Callable[[], Awaitable[None]] | None = None,
        touch: Callable[[], Awaitable[None] | None] | None = None,
        max_idle: int = 16,
    ) -> None:
        self.address = address
        self.ready = ready
        self.touch = touch
        self.max_idle = max_idle
        self._idle: deque[UpstreamConnection] = deque()
        self.active = 0  # requests and tunnels in progress: the balancer's measure
        self.connections_made = 0

    def __repr__(self) -> str:
        return f"<Upstream {self.address!r}>"

    async def connect(self, timeout: float) -> tuple[UpstreamConnection, bool]:
        """A connection: an idle one from the pool (``True``) or a new one (``False``)."""
        idle = self._idle
        while idle:
            connection = idle.pop()  # the most recently used: the least likely to be stale
            if connection.usable:
                return connection, True
            connection.close()
        loop = asyncio.get_running_loop()
        address = self.address
        async with asyncio.timeout(timeout):
            if isinstance(address, str):
                _, protocol = await loop.create_unix_connection(UpstreamConnection, address)
            else:
                _, protocol = await loop.create_connection(UpstreamConnection, *address)
        self.connections_made += 1
        return protocol, False

    def release(self, connection: UpstreamConnection) -> None:
        """Give a connection back: pooled if it can take another request, else closed."""
        if connection.reusable and len(self._idle) < self.max_idle:
            connection.idle()
            self._idle.append(connection)
        else:
            connection.close()

    def close(self) -> None:
        """Close the idle connections (the upstream stops, or the route goes away)."""
        while self._idle:
            self._idle.pop().close()

    @property
    def idle_count(self) -> int:
        return len(self._idle)

    def pick(self) -> Upstream:
        return self


class Balancer:
    """The instances of one preview server: each request goes to the one with the fewest
    requests in progress among those ``healthy(n)`` says pass their health checks (to any
    instance when none does: an answer from a struggling one beats an error page)."""

    __slots__ = ("healthy", "members", "ready", "touch")

    def __init__(
        self,
        members: list[Upstream],
        *,
        healthy: Callable[[int], bool],
        ready: Callable[[], Awaitable[None]] | None = None,
        touch: Callable[[], Awaitable[None] | None] | None = None,
    ) -> None:
        self.members = members
        self.healthy = healthy
        self.ready = ready
        self.touch = touch

    def __repr__(self) -> str:
        return f"<Balancer {[m.address for m in self.members]!r}>"

    def pick(self) -> Upstream:
        best: Upstream | None = None
        for n, member in enumerate(self.members):
            if self.healthy(n) and (best is None or member.active < best.active):
                best = member
        if best is None:
            best = min(self.members, key=lambda m: m.active)
        return best

    def close(self) -> None:
        for member in self.members:
            member.close()


#: What a server route points at.
Target = Upstream | Balancer


class UpstreamConnection(asyncio.Protocol):
    """One HTTP/1.1 connection to an upstream; one request at a time."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._parser: httptools.HttpResponseParser | None = None
        self._expecting = False  # a request was sent: bytes are its response
        self._head_only = False
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self._header_bytes = 0
        self.length_known = False  # Content-Length or chunked: the body end is in the framing
        self.content_length = False  # framed by Content-Length (not chunked)
        self.keep_alive = False
        self._headed = False
        self._done = False
        self._chunks: deque[bytes] = deque()
        self.buffered = 0
        self._error: Exception | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._writing_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._upgraded = False
        self.received = False  # any byte of the current response arrived
        self.head_deadline = 0.0  # loop time the response head is due by (uploads push it)
        self._timer: asyncio.TimerHandle | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.received = True
        if self._upgraded:
            self._push(data)
            return
        parser = self._parser
        if parser is None or not self._expecting:  # bytes while idle: not asked for
            self._fail(UpstreamClosed("the upstream sent bytes nobody asked for"))
            self.close()
            return
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            self._upgraded = True
            rest = data[exc.args[0] :] if exc.args else b""
            if rest:
                self._push(rest)
        except httptools.HttpParserError as exc:
            cause = exc.__context__
            if not isinstance(cause, UpstreamClosed):
                cause = UpstreamClosed(f"the upstream sent a malformed response: {exc}")
            self._fail(cause)
            self.close()

    def eof_received(self) -> bool:
        if self._headed and not self._done and (self._upgraded or not self.length_known):
            self._done = True  # a body delimited by the close, or the end of a tunnel
            self.keep_alive = False
            self._wake()
        else:
            self._fail(UpstreamClosed("the upstream closed the connection"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._fail(UpstreamClosed(f"the upstream closed the connection ({exc or 'closed'})"))
        self._wake_drain(UpstreamClosed("the upstream closed the connection"))

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._wake_drain(None)

    # httptools callbacks

    def on_status(self, status: bytes) -> None:
        self.reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value) + 4
        if self._header_bytes > MAX_HEADER_BYTES:
            raise UpstreamClosed(f"the upstream's response head exceeds {MAX_HEADER_BYTES} bytes")
        self.headers.append((name, value))
        lowered = name.lower()
        if lowered == b"content-length":
            self.length_known = self.content_length = True
        elif lowered == b"transfer-encoding":
            self.content_length = False
            self.length_known = self.length_known or b"chunked" in value.lower()

    def on_headers_complete(self) -> None:
        parser = self._parser
        assert parser is not None
        status = parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            # an interim answer (100 Continue, 103 Early Hints): dropped, the final one follows
            self.reason = b""
            self.headers = []
            self.length_known = self.content_length = False
            return
        self.status = status
        self.keep_alive = parser.should_keep_alive()
        self._headed = True
        if self._head_only or status in (204, 304):
            self._done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self._head_only:
            return
        self._push(body)

    def on_message_complete(self) -> None:
        if self._headed and self.status != 101:  # after a 101 comes the tunnel
            self._done = True
            self._wake()

    # for the proxy

    def start(self, head_only: bool) -> None:
        """Get ready for the response to the next request."""
        if self._parser is None or self._head_only:
            # a parser is reused after a whole response; after HEAD it still awaits a body
            self._parser = httptools.HttpResponseParser(self)
        self._expecting = True
        self._head_only = head_only
        self.status = 0
        self.reason = b""
        self.headers = []
        self._header_bytes = 0
        self.length_known = self.content_length = False
        self.keep_alive = False
        self._headed = self._done = self.received = False
        self._error = None

    def write(self, data: bytes | memoryview) -> None:
        if self._transport is None:
            raise UpstreamClosed("the upstream closed the connection")
        self._transport.write(data)

    def write_eof(self) -> None:
        if self._transport is not None and self._transport.can_write_eof():
            self._transport.write_eof()

    async def drain(self) -> None:
        if self._transport is None:
            raise UpstreamClosed("the upstream closed the connection")
        if self._writing_paused:
            self._drain_waiter = self._loop.create_future()
            await self._drain_waiter

    @property
    def headed(self) -> bool:
        """The response's status line and headers are in."""
        return self._headed

    async def head(self, timeout: float) -> None:
        """Wait for the status line and headers of the response; :class:`TimeoutError`
        if they are not in by ``head_deadline`` (``timeout`` from now, unless moved)."""
        if self._headed:
            return
        self.head_deadline = self._loop.time() + timeout
        self._timer = self._loop.call_at(self.head_deadline, self._head_timer)
        try:
            while not self._headed:
                await self._wait()
        finally:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _head_timer(self) -> None:
        if self._headed:
            return
        if self._loop.time() < self.head_deadline:  # moved on by the upload
            self._timer = self._loop.call_at(self.head_deadline, self._head_timer)
            return
        self._timer = None
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(TimeoutError())

    @property
    def complete(self) -> bool:
        """The whole response is in (possibly still buffered)."""
        return self._done

    def take(self) -> bytes:
        """All the body buffered so far, at once."""
        chunks = self._chunks
        if not chunks:
            return b""
        data = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self.buffered = 0
        if self._reading_paused and self._transport is not None:
            self._reading_paused = False
            self._transport.resume_reading()
        return data

    async def read(self) -> bytes:
        """The next chunk of the body (or of the tunnel); ``b""`` at its end."""
        chunks = self._chunks
        while not chunks:
            if self._done:
                return b""
            await self._wait()
        chunk = chunks.popleft()
        self.buffered -= len(chunk)
        if self._reading_paused and self.buffered <= LOW and self._transport is not None:
            self._reading_paused = False
            self._transport.resume_reading()
        return chunk

    @property
    def usable(self) -> bool:
        """Open and idle: can be sent a request."""
        return self._transport is not None and not self._transport.is_closing()

    @property
    def reusable(self) -> bool:
        """The response ended cleanly and the upstream keeps the connection."""
        return (
            self._done
            and self.keep_alive
            and not self._upgraded
            and not self._chunks
            and self._error is None
            and self.usable
        )

    def idle(self) -> None:
        self._expecting = False

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    # internals

    def _push(self, data: bytes) -> None:
        self._chunks.append(data)
        self.buffered += len(data)
        if self.buffered > HIGH and not self._reading_paused and self._transport is not None:
            self._reading_paused = True
            self._transport.pause_reading()
        self._wake()

    async def _wait(self) -> None:
        if self._error is not None:
            raise self._error
        self._waiter = self._loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None
        if self._error is not None and not self._chunks and not self._done:
            raise self._error

    def _fail(self, exc: Exception) -> None:
        if self._error is None and not (self._done and not self._chunks and self._headed):
            self._error = exc
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake_drain(self, exc: Exception | None) -> None:
        waiter, self._drain_waiter = self._drain_waiter, None
        if waiter is not None and not waiter.done():
            if exc is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(exc)
