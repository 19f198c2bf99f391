"""Compression: negotiation, variants and their ETags, what is and is not compressed."""

from __future__ import annotations

import gzip
import os

import brotli
import httpx
import pytest

from previewd.edge.compression import negotiate

from .conftest import Publish
from .helpers import PAGE, Edge, eventually, get, sha256

pytestmark = pytest.mark.anyio

BUNDLE = b"".join(b"export function f%d(x) { return x * %d; }\n" % (i, i) for i in range(3000))
HUGE = BUNDLE * 20  # > 1 MiB: streamed, never held whole; its variant is made in a thread
NOISE = os.urandom(4096)
FILES = {
    "index.html": PAGE,
    "tiny.css": b"body{margin:0}",
    "huge.js": HUGE,
    "noise.txt": NOISE,
    "photo.png": b"\x89PNG" + b"\0" * 4096,
}


@pytest.fixture(autouse=True)
def site(publish: Publish) -> None:
    publish(FILES)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (b"gzip, deflate, br", ("br", "gzip")),
        (b"gzip, deflate, br, zstd", ("br", "gzip")),
        (b"br;q=0.5, gzip", ("gzip", "br")),
        (b"gzip;q=0.8, br;q=0.9", ("br", "gzip")),
        (b"br;q=0, gzip", ("gzip",)),
        (b"*", ("br", "gzip")),
        (b"*;q=0.1, gzip", ("gzip", "br")),
        (b"br;q=0, *", ("gzip",)),
        (b"identity", ()),
        (b"x-gzip", ("gzip",)),
        (b"GZIP;Q=1", ("gzip",)),
        (b"br;q=nope, gzip", ("gzip",)),
        (b"", ()),
    ],
)
def test_negotiate(header: bytes, expected: tuple[str, ...]) -> None:
    assert negotiate(header) == expected


async def test_brotli_preferred(client: httpx.AsyncClient) -> None:
    response = await client.get("/index.html", headers={"Accept-Encoding": "gzip, deflate, br"})
    assert response.headers["content-encoding"] == "br"
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.headers["etag"] == f'"{sha256(PAGE)}-br"'
    assert response.content == PAGE  # httpx decodes br
    assert int(response.headers["content-length"]) < len(PAGE) // 4


async def test_gzip_when_preferred(edge: Edge) -> None:
    raw = await edge.connect()
    await raw.send(get("/index.html", "shop.localhost", "Accept-Encoding: br;q=0.5, gzip"))
    response = await raw.response()
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["etag"] == f'"{sha256(PAGE)}-gzip"'
    assert gzip.decompress(response.body) == PAGE


async def test_identity_when_nothing_acceptable(client: httpx.AsyncClient) -> None:
    response = await client.get("/index.html", headers={"Accept-Encoding": "br;q=0, gzip;q=0"})
    assert "content-encoding" not in response.headers
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.headers["etag"] == f'"{sha256(PAGE)}"'
    assert response.content == PAGE


@pytest.mark.parametrize("path", ["/tiny.css", "/photo.png", "/noise.txt"])
async def test_not_compressed(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path, headers={"Accept-Encoding": "br, gzip"})
    assert response.status_code == 200
    assert "content-encoding" not in response.headers
    assert response.content == FILES[path[1:]]


async def test_vary_only_on_compressible(client: httpx.AsyncClient) -> None:
    png = await client.get("/photo.png", headers={"Accept-Encoding": "br"})
    noise = await client.get("/noise.txt", headers={"Accept-Encoding": "br"})
    assert "vary" not in png.headers
    assert noise.headers["vary"] == "Accept-Encoding"  # a text type: it could have been


async def test_variant_etag_revalidates(client: httpx.AsyncClient) -> None:
    first = await client.get("/index.html", headers={"Accept-Encoding": "br"})
    again = await client.get(
        "/index.html", headers={"Accept-Encoding": "br", "If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["vary"] == "Accept-Encoding"
    # the client switched encodings: its br validator still names the same content
    plain = await client.get(
        "/index.html",
        headers={"Accept-Encoding": "identity", "If-None-Match": first.headers["etag"]},
    )
    assert plain.status_code == 304
    assert plain.headers["etag"] == f'"{sha256(PAGE)}"'


async def test_head_of_a_variant(client: httpx.AsyncClient) -> None:
    get_ = await client.get("/index.html", headers={"Accept-Encoding": "br"})
    head = await client.head("/index.html", headers={"Accept-Encoding": "br"})
    assert head.headers["content-encoding"] == "br"
    assert head.headers["content-length"] == get_.headers["content-length"]
    assert head.content == b""


async def test_large_file_is_compressed_in_a_thread(edge: Edge) -> None:
    digest = sha256(HUGE)
    raw = await edge.connect()
    await raw.send(get("/huge.js", "shop.localhost", "Accept-Encoding: gzip, br"))
    first = await raw.response()
    # identity right away, while the variant is made in a thread
    assert "content-encoding" not in first.headers
    assert first.headers["vary"] == "Accept-Encoding"
    assert first.body == HUGE
    assert digest not in [key for key in edge.server.files._items if isinstance(key, str)]

    await eventually(lambda: edge.server.files.get((digest, "br")) is not None)
    await raw.send(get("/huge.js", "shop.localhost", "Accept-Encoding: gzip, br"))
    second = await raw.response()
    assert second.headers["content-encoding"] == "br"
    assert second.headers["etag"] == f'"{digest}-br"'
    assert brotli.decompress(second.body) == HUGE
    # only the client's favourite was made
    assert edge.server.files.get((digest, "gzip")) is None


async def test_incompressible_text_is_tried_once(edge: Edge) -> None:
    async with edge.client() as client:
        for _ in range(2):
            response = await client.get("/noise.txt", headers={"Accept-Encoding": "br, gzip"})
            assert "content-encoding" not in response.headers
    # remembered as not worth it for br, and gzip never tried
    assert edge.server.files.get((sha256(NOISE), "br")) == b""
    assert edge.server.files.get((sha256(NOISE), "gzip")) is None
