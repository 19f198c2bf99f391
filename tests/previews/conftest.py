"""Real sandboxes for the preview server tests: bubblewrap, cgroup v1, short timings."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from previewd.blobs.local import LocalBlobStore
from previewd.runtimes import cgroups
from previewd.runtimes.base import ResourceLimits
from previewd.runtimes.bubblewrap import BubblewrapRuntime


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def bubblewrap() -> BubblewrapRuntime:
    runtime = BubblewrapRuntime()
    runtime.check()  # fails loudly (with the apt-get hint) rather than skipping
    return runtime


@pytest.fixture(autouse=True)
def groups_removed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[cgroups.Cgroup]]:
    """Every cgroup a test makes must be gone when it ends."""
    made: list[cgroups.Cgroup] = []
    create = cgroups.Cgroup.create

    def spy(name: str, limits: ResourceLimits) -> cgroups.Cgroup:
        group = create(name, limits)
        made.append(group)
        return group

    monkeypatch.setattr(cgroups.Cgroup, "create", spy)
    yield made
    left = [path for group in made for path in group.dirs.values() if path.exists()]
    assert not left, f"cgroups left behind: {left}"


@pytest.fixture
def root() -> Iterator[Path]:
    """A short path: unix socket paths must fit in 107 bytes."""
    path = Path(tempfile.mkdtemp(prefix="pv-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def blobs(root: Path) -> LocalBlobStore:
    return LocalBlobStore(root / "blobs")
