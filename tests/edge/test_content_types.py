"""Media types, compressibility and fingerprints, judged from file names."""

from __future__ import annotations

import pytest

from previewd.edge.content_types import content_type_for, is_compressible, is_fingerprinted


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("index.html", "text/html; charset=utf-8"),
        ("a/b/style.CSS", "text/css; charset=utf-8"),
        ("app.js", "text/javascript; charset=utf-8"),
        ("app.mjs", "text/javascript; charset=utf-8"),
        ("app.wasm", "application/wasm"),
        ("site.webmanifest", "application/manifest+json; charset=utf-8"),
        ("logo.svg", "image/svg+xml; charset=utf-8"),
        ("data.json", "application/json; charset=utf-8"),
        ("app.js.map", "application/json; charset=utf-8"),
        ("font.woff2", "font/woff2"),
        ("photo.jpeg", "image/jpeg"),
        ("archive.tar.gz", "application/gzip"),
        ("video.mp4", "video/mp4"),
        ("LICENSE", "application/octet-stream"),
        ("file.unknownext", "application/octet-stream"),
    ],
)
def test_content_type_for(path: str, expected: str) -> None:
    assert content_type_for(path) == expected


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("text/html; charset=utf-8", True),
        ("text/javascript; charset=utf-8", True),
        ("application/json; charset=utf-8", True),
        ("application/wasm", True),
        ("image/svg+xml; charset=utf-8", True),
        ("image/png", False),
        ("font/woff2", False),
        ("application/gzip", False),
        ("application/octet-stream", False),
    ],
)
def test_is_compressible(content_type: str, expected: bool) -> None:
    assert is_compressible(content_type) is expected


@pytest.mark.parametrize(
    "path",
    [
        "assets/index-BdK2x8aZ.js",
        "assets/vendor-D4f_kR9w.css",
        "app.3f2a9c1b.css",
        "static/js/main.5e7f0a1b.chunk.js",
        "123.5e7f0a1b2c3d4e5f6a7b.js",
        "chunk-ABCD2345.js",
        "index.3f2a9c1b.js",
        "3f2a9c1b8d.png",
        "assets/index-DiwrgTda.js",  # Vite's hashes may be letters only
        "assets/index-D-4qR_8a.css",  # and may hold "-" and "_"
    ],
)
def test_fingerprinted(path: str) -> None:
    assert is_fingerprinted(path)


@pytest.mark.parametrize(
    "path",
    [
        "index.html",
        "favicon.ico",
        "MyButton.js",
        "components/nav-NavLinks.js",
        "img/photo_01.jpg",
        "user-profile-2024.css",
        "report-20240101.pdf",
        "cafe2024.js",
        "deadbeef.txt",
        "jquery-3.6.0.min.js",
        "a-iPhone12.png",
        "my-Settings.js",
        "app-settings.js",
        "README",
    ],
)
def test_not_fingerprinted(path: str) -> None:
    # a false positive would be cached for a year behind an alias that moves
    assert not is_fingerprinted(path)
