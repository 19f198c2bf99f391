"""Host header → route: labels, ports, case, unknown hosts, invalid and missing hosts."""

from __future__ import annotations

import httpx
import pytest

from previewd.edge import RouteTable
from previewd.edge.hosts import HostLabels
from previewd.errors import InvalidName

from .conftest import Publish, StartEdge
from .helpers import Edge

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def sites(publish: Publish) -> None:
    publish({"index.html": b"alias"}, labels=["shop", "main--shop"])
    publish({"index.html": b"permanent"}, labels=["7f3a9c--shop"], deployment_id="7f3a9c")


@pytest.mark.parametrize(
    ("host", "body"),
    [
        ("shop.localhost", b"alias"),
        ("shop.localhost:7701", b"alias"),
        ("SHOP.LocalHost", b"alias"),
        ("shop.localhost.", b"alias"),
        ("main--shop.localhost", b"alias"),
        ("7f3a9c--shop.localhost:80", b"permanent"),
    ],
)
async def test_host_selects_site(edge: Edge, host: str, body: bytes) -> None:
    async with edge.client(host) as client:
        response = await client.get("/")
    assert response.status_code == 200
    assert response.content == body


@pytest.mark.parametrize(
    ("host", "shown"),
    [
        ("other.localhost", "other.localhost"),
        ("localhost", "localhost"),
        ("Shop.Example.com:8080", "shop.example.com"),
        ("127.0.0.1", "127.0.0.1"),
        ("[::1]:8080", "[::1]"),
    ],
)
async def test_unknown_host_is_404_page(edge: Edge, host: str, shown: str) -> None:
    async with edge.client(host) as client:
        response = await client.get("/")
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert f"No preview at <code>{shown}</code>" in response.text
    assert "previewd ls" in response.text  # the hint


async def test_route_removed_is_404(edge: Edge, routes: RouteTable) -> None:
    routes.set("main--shop", None)
    async with edge.client("main--shop.localhost") as client:
        response = await client.get("/")
    assert response.status_code == 404
    assert "main--shop" not in routes.labels()


async def test_route_swap_is_seen_by_the_next_request(edge: Edge, publish: Publish) -> None:
    async with edge.client() as client:
        before = await client.get("/")
        publish({"index.html": b"new deployment"}, deployment_id="9b8c7d")
        after = await client.get("/")
    assert before.content == b"alias"
    assert after.content == b"new deployment"


async def test_custom_preview_domain(start_edge: StartEdge) -> None:
    edge = await start_edge(preview_domain="preview.example.com")
    async with edge.client("shop.preview.example.com") as client:
        ours = await client.get("/")
        theirs = await client.get("/", headers={"Host": "shop.localhost"})
    assert ours.content == b"alias"
    assert theirs.status_code == 404


@pytest.mark.parametrize(
    "host",
    [b"shop.localhost:http", b"shop_1.localhost", b"sh op.localhost", b"-shop.localhost",
     b"shop.localhost:99999999", b"caf\xc3\xa9.localhost", b"a..localhost", b"[::1"],
)  # fmt: skip
async def test_invalid_host_is_400(edge: Edge, host: bytes) -> None:
    raw = await edge.connect()
    await raw.send(b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
    response = await raw.response()
    assert response.status == 400
    assert b"Bad Request" in response.body


async def test_missing_host_is_400(edge: Edge) -> None:
    raw = await edge.connect()
    await raw.send(b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n")
    response = await raw.response()
    assert response.status == 400
    assert b"no Host header" in response.body
    assert await raw.closed()


async def test_two_host_headers_are_400(edge: Edge) -> None:
    raw = await edge.connect()
    await raw.send(b"GET / HTTP/1.1\r\nHost: shop.localhost\r\nHost: evil.localhost\r\n\r\n")
    response = await raw.response()
    assert response.status == 400
    assert await raw.closed()


async def test_absolute_form_target_wins_over_host(edge: Edge) -> None:
    raw = await edge.connect()
    await raw.send(b"GET http://main--shop.localhost/ HTTP/1.1\r\nHost: nothing.localhost\r\n\r\n")
    response = await raw.response()
    assert response.status == 200
    assert response.body == b"alias"


async def test_http10_without_host_is_400(edge: Edge) -> None:
    raw = await edge.connect()
    await raw.send(b"GET / HTTP/1.0\r\n\r\n")
    assert (await raw.response()).status == 400


def test_host_labels_unit() -> None:
    hosts = HostLabels("Preview.Example.com.")
    assert hosts.label(b"a--b.preview.example.com:443") == "a--b"
    assert hosts.label(b"preview.example.com") is None
    assert hosts.label(b"x.other.com") is None
    assert hosts.hostname(b"X.Other.com:80") == "x.other.com"
    with pytest.raises(InvalidName):
        hosts.label(b"x/y.preview.example.com")


async def test_client_fixture_uses_shop(client: httpx.AsyncClient) -> None:
    assert (await client.get("/")).content == b"alias"
