"""Bad input through the API: a clear 4xx naming the problem, and nothing recorded."""

from __future__ import annotations

import io
import tarfile

import httpx
import pytest

from previewd.server import Previewd
from tests.support import TOKEN

pytestmark = pytest.mark.anyio


async def deploy_json(api: httpx.AsyncClient, files, project: str = "demo") -> httpx.Response:
    return await api.post(f"/projects/{project}/deployments", json={"files": files})


def error(response: httpx.Response) -> dict:
    return response.json()["error"]


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("../escape.html", ".."),
        ("/etc/passwd", "absolute"),
        ("C:\\win.html", "drive"),
        ("a\\b.html", "backslash"),
        ("nul\x00.html", "control"),
        ("bell\x07.html", "control"),
        ("a//b.html", "empty"),
        (".git/config", ".git"),
    ],
)
async def test_hostile_paths_are_refused_and_nothing_is_recorded(api, edge, path, reason) -> None:
    good = (
        await api.post(
            "/projects/demo/deployments",
            json={"files": {"index.html": "ok"}},
            params={"wait": True},
        )
    ).json()
    response = await deploy_json(api, {"index.html": "evil", path: "x"})
    assert response.status_code == 400
    assert error(response)["code"] == "invalid_path"
    assert reason in error(response)["message"].lower() or reason in error(response)["message"]
    assert repr(path)[1:-1] in error(response)["message"]
    listed = (await api.get("/projects/demo/deployments")).json()
    assert [d["id"] for d in listed] == [good["id"]]
    assert (await edge.get("demo")).text == "ok"


async def test_duplicate_and_case_only_collisions(api) -> None:
    response = await deploy_json(api, {"Index.html": "a", "index.html": "b"})
    assert response.status_code == 400
    assert "Index.html" in error(response)["message"]
    assert "index.html" in error(response)["message"]


async def test_case_collision_with_the_base_snapshot(api) -> None:
    await api.post(
        "/projects/demo/deployments", json={"files": {"README.md": "a"}}, params={"wait": True}
    )
    body = {"files": {"readme.md": "b"}, "base": "latest"}
    response = await api.post("/projects/demo/deployments", json=body)
    assert response.status_code == 400
    assert "readme.md" in error(response)["message"]


async def test_archive_with_a_symlink_is_refused(api) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        link = tarfile.TarInfo("evil")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tar.addfile(link)
    response = await api.post(
        "/projects/demo/deployments",
        content=buffer.getvalue(),
        headers={"content-type": "application/x-tar"},
    )
    assert response.status_code == 400
    assert error(response)["code"] == "invalid_archive"
    assert "evil" in error(response)["message"]
    assert (await api.get("/projects/demo")).status_code == 404


@pytest.mark.parametrize("name", ["Demo", "-x", "x-", "a--b", "1abc", "a" * 41, "a.b", "ü"])
async def test_invalid_project_names(api, name) -> None:
    response = await deploy_json(api, {"index.html": "x"}, project=name)
    assert response.status_code == 400
    assert error(response)["code"] == "invalid_name"
    assert repr(name) in error(response)["message"]


async def test_invalid_alias_name(api) -> None:
    response = await api.post(
        "/projects/demo/deployments", json={"files": {"a": "b"}}, params={"alias": "1abc"}
    )
    assert response.status_code == 400
    assert "'1abc'" in error(response)["message"]


async def test_unknown_things_are_404_with_a_hint(api) -> None:
    for url, code in [
        ("/deployments/1aaaaaaaaaaa", "deployment_not_found"),
        ("/projects/nope", "project_not_found"),
        ("/projects/nope/deployments", "project_not_found"),
    ]:
        response = await api.get(url)
        assert response.status_code == 404
        assert error(response)["code"] == code
        assert error(response)["hint"]
    response = await api.post("/projects/nope/rollback", json={})
    assert response.status_code == 404


async def test_unknown_base_is_refused(api) -> None:
    body = {"files": {"a.html": "x"}, "base": "9zzzzzzzzzzz"}
    response = await api.post("/projects/demo/deployments", json=body)
    assert response.status_code == 404
    assert "9zzzzzzzzzzz" in error(response)["message"]


async def test_deleting_a_missing_file_is_refused(api) -> None:
    await api.post(
        "/projects/demo/deployments", json={"files": {"a.html": "x"}}, params={"wait": True}
    )
    body = {"files": {}, "delete": ["b.html"], "base": "latest"}
    response = await api.post("/projects/demo/deployments", json=body)
    assert response.status_code == 400
    assert "'b.html'" in error(response)["message"]


async def test_malformed_json_and_wrong_media_type(api) -> None:
    response = await api.post(
        "/projects/demo/deployments", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert "not valid JSON" in error(response)["message"]
    response = await api.post(
        "/projects/demo/deployments", content=b"x", headers={"content-type": "text/plain"}
    )
    assert response.status_code == 415
    assert "text/plain" in error(response)["message"]


async def test_blob_whose_bytes_do_not_match_its_digest(api, node) -> None:
    digest = "0" * 64
    response = await api.put(f"/blobs/{digest}", content=b"not zeros")
    assert response.status_code == 400
    assert digest in error(response)["message"]
    assert not node.blobs.has(digest)
    response = await api.put("/blobs/../../etc", content=b"x")
    assert response.status_code in (400, 404)
    response = await api.post("/blobs/missing", json={"digests": ["../x"]})
    assert response.status_code == 400


async def test_tokens(node: Previewd) -> None:
    assert node.app is not None
    transport = httpx.ASGITransport(app=node.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api/api/v1") as anonymous:
        assert (await anonymous.get("/health")).status_code == 200
        response = await anonymous.get("/projects")
        assert response.status_code == 401
        assert "token" in error(response)["message"]
        wrong = await anonymous.get("/projects", headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = await anonymous.get("/projects", headers={"authorization": f"Bearer {TOKEN}"})
        assert right.status_code == 200
