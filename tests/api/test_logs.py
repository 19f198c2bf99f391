"""Build logs: kept per deployment, streamed live over SSE, and a failed build keeps the last good one live."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from previewd.errors import PreviewdError
from previewd.worker import Built
from tests.support import TOKEN

pytestmark = pytest.mark.anyio


async def sse_records(response: httpx.Response) -> list[dict]:
    records = []
    async for line in response.aiter_lines():
        if line.startswith("data: ") and line != "data: {}":
            records.append(json.loads(line[6:]))
    return records


async def test_logs_stream_live_then_stay(api, node) -> None:
    gate = asyncio.Event()

    async def build(deployment_id, source, log):
        log.event("build", "started")
        log.line("build", "stdout", "compiling")
        await gate.wait()
        log.line("build", "stderr", "warning: late line")
        log.event("build", "done", "0.1")
        return Built(source)

    node.service.prebuild = None
    node.worker.build = build
    queued = (await api.post("/projects/demo/deployments", json={"files": {"a.html": "x"}})).json()
    url = f"{node.api_url}/api/v1/deployments/{queued['id']}/logs"
    headers = {"authorization": f"Bearer {TOKEN}"}
    async with (
        httpx.AsyncClient(timeout=10) as http,
        http.stream("GET", url, params={"follow": True}, headers=headers) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        reader = asyncio.create_task(sse_records(response))
        gate.set()
        records = await asyncio.wait_for(reader, 10)
    texts = [r.get("text") for r in records if "text" in r]
    assert texts == ["compiling", "warning: late line"]
    assert records[-1]["end"] == "ready"
    assert [r["n"] for r in records] == list(range(len(records)))

    kept = (await api.get(f"/deployments/{queued['id']}/logs")).json()
    assert kept == records


async def test_failed_build_keeps_the_last_good_deployment_live(api, edge, node) -> None:
    good = await api.post(
        "/projects/demo/deployments", json={"files": {"index.html": "good"}}, params={"wait": True}
    )
    assert good.status_code == 201

    async def broken(deployment_id, source, log):
        for text in (
            "Traceback (most recent call last):",
            '  File "/work/app.py", line 3, in <module>',
            "    print(x)",
            "NameError: name 'x' is not defined",
        ):
            log.line("build", "stderr", text)
        raise PreviewdError("step build failed with exit status 1")

    node.service.prebuild = None
    node.worker.build = broken
    response = await api.post(
        "/projects/demo/deployments", json={"files": {"index.html": "bad"}}, params={"wait": True}
    )
    failed = response.json()
    assert failed["status"] == "failed"
    assert "exit status 1" in failed["error"]
    [error] = failed["errors"]
    assert (error["file"], error["line"], error["tool"]) == ("app.py", 3, "python")
    assert "name 'x' is not defined" in error["message"]
    assert (await edge.get("demo")).text == "good"
    records = (await api.get(f"/deployments/{failed['id']}/logs")).json()
    assert records[-1] == {"end": "failed", "n": len(records) - 1, "t": records[-1]["t"]}
    assert any(r.get("status") == "failed" for r in records)


async def test_logs_of_an_unknown_deployment(api) -> None:
    for follow in (False, True):
        response = await api.get("/deployments/1zzzzzzzzzzz/logs", params={"follow": follow})
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "deployment_not_found"


async def test_a_static_deploy_has_an_empty_complete_log(api) -> None:
    d = (
        await api.post(
            "/projects/demo/deployments", json={"files": {"a.html": "x"}}, params={"wait": True}
        )
    ).json()
    response = await api.get(f"/deployments/{d['id']}/logs", params={"follow": True})
    assert response.status_code == 200
    assert "event: end" in response.text
