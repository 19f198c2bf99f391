"""The page script in HTML pages, and the edge's own /__previewd/* endpoints, over real sockets."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

import pytest

from previewd.blobs import LocalBlobStore
from previewd.edge import RouteTable, Site
from previewd.events import Broker
from previewd.feedback.edge import MAX_REPORT, EdgeFeedback, RateLimit, clean, css_change
from previewd.feedback.inject import MARKER, SNIPPET, Injector, inject
from previewd.routing import label_topic

from .conftest import Serve
from .helpers import Edge
from .upstream_server import Received, response

pytestmark = pytest.mark.anyio

DOC = b"<!doctype html><html><head><title>t</title></head><body><p>hi</p></body></html>"


class Sinks:
    def __init__(self) -> None:
        self.reports: list[tuple[str, list[dict[str, Any]]]] = []
        self.answers: list[tuple[str, str, str, int, bytes]] = []

    def report(self, deployment_id: str, reports: list[dict[str, Any]]) -> None:
        self.reports.append((deployment_id, reports))

    def answer(self, *args: Any) -> None:
        self.answers.append(args)


@pytest.fixture
def broker() -> Broker:
    return Broker()


@pytest.fixture
def sinks(edge: Edge, routes: RouteTable, broker: Broker) -> Sinks:
    """The edge answers /__previewd/* and reports into ``sinks``."""
    sinks = Sinks()
    app = edge.server.app
    client = EdgeFeedback(
        routes,
        app.hosts,
        app.dates,
        broker,
        reports=sinks.report,
        answers=sinks.answer,
        rate=RateLimit(burst=3, per_second=0.001),
    )
    app.client = client
    app.proxy.on_answer = client.proxy_answer
    return sinks


async def injected_site(blobs: LocalBlobStore, files: dict[str, bytes], **kw: Any) -> Site:
    entries = [(path, blobs.put(data), len(data)) for path, data in files.items()]
    return await Injector(blobs)(Site.build(kw.pop("deployment_id", "1a2b3c"), "shop", entries))


# -- where the script goes -------------------------------------------------------------


def test_script_goes_right_after_head() -> None:
    out = inject(DOC)
    assert out is not None
    assert out.startswith(b"<!doctype html><html><head>" + SNIPPET + b"<title>")


def test_without_head_before_the_end_of_body_or_after_html() -> None:
    assert inject(b"<body><p>x</p></BODY>") == b"<body><p>x</p>" + SNIPPET + b"</BODY>"
    assert inject(b"<html lang=en><p>x") == b"<html lang=en>" + SNIPPET + b"<p>x"
    assert inject(b'<HEAD data-x="1">') == b'<HEAD data-x="1">' + SNIPPET


def test_fragments_utf16_and_pages_with_the_script_are_left_alone() -> None:
    assert inject(b"<h1>v1</h1>") is None
    assert inject(b"<header>not a head</header>") is None
    assert inject("<html><head></head></html>".encode("utf-16")) is None
    assert inject(DOC.replace(b"<body>", b'<body><script src="' + MARKER + b'"></script>')) is None


def test_the_inline_part_is_small() -> None:
    # it ships in every page; the rest is a cached file
    assert len(SNIPPET) < 2048


async def test_html_pages_carry_the_script_and_a_new_etag(
    edge: Edge, routes: RouteTable, blobs: LocalBlobStore, sinks: Sinks
) -> None:
    css = b"h1 { color: red }" * 100
    site = await injected_site(blobs, {"index.html": DOC, "a.css": css, "404.html": DOC})
    routes.set("shop", site)
    original = '"' + hashlib.sha256(DOC).hexdigest() + '"'
    async with edge.client() as client:
        page = await client.get("/", headers={"accept-encoding": "identity"})
        assert page.status_code == 200
        assert SNIPPET in page.content and page.content.replace(SNIPPET, b"") == DOC
        assert int(page.headers["content-length"]) == len(DOC) + len(SNIPPET)
        etag = page.headers["etag"]
        assert etag != original and etag == '"' + hashlib.sha256(page.content).hexdigest() + '"'
        again = await client.get("/", headers={"if-none-match": etag})
        assert again.status_code == 304
        zipped = await client.get("/", headers={"accept-encoding": "gzip"})
        assert zipped.headers.get("content-encoding") == "gzip" and SNIPPET in zipped.content
        missing = await client.get("/nope")
        assert missing.status_code == 404 and SNIPPET in missing.content  # the site's 404.html
        sheet = await client.get("/a.css", headers={"accept-encoding": "identity"})
        assert sheet.content == css
        assert sheet.headers["etag"] == '"' + hashlib.sha256(css).hexdigest() + '"'


# -- /__previewd/* ----------------------------------------------------------------------


async def test_client_script_is_served_with_an_etag(
    edge: Edge, routes: RouteTable, blobs: LocalBlobStore, sinks: Sinks
) -> None:
    routes.set("shop", await injected_site(blobs, {"index.html": DOC}))
    async with edge.client() as client:
        script = await client.get("/__previewd/client.js")
        assert script.status_code == 200
        assert script.headers["content-type"].startswith("text/javascript")
        assert b"/__previewd/live" in script.content
        cached = await client.get(
            "/__previewd/client.js", headers={"if-none-match": script.headers["etag"]}
        )
        assert cached.status_code == 304 and cached.content == b""
        unknown = await client.get("/__previewd/nothing")
        assert unknown.status_code == 404
        assert unknown.json()["error"]["message"] == "no such previewd endpoint"
    async with edge.client(host="other.localhost") as client:
        assert (await client.get("/__previewd/client.js")).status_code == 404  # no such preview


async def test_reports_reach_the_sink_cleaned(
    edge: Edge, routes: RouteTable, blobs: LocalBlobStore, sinks: Sinks
) -> None:
    routes.set(
        "shop", await injected_site(blobs, {"index.html": DOC}, deployment_id="4k2j9x0a1b2c")
    )
    report = {
        "kind": "error",
        "message": "x" * 5000,
        "source": "/app.js",
        "line": 3,
        "column": True,
        "page": "/",
        "extra": "dropped",
    }
    async with edge.client() as client:
        sent = await client.post("/__previewd/report", json={"reports": [report]})
        assert sent.status_code == 204
    [(deployment, [got])] = sinks.reports
    assert deployment == "4k2j9x0a1b2c"
    assert got["kind"] == "error" and len(got["message"]) == 1000
    assert got["line"] == 3 and got["column"] is None and "extra" not in got


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"junk", 400, "not a report"),
        (b"[]", 400, '{"reports"'),
        (json.dumps({"reports": [{"message": 1}]}).encode(), 400, "string 'message'"),
        (json.dumps({"reports": [{"message": "m", "kind": "x"}]}).encode(), 400, "kind is one"),
        (json.dumps({"reports": [{"message": "m"}] * 21}).encode(), 400, "at most 20"),
        (b"{" + b" " * (MAX_REPORT + 1) + b"}", 413, "at most"),
    ],
)
async def test_junk_reports_get_a_clear_4xx(
    edge: Edge,
    routes: RouteTable,
    blobs: LocalBlobStore,
    sinks: Sinks,
    body: bytes,
    status: int,
    words: str,
) -> None:
    routes.set("shop", await injected_site(blobs, {"index.html": DOC}))
    async with edge.client() as client:
        answer = await client.post("/__previewd/report", content=body)
        assert answer.status_code == status
        assert words in answer.json()["error"]["message"]
        assert (await client.get("/__previewd/report")).status_code == 405
    assert sinks.reports == []


async def test_reports_are_rate_limited_per_host(
    edge: Edge, routes: RouteTable, blobs: LocalBlobStore, sinks: Sinks
) -> None:
    routes.set("shop", await injected_site(blobs, {"index.html": DOC}))
    routes.set("other", await injected_site(blobs, {"index.html": DOC}))
    one = {"reports": [{"message": "m"}]}
    async with edge.client() as client:
        codes = [(await client.post("/__previewd/report", json=one)).status_code for _ in range(4)]
        assert codes == [204, 204, 204, 429]
        limited = await client.post("/__previewd/report", json=one)
        assert limited.headers["retry-after"] == "5"
    async with edge.client(host="other.localhost") as client:
        assert (await client.post("/__previewd/report", json=one)).status_code == 204


def test_clean_keeps_only_known_fields() -> None:
    assert clean({"reports": [{"message": "m", "line": 10**9, "stack": 3}]}) == [
        {
            "kind": "console",
            "message": "m",
            "source": None,
            "stack": None,
            "page": None,
            "line": None,
            "column": None,
        }
    ]


# -- the app never sees /__previewd/*; its 5xx answers are told -------------------------


async def test_previewd_paths_are_not_proxied_and_5xx_answers_are_reported(
    edge: Edge, routes: RouteTable, blobs: LocalBlobStore, sinks: Sinks, serve: Serve
) -> None:
    async def app(request: Received, writer: asyncio.StreamWriter) -> None:
        if request.target.startswith("/boom"):
            writer.write(response(500, b"Traceback: KeyError 'x'", "Content-Type: text/plain"))
        else:
            writer.write(response(200, b"app"))

    server, upstream = await serve(app)
    entries = [("index.html", blobs.put(DOC), len(DOC))]
    routes.set("shop", Site.build("9z8y7x6w5v4u", "shop", entries, routes=[("/*", upstream)]))
    async with edge.client() as client:
        assert (await client.get("/__previewd/client.js")).status_code == 200
        assert (await client.post("/__previewd/report", json={"reports": []})).status_code == 204
        assert (await client.get("/boom/42?x=1")).status_code == 500
        assert (await client.get("/fine")).content == b"app"
    assert [r.target for r in server.requests] == ["/boom/42?x=1", "/fine"]
    assert sinks.answers == [
        ("9z8y7x6w5v4u", "GET", "/boom/42?x=1", 500, b"Traceback: KeyError 'x'")
    ]


# -- live reload ----------------------------------------------------------------------------


async def read_event(lines: Any) -> tuple[str, dict[str, Any]]:
    name, data = "", ""
    async with asyncio.timeout(10):
        async for line in lines:
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
            elif line == "" and name:
                return name, json.loads(data)
    raise AssertionError("the stream ended")


async def test_live_tells_the_page_when_its_host_moves(
    edge: Edge, routes: RouteTable, blobs: LocalBlobStore, sinks: Sinks, broker: Broker
) -> None:
    def move(site: Site) -> None:  # what the route sync does
        routes.set("shop", site)
        broker.publish(label_topic("shop"), {"deployment": site.deployment_id})

    v1 = {"index.html": DOC, "a.css": b"h1{color:red}", "app.js": b"1"}
    routes.set("shop", await injected_site(blobs, v1, deployment_id="1aaaaaaaaaaa"))
    async with (
        edge.client() as client,
        client.stream("GET", "/__previewd/live") as stream,
    ):
        assert stream.headers["content-type"] == "text/event-stream"
        lines = stream.aiter_lines()
        assert await read_event(lines) == ("hello", {"deployment": "1aaaaaaaaaaa"})
        v2 = {**v1, "a.css": b"h1{color:blue}"}
        move(await injected_site(blobs, v2, deployment_id="2bbbbbbbbbbb"))
        assert await read_event(lines) == (
            "deployment",
            {"deployment": "2bbbbbbbbbbb", "css": ["a.css"]},
        )
        move(await injected_site(blobs, {**v2, "app.js": b"2"}, deployment_id="3ccccccccccc"))
        assert await read_event(lines) == (
            "deployment",
            {"deployment": "3ccccccccccc", "css": None},
        )
        live = edge.server.app.client
        assert isinstance(live, EdgeFeedback) and live.live == 1


def test_css_change_is_only_stylesheets() -> None:
    a = Site.build("1", "p", [("i.html", "a" * 64, 1), ("s.css", "b" * 64, 1)]).files
    b = Site.build("2", "p", [("i.html", "a" * 64, 1), ("s.css", "c" * 64, 1)]).files
    c = Site.build("3", "p", [("i.html", "d" * 64, 1), ("s.css", "c" * 64, 1)]).files
    assert css_change(a, b) == ["s.css"]
    assert css_change(b, c) is None
    assert css_change(a, a) is None


def test_injected_pages_are_stored_once(blobs: LocalBlobStore) -> None:
    injector = Injector(blobs)
    digest = blobs.put(DOC)
    first = injector._one(digest)
    assert first is not None and blobs.read(first[0]) == inject(DOC)
    assert injector._one(digest) == first


async def test_a_huge_site_gets_its_pages_within_the_budget(blobs: LocalBlobStore) -> None:
    files = {f"p{i}.html": DOC + b" " * i for i in range(5)}
    entries = [(p, blobs.put(d), len(d)) for p, d in files.items()]
    site = Site.build("1", "p", entries)
    small = await Injector(blobs, max_total=len(DOC) * 2 + 10)(site)
    changed = [p for p in files if small.files[p].digest != site.files[p].digest]
    assert changed == ["p0.html", "p1.html"]
