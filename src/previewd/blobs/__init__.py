"""Content-addressed storage of file contents, keyed by their SHA-256."""

from previewd.blobs.base import BlobStore, is_digest
from previewd.blobs.local import LocalBlobStore

__all__ = ["BlobStore", "LocalBlobStore", "is_digest"]
