"""Real sandboxes for the runtime tests: bubblewrap, cgroup v1, short limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.runtimes.helpers import Lines


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def lines() -> Lines:
    return Lines()
