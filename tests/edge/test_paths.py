"""Request paths → files: index files, redirects, clean URLs, SPA fallback, 404s, bad paths."""

from __future__ import annotations

import httpx
import pytest

from .conftest import Publish
from .helpers import PAGE, Edge, get

pytestmark = pytest.mark.anyio

FILES = {
    "index.html": PAGE,
    "about.html": b"<h1>About</h1>",
    "docs/index.html": b"<h1>Docs</h1>",
    "docs/guide/index.html": b"<h1>Guide</h1>",
    "a b/c&d.txt": b"spaced",
    "caf\u00e9.txt": "caf\u00e9".encode(),
    "assets/app.js": b"console.log(1)",
}


@pytest.fixture(autouse=True)
def site(publish: Publish) -> None:
    publish(FILES)
    publish({**FILES, "404.html": b"<h1>Our own 404</h1>"}, labels=["custom"])
    publish(FILES, labels=["spa"], spa=True)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/", PAGE),
        ("/?utm=1", PAGE),
        ("/index.html", PAGE),
        ("/docs/", b"<h1>Docs</h1>"),
        ("/docs/guide/", b"<h1>Guide</h1>"),
        ("/about", b"<h1>About</h1>"),
        ("/about.html", b"<h1>About</h1>"),
        ("/a%20b/c%26d.txt", b"spaced"),
        ("/caf%C3%A9.txt", "caf\u00e9".encode()),
        ("/assets/app.js#fragment", b"console.log(1)"),
    ],
)
async def test_paths_resolve(client: httpx.AsyncClient, path: str, body: bytes) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.content == body


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/docs", "/docs/"),
        ("/docs?tab=2&x=%20", "/docs/?tab=2&x=%20"),
        ("/docs/guide", "/docs/guide/"),
    ],
)
async def test_directory_without_slash_redirects(
    client: httpx.AsyncClient, path: str, location: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 308
    assert response.headers["location"] == location


async def test_redirect_location_is_built_from_the_decoded_path(
    client: httpx.AsyncClient, publish: Publish
) -> None:
    publish({"a b/index.html": b"x"}, labels=["odd"])
    response = await client.get("/a%20b", headers={"Host": "odd.localhost"})
    assert response.status_code == 308
    assert response.headers["location"] == "/a%20b/"


async def test_builtin_404_names_path_and_deployment(client: httpx.AsyncClient) -> None:
    response = await client.get("/missing/page")
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "/missing/page" in response.text
    assert "1a2b3c" in response.text
    assert "404.html" in response.text  # the hint


async def test_builtin_404_escapes_the_path(client: httpx.AsyncClient) -> None:
    response = await client.get("/%3Cscript%3Ealert(1)%3C/script%3E")
    assert response.status_code == 404
    assert "<script>" not in response.text
    assert "&lt;script&gt;" in response.text


async def test_deployment_404_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/missing", headers={"Host": "custom.localhost"})
    assert response.status_code == 404
    assert response.content == b"<h1>Our own 404</h1>"
    assert "etag" not in response.headers


@pytest.mark.parametrize("path", ["/dashboard", "/users/42/edit", "/deep/route/"])
async def test_spa_fallback(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path, headers={"Host": "spa.localhost"})
    assert response.status_code == 200
    assert response.content == PAGE
    assert response.headers["cache-control"] == "public, max-age=0, must-revalidate"


@pytest.mark.parametrize("path", ["/assets/missing.js", "/favicon.ico"])
async def test_spa_does_not_answer_missing_assets(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path, headers={"Host": "spa.localhost"})
    assert response.status_code == 404


async def test_spa_still_serves_real_files(client: httpx.AsyncClient) -> None:
    response = await client.get("/about", headers={"Host": "spa.localhost"})
    assert response.content == b"<h1>About</h1>"


async def test_without_spa_unknown_routes_are_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/dashboard")
    assert response.status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/a%00b",
        "/%2e%2e/secret",
        "/docs/%2E%2E/%2e%2E/x",
        "/docs/../x",
        "/./index.html",
        "/a%2F..%2Fb",
        "/%zz",
        "/%4",
        "/%C3%28",  # invalid UTF-8
        "/a%5Cb",  # backslash
        "/a%0Ab",  # newline
    ],
)
async def test_bad_paths_are_400(edge: Edge, path: str) -> None:
    # raw bytes: an HTTP client would normalise some of these before sending
    raw = await edge.connect()
    await raw.send(get(path))
    response = await raw.response()
    assert response.status == 400
    assert b"request path" in response.body
    # a bad path is the client's mistake, not a broken connection
    await raw.send(get("/about"))
    assert (await raw.response()).body == b"<h1>About</h1>"


async def test_target_without_leading_slash_is_400(edge: Edge) -> None:
    raw = await edge.connect()
    await raw.send(b"OPTIONS * HTTP/1.1\r\nHost: shop.localhost\r\n\r\n")
    assert (await raw.response()).status in (400, 405)
    await raw.send(get("index.html"))
    assert (await raw.response()).status == 400


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
async def test_other_methods_are_405(client: httpx.AsyncClient, method: str) -> None:
    response = await client.request(method, "/")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
