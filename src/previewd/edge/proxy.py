"""The reverse proxy: a request of a server route → the preview's server, streamed both ways.

The connection hands a proxied request over as soon as its headers are in
(``EdgeApp.route`` chose an :class:`~previewd.edge.upstream.Upstream`); the
body follows through ``request.body``. The proxy sends the request head
(hop-by-hop headers removed, ``X-Forwarded-*`` set by the edge and never
taken from the client) on a pooled keep-alive connection, streams the body up
while waiting for the answer, then streams the answer down: bytes as they
come, with flow control on both sides. An upgrade (WebSocket) answered with
``101`` becomes a tunnel: bytes spliced both ways until either side closes.

Failures before the answer started get a page that says what happened:
*starting* (503, the server is not listening yet), *crashed* (502, refused or
reset), *timed out* (504). After the answer started, the client connection is
dropped: half a response cannot be taken back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from previewd.edge import pages
from previewd.edge.request import Inbound, Output, Request
from previewd.edge.responses import DateHeader, simple
from previewd.edge.upstream import Upstream, UpstreamClosed, UpstreamConnection
from previewd.errors import PreviewdError

logger = logging.getLogger("previewd.edge")

# RFC 9110 §7.6.1, and the older ones clients and servers still send
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
# set by the edge; a client's own values are dropped, never trusted
FORWARDED = frozenset(
    {b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"forwarded", b"x-real-ip"}
)
NO_BODY = frozenset({204, 304})
TOUCH_EVERY = 1.0  # seconds between touch() calls while a tunnel is open

_NONE, _LENGTH, _CHUNKED = 0, 1, 2
_EXPECT = 4  # a flag on the framing: the client waits for "100 Continue" before its body
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


@dataclass(frozen=True, slots=True)
class ProxyLimits:
    connect_timeout: float = 5.0  # to open a connection to the upstream
    header_timeout: float = 60.0  # from the request sent (or its body's last chunk) to the answer
    idle_timeout: float = 60.0  # with no byte moving on a body or a tunnel


class ProxyHandler:
    """Forwards requests whose ``upstream`` is set; see the module docstring."""

    def __init__(
        self, dates: DateHeader, limits: ProxyLimits | None = None, *, scheme: bytes = b"http"
    ) -> None:
        self.dates = dates
        self.limits = limits or ProxyLimits()
        self.proto_line = b"X-Forwarded-Proto: " + scheme + b"\r\n"
        # Told of each 5xx answer (request, status, its first body bytes): feedback.
        self.on_answer: Callable[[Request, int, bytes], None] | None = None

    def handle(self, request: Request, out: Output) -> Awaitable[None]:
        return self.forward(request, out)

    async def forward(self, request: Request, out: Output) -> None:
        target = request.upstream
        assert target is not None
        if request.method == b"CONNECT":
            body = pages.error(405, "Method Not Allowed", "CONNECT is not proxied.")
            self._page(request, out, 405, body)
            return
        touch = target.touch
        if touch is not None:
            touched = touch()
            if touched is not None:
                await touched
        if target.ready is not None:
            try:
                await target.ready()
            except Exception as exc:
                logger.info("edge: %r not ready: %s", target, exc)
                self._not_ready(request, out, exc)
                return
        upstream = target.pick()
        head, framing = self._request_head(request)
        upstream.active += 1
        try:
            await self._exchange(request, out, upstream, head, framing)
        finally:
            upstream.active -= 1

    async def _exchange(
        self, request: Request, out: Output, upstream: Upstream, head: bytes, framing: int
    ) -> None:
        limits = self.limits
        for attempt in (0, 1):
            try:
                connection, reused = await upstream.connect(limits.connect_timeout)
            except FileNotFoundError:
                self._starting(request, out)  # no socket yet: the server has not bound it
                return
            except TimeoutError:
                self._timed_out(request, out, "did not accept a connection")
                return
            except OSError as exc:
                self._crashed(request, out, exc)
                return
            connection.start(request.is_head)
            uploading: asyncio.Task[None] | None = None
            try:
                connection.write(head)
                if framing != _NONE:
                    uploading = asyncio.ensure_future(
                        self._upload(request, out, connection, framing)
                    )
                await connection.head(limits.header_timeout)
            except UpstreamClosed as exc:
                connection.abort()
                if uploading is not None:
                    uploading.cancel()
                if attempt == 0 and reused and framing == _NONE and not connection.received:
                    continue  # a pooled connection the server had closed: once more, fresh
                self._crashed(request, out, exc)
                return
            except TimeoutError:
                connection.abort()
                if uploading is not None:
                    uploading.cancel()
                self._timed_out(request, out, "did not answer")
                return
            except BaseException:
                connection.abort()
                if uploading is not None:
                    uploading.cancel()
                raise
            break
        released = False
        try:
            if connection.status == 101 and request.tunnel is not None:
                await self._splice(request, out, upstream, connection)
                return
            await self._respond(request, out, connection)
            if uploading is not None:
                if not uploading.done() and request.body is not None and request.body.complete:
                    # the last chunks are on their way up: let them go, the connection is reused
                    await asyncio.wait([uploading], timeout=self.limits.idle_timeout)
                if not uploading.done():
                    uploading.cancel()  # answered without the whole body: not reusable
                    connection.keep_alive = False
                elif uploading.cancelled() or uploading.exception() is not None:
                    connection.keep_alive = False
            upstream.release(connection)
            released = True
        finally:
            if not released:
                connection.abort()
                if uploading is not None:
                    uploading.cancel()

    # the request

    def _request_head(self, request: Request) -> tuple[bytes, int]:
        tokens: frozenset[bytes] = frozenset()
        if request.connection is not None:
            tokens = frozenset(t.strip().lower() for t in request.connection.split(b","))
        framing = expect = _NONE
        upgrade: bytes | None = None
        parts = [request.method, b" ", request.target, b" HTTP/1.1\r\n"]
        append = parts.append
        for name, value in request.headers:
            lowered = name.lower()
            if lowered in HOP_BY_HOP or lowered in FORWARDED or lowered in tokens:
                if lowered == b"transfer-encoding":
                    framing = _CHUNKED
                elif lowered == b"upgrade":
                    upgrade = value
                continue
            if lowered == b"content-length" and framing == _NONE and value.strip() != b"0":
                framing = _LENGTH
            elif lowered == b"expect" and value.lower() == b"100-continue":
                expect = _EXPECT  # the edge answers it when the body is wanted
                continue
            append(name)
            append(b": ")
            append(value)
            append(b"\r\n")
        if framing == _CHUNKED:
            append(b"Transfer-Encoding: chunked\r\n")
        if request.tunnel is not None and upgrade is not None:
            append(b"Connection: Upgrade\r\nUpgrade: ")
            append(upgrade)
            append(b"\r\n")
        append(b"X-Forwarded-For: ")
        append(request.client)
        append(b"\r\n")
        append(self.proto_line)
        if request.host is not None:
            append(b"X-Forwarded-Host: ")
            append(request.host)
            append(b"\r\n")
        append(b"\r\n")
        return b"".join(parts), framing | expect if framing else _NONE

    async def _upload(
        self,
        request: Request,
        out: Output,
        connection: UpstreamConnection,
        framing: int,
    ) -> None:
        body = request.body
        assert body is not None
        loop = asyncio.get_running_loop()
        idle, header_timeout = self.limits.idle_timeout, self.limits.header_timeout
        chunked = framing & _CHUNKED
        if framing & _EXPECT:
            out.write(CONTINUE)
        try:
            while True:
                async with asyncio.timeout(idle):
                    chunk = await body.read()
                    if not chunk:
                        break
                    connection.write(b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk)
                    await connection.drain()
                # the answer is due header_timeout after the body's last byte
                connection.head_deadline = loop.time() + header_timeout
            if chunked:
                connection.write(b"0\r\n\r\n")
        except (ConnectionError, TimeoutError):
            connection.abort()  # the client went away or stalled mid-body: the answer fails too

    # the response

    async def _respond(self, request: Request, out: Output, connection: UpstreamConnection) -> None:
        status = connection.status
        has_body = not request.is_head and status not in NO_BODY and status >= 200
        chunked = has_body and not connection.content_length
        if chunked and (request.http10 or not request.keep_alive):
            chunked = False  # delimited by the close instead (HTTP/1.0 knows no chunks)
            request.keep_alive = False
        if request.tunnel is not None or (request.body is not None and not request.body.complete):
            # an upgrade refused, or the rest of the body dropped: the connection closes
            request.keep_alive = False
        head = self._response_head(request, connection, chunked)
        if not has_body:
            out.write(head)
            return
        # what already arrived leaves with the head, in one write: most answers are whole
        first = connection.take()
        if status >= 500 and self.on_answer is not None:
            self.on_answer(request, status, first)
        if chunked:
            if first:
                head += b"%x\r\n%b\r\n" % (len(first), first)
            if connection.complete:
                out.write(head + b"0\r\n\r\n")
                return
            out.write(head)
        else:
            out.write(head + first if first else head)
            if connection.complete:
                return
        await out.drain()
        loop = asyncio.get_running_loop()
        idle = self.limits.idle_timeout
        try:
            async with asyncio.timeout(idle) as deadline:
                while True:
                    chunk = await connection.read()
                    if not chunk:
                        break
                    out.write(b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk)
                    await out.drain()
                    deadline.reschedule(loop.time() + idle)
        except TimeoutError:
            # half an answer cannot be taken back: the client connection is dropped
            logger.info("edge: %r idle for %ss mid-answer", request, idle)
            raise ConnectionResetError("the upstream or the client stalled") from None
        if chunked:
            out.write(b"0\r\n\r\n")

    def _response_head(
        self, request: Request, connection: UpstreamConnection, chunked: bool
    ) -> bytes:
        tokens: frozenset[bytes] = frozenset()
        headers = connection.headers
        for name, value in headers:
            if name.lower() == b"connection":
                tokens = tokens | frozenset(t.strip().lower() for t in value.split(b","))
        upgrade = connection.status == 101
        parts = [b"HTTP/1.1 %d " % connection.status, connection.reason or b"-", b"\r\n"]
        append = parts.append
        for name, value in headers:
            lowered = name.lower()
            if (lowered in HOP_BY_HOP or lowered in tokens) and not (
                upgrade and lowered == b"upgrade"
            ):
                continue
            append(name)
            append(b": ")
            append(value)
            append(b"\r\n")
        if upgrade:
            append(b"Connection: Upgrade\r\n\r\n")
        else:
            if chunked:
                append(b"Transfer-Encoding: chunked\r\n")
            if not request.keep_alive:
                append(b"Connection: close\r\n\r\n")
            elif request.connection is not None:
                append(b"Connection: keep-alive\r\n\r\n")
            else:
                append(b"\r\n")
        return b"".join(parts)

    # the tunnel

    async def _splice(
        self, request: Request, out: Output, upstream: Upstream, connection: UpstreamConnection
    ) -> None:
        tunnel = request.tunnel
        assert tunnel is not None
        request.keep_alive = False  # after the tunnel, the connection closes
        out.write(self._response_head(request, connection, False))
        assert request.upstream is not None
        heartbeat = _Heartbeat(request.upstream.touch)  # an open tunnel is activity
        up = asyncio.ensure_future(self._client_to_upstream(tunnel, connection))
        try:
            while True:
                chunk = await connection.read()
                if not chunk:
                    break
                out.write(chunk)
                await out.drain()
        except UpstreamClosed:
            pass
        finally:
            heartbeat.stop()
            up.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await up
            connection.close()

    @staticmethod
    async def _client_to_upstream(tunnel: Inbound, connection: UpstreamConnection) -> None:
        try:
            while True:
                chunk = await tunnel.read()
                if not chunk:
                    connection.write_eof()  # the upstream closes its side in turn
                    return
                connection.write(chunk)
                await connection.drain()
        except ConnectionError:
            connection.abort()

    # pages

    def _starting(self, request: Request, out: Output) -> None:
        self._page(request, out, 503, pages.starting(), [("Retry-After", "2"), ("Refresh", "2")])

    def _not_ready(self, request: Request, out: Output, exc: Exception) -> None:
        """The page for a server that could not be made ready, from what went wrong."""
        if not isinstance(exc, PreviewdError):
            self._starting(request, out)
            return
        retry_after = getattr(exc, "retry_after", None)
        headers = [("Retry-After", str(retry_after))] if retry_after else []
        title = {502: "Crashed", 503: "Busy", 504: "Timed out"}.get(exc.status, "Unavailable")
        status = exc.status if 500 <= exc.status < 600 else 503
        self._page(
            request, out, status, pages.error(status, title, exc.message, exc.hint or ""), headers
        )

    def _crashed(self, request: Request, out: Output, exc: BaseException) -> None:
        self._page(request, out, 502, pages.crashed(_reason(exc)))

    def _timed_out(self, request: Request, out: Output, what: str) -> None:
        self._page(request, out, 504, pages.timed_out(what))

    def _page(
        self,
        request: Request,
        out: Output,
        status: int,
        body: bytes,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        if request.body is not None and not request.body.complete:
            request.keep_alive = False
        if request.tunnel is not None:
            request.keep_alive = False
        tail = self.dates.tail(request)
        out.write(simple(status, body, tail, head_only=request.is_head, headers=headers or ()))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    text = str(exc)
    return text or type(exc).__name__


class _Heartbeat:
    """Calls ``touch`` every TOUCH_EVERY seconds until stopped: a WebSocket that is open
    keeps its server awake, quiet or not."""

    __slots__ = ("_handle", "_loop", "_pending", "_touch")

    def __init__(self, touch: Callable[[], Awaitable[None] | None] | None) -> None:
        self._touch = touch
        self._loop = asyncio.get_running_loop()
        self._pending: set[asyncio.Future[None]] = set()
        self._handle: asyncio.TimerHandle | None = None
        if touch is not None:
            self._handle = self._loop.call_later(TOUCH_EVERY, self._beat)

    def _beat(self) -> None:
        assert self._touch is not None
        result = self._touch()
        if result is not None:
            future = asyncio.ensure_future(result)
            self._pending.add(future)
            future.add_done_callback(self._pending.discard)
        self._handle = self._loop.call_later(TOUCH_EVERY, self._beat)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
