"""The edge's side of feedback: ``/__previewd/*`` on every preview host, and 5xx sightings.

The edge answers these paths itself, never the app:

- ``GET /__previewd/client.js``: the page script (``client.js``), revalidated by ETag.
- ``POST /__previewd/report``: ``{"reports": [{kind, message, source, line, column,
  stack, page}, …]}`` from the page script. At most ``MAX_REPORT`` bytes and
  ``MAX_ITEMS`` items; a token bucket per host (429 past it); 400 on junk.
- ``GET /__previewd/live``: server-sent events: ``hello`` with the deployment
  the host serves now, then ``deployment`` each time it moves, with ``css``
  listing the changed paths when only stylesheets changed (else ``null``).

:meth:`EdgeFeedback.proxy_answer` is the proxy's ``on_answer`` hook: a 5xx
answer of an app server becomes a sighting of the deployment the host serves.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from previewd.edge.hosts import HostLabels
from previewd.edge.request import Output, Request
from previewd.edge.responses import DateHeader
from previewd.edge.routes import FileEntry, RouteTable, Site
from previewd.errors import InvalidName
from previewd.events import Broker
from previewd.routing import label_topic

log = logging.getLogger("previewd.edge")

PREFIX = b"/__previewd/"
MAX_REPORT = 16 * 1024  # bytes of one report body
MAX_ITEMS = 20  # errors in one report
READ_TIMEOUT = 10.0
PING_EVERY = 25.0  # seconds between SSE comments, so dead connections are found
MAX_LIVE = 2000  # live-reload connections held at once
KINDS = frozenset({"console", "error", "rejection"})
_FIELDS = {"message": 1000, "source": 500, "stack": 2000, "page": 500}
_REASONS = {
    200: b"OK",
    204: b"No Content",
    304: b"Not Modified",
    400: b"Bad Request",
    404: b"Not Found",
    405: b"Method Not Allowed",
    413: b"Content Too Large",
    429: b"Too Many Requests",
    503: b"Service Unavailable",
}

CLIENT = (Path(__file__).with_name("client.js")).read_bytes()
CLIENT_ETAG = b'"' + hashlib.sha256(CLIENT).hexdigest()[:20].encode() + b'"'

# (deployment id, reports) → recorded; FeedbackBook.console is one
ReportSink = Callable[[str, list[dict[str, Any]]], None]
# (deployment id, method, path, status, first body bytes) → recorded
AnswerSink = Callable[[str, str, str, int, bytes], None]


class RateLimit:
    """A token bucket per key: ``burst`` at once, ``per_second`` after that."""

    def __init__(self, burst: float = 20, per_second: float = 2, max_keys: int = 10_000) -> None:
        self.burst, self.per_second, self.max_keys = burst, per_second, max_keys
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, key: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        tokens, at = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.per_second)
        if len(self._buckets) >= self.max_keys and key not in self._buckets:
            self._buckets.clear()  # a flood of hosts must not grow memory
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - 1, now)
        return True


class EdgeFeedback:
    """Answers ``/__previewd/*`` for the EdgeApp and turns proxied 5xx into sightings."""

    def __init__(
        self,
        table: RouteTable,
        hosts: HostLabels,
        dates: DateHeader,
        broker: Broker,
        *,
        reports: ReportSink | None = None,
        answers: AnswerSink | None = None,
        rate: RateLimit | None = None,
    ) -> None:
        self.table = table
        self.hosts = hosts
        self.dates = dates
        self.broker = broker
        self.reports = reports
        self.answers = answers
        self.rate = rate or RateLimit()
        self.live = 0  # live-reload connections open now

    # -- the EdgeApp's side -----------------------------------------------------------

    def handle(
        self, request: Request, label: str, site: Site, out: Output
    ) -> Awaitable[None] | None:
        path = request.target.partition(b"?")[0][len(PREFIX) :]
        if path == b"client.js":
            self._script(request, out)
        elif path == b"report" and request.method == b"POST":
            return self._report(request, label, site, out)
        elif path == b"report":
            self._answer(request, out, 405, "use POST", allow="POST")
        elif path == b"live" and request.method != b"GET":
            self._answer(request, out, 405, "use GET", allow="GET")
        elif path == b"live" and self.live >= MAX_LIVE:
            self._answer(request, out, 503, "too many live-reload connections", retry="10")
        elif path == b"live":
            return self._live(request, label, site, out)
        else:
            self._answer(request, out, 404, "no such previewd endpoint")
        return None

    def proxy_answer(self, request: Request, status: int, first: bytes) -> None:
        """The proxy's ``on_answer`` hook (called for 5xx answers)."""
        if self.answers is None or request.host is None:
            return
        try:
            label = self.hosts.label(request.host)
        except InvalidName:
            return
        site = self.table.get(label) if label is not None else None
        if site is not None:
            method = request.method.decode("latin-1")
            target = request.target.decode("latin-1")
            self.answers(site.deployment_id, method, target, status, first[:4096])

    # -- endpoints ----------------------------------------------------------------------

    def _script(self, request: Request, out: Output) -> None:
        if request.method not in (b"GET", b"HEAD"):
            self._answer(request, out, 405, "use GET", allow="GET, HEAD")
            return
        headers = [
            (b"ETag", CLIENT_ETAG),
            (b"Cache-Control", b"no-cache"),
            (b"X-Content-Type-Options", b"nosniff"),
        ]
        if request.if_none_match is not None and CLIENT_ETAG in request.if_none_match:
            out.write(self._head(request, 304, headers))
            return
        headers += [
            (b"Content-Type", b"text/javascript; charset=utf-8"),
            (b"Content-Length", str(len(CLIENT)).encode()),
        ]
        out.write(self._head(request, 200, headers) + (b"" if request.is_head else CLIENT))

    async def _report(self, request: Request, label: str, site: Site, out: Output) -> None:
        if not self.rate.allow(label):
            self._answer(request, out, 429, "too many reports from this host", retry="5")
            return
        body = await self._read(request)
        if body is None:
            self._answer(request, out, 413, f"a report holds at most {MAX_REPORT} bytes")
            return
        try:
            reports = clean(json.loads(body))
        except (ValueError, TypeError) as exc:
            self._answer(request, out, 400, f"not a report: {exc}")
            return
        if reports and self.reports is not None:
            self.reports(site.deployment_id, reports)
        out.write(self._head(request, 204, []))

    async def _read(self, request: Request) -> bytes | None:
        """The whole body, or None past MAX_REPORT bytes."""
        inbound = request.body
        if inbound is None:
            return b""
        chunks, size = [], 0
        async with asyncio.timeout(READ_TIMEOUT):
            while chunk := await inbound.read():
                size += len(chunk)
                if size > MAX_REPORT:
                    return None
                chunks.append(chunk)
        return b"".join(chunks)

    async def _live(self, request: Request, label: str, site: Site, out: Output) -> None:
        request.keep_alive = False  # the stream ends with the connection
        headers = [
            (b"Content-Type", b"text/event-stream"),
            (b"Cache-Control", b"no-store"),
            (b"X-Accel-Buffering", b"no"),
        ]
        self.live += 1
        try:
            async with self.broker.subscribe(label_topic(label)) as moves:
                current = self.table.get(label) or site
                hello = {"deployment": current.deployment_id}
                out.write(
                    self._head(request, 200, headers) + b"retry: 2000\n" + _event("hello", hello)
                )
                await out.drain()
                while True:
                    try:
                        await asyncio.wait_for(moves.get(), PING_EVERY)
                    except TimeoutError:
                        out.write(b": ping\n\n")
                        await out.drain()
                        continue
                    new = self.table.get(label)
                    if new is None or new.deployment_id == current.deployment_id:
                        continue
                    css = css_change(current.files, new.files)
                    out.write(_event("deployment", {"deployment": new.deployment_id, "css": css}))
                    await out.drain()
                    current = new
        finally:
            self.live -= 1

    # -- answers --------------------------------------------------------------------------

    def _answer(
        self,
        request: Request,
        out: Output,
        status: int,
        message: str,
        *,
        allow: str | None = None,
        retry: str | None = None,
    ) -> None:
        code = {400: "bad_report", 413: "too_large", 429: "rate_limited"}.get(status, "refused")
        body = json.dumps({"error": {"code": code, "message": message, "hint": None}}).encode()
        headers = [
            (b"Content-Type", b"application/json"),
            (b"Content-Length", str(len(body)).encode()),
            (b"Cache-Control", b"no-store"),
        ]
        if allow:
            headers.append((b"Allow", allow.encode()))
        if retry:
            headers.append((b"Retry-After", retry.encode()))
        if request.body is not None and not request.body.complete:
            request.keep_alive = False  # the rest of the body is not read
        out.write(self._head(request, status, headers) + (b"" if request.is_head else body))

    def _head(self, request: Request, status: int, headers: Iterable[tuple[bytes, bytes]]) -> bytes:
        lines = [b"HTTP/1.1 %d %s\r\nServer: previewd\r\n" % (status, _REASONS[status])]
        lines += [name + b": " + value + b"\r\n" for name, value in headers]
        return b"".join(lines) + self.dates.tail(request)


def clean(document: Any) -> list[dict[str, Any]]:
    """The reports of a body, each field checked and cut to size; ValueError on junk."""
    if not isinstance(document, dict) or not isinstance(document.get("reports"), list):
        raise ValueError('expected {"reports": [...]}')
    items = document["reports"]
    if len(items) > MAX_ITEMS:
        raise ValueError(f"at most {MAX_ITEMS} reports at once")
    cleaned = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("message"), str):
            raise ValueError("each report is an object with a string 'message'")
        kind = item.get("kind", "console")
        if kind not in KINDS:
            raise ValueError(f"kind is one of {', '.join(sorted(KINDS))}, not {kind!r}")
        report: dict[str, Any] = {"kind": kind}
        for name, limit in _FIELDS.items():
            value = item.get(name)
            report[name] = value[:limit] if isinstance(value, str) else None
        for name in ("line", "column"):
            value = item.get(name)
            ok = isinstance(value, int) and not isinstance(value, bool) and 0 < value < 10**8
            report[name] = value if ok else None
        cleaned.append(report)
    return cleaned


def css_change(old: Mapping[str, FileEntry], new: Mapping[str, FileEntry]) -> list[str] | None:
    """The changed paths when every change between two Sites is a stylesheet, else None."""
    changed = sorted(
        path
        for path in old.keys() | new.keys()
        if (old[path].digest if path in old else None)
        != (new[path].digest if path in new else None)
    )
    if changed and all(path.endswith(".css") for path in changed):
        return changed
    return None


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
