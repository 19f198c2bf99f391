"""The Python SDK against a real node: uploads only what the server lacks."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from previewd import Client
from previewd.errors import ApiError
from tests.support import TOKEN, EdgeClient

pytestmark = pytest.mark.anyio


async def test_deploy_dir_uploads_only_changed_files(
    node, edge: EdgeClient, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    (site / "assets").mkdir(parents=True)
    (site / "index.html").write_text("<h1>one</h1>")
    (site / "assets" / "big.js").write_text("x" * 50_000)
    (site / ".git").mkdir()
    (site / ".git" / "HEAD").write_text("ref: main")
    sent: list[tuple[int, int]] = []

    def deploy() -> object:
        with Client(node.api_url, TOKEN) as client:
            return client.deploy_dir("site", site, progress=lambda a, b: sent.append((a, b)))

    first = await anyio.to_thread.run_sync(deploy)
    assert first.status == "ready" and first.files == 2  # .git is left out
    assert sent[-1] == (50_000 + 12, 50_000 + 12)

    sent.clear()
    (site / "index.html").write_text("<h1>two</h1>")
    second = await anyio.to_thread.run_sync(deploy)
    assert sent == [(12, 12)]  # only index.html went over the wire
    assert (await edge.get("site")).text == "<h1>two</h1>"
    assert (await edge.get(f"{second.id}--site", "/assets/big.js")).text == "x" * 50_000


async def test_deploy_files_and_errors(node, edge: EdgeClient) -> None:
    def work() -> tuple[object, object]:
        with Client(node.api_url, TOKEN) as client:
            d = client.deploy_files("mem", {"index.html": "hi", "logo.bin": b"\x00\xff"})
            try:
                client.deployment("1nonexistent")
            except ApiError as exc:
                return d, exc
            raise AssertionError("an unknown deployment must raise")

    deployment, error = await anyio.to_thread.run_sync(work)
    assert deployment.status == "ready"
    assert error.status == 404 and error.code == "deployment_not_found"
    assert (await edge.get("mem", "/logo.bin")).content == b"\x00\xff"
