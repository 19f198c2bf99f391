"""The edge's request handler: Host header → route → the handler of that route.

A Site's files are served by ``StaticFiles``; a path one of its ``routes``
sends to an Upstream (``/api/*`` → the preview's server) is forwarded by the
``ProxyHandler``. That choice is made by :meth:`EdgeApp.route` as soon as the
headers are in, so the proxy gets the request before its body.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol

from previewd.edge import pages
from previewd.edge.hosts import HostLabels
from previewd.edge.proxy import ProxyHandler
from previewd.edge.request import Output, Request
from previewd.edge.responses import DateHeader, simple
from previewd.edge.routes import RouteTable, Site
from previewd.edge.static import StaticFiles
from previewd.errors import InvalidName

CLIENT_PREFIX = b"/__previewd/"


class ClientHandler(Protocol):
    def handle(
        self, request: Request, label: str, site: Site, out: Output
    ) -> Awaitable[None] | None: ...


class EdgeApp:
    """Finds the Site a request is for and hands the request to its handler."""

    def __init__(
        self,
        routes: RouteTable,
        hosts: HostLabels,
        static: StaticFiles,
        dates: DateHeader,
        proxy: ProxyHandler | None = None,
    ) -> None:
        self.routes = routes
        self.hosts = hosts
        self.static = static
        self.dates = dates
        self.proxy = proxy or ProxyHandler(dates)
        # Answers /__previewd/* on every preview host (previewd.feedback.edge), never the app.
        self.client: ClientHandler | None = None

    def route(self, request: Request) -> bool:
        """True (and ``request.upstream`` set) for a request of a server route."""
        host = request.host
        if host is None or request.target[:1] != b"/":
            self._absolute_form(request)
            host = request.host
            if host is None:
                return False
        try:
            label = self.hosts.label(host)
        except InvalidName:
            return False  # answered by handle()
        site = self.routes.get(label) if label is not None else None
        if site is None:
            return False
        if self.client is not None and request.target.startswith(CLIENT_PREFIX):
            return True  # its own handler, with the body (a report) as it arrives
        if not site.routes:
            return False
        upstream = site.upstream_for(request.target)
        if upstream is None:
            return False
        request.upstream = upstream
        return True

    def handle(self, request: Request, out: Output) -> Awaitable[None] | None:
        if request.upstream is not None:
            return self.proxy.handle(request, out)
        host = request.host
        if host is None or request.target[:1] != b"/":
            self._absolute_form(request)
            host = request.host
            if host is None:
                self._bad(request, out, "The request has no Host header.")
                return None
        try:
            label = self.hosts.label(host)
        except InvalidName as exc:
            self._bad(request, out, exc.message)
            return None
        site = self.routes.get(label) if label is not None else None
        if site is None:
            body = pages.no_preview(self.hosts.hostname(host), self.hosts.domain)
            out.write(simple(404, body, self.dates.tail(request), head_only=request.is_head))
            return None
        if self.client is not None and request.target.startswith(CLIENT_PREFIX):
            assert label is not None
            return self.client.handle(request, label, site, out)
        return self.static.handle(request, site, out)

    @staticmethod
    def _absolute_form(request: Request) -> None:
        # "GET http://host/path HTTP/1.1": the host in the target wins over Host
        # (RFC 9112 §3.2.2).
        target = request.target
        for scheme in (b"http://", b"https://"):
            if target[: len(scheme)].lower() == scheme:
                authority, slash, path = target[len(scheme) :].partition(b"/")
                request.host = authority
                request.target = slash + path if slash else b"/"
                return

    def _bad(self, request: Request, out: Output, message: str) -> None:
        body = pages.error(400, "Bad Request", message)
        request.keep_alive = False
        out.write(simple(400, body, self.dates.tail(request), head_only=request.is_head))
