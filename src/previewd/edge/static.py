"""The static handler: a Site's files over HTTP, with validators, ranges and compression.

For a hot small file the whole answer is: resolve the path (a memo lookup),
find the body in the cache, find its pre-built head, and write
``head + Date + body`` once. Everything else (304, 206, 416, misses, big files,
error pages) branches off that path.
"""

from __future__ import annotations

from collections.abc import Awaitable
from html import escape

from previewd.edge import pages
from previewd.edge.compression import MIN_SIZE, negotiate
from previewd.edge.conditional import Unsatisfiable, byte_range, etag, if_range_holds, none_match
from previewd.edge.content_types import is_compressible
from previewd.edge.files import FileCache
from previewd.edge.paths import Resolution, resolve, split_target
from previewd.edge.request import Output, Request
from previewd.edge.responses import DateHeader, head, simple
from previewd.edge.routes import FileEntry, Site
from previewd.errors import BlobNotFound, InvalidPath

IMMUTABLE = "public, max-age=31536000, immutable"
# Aliases move to new deployments, so anything without a hash in its name
# must be revalidated (cheap: the ETag answers 304).
REVALIDATE = "public, max-age=0, must-revalidate"
ALLOW = ("Allow", "GET, HEAD")
_HEADS_LIMIT = 65536


