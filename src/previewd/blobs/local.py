"""Blobs as files in a directory: ``<root>/ab/cdef…``, written once, atomically."""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from previewd.blobs.base import is_digest
from previewd.errors import BlobNotFound, InvalidContent, LimitExceeded

_CHUNK = 1024 * 1024


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root / "tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        if not is_digest(digest):
            raise InvalidContent(f"{digest!r} is not a SHA-256 digest (64 lowercase hex digits).")
        return self.root / digest[:2] / digest[2:]

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        if not self.has(digest):
            self.put_stream(io.BytesIO(data), max_bytes=len(data))
        return digest

    def put_stream(self, stream: BinaryIO, *, max_bytes: int) -> tuple[str, int]:
        hasher = hashlib.sha256()
        fd, name = tempfile.mkstemp(dir=self._tmp)
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(_CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise LimitExceeded(
                            f"content is larger than the limit of {max_bytes} bytes"
                        )
                    hasher.update(chunk)
                    out.write(chunk)
            digest = hasher.hexdigest()
            self._place(Path(name), digest)
        finally:
            Path(name).unlink(missing_ok=True)
        return digest, size

    def put_verified(self, digest: str, stream: BinaryIO, *, max_bytes: int) -> int:
        """Store an upload that claims to be ``digest``; refuse it if it is not."""
        self.path(digest)  # validates the name before any byte is written
        actual, size = self.put_stream(stream, max_bytes=max_bytes)
        if actual != digest:
            raise InvalidContent(
                f"the uploaded bytes hash to {actual}, not {digest}",
                hint="Send the bytes whose SHA-256 is the digest in the URL.",
            )
        return size

    def read(self, digest: str) -> bytes:
        try:
            return self.path(digest).read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(f"no blob {digest}") from None

    def open(self, digest: str) -> BinaryIO:
        try:
            return self.path(digest).open("rb")
        except FileNotFoundError:
            raise BlobNotFound(f"no blob {digest}") from None

    def size(self, digest: str) -> int:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            raise BlobNotFound(f"no blob {digest}") from None

    def _place(self, tmp: Path, digest: str) -> None:
        # Blobs are immutable: once a name exists its bytes are right, so a
        # racing writer of the same content can simply lose.
        target = self.path(digest)
        if target.exists():
            return
        target.parent.mkdir(exist_ok=True)
        os.chmod(tmp, 0o444)
        os.replace(tmp, target)
