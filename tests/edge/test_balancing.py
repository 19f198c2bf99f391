"""Several instances behind one route, and the pages for a server that cannot be made ready."""

from __future__ import annotations

import asyncio

import pytest

from previewd.blobs import LocalBlobStore
from previewd.edge import Balancer, RouteTable, Site, Upstream, proxy
from previewd.errors import PreviewdError, Unavailable

from .conftest import Serve
from .helpers import Edge, eventually, get
from .test_proxy import route
from .upstream_server import Received, echo, websocket_echo, ws_frame, ws_read

pytestmark = pytest.mark.anyio


async def test_requests_go_to_the_least_busy_healthy_instance(
    edge: Edge, serve: Serve, routes: RouteTable, blobs: LocalBlobStore
) -> None:
    release = asyncio.Event()

    async def slow(request: Received, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        await echo(request, writer)

    first_server, first = await serve(slow)
    second_server, second = await serve(echo)
    healthy = {0: True, 1: True}
    balancer = Balancer([first, second], healthy=lambda n: healthy[n])
    route(routes, blobs, balancer)  # type: ignore[arg-type]
    async with edge.client() as client:
        held = asyncio.ensure_future(client.get("/held"))
        await eventually(lambda: first.active == 1)
        # the first instance is busy with one request: the next ones go to the second
        for n in range(3):
            assert (await client.get(f"/next{n}")).status_code == 200
        assert [r.target for r in second_server.requests] == ["/next0", "/next1", "/next2"]
        release.set()
        assert (await held).status_code == 200
        # an instance failing its health checks gets nothing, even when it is the idlest
        healthy[1] = False
        for n in range(2):
            assert (await client.get(f"/again{n}")).status_code == 200
        assert [r.target for r in first_server.requests] == ["/held", "/again0", "/again1"]
        # none healthy: better an answer from one than an error page
        healthy[0] = False
        assert (await client.get("/anyway")).status_code == 200
    balancer.close()


class PoolFull(Unavailable):
    code = "preview_pool_full"
    retry_after = 7


class Crashed(Unavailable):
    status = 502
    code = "preview_crashed"


class StartTimeout(Unavailable):
    status = 504
    code = "preview_start_timeout"


@pytest.mark.parametrize(
    ("error", "status", "retry_after", "words"),
    [
        (PoolFull("all 16 preview servers are busy", hint="Try again soon."), 503, "7", "busy"),
        (Crashed("the preview server exited with status 3 before it answered"), 502, None, "3"),
        (
            StartTimeout("the preview server did not answer on $PORT within 30 s"),
            504,
            None,
            "$PORT",
        ),
        (RuntimeError("something else"), 503, "2", "starting"),
    ],
)
async def test_a_server_that_cannot_be_made_ready_gets_a_page_that_says_why(
    edge: Edge,
    routes: RouteTable,
    blobs: LocalBlobStore,
    error: Exception,
    status: int,
    retry_after: str | None,
    words: str,
) -> None:
    async def ready() -> None:
        raise error

    route(routes, blobs, Upstream("/nonexistent.sock", ready=ready))
    async with edge.client() as client:
        got = await client.get("/api")
    assert got.status_code == status
    assert got.headers.get("retry-after") == retry_after
    assert words in got.text
    if isinstance(error, PreviewdError) and error.hint:
        assert error.hint in got.text


async def test_escaped_unreserved_characters_match_the_route(
    serve: Serve, edge: Edge, routes: RouteTable, blobs: LocalBlobStore
) -> None:
    upstream_server, upstream = await serve(echo)
    site = route(routes, blobs, upstream, "/api/*")
    assert site.upstream_for(b"/%61pi/x") is upstream
    assert site.upstream_for(b"/%41pi/x") is None  # %41 is "A": paths are case-sensitive
    assert site.upstream_for(b"/api%2Fx") is None  # an escaped "/" is not a separator
    async with edge.client() as client:
        assert (await client.get("/%61pi/users")).status_code == 200
    assert [r.target for r in upstream_server.requests] == ["/%61pi/users"]  # passed as sent


def test_a_route_may_point_at_a_balancer() -> None:
    balancer = Balancer([Upstream("/run/a.sock")], healthy=lambda n: True)
    site = Site.build("1", "shop", [], routes=[("/*", balancer)])
    assert site.upstream_for(b"/x") is balancer
    assert balancer.pick() is balancer.members[0]


async def test_a_quiet_websocket_keeps_its_server_awake(
    edge: Edge,
    serve: Serve,
    routes: RouteTable,
    blobs: LocalBlobStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(proxy, "TOUCH_EVERY", 0.02)
    _, upstream = await serve(websocket_echo)
    touched: list[float] = []
    upstream.touch = lambda: touched.append(asyncio.get_running_loop().time())
    route(routes, blobs, upstream)
    raw = await edge.connect()
    upgrade = ("Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13")
    key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="
    await raw.send(get("/ws", "shop.localhost", *upgrade, key))
    await asyncio.wait_for(raw.reader.readuntil(b"\r\n\r\n"), 5)
    await eventually(lambda: len(touched) >= 5)  # open and silent: still activity
    await raw.send(ws_frame(b"", opcode=8, mask=True))
    await asyncio.wait_for(ws_read(raw.reader), 5)
    assert await raw.closed()
    await eventually(lambda: upstream.active == 0)
    after = len(touched)
    await asyncio.sleep(0.1)  # five beats' time: none may come once the tunnel is gone
    assert len(touched) == after
