"""File bytes for the edge: hot blobs and their compressed variants held in memory.

One LRU, bounded in bytes, holds identity bodies (key: digest) and compressed
variants (key: ``(digest, encoding)``). Blob reads, and compression of anything
but small files, run in threads so the event loop never waits on a disk (or, later,
an origin or S3). Files too big to hold are streamed in chunks under the
transport's flow control.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import Executor, Future
from typing import BinaryIO, Protocol

from previewd.edge import compression
from previewd.edge.request import Output
from previewd.edge.routes import FileEntry

KiB = 1024
MiB = 1024 * KiB
CHUNK = 256 * KiB

_Key = str | tuple[str, str]
_INCOMPRESSIBLE = b""  # a variant that saved too little: serve identity, do not retry
_MARKER_COST = 64


class BlobReader(Protocol):
    """What the edge needs of a blob store; ``previewd.blobs.LocalBlobStore`` is one."""

    def read(self, digest: str) -> bytes: ...

    def open(self, digest: str) -> BinaryIO: ...


class FileCache:
    """Blob bytes and compressed variants in memory, least recently used evicted first.

    ``capacity`` bounds the bytes held. Files up to ``max_file`` bytes are held;
    compressible files up to ``max_compress`` bytes get compressed variants,
    inline (on the loop) up to ``inline_compress`` bytes and in a thread above,
    while identity is served meanwhile.
    """

    def __init__(
        self,
        blobs: BlobReader,
        executor: Executor,
        *,
        capacity: int,
        max_file: int = 1 * MiB,
        inline_compress: int = 32 * KiB,
        max_compress: int = 16 * MiB,
    ) -> None:
        self.blobs = blobs
        self.capacity = capacity
        # one item may take a quarter of the cache, so a big file cannot flush it
        self.max_file = min(max_file, capacity // 4)
        self.inline_compress = inline_compress
        self.max_compress = min(max_compress, capacity // 4)
        self.size = 0
        self._executor = executor
        self._items: OrderedDict[_Key, bytes] = OrderedDict()
        self._loading: dict[str, asyncio.Future[bytes]] = {}
        self._compressing: set[tuple[str, str]] = set()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: _Key) -> bytes | None:
        data = self._items.get(key)
        if data is not None:
            self._items.move_to_end(key)
        return data

    def put(self, key: _Key, data: bytes) -> None:
        cost = len(data) or _MARKER_COST
        if cost > self.capacity // 4:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self.size -= len(old) or _MARKER_COST
        self._items[key] = data
        self.size += cost
        while self.size > self.capacity:
            _, evicted = self._items.popitem(last=False)
            self.size -= len(evicted) or _MARKER_COST

    async def load(self, digest: str) -> bytes:
        """The bytes of a small blob, read in a thread once however many ask at once."""
        data = self.get(digest)
        if data is not None:
            return data
        future = self._loading.get(digest)
        if future is None:
            loop = asyncio.get_running_loop()
            future = loop.run_in_executor(self._executor, self.blobs.read, digest)
            self._loading[digest] = future
            future.add_done_callback(lambda done: self._loaded(digest, done))
        # shielded: one impatient client going away must not cancel the read for all
        return await asyncio.shield(future)

    def _loaded(self, digest: str, future: asyncio.Future[bytes]) -> None:
        self._loading.pop(digest, None)
        if not future.cancelled() and future.exception() is None:
            data = future.result()
            if len(data) <= self.max_file:
                self.put(digest, data)

    def variant(self, entry: FileEntry, encodings: Iterable[str]) -> tuple[str, bytes] | None:
        """The first of ``encodings`` available for ``entry`` now, making it if that is quick.

        ``None`` means "serve identity": the file does not compress, is still
        being compressed in a thread, or its identity bytes are not in memory yet.
        """
        digest = entry.digest
        preferred = True
        for encoding in encodings:
            data = self.get((digest, encoding))
            if data is None:
                if not preferred:
                    continue  # only the client's favourite is made; others if already there
                data = self._make(entry, encoding)
                preferred = False
            if data:
                return encoding, data
            if data is not None:
                return None  # incompressible: no other encoding will do better
        return None

    def ready_encoding(self, entry: FileEntry, encodings: Iterable[str]) -> str | None:
        """The encoding whose variant is in memory already, without making any."""
        for encoding in encodings:
            data = self._items.get((entry.digest, encoding))
            if data is not None:
                return encoding if data else None
        return None

    def _make(self, entry: FileEntry, encoding: str) -> bytes | None:
        key = (entry.digest, encoding)
        if entry.size <= self.inline_compress:
            identity = self.get(entry.digest)
            if identity is None:
                return None
            return self._keep(key, compression.compress(identity, encoding), entry.size)
        if entry.size <= self.max_compress and key not in self._compressing:
            self._compressing.add(key)
            loop = asyncio.get_running_loop()
            job = loop.run_in_executor(
                self._executor, self._compress_blob, entry.digest, self.get(entry.digest), encoding
            )
            job.add_done_callback(lambda done: self._compressed(key, entry.size, done))
        return None

    def _compress_blob(self, digest: str, identity: bytes | None, encoding: str) -> bytes:
        if identity is None:
            identity = self.blobs.read(digest)
        return compression.compress(identity, encoding)

    def _compressed(self, key: tuple[str, str], size: int, job: asyncio.Future[bytes]) -> None:
        self._compressing.discard(key)
        if not job.cancelled() and job.exception() is None:
            self._keep(key, job.result(), size)

    def _keep(self, key: tuple[str, str], data: bytes, size: int) -> bytes:
        if not compression.worth_it(data, size):
            data = _INCOMPRESSIBLE
        self.put(key, data)
        return data

    async def stream(self, digest: str, first: int, last: int, out: Output) -> None:
        """Write bytes ``first..last`` (inclusive) of a blob to ``out``, chunk by chunk.

        Each chunk is read in a thread and written only once the client has taken
        the previous one, so a slow client holds one chunk of memory, not the file.
        """
        opening = self._executor.submit(self._open_at, digest, first)
        try:
            file = await asyncio.wrap_future(opening)
        except asyncio.CancelledError:
            opening.add_done_callback(_close_opened)  # the client left while we opened
            raise
        reading: Future[bytes] | None = None
        try:
            remaining = last - first + 1
            while remaining > 0:
                reading = self._executor.submit(file.read, min(CHUNK, remaining))
                chunk = await asyncio.wrap_future(reading)
                if not chunk:
                    raise ConnectionAbortedError(f"blob {digest} ended {remaining} bytes early")
                out.write(chunk)
                remaining -= len(chunk)
                await out.drain()
        finally:
            if reading is not None and not reading.done():
                # cancelled while a thread reads: close there once it is done
                reading.add_done_callback(lambda _: file.close())
            else:
                file.close()

    def _open_at(self, digest: str, offset: int) -> BinaryIO:
        file = self.blobs.open(digest)
        if offset:
            file.seek(offset)
        return file


def _close_opened(opening: Future[BinaryIO]) -> None:
    if not opening.cancelled() and opening.exception() is None:
        opening.result().close()
