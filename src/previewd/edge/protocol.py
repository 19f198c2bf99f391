"""One HTTP/1.1 connection: httptools parsing, pipelining, keep-alive, timeouts, flow control.

The connection parses requests and hands each complete one to the handler.
A handler that answers synchronously (a cached file) writes once and returns;
one that needs to wait (a disk read, a big file) returns an awaitable, and
requests that arrive meanwhile queue up so answers leave in request order.

Timeouts use one timer per connection whose deadline moves with the state:
``header_timeout`` from the first byte of a request until it is complete (a
client that trickles headers is cut off: slowloris), ``keepalive_timeout``
while idle between requests, none while a response is being written.

A handler with a ``route`` method (see ``StreamingHandler``) may take a
request as soon as its headers are in: its body is then fed to
``request.body`` chunk by chunk (reading pauses while the handler lags), and
after an accepted upgrade what the client sends goes to ``request.tunnel``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import httptools

from previewd.edge import pages
from previewd.edge.request import Handler, Inbound, Request
from previewd.edge.responses import DateHeader, simple

if TYPE_CHECKING:
    from previewd.edge.server import Connections

logger = logging.getLogger("previewd.edge")

MAX_PENDING = 32  # pipelined requests queued before we stop reading
LINGER = 2.0  # seconds to read and drop a refused body before closing


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    header_timeout: float = 10.0  # to receive a whole request, from its first byte
    keepalive_timeout: float = 15.0  # idle between requests
    max_header_bytes: int = 16 * 1024  # request line and headers (431 above)
    max_body_bytes: int = 64 * 1024  # a body sent to static files is read and dropped up to this


class _Refused(Exception):
    """Raised in a parser callback: stop parsing, answer ``status``, close the connection."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


