"""Real sandboxes for the preview server tests: bubblewrap, cgroup v1, short timings."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from previewd.blobs.local import LocalBlobStore


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def root() -> Iterator[Path]:
    """A short path: unix socket paths must fit in 107 bytes."""
    path = Path(tempfile.mkdtemp(prefix="pv-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def blobs(root: Path) -> LocalBlobStore:
    return LocalBlobStore(root / "blobs")
