"""The reverse proxy over real sockets: a real upstream server on a unix socket behind the edge."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from previewd.blobs import LocalBlobStore
from previewd.edge import ProxyLimits, Route, RouteTable, Site, Upstream
from previewd.edge.request import Inbound
from previewd.edge.upstream import UpstreamConnection

from .conftest import Serve, StartEdge
from .helpers import PAGE, Edge, eventually, get
from .upstream_server import (
    Received,
    echo,
    response,
    websocket_echo,
    ws_accept,
    ws_frame,
    ws_read,
)

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024


def route(
    routes: RouteTable,
    blobs: LocalBlobStore,
    upstream: Upstream,
    *patterns: str,
) -> Site:
    """Route shop.localhost: ``patterns`` (default ``/*``) to ``upstream``, the rest static."""
    site = Site.build(
        "1a2b3c",
        "shop",
        [("index.html", blobs.put(PAGE), len(PAGE))],
        routes=[(pattern, upstream) for pattern in patterns or ("/*",)],
    )
    routes.set("shop", site)
    return site


async def test_get_and_post_pass_through(
    edge: Edge, serve: Serve, routes: RouteTable, blobs: LocalBlobStore
) -> None:
    upstream_server, upstream = await serve(echo)
    route(routes, blobs, upstream)
    async with edge.client() as client:
        got = await client.get("/api/items?q=1")
        assert got.status_code == 200
        assert got.content == b"GET /api/items?q=1 0\n"
        assert got.headers["x-upstream"] == "yes"
        posted = await client.post("/api/items", content=b"name=thing")
        assert posted.status_code == 200
        assert posted.content == b"POST /api/items 10\nname=thing"
        head = await client.head("/api/items")
        assert head.status_code == 200
        assert head.headers["content-length"] == str(len(b"HEAD /api/items 0\n"))
        assert head.content == b""
        again = await client.get("/after-head")  # the HEAD answer left the connection clean
        assert again.content == b"GET /after-head 0\n"
    assert [r.method for r in upstream_server.requests] == ["GET", "POST", "HEAD", "GET"]


async def test_keep_alive_reuses_one_upstream_connection(
    edge: Edge, serve: Serve, routes: RouteTable, blobs: LocalBlobStore
) -> None:
    upstream_server, upstream = await serve(echo)
    route(routes, blobs, upstream)
    async with edge.client() as first, edge.client() as second:
        for i in range(4):
            assert (await first.get(f"/a{i}")).status_code == 200
            assert (await second.post(f"/b{i}", content=b"x" * i)).status_code == 200
    assert len(upstream_server.requests) == 8
    assert upstream_server.connections == 1
    assert upstream.connections_made == 1
    assert upstream.idle_count == 1
    assert upstream.active == 0


async def test_large_upload_is_streamed(
    edge: Edge,
    serve: Serve,
    routes: RouteTable,
    blobs: LocalBlobStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    peak = [0]
    feed = Inbound.feed

    def recording_feed(self: Inbound, data: bytes) -> None:
        feed(self, data)
        peak[0] = max(peak[0], self.buffered)

    monkeypatch.setattr(Inbound, "feed", recording_feed)
    digest = hashlib.sha256()
    seen = [0]

    async def slow_reader(request: Received, writer: asyncio.StreamWriter) -> None:
        async for chunk in request.chunks():
            digest.update(chunk)
            seen[0] += len(chunk)
            await asyncio.sleep(0)  # a reader slower than the client
        writer.write(response(200, str(seen[0]).encode()))

    _, upstream = await serve(slow_reader)
    route(routes, blobs, upstream)
    block = os.urandom(MiB)
    expected = hashlib.sha256(block * 20).hexdigest()

    async def body() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield block

    async with edge.client(timeout=30) as client:
        chunked = await client.post("/upload", content=body())  # chunked
        assert chunked.status_code == 200
        assert chunked.content == str(20 * MiB).encode()
        assert digest.hexdigest() == expected
        seen[0] = 0
        sized = await client.post("/upload", content=block * 20)  # Content-Length
        assert sized.content == str(20 * MiB).encode()
    # the edge held at most a few hundred KiB of the 20 MiB at any time
    assert 0 < peak[0] < 2 * MiB


async def test_large_download_is_streamed(
    edge: Edge,
    serve: Serve,
    routes: RouteTable,
    blobs: LocalBlobStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    peak = [0]
    push = UpstreamConnection._push

    def recording_push(self: UpstreamConnection, data: bytes) -> None:
        push(self, data)
        peak[0] = max(peak[0], self.buffered)

    monkeypatch.setattr(UpstreamConnection, "_push", recording_push)
    block = os.urandom(MiB)

    async def big(request: Received, writer: asyncio.StreamWriter) -> None:
        writer.write(response(200, b"", f"Content-Length: {20 * MiB}", length=False))
        for _ in range(20):
            writer.write(block)
            await writer.drain()

    _, upstream = await serve(big)
    route(routes, blobs, upstream)
    digest = hashlib.sha256()
    size = 0
    async with edge.client(timeout=30) as client, client.stream("GET", "/big") as streamed:
        assert streamed.headers["content-length"] == str(20 * MiB)
        async for chunk in streamed.aiter_raw():
            digest.update(chunk)
            size += len(chunk)
            if size < 2 * MiB:
                await asyncio.sleep(0.001)  # a slow client at first: the edge must not buffer
    assert size == 20 * MiB
    assert digest.hexdigest() == hashlib.sha256(block * 20).hexdigest()
    assert 0 < peak[0] < 2 * MiB


async def test_chunked_response_passes_through(
    edge: Edge, serve: Serve, routes: RouteTable, blobs: LocalBlobStore
) -> None:
    async def chunked(request: Received, writer: asyncio.StreamWriter) -> None:
        writer.write(response(200, b"", "Transfer-Encoding: chunked", length=False))
        for part in (b"one,", b"two,", b"three"):
            writer.write(b"%x\r\n%b\r\n" % (len(part), part))
            await writer.drain()
        writer.write(b"0\r\n\r\n")

    upstream_server, upstream = await serve(chunked)
    route(routes, blobs, upstream)
    async with edge.client() as client:
        for _ in range(2):
            got = await client.get("/stream")
            assert got.headers["transfer-encoding"] == "chunked"
            assert got.content == b"one,two,three"
    assert upstream_server.connections == 1  # the chunked answer ended cleanly: reused


async def test_close_delimited_response_is_rechunked(
    edge: Edge, serve: Serve, routes: RouteTable, blobs: LocalBlobStore
) -> None:
    async def until_close(request: Received, writer: asyncio.StreamWriter) -> None:
        writer.write(response(200, b"no length, ", "Connection: close", length=False))
        writer.write(b"ends at close")
        request.close = True

    upstream_server, upstream = await serve(until_close)
    route(routes, blobs, upstream)
    async with edge.client() as client:
        for _ in range(2):
            got = await client.get("/")
            assert got.content == b"no length, ends at close"
            assert got.headers["transfer-encoding"] == "chunked"
    assert upstream_server.connections == 2
    assert upstream.idle_count == 0


async def test_forwarded_headers_are_set_and_hop_by_hop_removed(
    edge: Edge, serve: Serve, routes: RouteTable, blobs: LocalBlobStore
) -> None:
    async def hoppy(request: Received, writer: asyncio.StreamWriter) -> None:
        writer.write(response(200, b"ok", "Keep-Alive: timeout=5", "X-Kept: 1"))

    upstream_server, upstream = await serve(hoppy)
    route(routes, blobs, upstream)
    raw = await edge.connect()
    await raw.send(
        get(
            "/whoami",
            "shop.localhost",
            "X-Forwarded-For: 6.6.6.6",
            "X-Forwarded-Host: evil.example",
            "X-Forwarded-Proto: https",
            "Forwarded: for=6.6.6.6",
            "Connection: keep-alive, X-Secret",
            "X-Secret: hop",
            "Keep-Alive: timeout=99",
            "TE: trailers",
            "X-End-To-End: kept",
        )
    )
    answer = await raw.response()
    assert answer.status == 200
    assert answer.body == b"ok"
    assert answer.headers["x-kept"] == "1"
    assert "keep-alive" not in answer.headers
    seen = upstream_server.requests[0]
    assert seen.all("x-forwarded-for") == ["127.0.0.1"]
    assert seen.all("x-forwarded-host") == ["shop.localhost"]
    assert seen.all("x-forwarded-proto") == ["http"]
    assert seen.header("forwarded") is None
    for hop in ("x-secret", "keep-alive", "te", "connection"):
        assert seen.header(hop) is None, hop
    assert seen.header("x-end-to-end") == "kept"
    assert seen.header("host") == "shop.localhost"


async def test_websocket_echo(
    edge: Edge, serve: Serve, routes: RouteTable, blobs: LocalBlobStore
) -> None:
    upstream_server, upstream = await serve(websocket_echo)
    touched = [0]

    async def touch() -> None:
        touched[0] += 1

    upstream.touch = touch
    route(routes, blobs, upstream)
    raw = await edge.connect()
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    await raw.send(
        get(
            "/ws",
            "shop.localhost",
            "Connection: Upgrade",
            "Upgrade: websocket",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        )
    )
    head = await asyncio.wait_for(raw.reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101 ")
    assert f"Sec-WebSocket-Accept: {ws_accept(key)}".encode() in head
    assert b"Upgrade: websocket" in head
    for message in (b"hello", b"x" * 70000):  # a small frame and a 64-bit-length one
        await raw.send(ws_frame(message, mask=True))
        opcode, payload = await asyncio.wait_for(ws_read(raw.reader), 5)
        assert (opcode, payload) == (1, message)
    assert upstream.active == 1  # an open tunnel counts as activity
    assert touched[0] == 1
    await raw.send(ws_frame(b"", opcode=8, mask=True))
    opcode, _ = await asyncio.wait_for(ws_read(raw.reader), 5)
    assert opcode == 8
    assert await raw.closed()
    await eventually(lambda: upstream.active == 0)
    assert upstream.idle_count == 0  # a tunnel's connection is never pooled
    assert upstream_server.requests[0].header("upgrade") == "websocket"


async def test_upgrade_refused_by_upstream_closes(
    edge: Edge, serve: Serve, routes: RouteTable, blobs: LocalBlobStore
) -> None:
    _, upstream = await serve(echo)  # answers 200, not 101
    route(routes, blobs, upstream)
    raw = await edge.connect()
    await raw.send(get("/ws", "shop.localhost", "Connection: Upgrade", "Upgrade: websocket"))
    answer = await raw.response()
    assert answer.status == 200
    assert answer.headers["connection"] == "close"
    assert await raw.closed()


async def test_refused_connection_shows_crashed_page(
    start_edge: StartEdge, routes: RouteTable, blobs: LocalBlobStore, tmp_path: Path
) -> None:
    edge = await start_edge()
    path = tmp_path / "dead.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as bound:
        bound.bind(str(path))  # the socket file exists, nobody listens: refused
        route(routes, blobs, Upstream(str(path)))
        async with edge.client() as client:
            got = await client.get("/api/x")
    assert got.status_code == 502
    assert "text/html" in got.headers["content-type"]
    assert b"Crashed" in got.content
    assert b"connection refused" in got.content


async def test_refused_tcp_upstream_shows_crashed_page(
    edge: Edge, routes: RouteTable, blobs: LocalBlobStore
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    route(routes, blobs, Upstream(("127.0.0.1", port)))
    async with edge.client() as client:
        got = await client.get("/api/x")
    assert got.status_code == 502
    assert b"Crashed" in got.content


async def test_missing_socket_shows_starting_page(
    edge: Edge, routes: RouteTable, blobs: LocalBlobStore, tmp_path: Path
) -> None:
    route(routes, blobs, Upstream(str(tmp_path / "not-yet.sock")))
    async with edge.client() as client:
        got = await client.get("/api/x")
        assert got.status_code == 503
        assert got.headers["retry-after"] == "2"
        assert b"Starting" in got.content
        # the connection stays usable for the retry
        assert (await client.get("/api/x")).status_code == 503


async def test_ready_hook_is_awaited_before_connecting(
    edge: Edge, serve: Serve, routes: RouteTable, blobs: LocalBlobStore, tmp_path: Path
) -> None:
    upstream_server, served = await serve(echo)
    started = asyncio.Event()
    calls: list[str] = []

    async def ready() -> None:
        calls.append("ready")
        await started.wait()

    upstream = Upstream(served.address, ready=ready, touch=lambda: calls.append("touch"))
    route(routes, blobs, upstream)
    async with edge.client() as client:
        pending = asyncio.ensure_future(client.get("/woken"))
        await eventually(lambda: calls == ["touch", "ready"])
        assert not upstream_server.requests  # held until ready() returns
        started.set()
        got = await pending
        assert got.content == b"GET /woken 0\n"

        async def broken() -> None:
            raise RuntimeError("start timed out")

        upstream.ready = broken
        assert (await client.get("/woken")).status_code == 503
    upstream.close()


async def test_upstream_that_never_answers_times_out(
    start_edge: StartEdge, serve: Serve, routes: RouteTable, blobs: LocalBlobStore
) -> None:
    edge = await start_edge(proxy_limits=ProxyLimits(header_timeout=0.3))
    hang = asyncio.Event()

    async def silent(request: Received, writer: asyncio.StreamWriter) -> None:
        await hang.wait()

    _, upstream = await serve(silent)
    route(routes, blobs, upstream)
    loop = asyncio.get_running_loop()
    async with edge.client() as client:
        began = loop.time()
        got = await client.get("/api/slow")
        assert got.status_code == 504
        assert b"Timed out" in got.content
        assert 0.25 < loop.time() - began < 3
    hang.set()


async def test_stalled_body_times_out_and_drops_the_client(
    start_edge: StartEdge, serve: Serve, routes: RouteTable, blobs: LocalBlobStore
) -> None:
    edge = await start_edge(proxy_limits=ProxyLimits(idle_timeout=0.3))
    hang = asyncio.Event()

    async def stalls(request: Received, writer: asyncio.StreamWriter) -> None:
        writer.write(response(200, b"part", "Content-Length: 100", length=False))
        await writer.drain()
        await hang.wait()

    _, upstream = await serve(stalls)
    route(routes, blobs, upstream)
    raw = await edge.connect()
    await raw.send(get("/forever"))
    head = await asyncio.wait_for(raw.reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 200")
    try:  # cut off after the idle timeout, not after 100 bytes
        rest = await asyncio.wait_for(raw.reader.read(), 5)
    except ConnectionResetError:
        rest = b"part"
    assert rest == b"part"
    hang.set()


async def test_slow_stream_is_passed_on_progressively(
    edge: Edge, serve: Serve, routes: RouteTable, blobs: LocalBlobStore
) -> None:
    go_on = asyncio.Event()

    async def ticker(request: Received, writer: asyncio.StreamWriter) -> None:
        writer.write(response(200, b"", "Transfer-Encoding: chunked", length=False))
        writer.write(b"5\r\nfirst\r\n")
        await writer.drain()
        await go_on.wait()  # the rest only after the client saw the first part
        writer.write(b"6\r\nsecond\r\n0\r\n\r\n")

    _, upstream = await serve(ticker)
    route(routes, blobs, upstream)
    async with edge.client() as client, client.stream("GET", "/events") as streamed:
        parts = streamed.aiter_bytes()
        assert await asyncio.wait_for(parts.__anext__(), 5) == b"first"
        go_on.set()
        rest = b"".join([part async for part in parts])
    assert rest == b"second"


async def test_api_routes_to_the_server_and_the_rest_is_static(
    edge: Edge, serve: Serve, routes: RouteTable, blobs: LocalBlobStore
) -> None:
    upstream_server, upstream = await serve(echo)
    route(routes, blobs, upstream, "/api/*")
    async with edge.client() as client:
        home = await client.get("/")
        assert home.status_code == 200
        assert home.content == PAGE
        api = await client.get("/api/users")
        assert api.content == b"GET /api/users 0\n"
        bare = await client.get("/api?x=1")
        assert bare.content == b"GET /api?x=1 0\n"
        other = await client.get("/apis")
        assert other.status_code == 404  # a static path, not the server's
        posted = await client.post("/", content=b"x")
        assert posted.status_code == 405  # static routes still refuse bodies
    assert [r.target for r in upstream_server.requests] == ["/api/users", "/api?x=1"]


def test_route_patterns_first_match_wins() -> None:
    api, rest = Upstream("/run/a.sock"), Upstream("/run/b.sock")
    site = Site.build(
        "1", "shop", [], routes=[("/api/static/*", "static"), ("/api/*", api), ("/ws", rest)]
    )
    assert site.upstream_for(b"/api/x?y") is api
    assert site.upstream_for(b"/api") is api
    assert site.upstream_for(b"/api/static/logo.png") is None
    assert site.upstream_for(b"/ws") is rest
    assert site.upstream_for(b"/ws/more") is None
    assert site.upstream_for(b"/") is None
    assert isinstance(site.routes[0], Route)
    with pytest.raises(ValueError):
        Route("api/*", api)


async def test_expect_continue_is_answered_by_the_edge(
    edge: Edge, serve: Serve, routes: RouteTable, blobs: LocalBlobStore
) -> None:
    upstream_server, upstream = await serve(echo)
    route(routes, blobs, upstream)
    raw = await edge.connect()
    head = get("/up", "shop.localhost", "Content-Length: 5", "Expect: 100-continue")
    await raw.send(head.replace(b"GET", b"PUT", 1))
    interim = await asyncio.wait_for(raw.reader.readuntil(b"\r\n\r\n"), 5)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    await raw.send(b"hello")
    answer = await raw.response()
    assert answer.body == b"PUT /up 5\nhello"
    assert upstream_server.requests[0].header("expect") is None


async def test_pipelined_requests_are_answered_in_order(
    edge: Edge, serve: Serve, routes: RouteTable, blobs: LocalBlobStore
) -> None:
    release = asyncio.Event()

    async def app(request: Received, writer: asyncio.StreamWriter) -> None:
        if request.target == "/api/slow":
            await release.wait()
        await echo(request, writer)

    upstream_server, upstream = await serve(app)
    route(routes, blobs, upstream, "/api/*")
    raw = await edge.connect()
    post = b"POST /api/post HTTP/1.1\r\nHost: shop.localhost\r\nContent-Length: 4\r\n\r\nbody"
    # a slow proxied GET, a static page, then a POST whose body waits its turn
    await raw.send(get("/api/slow") + get("/") + post + get("/api/last"))
    await eventually(lambda: len(upstream_server.requests) == 1)
    release.set()
    bodies = [(await raw.response()).body for _ in range(4)]
    assert bodies == [b"GET /api/slow 0\n", PAGE, b"POST /api/post 4\nbody", b"GET /api/last 0\n"]


async def test_client_leaving_mid_answer_frees_the_upstream(
    edge: Edge, serve: Serve, routes: RouteTable, blobs: LocalBlobStore
) -> None:
    hang = asyncio.Event()
    closed = asyncio.Event()

    async def endless(request: Received, writer: asyncio.StreamWriter) -> None:
        writer.write(response(200, b"", "Transfer-Encoding: chunked", length=False))
        try:
            while not hang.is_set():
                writer.write(b"4\r\ntick\r\n")
                await writer.drain()
                await asyncio.sleep(0.01)
        except ConnectionError:
            closed.set()
            raise

    _, upstream = await serve(endless)
    route(routes, blobs, upstream)
    raw = await edge.connect()
    await raw.send(get("/feed"))
    await asyncio.wait_for(raw.reader.readuntil(b"tick"), 5)
    assert upstream.active == 1
    raw.writer.transport.abort()
    await asyncio.wait_for(closed.wait(), 5)  # the edge dropped the upstream connection
    await eventually(lambda: upstream.active == 0)
    assert upstream.idle_count == 0
    hang.set()


async def test_upstream_closing_idle_connections_is_not_an_error(
    edge: Edge, serve: Serve, routes: RouteTable, blobs: LocalBlobStore
) -> None:
    async def one_per_connection(request: Received, writer: asyncio.StreamWriter) -> None:
        await echo(request, writer)  # keep-alive implied, then closed anyway
        request.close = True

    upstream_server, upstream = await serve(one_per_connection)
    route(routes, blobs, upstream)
    async with edge.client() as client:
        for i in range(3):
            got = await client.get(f"/n{i}")
            assert got.status_code == 200
            assert got.content == f"GET /n{i} 0\n".encode()
    assert upstream_server.connections == 3


async def test_uvicorn_upstream_on_a_unix_socket(
    edge: Edge, routes: RouteTable, blobs: LocalBlobStore, tmp_path: Path
) -> None:
    import uvicorn  # a dependency of previewd: always there

    async def app(scope: dict, receive: Callable, send: Callable) -> None:
        assert scope["type"] == "http"
        size = 0
        while True:
            message = await receive()
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        headers = dict(scope["headers"])
        text = f"{scope['method']} {scope['path']} {size} {headers[b'x-forwarded-for'].decode()}"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": text.encode()})

    path = tmp_path / "uvicorn.sock"
    config = uvicorn.Config(app, uds=str(path), log_level="error", lifespan="off")
    server = uvicorn.Server(config)
    serving = asyncio.ensure_future(server.serve())
    try:
        await eventually(lambda: server.started)
        upstream = Upstream(str(path))
        route(routes, blobs, upstream)
        async with edge.client() as client:
            got = await client.post("/api/form", content=b"x" * 300_000)
            assert got.content == b"POST /api/form 300000 127.0.0.1"
            assert (await client.get("/api/again")).content == b"GET /api/again 0 127.0.0.1"
        assert upstream.connections_made == 1
        upstream.close()
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 5)


async def test_http10_client_gets_a_close_delimited_body(
    edge: Edge, serve: Serve, routes: RouteTable, blobs: LocalBlobStore
) -> None:
    async def chunked(request: Received, writer: asyncio.StreamWriter) -> None:
        writer.write(response(200, b"", "Transfer-Encoding: chunked", length=False))
        writer.write(b"5\r\nhello\r\n0\r\n\r\n")

    _, upstream = await serve(chunked)
    route(routes, blobs, upstream)
    raw = await edge.connect()
    await raw.send(b"GET / HTTP/1.0\r\nHost: shop.localhost\r\nConnection: keep-alive\r\n\r\n")
    data = await asyncio.wait_for(raw.reader.read(), 5)  # to the close
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"Connection: close" in head
    assert b"Transfer-Encoding" not in head
    assert body == b"hello"


async def test_oversized_upstream_head_is_a_crash(
    edge: Edge, serve: Serve, routes: RouteTable, blobs: LocalBlobStore
) -> None:
    async def huge(request: Received, writer: asyncio.StreamWriter) -> None:
        writer.write(response(200, b"x", *(f"X-Junk-{i}: {'j' * 1000}" for i in range(100))))

    _, upstream = await serve(huge)
    route(routes, blobs, upstream)
    async with edge.client() as client:
        got = await client.get("/")
    assert got.status_code == 502
    assert b"exceeds" in got.content


async def test_answer_before_the_body_is_read_streams_both_ways(
    edge: Edge, serve: Serve, routes: RouteTable, blobs: LocalBlobStore
) -> None:
    async def streaming_echo(request: Received, writer: asyncio.StreamWriter) -> None:
        writer.write(response(200, b"", "Transfer-Encoding: chunked", length=False))
        await writer.drain()  # the head goes out before a byte of the body is read
        async for chunk in request.chunks():
            writer.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
            await writer.drain()
        writer.write(b"0\r\n\r\n")

    upstream_server, upstream = await serve(streaming_echo)
    route(routes, blobs, upstream)
    payload = os.urandom(3 * MiB)
    async with edge.client(timeout=30) as client:
        for _ in range(3):
            got = await client.put("/echo", content=payload)
            assert got.status_code == 200
            assert got.content == payload
    assert upstream_server.connections == 1


async def test_the_idle_pool_is_bounded(
    edge: Edge, serve: Serve, routes: RouteTable, blobs: LocalBlobStore
) -> None:
    release = asyncio.Event()

    async def held(request: Received, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        await echo(request, writer)

    upstream_server, served = await serve(held)
    upstream = Upstream(served.address, max_idle=2)
    route(routes, blobs, upstream)
    clients = [edge.client() for _ in range(4)]
    try:
        calls = [asyncio.ensure_future(c.get(f"/c{i}")) for i, c in enumerate(clients)]
        await eventually(lambda: upstream_server.connections == 4 and upstream.active == 4)
        release.set()
        assert [(await call).status_code for call in calls] == [200] * 4
    finally:
        for client in clients:
            await client.aclose()
    assert upstream.idle_count == 2  # two kept, two closed
    upstream.close()
