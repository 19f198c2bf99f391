"""Content negotiation and compression: which encoding a client takes, and making it.

Compressed variants are made once per blob and encoding and then served from
memory (see :mod:`previewd.edge.files`); settings are fixed per encoding so a
variant's bytes, and therefore its ETag ``"<digest>-<encoding>"``, never change.
"""

from __future__ import annotations

import gzip

import brotli

MIN_SIZE = 1024  # below this, headers outweigh the saving
# Brotli quality 5 compresses about as well as gzip -9 at gzip -6 speed
# (~20 MB/s here); 11 is 30x slower for a few percent.
BROTLI_QUALITY = 5
GZIP_LEVEL = 6
# Keep a variant only when it saves this fraction of the identity size.
MIN_SAVING = 0.05

_MEMO_LIMIT = 512
_memo: dict[bytes, tuple[str, ...]] = {}


def negotiate(accept_encoding: bytes) -> tuple[str, ...]:
    """The encodings we offer that ``Accept-Encoding`` accepts, best first.

    Higher q-values win; at equal q, ``br`` beats ``gzip``. ``q=0`` refuses an
    encoding, ``*`` stands for those not named. Memoised: browsers send a
    handful of distinct values.
    """
    found = _memo.get(accept_encoding)
    if found is None:
        found = _parse(accept_encoding)
        if len(_memo) >= _MEMO_LIMIT:
            _memo.clear()
        _memo[accept_encoding] = found
    return found


def _parse(header: bytes) -> tuple[str, ...]:
    weights: dict[str, float] = {}
    star: float | None = None
    for item in header.decode("latin-1").lower().split(","):
        coding, _, params = item.partition(";")
        coding = coding.strip()
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    q = min(max(float(value.strip()), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        if coding == "x-gzip":
            coding = "gzip"
        if coding == "*":
            star = q
        elif coding in ("br", "gzip"):
            weights[coding] = max(q, weights.get(coding, 0.0))
    if star is not None:
        for coding in ("br", "gzip"):
            weights.setdefault(coding, star)
    ranked = sorted(
        (coding for coding, q in weights.items() if q > 0),
        key=lambda coding: (-weights[coding], coding != "br"),
    )
    return tuple(ranked)


def compress(data: bytes, encoding: str) -> bytes:
    """``data`` in ``encoding`` ("br" or "gzip"), deterministic for the same input."""
    if encoding == "br":
        return bytes(brotli.compress(data, quality=BROTLI_QUALITY))
    if encoding == "gzip":
        return gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)
    raise ValueError(f"unknown encoding {encoding!r}")


def worth_it(compressed: bytes, original_size: int) -> bool:
    return len(compressed) <= original_size * (1 - MIN_SAVING)
