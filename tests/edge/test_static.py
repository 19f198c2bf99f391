"""Static files over a real socket: types, validators, HEAD, ranges, caching headers."""

from __future__ import annotations

import httpx
import pytest

from previewd.blobs import LocalBlobStore

from .conftest import Publish, StartEdge
from .helpers import PAGE, sha256

pytestmark = pytest.mark.anyio

APP_JS = b"export const answer = 42;\n" * 10
FILES = {
    "index.html": PAGE,
    "assets/index-BdK2x8aZ.js": APP_JS,
    "app.mjs": b"export {};",
    "app.wasm": b"\0asm\x01\0\0\0",
    "site.webmanifest": b'{"name": "shop"}',
    "logo.svg": b"<svg xmlns='http://www.w3.org/2000/svg'/>",
    "data.json": b"[1, 2, 3]",
    "photo.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8,
    "blob.bin": bytes(range(256)) * 4,
    "empty.txt": b"",
}


@pytest.fixture(autouse=True)
def site(publish: Publish) -> None:
    publish(FILES)


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/index.html", "text/html; charset=utf-8"),
        ("/assets/index-BdK2x8aZ.js", "text/javascript; charset=utf-8"),
        ("/app.mjs", "text/javascript; charset=utf-8"),
        ("/app.wasm", "application/wasm"),
        ("/site.webmanifest", "application/manifest+json; charset=utf-8"),
        ("/logo.svg", "image/svg+xml; charset=utf-8"),
        ("/data.json", "application/json; charset=utf-8"),
        ("/photo.png", "image/png"),
        ("/blob.bin", "application/octet-stream"),
    ],
)
async def test_content_type(client: httpx.AsyncClient, path: str, content_type: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.content == FILES[path[1:]]


async def test_response_headers(client: httpx.AsyncClient) -> None:
    response = await client.get("/blob.bin")
    assert response.headers["etag"] == f'"{sha256(FILES["blob.bin"])}"'
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["content-length"] == str(len(FILES["blob.bin"]))
    assert response.headers["server"] == "previewd"
    assert response.headers["date"].endswith(" GMT")
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_empty_file(client: httpx.AsyncClient) -> None:
    response = await client.get("/empty.txt")
    assert response.status_code == 200
    assert response.headers["content-length"] == "0"
    assert response.content == b""


async def test_fingerprinted_assets_are_immutable(client: httpx.AsyncClient) -> None:
    asset = await client.get("/assets/index-BdK2x8aZ.js")
    page = await client.get("/index.html")
    assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert page.headers["cache-control"] == "public, max-age=0, must-revalidate"


@pytest.mark.parametrize(
    "if_none_match",
    [
        '"{d}"',
        'W/"{d}"',
        '"other", "{d}"',
        '"other",W/"{d}"',
        "*",
        '"{d}-gzip"',
        '"{d}-br"',
    ],
)
async def test_if_none_match(client: httpx.AsyncClient, if_none_match: str) -> None:
    digest = sha256(FILES["blob.bin"])
    response = await client.get(
        "/blob.bin", headers={"If-None-Match": if_none_match.format(d=digest)}
    )
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == f'"{digest}"'
    assert response.headers["cache-control"] == "public, max-age=0, must-revalidate"


@pytest.mark.parametrize("if_none_match", ['"other"', '"{d}x"', '"{d}-zstd"', "{d}", '""'])
async def test_if_none_match_mismatch(client: httpx.AsyncClient, if_none_match: str) -> None:
    digest = sha256(FILES["blob.bin"])
    response = await client.get(
        "/blob.bin", headers={"If-None-Match": if_none_match.format(d=digest)}
    )
    assert response.status_code == 200
    assert response.content == FILES["blob.bin"]


async def test_head(client: httpx.AsyncClient) -> None:
    get = await client.get("/photo.png")
    head = await client.head("/photo.png")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(FILES["photo.png"]))
    assert head.headers["etag"] == get.headers["etag"]
    # the connection is still usable: no body bytes were left on it
    assert (await client.get("/data.json")).content == FILES["data.json"]


@pytest.mark.parametrize(
    ("range_", "first", "last"),
    [
        ("bytes=0-9", 0, 9),
        ("bytes=10-", 10, 1023),
        ("bytes=-100", 924, 1023),
        ("bytes=1000-5000", 1000, 1023),
        ("bytes=-5000", 0, 1023),
        ("BYTES = 5-5", 5, 5),
    ],
)
async def test_range(client: httpx.AsyncClient, range_: str, first: int, last: int) -> None:
    body = FILES["blob.bin"]
    response = await client.get("/blob.bin", headers={"Range": range_})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {first}-{last}/{len(body)}"
    assert response.headers["content-length"] == str(last - first + 1)
    assert response.content == body[first : last + 1]


@pytest.mark.parametrize("range_", ["bytes=1024-", "bytes=5000-6000", "bytes=-0"])
async def test_range_not_satisfiable(client: httpx.AsyncClient, range_: str) -> None:
    response = await client.get("/blob.bin", headers={"Range": range_})
    assert response.status_code == 416
    assert response.headers["content-range"] == "bytes */1024"


@pytest.mark.parametrize(
    "range_", ["bytes=0-1,5-6", "items=0-5", "bytes=9-2", "bytes=a-b", "bytes=-"]
)
async def test_range_ignored(client: httpx.AsyncClient, range_: str) -> None:
    response = await client.get("/blob.bin", headers={"Range": range_})
    assert response.status_code == 200
    assert response.content == FILES["blob.bin"]


async def test_if_range(client: httpx.AsyncClient) -> None:
    etag = f'"{sha256(FILES["blob.bin"])}"'
    same = await client.get("/blob.bin", headers={"Range": "bytes=0-1", "If-Range": etag})
    changed = await client.get("/blob.bin", headers={"Range": "bytes=0-1", "If-Range": '"old"'})
    dated = await client.get(
        "/blob.bin", headers={"Range": "bytes=0-1", "If-Range": "Wed, 21 Oct 2015 07:28:00 GMT"}
    )
    assert same.status_code == 206
    assert changed.status_code == 200
    assert dated.status_code == 200
    assert changed.content == FILES["blob.bin"]


async def test_range_of_an_uncached_file_is_read_from_the_blob(
    start_edge: StartEdge, publish: Publish
) -> None:
    data = bytes(range(256)) * 64
    publish({"big.bin": data}, labels=["big"])
    edge = await start_edge(cache_bytes=4096)  # nothing of 16 KiB is held in memory
    async with edge.client("big.localhost") as other:
        response = await other.get("/big.bin", headers={"Range": "bytes=1000-1999"})
        head = await other.head("/big.bin", headers={"Range": "bytes=1000-1999"})
    assert response.status_code == 206
    assert response.content == data[1000:2000]
    assert head.status_code == 206
    assert head.headers["content-length"] == "1000"


async def test_range_on_a_compressible_file_is_identity(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/index.html", headers={"Range": "bytes=0-14", "Accept-Encoding": "br, gzip"}
    )
    assert response.status_code == 206
    assert "content-encoding" not in response.headers
    assert response.content == PAGE[:15]


async def test_a_missing_blob_is_a_clear_500(
    client: httpx.AsyncClient, publish: Publish, blobs: LocalBlobStore
) -> None:
    site = publish({"gone.txt": b"soon gone"}, labels=["gone"])
    blobs.path(site.files["gone.txt"].digest).unlink()
    response = await client.get("/gone.txt", headers={"Host": "gone.localhost"})
    assert response.status_code == 500
    assert "missing from the blob store" in response.text
