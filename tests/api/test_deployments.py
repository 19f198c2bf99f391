"""Deploying through the API (in-process) and reading the result from the edge (real socket)."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import httpx
import pytest

from previewd.server import Previewd
from tests.support import EdgeClient

pytestmark = pytest.mark.anyio

SITE = {"index.html": "<h1>v1</h1>", "about.html": "about", "assets/app.js": "console.log(1)"}


async def deploy(api: httpx.AsyncClient, project: str = "demo", files=SITE, **params) -> dict:
    response = await api.post(
        f"/projects/{project}/deployments", json={"files": files}, params={"wait": True, **params}
    )
    assert response.status_code == 201, response.text
    return response.json()


def blob_count(node: Previewd) -> int:
    root = node.blobs.root
    return sum(1 for p in root.glob("??/*") if p.is_file())


async def test_json_deploy_is_served_at_its_own_and_the_project_url(api, edge: EdgeClient) -> None:
    d = await deploy(api)
    assert d["status"] == "ready"
    assert d["url"].startswith(f"http://{d['id']}--demo.localhost:")
    assert [a["name"] for a in d["aliases"]] == [""]
    for label in (f"{d['id']}--demo", "demo"):
        response = await edge.get(label)
        assert response.status_code == 200
        assert response.text == "<h1>v1</h1>"
    assert (await edge.get("demo", "/assets/app.js")).text == "console.log(1)"


async def test_changing_one_file_stores_one_blob_and_keeps_the_rest(api, edge, node) -> None:
    first = await deploy(api)
    before = blob_count(node)
    second = await deploy(api, files={"index.html": "<h1>v2</h1>"}, base="latest")
    assert blob_count(node) == before + 1
    assert second["files"] == 3
    assert (await edge.get("demo")).text == "<h1>v2</h1>"
    assert (await edge.get("demo", "/about.html")).text == "about"
    assert (await edge.get(f"{first['id']}--demo")).text == "<h1>v1</h1>"  # permanent URLs stay


async def test_delete_in_a_changeset_removes_the_file(api, edge) -> None:
    await deploy(api)
    body = {"files": {}, "delete": ["about.html"], "base": "latest"}
    response = await api.post("/projects/demo/deployments", json=body, params={"wait": True})
    assert response.status_code == 201
    assert response.json()["files"] == 2
    assert (await edge.get("demo", "/about.html")).status_code == 404


async def test_multipart_upload(api, edge) -> None:
    files = [
        ("file", ("index.html", b"<p>multi</p>", "text/html")),
        ("file", ("css/site.css", b"body{}", "text/css")),
    ]
    response = await api.post("/projects/multi/deployments", files=files, params={"wait": True})
    assert response.status_code == 201, response.text
    assert (await edge.get("multi", "/css/site.css")).text == "body{}"


def tar_gz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


async def test_tar_gz_and_zip_uploads(api, edge) -> None:
    body = tar_gz({"index.html": b"from tar"})
    response = await api.post(
        "/projects/tarred/deployments",
        content=body,
        headers={"content-type": "application/gzip"},
        params={"wait": True},
    )
    assert response.status_code == 201, response.text
    assert (await edge.get("tarred")).text == "from tar"

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("index.html", "from zip")
    response = await api.post(
        "/projects/zipped/deployments",
        content=buffer.getvalue(),
        headers={"content-type": "application/zip"},
        params={"wait": True},
    )
    assert response.status_code == 201, response.text
    assert (await edge.get("zipped")).text == "from zip"


async def test_upload_by_digest_after_sending_only_missing_blobs(api, edge) -> None:
    import hashlib

    data = b"<h1>by digest</h1>"
    digest = hashlib.sha256(data).hexdigest()
    missing = (await api.post("/blobs/missing", json={"digests": [digest]})).json()["missing"]
    assert missing == [digest]
    assert (await api.put(f"/blobs/{digest}", content=data)).status_code == 201
    assert (await api.post("/blobs/missing", json={"digests": [digest]})).json()["missing"] == []
    body = {"files": {"index.html": {"digest": digest, "mode": 0o644}}}
    response = await api.post("/projects/digests/deployments", json=body, params={"wait": True})
    assert response.status_code == 201, response.text
    assert (await edge.get("digests")).text == data.decode()


async def test_named_alias_moves_with_its_deployments(api, edge) -> None:
    await deploy(api, files={"index.html": "main"})
    d = await deploy(api, files={"index.html": "feature"}, alias="feature")
    assert sorted(a["name"] for a in d["aliases"]) == ["", "feature"]
    assert (await edge.get("feature--demo")).text == "feature"
    assert (await edge.get("demo")).text == "feature"


async def test_rollback_moves_the_alias_back_and_forward_again(api, edge) -> None:
    v1 = await deploy(api, files={"index.html": "one"})
    v2 = await deploy(api, files={"index.html": "two"})
    response = await api.post("/projects/demo/rollback", json={})
    assert response.status_code == 200
    assert response.json()["deployment"] == v1["id"]
    assert (await edge.get("demo")).text == "one"
    assert (await edge.get(f"{v2['id']}--demo")).text == "two"

    again = await api.post("/projects/demo/rollback", json={})
    assert again.status_code == 409
    assert "no earlier ready deployment" in again.json()["error"]["message"]

    forward = await api.post("/projects/demo/rollback", json={"to": v2["id"]})
    assert forward.status_code == 200
    assert (await edge.get("demo")).text == "two"


async def test_removing_the_served_deployment_falls_back(api, edge) -> None:
    await deploy(api, files={"index.html": "one"})
    v2 = await deploy(api, files={"index.html": "two"})
    assert (await api.delete(f"/deployments/{v2['id']}")).status_code == 204
    assert (await edge.get("demo")).text == "one"
    assert (await edge.get(f"{v2['id']}--demo")).status_code == 404
    missing = await api.get(f"/deployments/{v2['id']}")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "deployment_not_found"


async def test_removing_a_project_removes_every_route(api, edge) -> None:
    d = await deploy(api)
    assert (await api.delete("/projects/demo")).status_code == 204
    for label in ("demo", f"{d['id']}--demo"):
        assert (await edge.get(label)).status_code == 404
    assert (await api.get("/projects/demo")).status_code == 404


async def test_listing_projects_and_deployments(api) -> None:
    first = await deploy(api)
    second = await deploy(api)
    projects = (await api.get("/projects")).json()
    assert [(p["name"], p["current"], p["deployments"]) for p in projects] == [
        ("demo", second["id"], 2)
    ]
    listed = (await api.get("/projects/demo/deployments")).json()
    assert [d["id"] for d in listed] == [second["id"], first["id"]]
    files = (await api.get(f"/deployments/{first['id']}/files")).json()
    assert sorted(files) == sorted(SITE)


async def test_openapi_schema_is_served(api) -> None:
    schema = (await api.get("http://api/openapi.json")).json()
    assert "/api/v1/projects/{name}/deployments" in schema["paths"]


async def test_a_deployment_is_invisible_until_published(api, edge, node) -> None:
    import asyncio

    await deploy(api, files={"index.html": "old"})
    gate = asyncio.Event()
    original = node.worker.build

    async def held_build(deployment_id, source, log):
        await gate.wait()
        return await original(deployment_id, source, log)

    node.service.prebuild = None  # force the queued path a build takes
    node.worker.build = held_build
    queued = (
        await api.post("/projects/demo/deployments", json={"files": {"index.html": "new"}})
    ).json()
    assert queued["status"] in ("queued", "building")
    assert (await edge.get(f"{queued['id']}--demo")).status_code == 404
    assert (await edge.get("demo")).text == "old"
    gate.set()
    done = (await api.get(f"/deployments/{queued['id']}", params={"wait": True})).json()
    assert done["status"] == "ready"
    assert (await edge.get("demo")).text == "new"


async def test_alias_never_moves_back_to_an_older_build(api, edge, node) -> None:
    import asyncio

    gates: dict[str, asyncio.Event] = {}
    original = node.worker.build

    async def gated(deployment_id, source, log):
        await gates.setdefault(deployment_id, asyncio.Event()).wait()
        return await original(deployment_id, source, log)

    node.service.prebuild = None  # force the queued path a build takes
    node.worker.build = gated
    old = (
        await api.post("/projects/demo/deployments", json={"files": {"index.html": "old"}})
    ).json()
    new = (
        await api.post("/projects/demo/deployments", json={"files": {"index.html": "new"}})
    ).json()
    gates.setdefault(new["id"], asyncio.Event()).set()
    await api.get(f"/deployments/{new['id']}", params={"wait": True})
    gates.setdefault(old["id"], asyncio.Event()).set()
    finished = (await api.get(f"/deployments/{old['id']}", params={"wait": True})).json()
    assert finished["status"] == "ready"
    assert finished["aliases"] == []
    assert (await edge.get("demo")).text == "new"
    assert (await edge.get(f"{old['id']}--demo")).text == "old"


async def test_data_stays_inside_the_data_dir(api, node, tmp_path: Path) -> None:
    await deploy(api)
    outside = [p for p in tmp_path.iterdir() if p.name != "data"]
    assert outside == []
