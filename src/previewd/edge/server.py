"""The edge server: listens, and serves the route table's Sites by Host header.

It runs inside the application's event loop (uvloop in production) next to
the API and the workers::

    routes = RouteTable()
    edge = EdgeServer(routes, LocalBlobStore(path), preview_domain="localhost")
    host, port = await edge.start("127.0.0.1", 7701)
    routes.set("shop", Site.build("1a2b3c", "shop", [("index.html", digest, size)]))
    ...
    await edge.close()
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from previewd.edge.app import EdgeApp
from previewd.edge.files import BlobReader, FileCache
from previewd.edge.hosts import HostLabels
from previewd.edge.protocol import ConnectionLimits, HttpConnection
from previewd.edge.proxy import ProxyHandler, ProxyLimits
from previewd.edge.responses import DateHeader
from previewd.edge.routes import RouteTable
from previewd.edge.static import StaticFiles

logger = logging.getLogger("previewd.edge")

BLOB_THREADS = 4
SHUTDOWN_GRACE = 5.0  # seconds in-flight answers get to finish on close()


class EdgeServer:
    """Serves previews: ``<label>.<preview_domain>`` → the Site ``routes`` holds for label."""

    def __init__(
        self,
        routes: RouteTable,
        blobs: BlobReader,
        *,
        preview_domain: str = "localhost",
        cache_bytes: int = 256 * 1024 * 1024,
        header_timeout: float = 10.0,
        keepalive_timeout: float = 15.0,
        proxy_limits: ProxyLimits | None = None,
    ) -> None:
        self.routes = routes
        self.limits = ConnectionLimits(header_timeout, keepalive_timeout)
        self._executor = ThreadPoolExecutor(BLOB_THREADS, thread_name_prefix="previewd-edge")
        self.files = FileCache(blobs, self._executor, capacity=cache_bytes)
        self._dates = DateHeader()
        self.app = EdgeApp(
            routes,
            HostLabels(preview_domain),
            StaticFiles(self.files, self._dates),
            self._dates,
            ProxyHandler(self._dates, proxy_limits),
        )
        self._server: asyncio.Server | None = None
        self._connections = Connections()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Listen on ``host:port`` (port 0 picks a free one); return the bound address."""
        if self._server is not None:
            raise RuntimeError("the edge server is already started")
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: HttpConnection(self.app, self._dates, self.limits, self._connections),
            host,
            port,
            reuse_address=True,
            backlog=1024,
        )
        address = self._server.sockets[0].getsockname()
        logger.info("edge listening on %s:%s", address[0], address[1])
        return address[0], address[1]

    async def close(self) -> None:
        """Stop listening, close idle connections, give answers in flight a moment."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for connection in list(self._connections):
            connection.shutdown()
        if not await self._connections.wait_empty(SHUTDOWN_GRACE):
            for connection in list(self._connections):
                connection.abort()
            await self._connections.wait_empty(1.0)
        self._executor.shutdown(wait=False, cancel_futures=True)

    @property
    def connection_count(self) -> int:
        return len(self._connections)


class Connections:
    """The open connections, and a way to wait until there are none."""

    def __init__(self) -> None:
        self._open: set[HttpConnection] = set()
        self._empty = asyncio.Event()
        self._empty.set()

    def add(self, connection: HttpConnection) -> None:
        self._open.add(connection)
        self._empty.clear()

    def discard(self, connection: HttpConnection) -> None:
        self._open.discard(connection)
        if not self._open:
            self._empty.set()

    def __iter__(self) -> Iterator[HttpConnection]:
        return iter(self._open)

    def __len__(self) -> int:
        return len(self._open)

    async def wait_empty(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._empty.wait(), timeout)
        except TimeoutError:
            return False
        return True