class HttpConnection(asyncio.Protocol):
    """An ``asyncio.Protocol`` speaking HTTP/1.x to one client."""

    def __init__(
        self,
        handler: Handler,
        dates: DateHeader,
        limits: ConnectionLimits,
        connections: Connections,
    ) -> None:
        self._handler = handler
        self._dates = dates
        self._limits = limits
        self._connections = connections
        self._loop = asyncio.get_running_loop()
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._request: Request | None = None  # the one being parsed
        self._url = b""
        self._header_bytes = 0
        self._pending: deque[Request] = deque()
        self._task: asyncio.Task[None] | None = None  # an asynchronous answer in progress
        self._writing_paused = False
        self._reading_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._closing = False  # no more requests: close once the answers are out
        self._discarding = False  # a refused request: drop what the client still sends
        self._eof_sent = False
        self._started = False  # the current answer has written bytes
        self._deadline: float | None = None
        self._reading_deadline = False  # the deadline is header_timeout of a partial request
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._route = getattr(handler, "route", None)
        self._client = b""
        self._streaming: Request | None = None  # the streamed request whose body is arriving
        self._upgrading: Request | None = None  # a streamed upgrade request, parsed
        self._tunnel: Inbound | None = None  # after an upgrade: where client bytes go

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but quack alike
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and peer:
            self._client = str(peer[0]).encode("latin-1")
        self._connections.add(self)
        self._set_deadline(self._loop.time() + self._limits.header_timeout, reading=True)

    def data_received(self, data: bytes) -> None:
        if self._tunnel is not None:
            self._tunnel.feed(data)
            return
        if self._discarding or self._closing:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            upgrading, self._upgrading = self._upgrading, None
            if upgrading is not None and upgrading.tunnel is not None:
                # a streaming handler took it: the rest is the tunnel's
                self._tunnel = upgrading.tunnel
                rest = data[exc.args[0] :] if exc.args else b""
                if rest:
                    self._tunnel.feed(rest)
                return
            # Not a protocol static files speak: the request was answered as
            # plain HTTP, and what follows it is not HTTP.
            self._stop_reading()
        except httptools.HttpParserCallbackError as exc:
            refused = exc.__context__
            if isinstance(refused, _Refused):
                self._refuse(refused.status, refused.title, refused.message)
            else:
                logger.error("edge: error while parsing a request", exc_info=refused)
                self._refuse(500, "Internal Server Error", "The edge failed to read the request.")
        except httptools.HttpParserError as exc:
            if not self._closing:  # after "Connection: close" the rest is not parsed
                self._refuse(400, "Bad Request", f"Malformed HTTP request: {exc}.")
        else:
            if self._request is not None and not self._reading_deadline:
                self._set_deadline(self._loop.time() + self._limits.header_timeout, reading=True)

    def eof_received(self) -> bool:
        # The client finished sending; answer what it asked, then close.
        if self._tunnel is not None:
            self._tunnel.feed_eof()
            return True
        self._closing = True
        self._lose_inbound(ConnectionResetError("the client closed mid-body"))
        return not self._idle()

    def connection_lost(self, exc: Exception | None) -> None:
        self._connections.discard(self)
        self._transport = None
        self._closing = True
        self._pending.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._lose_inbound(ConnectionResetError("the client closed the connection"))
        if self._tunnel is not None:
            self._tunnel.feed_eof()
        if self._task is not None:
            self._task.cancel()
        self._wake_writer(ConnectionResetError("the client closed the connection"))

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._wake_writer(None)
        self._next()

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._request = Request()
        self._url = b""
        self._header_bytes = 0

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > self._limits.max_header_bytes:
            raise _Refused(
                414, "URI Too Long", f"The URL exceeds {self._limits.max_header_bytes} bytes."
            )

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value) + 4
        if self._header_bytes + len(self._url) > self._limits.max_header_bytes:
            raise _Refused(
                431,
                "Request Header Fields Too Large",
                f"The request line and headers exceed {self._limits.max_header_bytes} bytes.",
            )
        request = self._request
        assert request is not None
        request.headers.append((name, value))
        lowered = name.lower()
        if lowered == b"host":
            if request.host is not None:
                raise _Refused(400, "Bad Request", "The request has more than one Host header.")
            request.host = value
        elif lowered == b"accept-encoding":
            request.accept_encoding = value
        elif lowered == b"if-none-match":
            request.if_none_match = value
        elif lowered == b"range":
            request.range = value
        elif lowered == b"if-range":
            request.if_range = value
        elif lowered == b"connection":
            request.connection = value

    def on_headers_complete(self) -> None:
        request = self._request
        assert request is not None
        parser = self._parser
        request.method = parser.get_method()
        request.target = self._url
        request.keep_alive = parser.should_keep_alive()
        if self._route is not None and self._route(request):
            # the handler takes it now and reads the body as it comes
            request.client = self._client
            request.http10 = parser.get_http_version() == "1.0"
            request.body = Inbound(self)
            self._streaming = request
            if parser.should_upgrade():
                request.tunnel = Inbound(self)
                self._upgrading = request
            self._dispatch(request)

    def on_body(self, body: bytes) -> None:
        request = self._request
        assert request is not None
        request.body_size += len(body)
        if request.body is not None:
            request.body.feed(body)
            return
        if request.body_size > self._limits.max_body_bytes:
            raise _Refused(
                413, "Content Too Large", "Previews of static files do not accept request bodies."
            )

    def on_message_complete(self) -> None:
        request = self._request
        assert request is not None
        self._request = None
        self._deadline = None
        self._reading_deadline = False
        if request.body is not None:  # handed over with its headers already
            request.body.feed_eof()
            self._streaming = None
            if self._upgrading is request and request.tunnel is not None:
                return  # the parser raises HttpParserUpgrade next
            if self._task is None and not self._pending and not self._closing:
                self._set_deadline(
                    self._loop.time() + self._limits.keepalive_timeout, reading=False
                )
            return
        if self._closing:
            return
        self._dispatch(request)
        if self._task is None and self._request is None and not self._closing:
            self._set_deadline(self._loop.time() + self._limits.keepalive_timeout, reading=False)

    def _dispatch(self, request: Request) -> None:
        if self._task is not None or self._pending or self._writing_paused:
            self._pending.append(request)
            if len(self._pending) >= MAX_PENDING:
                self._pause_reading()
            return
        self._answer(request)

    # Inbound's flow control

    def pause_inbound(self) -> None:
        self._pause_reading()

    def resume_inbound(self) -> None:
        if self._reading_paused and len(self._pending) < MAX_PENDING and not self._discarding:
            self._reading_paused = False
            if self._transport is not None:
                self._transport.resume_reading()

    def _lose_inbound(self, exc: Exception) -> None:
        streaming, self._streaming = self._streaming, None
        if streaming is not None and streaming.body is not None:
            streaming.body.fail(exc)

    # Output, for handlers

    def write(self, data: bytes | memoryview) -> None:
        self._started = True
        if self._transport is not None:
            self._transport.write(data)

    async def drain(self) -> None:
        if self._transport is None or self._transport.is_closing():
            raise ConnectionResetError("the client closed the connection")
        if self._writing_paused:
            self._drain_waiter = self._loop.create_future()
            await self._drain_waiter

    # answering

    def _answer(self, request: Request) -> None:
        if request.canned is not None:
            self.write(request.canned)
            self._finish(request)
            return
        self._started = False
        try:
            waiting: Awaitable[None] | None = self._handler.handle(request, self)
        except Exception:
            logger.exception("edge: handler failed on %r", request)
            self._fail(request)
            return
        if waiting is None:
            self._finish(request)
        else:
            self._task = self._loop.create_task(self._complete(request, waiting))

    async def _complete(self, request: Request, waiting: Awaitable[None]) -> None:
        try:
            await waiting
        except asyncio.CancelledError:
            self._task = None
            self.abort()
            raise
        except ConnectionError:
            self._task = None
            self.abort()
            return
        except Exception:
            logger.exception("edge: handler failed on %r", request)
            self._task = None
            self._fail(request)
            return
        self._task = None
        self._finish(request)
        self._next()

    def _finish(self, request: Request) -> None:
        if request.body is not None and not request.body.complete:
            # answered before its body was all in: drop the rest, then close
            request.keep_alive = False
            self._streaming = None
            self._upgrading = None
            self._discarding = True
            if self._reading_paused and self._transport is not None:
                self._reading_paused = False
                self._transport.resume_reading()
        if request.tunnel is not None:
            self._tunnel = None  # what follows an upgrade is never HTTP again
            self._discarding = True
            request.keep_alive = False
        if not request.keep_alive:
            self._closing = True
            self._pending.clear()  # what was pipelined after "Connection: close" is dropped
        if self._closing and self._idle():
            self._close()

    def _fail(self, request: Request) -> None:
        if self._started:
            self.abort()  # half a response cannot be taken back
            return
        request.keep_alive = False
        body = pages.error(500, "Internal Server Error", "The edge failed to answer this request.")
        self.write(simple(500, body, self._dates.tail(request), head_only=request.is_head))
        self._close()

    def _next(self) -> None:
        """Answer queued requests while nothing else is in progress."""
        pending = self._pending
        while pending and self._task is None and not self._writing_paused:
            if self._transport is None:
                return
            self._answer(pending.popleft())
        if self._task is None and not pending:
            if self._closing:
                self._close()
                return
            if self._reading_paused and not self._discarding:
                self._reading_paused = False
                if self._transport is not None:
                    self._transport.resume_reading()
            if self._request is None:
                self._set_deadline(
                    self._loop.time() + self._limits.keepalive_timeout, reading=False
                )
            elif self._deadline is not None:
                self._set_deadline(self._deadline, reading=True)

    def _idle(self) -> bool:
        return self._task is None and not self._pending

    # refusing and closing

    def _refuse(self, status: int, title: str, message: str) -> None:
        """Answer a request the parser gave up on (after those before it), then close."""
        if self._closing:
            return  # the conversation is over already; nothing more is answered
        self._lose_inbound(ConnectionResetError(message))  # a streamed body ends here
        request = Request()
        request.keep_alive = False
        body = pages.error(status, title, message)
        request.canned = simple(status, body, self._dates.tail(request))
        self._request = None
        self._closing = True
        # drop what the client still sends, so it sees our answer rather than a reset
        self._discarding = True
        if self._idle() and not self._writing_paused:
            self._answer(request)
        else:
            self._pending.append(request)

    def _stop_reading(self) -> None:
        self._closing = True
        if self._idle():
            self._close()

    def _pause_reading(self) -> None:
        if not self._reading_paused and self._transport is not None:
            self._reading_paused = True
            self._transport.pause_reading()

    def _close(self) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if self._discarding and transport.can_write_eof():
            # half-close: the answer goes out, the client's remaining bytes are
            # read and dropped until it closes too or LINGER runs out
            if not self._eof_sent:
                self._eof_sent = True
                transport.write_eof()
                self._set_deadline(self._loop.time() + LINGER, reading=False)
            return
        transport.close()

    def abort(self) -> None:
        """Drop the connection at once, whatever is in flight."""
        if self._transport is not None:
            self._transport.abort()

    def _wake_writer(self, exc: Exception | None) -> None:
        waiter, self._drain_waiter = self._drain_waiter, None
        if waiter is not None and not waiter.done():
            if exc is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(exc)

    def shutdown(self) -> None:
        """Close now if idle, else after the answer in progress (server shutdown)."""
        self._closing = True
        if self._idle() and self._transport is not None:
            self._transport.close()

    # the timer

    def _set_deadline(self, at: float, *, reading: bool) -> None:
        self._deadline = at
        self._reading_deadline = reading
        if self._timer is None or self._timer_at > at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self._loop.call_at(at, self._on_timer)
            self._timer_at = at

    def _on_timer(self) -> None:
        self._timer = None
        deadline = self._deadline
        if deadline is None or self._task is not None or self._transport is None:
            return  # busy answering: the deadline is set again when done
        if self._loop.time() >= deadline:
            if self._discarding:
                self._transport.abort()  # it would not stop sending: cut it off
            else:
                self._transport.close()
            return
        self._timer = self._loop.call_at(deadline, self._on_timer)
        self._timer_at = deadline
