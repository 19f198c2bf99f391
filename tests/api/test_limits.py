"""Size limits: too many files, too large files or bodies, and archive bombs (413)."""

from __future__ import annotations

import io
import tarfile

import httpx
import pytest

from previewd.config import Config
from tests.support import TOKEN

pytestmark = pytest.mark.anyio


async def deploy_json(api: httpx.AsyncClient, files, project: str = "demo") -> httpx.Response:
    return await api.post(f"/projects/{project}/deployments", json={"files": files})


def error(response: httpx.Response) -> dict:
    return response.json()["error"]


@pytest.fixture
def config(tmp_path) -> Config:
    return Config(
        data_dir=tmp_path / "data",
        api_port=0,
        edge_port=0,
        token=TOKEN,
        log_level="warning",
        max_files=3,
        max_file_bytes=1000,
        max_deployment_bytes=2000,
        max_request_bytes=10_000,
    )


async def test_limits(api) -> None:
    too_many = {f"f{i}.txt": "x" for i in range(4)}
    response = await deploy_json(api, too_many)
    assert response.status_code == 413
    assert "3" in error(response)["message"]
    response = await deploy_json(api, {"big.bin": "x" * 1001})
    assert response.status_code == 413
    assert "big.bin" in error(response)["message"]
    response = await deploy_json(api, {"a": "x" * 900, "b": "y" * 900, "c": "z" * 900})
    assert response.status_code == 413
    response = await api.post(
        "/projects/demo/deployments",
        content=b"x" * 20_000,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert "PREVIEWD_MAX_REQUEST_BYTES" in error(response)["hint"]
    assert (await api.get("/projects/demo")).status_code == 404


async def test_limits_hold_across_a_changeset_on_a_base(api) -> None:
    ok = await api.post(
        "/projects/demo/deployments",
        json={"files": {"a": "1", "b": "2", "c": "3"}},
        params={"wait": True},
    )
    assert ok.status_code == 201
    more = await api.post(
        "/projects/demo/deployments", json={"files": {"d": "4"}, "base": "latest"}
    )
    assert more.status_code == 413
    assert "4 files" in error(more)["message"]


async def test_gzip_bomb_is_stopped(api, node) -> None:
    import gzip

    payload = gzip.compress(b"\0" * 5_000_000)  # 5 MB of zeros in ~5 KB
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("zeros.bin")
        info.size = 5_000_000
        tar.addfile(info, io.BytesIO(b"\0" * 5_000_000))
    payload = gzip.compress(buffer.getvalue())
    assert len(payload) < 10_000
    response = await api.post(
        "/projects/demo/deployments", content=payload, headers={"content-type": "application/gzip"}
    )
    assert response.status_code == 413
    assert (await api.get("/projects/demo")).status_code == 404