class StaticFiles:
    """Serves the files of a :class:`~previewd.edge.routes.Site`."""

    def __init__(self, files: FileCache, dates: DateHeader) -> None:
        self.files = files
        self.dates = dates
        self._heads: dict[tuple[str, str, bool, int, str | None], bytes] = {}

    def handle(self, request: Request, site: Site, out: Output) -> Awaitable[None] | None:
        method = request.method
        if method != b"GET" and method != b"HEAD":
            body = pages.error(
                405,
                "Method Not Allowed",
                f"{method.decode('latin-1')} is not allowed here: previews of static "
                "files answer GET and HEAD.",
            )
            out.write(simple(405, body, self.dates.tail(request), headers=[ALLOW]))
            return None
        raw_path, query = split_target(request.target)
        try:
            found = resolve(site, raw_path)
        except InvalidPath as exc:
            body = pages.error(400, "Bad Request", exc.message)
            out.write(simple(400, body, self.dates.tail(request), head_only=request.is_head))
            return None
        entry = found.entry
        if entry is None:
            self._no_file(request, site, found, query, out)
            return None
        return self.send(request, entry, found.status, out)

    def _no_file(
        self, request: Request, site: Site, found: Resolution, query: bytes, out: Output
    ) -> None:
        tail = self.dates.tail(request)
        if found.status == 308:
            location = found.location + query.decode("latin-1")
            link = escape(location)
            body = pages.page("Moved", f'This page is at <a href="{link}">{link}</a>.')
            response = simple(
                308, body, tail, head_only=request.is_head, headers=[("Location", location)]
            )
        else:
            body = pages.not_found(found.path, site.deployment_id, site.project)
            response = simple(404, body, tail, head_only=request.is_head)
        out.write(response)

    def send(
        self,
        request: Request,
        entry: FileEntry,
        status: int,
        out: Output,
        identity: bytes | None = None,
    ) -> Awaitable[None] | None:
        """Answer with ``entry`` and ``status`` (200, or 404 for a site's own 404.html).

        Given its ``identity`` bytes, the answer is always written synchronously.
        """
        if status == 200 and (request.if_none_match is not None or request.range is not None):
            answered, waiting = self._conditional(request, entry, out)
            if answered:
                return waiting
        is_head = request.method == b"HEAD"
        encoding: str | None = None
        body: bytes | None = None
        if request.accept_encoding is not None and _compressible(entry):
            encodings = negotiate(request.accept_encoding)
            if encodings:
                found = self.files.variant(entry, encodings)
                if found is not None:
                    encoding, body = found
        if body is None:
            if is_head:
                out.write(self._head(entry, status, None) + self.dates.tail(request))
                return None
            body = identity if identity is not None else self.files.get(entry.digest)
            if body is None:
                if entry.size <= self.files.max_file:
                    return self._load_and_send(request, entry, status, out)
                return self._stream(request, entry, status, out)
        head_bytes = self._head(entry, status, encoding, len(body))
        if is_head:
            out.write(head_bytes + self.dates.tail(request))
        else:
            out.write(head_bytes + self.dates.tail(request) + body)
        return None

    def _conditional(
        self, request: Request, entry: FileEntry, out: Output
    ) -> tuple[bool, Awaitable[None] | None]:
        """304, 206 or 416 when the request's conditions ask for one; (False, None) if not."""
        if request.if_none_match is not None and none_match(request.if_none_match, entry.digest):
            self._not_modified(request, entry, out)
            return True, None
        if request.range is not None and (
            request.if_range is None or if_range_holds(request.if_range, entry.digest)
        ):
            try:
                span = byte_range(request.range, entry.size)
            except Unsatisfiable:
                self._unsatisfiable(request, entry, out)
                return True, None
            if span is not None:
                return True, self._partial(request, entry, span, out)
        return False, None

    def _head(
        self, entry: FileEntry, status: int, encoding: str | None, length: int | None = None
    ) -> bytes:
        """The head for ``entry`` in ``encoding`` (no Date, no blank line), built once."""
        # keyed by fields, not by the entry: hashing a dataclass runs Python code
        key = (entry.digest, entry.content_type, entry.immutable, status, encoding)
        found = self._heads.get(key)
        if found is None:
            headers = [
                ("Content-Type", entry.content_type),
                ("Content-Length", str(entry.size if length is None else length)),
            ]
            if status == 200:
                headers += self._validators(entry, encoding)
            else:
                headers.append(("Cache-Control", REVALIDATE))
                if _compressible(entry):
                    headers.append(("Vary", "Accept-Encoding"))
            if encoding is not None:
                headers.append(("Content-Encoding", encoding))
            headers.append(("X-Content-Type-Options", "nosniff"))
            found = head(status, headers)
            if len(self._heads) >= _HEADS_LIMIT:
                self._heads.clear()
            self._heads[key] = found
        return found

    @staticmethod
    def _validators(entry: FileEntry, encoding: str | None) -> list[tuple[str, str]]:
        headers = [
            ("ETag", etag(entry.digest, encoding)),
            ("Cache-Control", IMMUTABLE if entry.immutable else REVALIDATE),
            ("Accept-Ranges", "bytes"),
        ]
        if _compressible(entry):
            headers.append(("Vary", "Accept-Encoding"))
        return headers

    def _not_modified(self, request: Request, entry: FileEntry, out: Output) -> None:
        encoding = None
        if request.accept_encoding is not None and _compressible(entry):
            encoding = self.files.ready_encoding(entry, negotiate(request.accept_encoding))
        block = head(304, self._validators(entry, encoding))
        out.write(block + self.dates.tail(request))

    def _unsatisfiable(self, request: Request, entry: FileEntry, out: Output) -> None:
        body = pages.error(
            416,
            "Range Not Satisfiable",
            f"The file has {entry.size} bytes; the requested range lies beyond its end.",
        )
        headers = [("Content-Range", f"bytes */{entry.size}"), ("Accept-Ranges", "bytes")]
        out.write(
            simple(416, body, self.dates.tail(request), head_only=request.is_head, headers=headers)
        )

    def _partial(
        self,
        request: Request,
        entry: FileEntry,
        span: tuple[int, int],
        out: Output,
    ) -> Awaitable[None] | None:
        first, last = span
        block = head(
            206,
            [
                ("Content-Type", entry.content_type),
                ("Content-Length", str(last - first + 1)),
                ("Content-Range", f"bytes {first}-{last}/{entry.size}"),
                *self._validators(entry, None),
            ],
        ) + self.dates.tail(request)
        if request.method == b"HEAD":
            out.write(block)
            return None
        body = self.files.get(entry.digest)
        if body is not None:
            out.write(block + body[first : last + 1])
            return None
        return self._stream_from(request, block, entry, first, last, out)

    async def _load_and_send(
        self, request: Request, entry: FileEntry, status: int, out: Output
    ) -> None:
        try:
            identity = await self.files.load(entry.digest)
        except BlobNotFound:
            out.write(self._missing(request, entry))
            return
        # in memory now: the ordinary path answers, compressing inline if it may
        self.send(request, entry, status, out, identity)

    def _stream(
        self, request: Request, entry: FileEntry, status: int, out: Output
    ) -> Awaitable[None]:
        block = self._head(entry, status, None) + self.dates.tail(request)
        return self._stream_from(request, block, entry, 0, entry.size - 1, out)

    async def _stream_from(
        self, request: Request, block: bytes, entry: FileEntry, first: int, last: int, out: Output
    ) -> None:
        try:
            # the head waits for the first chunk, so a missing blob can still be a 500
            await self.files.stream(entry.digest, first, last, _HeadFirst(out, block))
        except BlobNotFound:
            out.write(self._missing(request, entry))

    def _missing(self, request: Request, entry: FileEntry) -> bytes:
        body = pages.error(
            500,
            "Internal Server Error",
            f"The content of this file (blob {entry.digest}) is missing from the blob store.",
            "Redeploy the project; if it happens again, check the data directory.",
        )
        return simple(500, body, self.dates.tail(request), head_only=request.is_head)


def _compressible(entry: FileEntry) -> bool:
    return entry.size >= MIN_SIZE and is_compressible(entry.content_type)


class _HeadFirst:
    """An Output that writes ``block`` in front of the first chunk."""

    __slots__ = ("_block", "_out")

    def __init__(self, out: Output, block: bytes) -> None:
        self._out = out
        self._block: bytes | None = block

    def write(self, data: bytes | memoryview) -> None:
        if self._block is not None:
            data, self._block = self._block + data, None
        self._out.write(data)

    async def drain(self) -> None:
        await self._out.drain()
