"""Hot files in memory, big files streamed under flow control, blob reads off the loop."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

import pytest

from previewd.blobs import LocalBlobStore
from previewd.edge import EdgeServer, RouteTable, Site
from previewd.edge.files import FileCache
from previewd.errors import BlobNotFound

from .conftest import Publish, StartEdge
from .helpers import Edge, Raw, eventually, get, settled, sha256

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024
HUGE = bytes(range(256)) * (32 * 4096)  # 32 MiB


class CountingBlobs:
    """A LocalBlobStore that counts what is read from it, and from which thread."""

    def __init__(self, root: Path) -> None:
        self.store = LocalBlobStore(root)
        self.bytes_read = 0
        self.reads = 0
        self.threads: set[str] = set()

    def read(self, digest: str) -> bytes:
        self.reads += 1
        self.threads.add(threading.current_thread().name)
        return self.store.read(digest)

    def open(self, digest: str) -> BinaryIO:
        outer = self
        file = self.store.open(digest)

        class Counting:
            def read(self, size: int = -1) -> bytes:
                outer.threads.add(threading.current_thread().name)
                chunk = file.read(size)
                outer.bytes_read += len(chunk)
                return chunk

            def seek(self, offset: int) -> int:
                return file.seek(offset)

            def close(self) -> None:
                file.close()

        return Counting()  # type: ignore[return-value]


@pytest.fixture
async def counting(tmp_path: Path) -> AsyncIterator[tuple[CountingBlobs, RouteTable, Edge]]:
    blobs = CountingBlobs(tmp_path / "counted")
    routes = RouteTable()
    data = {"small.txt": b"hello" * 10, "huge.bin": HUGE}
    entries = [(path, blobs.store.put(body), len(body)) for path, body in data.items()]
    routes.set("shop", Site.build("1a", "shop", entries))
    server = EdgeServer(routes, blobs, cache_bytes=8 * MiB)
    host, port = await server.start()
    edge = Edge(server, host, port)
    yield blobs, routes, edge
    for raw in edge.raws:
        await raw.close()
    await server.close()


async def test_small_file_is_read_once_then_served_from_memory(
    counting: tuple[CountingBlobs, RouteTable, Edge],
) -> None:
    blobs, _, edge = counting
    async with edge.client() as client:
        responses = await asyncio.gather(*(client.get("/small.txt") for _ in range(20)))
    assert all(r.content == b"hello" * 10 for r in responses)
    assert blobs.reads == 1  # concurrent misses share one read
    assert all(name.startswith("previewd-edge") for name in blobs.threads)


async def test_big_file_streams_under_flow_control(
    counting: tuple[CountingBlobs, RouteTable, Edge],
) -> None:
    blobs, _, edge = counting
    size = len(HUGE)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (edge.host, edge.port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=64 * 1024)
    raw = Raw(reader, writer)
    edge.raws.append(raw)
    await raw.send(get("/huge.bin"))

    # The client reads nothing: the server must stop reading the blob once the
    # socket buffers and its own high-water mark are full.
    await eventually(lambda: blobs.bytes_read > 0)
    # about 4 MiB here: the kernel's socket buffers, a 64 KiB write buffer, a chunk
    assert await settled(lambda: blobs.bytes_read) < size // 4

    head = await reader.readuntil(b"\r\n\r\n")
    assert b"Content-Length: %d\r\n" % size in head
    received = 0
    digest = hashlib.sha256()
    while received < size:
        chunk = await reader.read(1024 * 1024)
        assert chunk, "connection closed early"
        digest.update(chunk)
        received += len(chunk)
    assert digest.hexdigest() == sha256(HUGE)
    assert blobs.bytes_read == size
    # too big to hold: nothing of it stays in memory
    assert edge.server.files.size < 8 * MiB


async def test_client_leaving_mid_stream_stops_reading(
    counting: tuple[CountingBlobs, RouteTable, Edge],
) -> None:
    blobs, _, edge = counting
    raw = await edge.connect()
    await raw.send(get("/huge.bin"))
    await raw.reader.readexactly(1024 * 1024)
    raw.writer.transport.abort()
    await eventually(lambda: edge.server.connection_count == 0)
    # the stream stopped with the connection instead of reading the rest
    assert await settled(lambda: blobs.bytes_read) < len(HUGE) // 4


async def test_lru_is_bounded_by_bytes(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path)
    with ThreadPoolExecutor(1) as pool:
        cache = FileCache(blobs, pool, capacity=1000)
        cache.put("a", b"a" * 200)
        cache.put("b", b"b" * 200)
        cache.put("c", b"c" * 200)
        assert cache.get("a") is not None  # a is now the most recent
        cache.put("d", b"d" * 200)
        cache.put("e", b"e" * 200)  # 1000 bytes: full
        cache.put("f", b"f" * 200)  # evicts the least recently used: b
        assert cache.get("b") is None
        assert cache.get("a") is not None
        assert cache.size <= 1000
        cache.put("big", b"x" * 251)  # more than a quarter: never held
        assert cache.get("big") is None
        assert cache.max_file == 250


async def test_load_errors_are_not_cached(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path)
    with ThreadPoolExecutor(1) as pool:
        cache = FileCache(blobs, pool, capacity=10_000)
        with pytest.raises(BlobNotFound):
            await cache.load("0" * 64)
        digest = blobs.put(b"now here")
        assert await cache.load(digest) == b"now here"
        assert cache.get(digest) == b"now here"


async def test_tiny_cache_still_serves(start_edge: StartEdge, publish: Publish) -> None:
    publish({"index.html": b"<p>x</p>" * 500, "a.js": b"let a = 1;\n" * 500})
    edge = await start_edge(cache_bytes=0)
    async with edge.client() as client:
        for path in ("/", "/a.js", "/"):
            response = await client.get(path, headers={"Accept-Encoding": "br"})
            assert response.status_code == 200
            assert len(response.content) > 1000
    assert edge.server.files.size == 0
