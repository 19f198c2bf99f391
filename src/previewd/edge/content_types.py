"""What a file is, judged from its name: media type, compressibility, fingerprint.

Computed once per file when a :class:`~previewd.edge.routes.Site` is built, never
per request. The media types come from our own table first and then Python's
built-in ``mimetypes`` defaults (not the host's ``/etc/mime.types``), so every
machine serves the same ``Content-Type`` for the same file.
"""

from __future__ import annotations

import functools
import itertools
import mimetypes
import posixpath
import re

DEFAULT_TYPE = "application/octet-stream"

# Where the built-in table is missing, outdated or says something browsers dislike.
_TYPES: dict[str, str] = {
    ".html": "text/html",
    ".htm": "text/html",
    ".css": "text/css",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".cjs": "text/javascript",
    ".jsx": "text/javascript",
    ".ts": "text/plain",
    ".tsx": "text/plain",
    ".map": "application/json",
    ".json": "application/json",
    ".jsonld": "application/ld+json",
    ".webmanifest": "application/manifest+json",
    ".wasm": "application/wasm",
    ".svg": "image/svg+xml",
    ".xml": "application/xml",
    ".atom": "application/atom+xml",
    ".rss": "application/rss+xml",
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".csv": "text/csv",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".toml": "application/toml",
    ".ico": "image/x-icon",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".apng": "image/apng",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".eot": "application/vnd.ms-fontobject",
    ".ogg": "audio/ogg",
    ".wav": "audio/wav",
    ".glb": "model/gltf-binary",
    ".gltf": "model/gltf+json",
    ".gz": "application/gzip",
    ".tgz": "application/gzip",
    ".br": "application/octet-stream",
    ".zst": "application/zstd",
}

# Types worth compressing besides text/*; images, fonts (woff/woff2 are already
# compressed), audio and video gain nothing.
_COMPRESSIBLE = frozenset(
    {
        "text/javascript",
        "application/json",
        "application/ld+json",
        "application/manifest+json",
        "application/wasm",
        "application/xml",
        "application/atom+xml",
        "application/rss+xml",
        "application/yaml",
        "application/toml",
        "application/xhtml+xml",
        "image/svg+xml",
        "image/x-icon",
        "image/bmp",
        "font/ttf",
        "font/otf",
        "application/vnd.ms-fontobject",
        "model/gltf+json",
    }
)

# Types that are text and therefore get "; charset=utf-8".
_TEXTUAL = frozenset(t for t in _COMPRESSIBLE if "json" in t or "xml" in t or "yaml" in t) | {
    "application/toml"
}

_builtin = mimetypes.MimeTypes()  # the stdlib defaults only, without the host's files

# A fingerprint is a content hash that build tools put into asset names:
#   Vite/Rollup  index-BdK2x8aZ.js        webpack  app.3f2a9c1b.css, 123.5e7f0a1b2c3d.chunk.js
#   esbuild      chunk-ABCD1234.js        Parcel   index.3f2a9c1b.js
# Mistaking a plain name for one would cache it for a year behind an alias
# that moves, so only tokens that look random count; a missed hash merely
# costs a revalidation.
_HEX = re.compile(r"[0-9a-f]{8,64}")
_BASE32 = re.compile(r"[A-Z2-7]{8}")
_BASE64URL = re.compile(r"[A-Za-z0-9_]{8,16}")
_ROLLUP = re.compile(r"[A-Za-z0-9_-]{8}")


def content_type_for(path: str) -> str:
    """The ``Content-Type`` to serve ``path`` with, charset included for text."""
    ext = posixpath.splitext(path)[1].lower()
    media = _TYPES.get(ext)
    if media is None:
        guessed, encoding = _builtin.guess_type("f" + ext, strict=False)
        media = guessed if guessed and encoding is None else DEFAULT_TYPE
    if media.startswith("text/") or media in _TEXTUAL:
        return media + "; charset=utf-8"
    return media


@functools.cache  # a few dozen distinct values, asked on every request
def is_compressible(content_type: str) -> bool:
    """True when gzip or brotli shrink bodies of this type noticeably."""
    media = content_type.partition(";")[0]
    return media.startswith("text/") or media in _COMPRESSIBLE


def is_fingerprinted(path: str) -> bool:
    """True when the file name carries a content hash, so its bytes never change."""
    parts = posixpath.basename(path).split(".")
    if len(parts) > 1:
        parts.pop()  # the extension
    if posixpath.basename(posixpath.dirname(path)) == "assets" and _is_rollup_hash(parts[0]):
        return True
    return any(_is_hash(part.rpartition("-")[2]) for part in parts)


def _is_rollup_hash(stem: str) -> bool:
    """Vite names its outputs ``assets/<name>-<8 chars of base64url>``: the hash may hold
    ``-`` and ``_`` itself, and is often letters only (``index-DiwrgTda``), so this
    looser test is kept to Vite's ``assets`` folder."""
    token = stem[-8:]
    if len(stem) < 10 or stem[-9] != "-" or not _ROLLUP.fullmatch(token):
        return False
    return _class_changes(token) >= 3 or (
        any(c.isdigit() for c in token) and _class_changes(token) >= 2
    )


def _is_hash(token: str) -> bool:
    digits = sum(c.isdigit() for c in token)
    letters = len(token) - digits - token.count("_")
    if _HEX.fullmatch(token):
        # "20240101" is a date, "deadbeef" and "cafe2024" are words
        return digits > 0 and letters > 0 and _class_changes(token) >= 2
    if _BASE32.fullmatch(token):
        return digits >= 2 and letters >= 2
    if _BASE64URL.fullmatch(token):
        # random base64 switches between cases and digits often; "MyButton",
        # "photo_01" and "iPhone12" do not
        return _class_changes(token) >= len(token) // 2
    return False


def _class_changes(token: str) -> int:
    kinds = [
        "d" if c.isdigit() else "u" if c.isupper() else "l" if c.islower() else "s" for c in token
    ]
    return sum(a != b for a, b in itertools.pairwise(kinds))
