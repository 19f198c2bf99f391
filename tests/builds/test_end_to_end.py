"""The whole loop for an app that needs a build: API → sandboxed build → edge, on a real node."""

from __future__ import annotations

import asyncio
import re

import pytest

from previewd.previews import views
from tests.support import EdgeClient

pytestmark = [pytest.mark.anyio, pytest.mark.sandbox, pytest.mark.network]


async def deploy(api, body: dict) -> dict:
    response = await api.post(
        "/projects/vite/deployments", json=body, params={"wait": True, "timeout": 300}
    )
    assert response.status_code == 201, response.text
    return response.json()


async def asset_text(edge: EdgeClient) -> tuple[str, str]:
    page = await edge.get("vite")
    assert page.status_code == 200
    [script] = re.findall(r'src="(/assets/[^"]+\.js)"', page.text)
    asset = await edge.get("vite", script)
    assert "immutable" in asset.headers["cache-control"]
    return script, asset.text


async def test_vite_app_is_built_in_a_sandbox_and_served(api, edge, node, vite_files) -> None:
    first = await deploy(api, {"files": vite_files})
    assert first["status"] == "ready", first["error"]
    script, text = await asset_text(edge)
    assert "hello from vite" in text
    assert first["spa"] is True  # detection: a Vite app routes in the browser
    deep = await edge.get("vite", "/settings/profile")
    assert deep.status_code == 200 and script in deep.text

    change = {"message.js": 'export const message = "changed in chat";\n'}
    second = await deploy(api, {"files": change, "base": "latest"})
    assert second["status"] == "ready", second["error"]
    new_script, new_text = await asset_text(edge)
    assert "changed in chat" in new_text and new_script != script

    log = (await api.get(f"/deployments/{second['id']}/logs")).json()
    events = {(r["step"], r["status"]) for r in log if "status" in r}
    assert ("client:install", "cached") in events, events
    assert ("client:build", "done") in events, events
    assert log[-1]["end"] == "ready"


async def test_a_build_error_is_reported_and_the_last_good_stays(
    api, edge, node, vite_files
) -> None:
    good = await deploy(api, {"files": vite_files})
    assert good["status"] == "ready", good["error"]
    broken = {"main.js": 'import { message } from "./missing.js";\nconsole.log(message);\n'}
    failed = await deploy(api, {"files": broken, "base": "latest"})
    assert failed["status"] == "failed"
    assert "build" in failed["error"]
    assert any("missing.js" in e["message"] for e in failed["errors"]), failed["errors"]
    _, text = await asset_text(edge)
    assert "hello from vite" in text


async def test_a_flask_app_is_built_and_answers_through_the_edge(api, edge, node) -> None:
    from tests.builds.conftest import FLASK_FILES

    response = await api.post(
        "/projects/flask/deployments",
        json={"files": FLASK_FILES},
        params={"wait": True, "timeout": 300},
    )
    deployment = response.json()
    assert deployment["status"] == "ready", deployment["error"]
    # started on publish, and wait=true answered once it did: no visitor waits for a boot
    assert node.supervisor.info(deployment["id"]).state == "running"
    page = await edge.get("flask", timeout=60)
    assert (page.status_code, page.text) == (200, "hello from flask")
    again = await edge.get(f"{deployment['id']}--flask", "/")
    assert again.text == "hello from flask"
    assert node.supervisor.stats(deployment["id"]) is not None  # running, with cgroup figures
    [preview] = (await api.get("/previews")).json()
    assert (preview["deployment"], preview["state"]) == (deployment["id"], "running")
    assert preview["memory_bytes"] > 0 and preview["crashes"] == []
    assert (preview["instances"], preview["healthy"]) == (1, 1)
    printed = (await api.get(f"/deployments/{deployment['id']}/runtime-logs")).json()
    assert any("GET / HTTP" in line["text"] for line in printed), printed
    static_only = await api.get("/deployments/1zzzzzzzzzzz/runtime-logs")
    assert static_only.status_code == 404
    followed = await api.get("/deployments/1zzzzzzzzzzz/runtime-logs", params={"follow": True})
    assert followed.status_code == 404  # refused before any stream starts
    # followed: the lines kept, then each new one as the app prints it
    lines = views.follow_runtime_logs(node.supervisor, node.broker, deployment["id"])
    kept = [await anext(lines) for _ in printed]
    assert [line["text"] for line in kept] == [line["text"] for line in printed]
    await edge.get("flask", "/followed")
    while "GET /followed" not in (await asyncio.wait_for(anext(lines), 10))["text"]:
        pass
    await lines.aclose()
