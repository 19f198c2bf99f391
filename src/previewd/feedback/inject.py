"""The page script in every HTML document the edge serves, put there once per file.

The edge serves a deployment's files untouched, except HTML documents: right
after ``<head>`` (else before ``</body>``, else after ``<html>``) they get a
small inline script that catches errors from the first script on, and
``<script src="/__previewd/client.js" defer>`` that sends them and follows
live reload. Inline, because a deferred script runs after the page's own
scripts and would miss their errors; the rest is a separate cached file, so
each page carries about 1.8 KB more.

The injected bytes are stored in the blob store under their own digest and
the Site's entry points at them: the ETag changes with the content, and
compression, ranges and caching work as for any file. It happens once per
snapshot (Sites are shared and cached by the route sync), in a thread.
Fragments without any of those tags, files over ``max_file`` bytes and
UTF-16 pages are served as they are.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import threading
from collections import OrderedDict
from pathlib import Path
from types import MappingProxyType

from previewd.blobs import LocalBlobStore
from previewd.edge.routes import FileEntry, Site
from previewd.errors import BlobNotFound

_HERE = Path(__file__).parent
MARKER = b"/__previewd/client.js"


def _minify(source: str) -> str:
    """Comments and indentation out: the inline part ships in every page."""
    lines = (line.strip() for line in source.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("//"))


BOOTSTRAP = _minify((_HERE / "bootstrap.js").read_text())
SNIPPET = (
    f'<script data-previewd>{BOOTSTRAP}</script><script src="/__previewd/client.js" defer></script>'
).encode()

_HEAD = re.compile(rb"<head(?=[\s>/])[^>]*>", re.IGNORECASE)
_BODY_END = re.compile(rb"</body\s*>", re.IGNORECASE)
_HTML = re.compile(rb"<html(?=[\s>/])[^>]*>", re.IGNORECASE)


def inject(html: bytes) -> bytes | None:
    """``html`` with the page script, or None when it is not a document to touch."""
    if html.startswith((b"\xff\xfe", b"\xfe\xff")) or MARKER in html:
        return None
    found = _HEAD.search(html)
    if found is not None:
        return html[: found.end()] + SNIPPET + html[found.end() :]
    ends = list(_BODY_END.finditer(html))
    if ends:
        at = ends[-1].start()
        return html[:at] + SNIPPET + html[at:]
    found = _HTML.search(html)
    if found is not None:
        return html[: found.end()] + SNIPPET + html[found.end() :]
    return None


class Injector:
    """Gives a Site's HTML entries the page script (``await injector(site)``)."""

    def __init__(
        self,
        blobs: LocalBlobStore,
        *,
        max_file: int = 1024 * 1024,
        max_total: int = 64 * 1024 * 1024,
        memo_size: int = 8192,
    ) -> None:
        self.blobs = blobs
        self.max_file = max_file
        self.max_total = max_total  # bytes read per Site: a huge site gets its first pages
        self._memo: OrderedDict[str, tuple[str, int] | None] = OrderedDict()
        self._memo_size = memo_size
        self._lock = threading.Lock()  # Sites of different snapshots are injected in parallel

    async def __call__(self, site: Site) -> Site:
        pages = [
            (path, entry)
            for path, entry in site.files.items()
            if entry.content_type.startswith("text/html") and entry.size <= self.max_file
        ]
        if not pages:
            return site
        with self._lock:
            known = all(entry.digest in self._memo for _, entry in pages)
        # pages seen before (most of a new deployment's) need no thread hop
        swapped = (
            self._inject_all(pages) if known else await asyncio.to_thread(self._inject_all, pages)
        )
        if not swapped:
            return site
        files = {**site.files, **swapped}
        return dataclasses.replace(site, files=MappingProxyType(files))

    def _inject_all(self, pages: list[tuple[str, FileEntry]]) -> dict[str, FileEntry]:
        swapped = {}
        budget = self.max_total
        for path, entry in pages:
            if entry.digest not in self._memo:
                if budget < entry.size:
                    break
                budget -= entry.size
            done = self._one(entry.digest)
            if done is not None:
                digest, size = done
                swapped[path] = dataclasses.replace(entry, digest=digest, size=size)
        return swapped

    def _one(self, digest: str) -> tuple[str, int] | None:
        with self._lock:
            if digest in self._memo:
                self._memo.move_to_end(digest)
                return self._memo[digest]
        try:
            injected = inject(self.blobs.read(digest))
        except BlobNotFound:
            return None  # the edge answers the missing blob as it always does
        done = None if injected is None else (self.blobs.put(injected), len(injected))
        with self._lock:
            self._memo[digest] = done
            if len(self._memo) > self._memo_size:
                self._memo.popitem(last=False)
        return done
