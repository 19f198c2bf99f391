"""EdgeServer lifecycle: binding, shutdown of idle and busy connections, the public surface."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import previewd.edge
from previewd.blobs import LocalBlobStore

from .conftest import Publish, StartEdge
from .helpers import Edge, get

pytestmark = pytest.mark.anyio

BIG = bytes(range(256)) * (16 * 4096)  # 16 MiB


@pytest.fixture(autouse=True)
def site(publish: Publish) -> None:
    publish({"index.html": b"hi", "big.bin": BIG})


async def test_start_binds_a_free_port(edge: Edge) -> None:
    assert edge.host == "127.0.0.1"
    assert edge.port > 0
    async with edge.client() as client:
        assert (await client.get("/")).content == b"hi"


async def test_two_servers_share_a_route_table(start_edge: StartEdge) -> None:
    one, two = await start_edge(), await start_edge()
    assert one.port != two.port
    for edge in (one, two):
        async with edge.client() as client:
            assert (await client.get("/")).content == b"hi"


async def test_start_twice_is_an_error(edge: Edge) -> None:
    with pytest.raises(RuntimeError, match="already started"):
        await edge.server.start()


async def test_close_closes_idle_keep_alive_connections(edge: Edge) -> None:
    raw = await edge.connect()
    await raw.send(get("/"))
    assert (await raw.response()).body == b"hi"
    await edge.server.close()
    assert await raw.closed(timeout=2)
    assert edge.server.connection_count == 0


async def test_close_stops_listening(edge: Edge) -> None:
    await edge.server.close()
    with pytest.raises(OSError):
        await edge.connect()


async def test_close_lets_a_response_in_flight_finish(edge: Edge) -> None:
    raw = await edge.connect()
    await raw.send(get("/big.bin"))
    await raw.reader.readuntil(b"\r\n\r\n")
    # read the whole body while the server shuts down
    closer = asyncio.ensure_future(edge.server.close())
    body = await raw.reader.readexactly(len(BIG))
    assert body == BIG
    await closer
    assert await raw.closed(timeout=2)


def test_exported_members() -> None:
    assert sorted(previewd.edge.__all__) == [
        "Balancer",
        "BlobReader",
        "EdgeServer",
        "FileEntry",
        "ProxyLimits",
        "Route",
        "RouteTable",
        "Site",
        "Upstream",
    ]
    for name in previewd.edge.__all__:
        assert getattr(previewd.edge, name).__module__.startswith("previewd.edge")


def test_local_blob_store_is_a_blob_reader(tmp_path: Path) -> None:
    store: previewd.edge.BlobReader = LocalBlobStore(tmp_path)
    assert store.read(LocalBlobStore(tmp_path).put(b"x")) == b"x"


async def test_close_aborts_what_does_not_finish_in_time(
    edge: Edge, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("previewd.edge.server.SHUTDOWN_GRACE", 0.2)
    raw = await edge.connect()
    await raw.send(get("/big.bin"))  # 16 MiB the client never reads
    await raw.reader.readuntil(b"\r\n\r\n")
    await edge.server.close()
    assert edge.server.connection_count == 0
    # what the kernel had buffered arrives, then the end: the body was cut short
    rest = await asyncio.wait_for(raw.reader.read(), 5)
    assert len(rest) < len(BIG)


async def test_a_failing_handler_is_a_500(
    edge: Edge, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def boom(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(edge.server.app.static, "handle", boom)
    raw = await edge.connect()
    await raw.send(get("/"))
    response = await raw.response()
    assert response.status == 500
    assert response.headers["connection"] == "close"
    assert await raw.closed()
    assert "handler failed" in caplog.text


async def test_a_failing_blob_store_is_a_500(
    edge: Edge, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def unreadable(digest: str) -> bytes:
        raise PermissionError(f"cannot read {digest}")

    monkeypatch.setattr(edge.server.files.blobs, "read", unreadable)
    async with edge.client() as client:
        response = await client.get("/")
        assert response.status_code == 500
    assert "PermissionError" in caplog.text
