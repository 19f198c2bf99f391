"""The seam every blob store implements (local disk today; S3 or an origin pull later)."""

from __future__ import annotations

import re
from typing import BinaryIO, Protocol

_DIGEST = re.compile(r"[0-9a-f]{64}")


def is_digest(value: str) -> bool:
    """True for a lowercase hex SHA-256, the only names blobs have."""
    return _DIGEST.fullmatch(value) is not None


class BlobStore(Protocol):
    """Immutable bytes by SHA-256. Writing what exists already is free."""

    def has(self, digest: str) -> bool: ...

    def put(self, data: bytes) -> str:
        """Store ``data`` and return its digest."""
        ...

    def put_stream(self, stream: BinaryIO, *, max_bytes: int) -> tuple[str, int]:
        """Store what ``stream`` yields (at most ``max_bytes``); return digest and size."""
        ...

    def read(self, digest: str) -> bytes: ...

    def open(self, digest: str) -> BinaryIO: ...

    def size(self, digest: str) -> int: ...
