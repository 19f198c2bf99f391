"""A node's life: what it serves survives a restart, and it is served from the first request."""

from __future__ import annotations

import httpx
import pytest

from previewd.changeset import Changeset, FileSpec
from previewd.config import Config
from previewd.server import Previewd, ensure_token

pytestmark = pytest.mark.anyio


async def test_previews_survive_a_restart(config: Config) -> None:
    first = Previewd(config)
    await first.start()
    try:
        digest = first.blobs.put(b"kept")
        changes = Changeset(files={"index.html": FileSpec(digest, 4, 0o644)}, deletes=set())
        deployment_id = await first.service.deploy("keep", changes)
        await first.service.wait(deployment_id)
    finally:
        await first.stop()

    second = Previewd(config)
    await second.start()
    try:
        port = second.edge_address[1]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for host in ("keep.localhost", f"{deployment_id}--keep.localhost"):
                response = await http.get("/", headers={"host": host})
                assert (response.status_code, response.text) == (200, "kept")
    finally:
        await second.stop()


def test_the_token_is_made_once_and_private(tmp_path) -> None:
    config = Config(data_dir=tmp_path)
    token = ensure_token(config)
    assert len(token) >= 32
    assert ensure_token(config) == token
    assert config.token_file.stat().st_mode & 0o777 == 0o600
