"""Fixtures for the edge: a real EdgeServer on port 0, a real blob store, real sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from previewd.blobs import LocalBlobStore
from previewd.edge import EdgeServer, RouteTable, Site, Upstream

from .helpers import Edge
from .upstream_server import App, UpstreamServer


@pytest.fixture(
    params=[
        pytest.param("asyncio", id="asyncio"),
        # production runs the edge on uvloop, whose transports differ in details
        pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop"),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> object:
    return request.param


@pytest.fixture
def blobs(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


@pytest.fixture
def routes() -> RouteTable:
    return RouteTable()


Publish = Callable[..., Site]


@pytest.fixture
def publish(blobs: LocalBlobStore, routes: RouteTable) -> Publish:
    """Store ``files`` as blobs and route ``labels`` (default "shop") to a Site of them."""

    def publish(
        files: Mapping[str, bytes],
        *,
        labels: Iterable[str] = ("shop",),
        deployment_id: str = "1a2b3c",
        project: str = "shop",
        spa: bool = False,
    ) -> Site:
        entries = [(path, blobs.put(data), len(data)) for path, data in files.items()]
        site = Site.build(deployment_id, project, entries, spa=spa)
        for label in labels:
            routes.set(label, site)
        return site

    return publish


StartEdge = Callable[..., Awaitable[Edge]]


@pytest.fixture
async def start_edge(routes: RouteTable, blobs: LocalBlobStore) -> AsyncIterator[StartEdge]:
    """Start an EdgeServer with the given options; all are closed at the end of the test."""
    started: list[Edge] = []

    async def start(**options: Any) -> Edge:
        server = EdgeServer(routes, blobs, **options)
        host, port = await server.start("127.0.0.1", 0)
        started.append(Edge(server, host, port))
        return started[-1]

    yield start
    for edge in started:
        for raw in edge.raws:
            await raw.close()
        await edge.server.close()


@pytest.fixture
async def edge(start_edge: StartEdge) -> Edge:
    return await start_edge()


@pytest.fixture
async def client(edge: Edge) -> AsyncIterator[httpx.AsyncClient]:
    async with edge.client() as client:
        yield client


Serve = Callable[[App], Awaitable[tuple[UpstreamServer, Upstream]]]


@pytest.fixture
async def serve(tmp_path: Path) -> AsyncIterator[Serve]:
    """Start an UpstreamServer on a unix socket; closed at the end of the test."""
    started: list[tuple[UpstreamServer, Upstream]] = []

    async def start(app: App) -> tuple[UpstreamServer, Upstream]:
        server = UpstreamServer(app)
        path = await server.start_unix(tmp_path / f"up{len(started)}.sock")
        started.append((server, Upstream(path)))
        return started[-1]

    yield start
    for server, upstream in started:
        upstream.close()
        await server.close()
