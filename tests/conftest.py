"""Fixtures shared by the whole suite: a real previewd node on free ports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from previewd.config import Config
from previewd.server import Previewd
from tests.support import TOKEN, EdgeClient

# bubblewrap and groups_removed (autouse: no test may leave a cgroup behind)
pytest_plugins = ["tests.sandboxes"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config(
        data_dir=tmp_path / "data", api_port=0, edge_port=0, token=TOKEN, log_level="warning"
    )


@pytest.fixture
async def node(config: Config) -> AsyncIterator[Previewd]:
    """API, edge, route sync and worker, started for real on free ports."""
    previewd = Previewd(config)
    await previewd.start()
    try:
        yield previewd
    finally:
        await previewd.stop()


@pytest.fixture
async def api(node: Previewd) -> AsyncIterator[httpx.AsyncClient]:
    """The node's API in-process (no socket), authenticated."""
    assert node.app is not None
    transport = httpx.ASGITransport(app=node.app)
    headers = {"authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://api/api/v1", headers=headers
    ) as client:
        yield client


@pytest.fixture
async def edge(node: Previewd) -> AsyncIterator[EdgeClient]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{node.edge_address[1]}") as client:
        yield EdgeClient(client, node.config.preview_domain)
