"""The FeedbackBook through the API: sources in, one row per problem, resolution, SSE out."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from previewd.feedback.book import feedback_topic
from previewd.previews.instance import Crash
from previewd.server import Previewd
from previewd.store import Deployment
from previewd.store.models import Conversation, Job
from tests.support import TOKEN

pytestmark = pytest.mark.anyio
PAGE = "<html><head></head><body>{}</body></html>"


async def deploy(api: httpx.AsyncClient, body: str = "x", alias: str | None = None) -> str:
    params = {"wait": "true", **({"alias": alias} if alias else {})}
    files = {"files": {"index.html": PAGE.format(body)}}
    answer = await api.post("/projects/shop/deployments", params=params, json=files)
    assert answer.json()["status"] == "ready", answer.text
    return str(answer.json()["id"])


def boom(message: str = "boom") -> list[dict[str, Any]]:
    return [{"kind": "console", "message": message, "source": "/app.js", "line": 3, "page": "/"}]


async def listed(api: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    answer = await api.get("/projects/shop/feedback", params=params)
    assert answer.status_code == 200, answer.text
    return list(answer.json())


async def test_sightings_of_one_problem_are_one_row(node: Previewd, api: httpx.AsyncClient) -> None:
    first = await deploy(api)
    node.feedback.console(first, boom())
    node.feedback.console(first, boom())
    node.feedback.console(first, boom("other"))
    await node.feedback.settled()
    rows = await listed(api)
    assert [(r["detail"]["message"], r["count"]) for r in rows] == [("other", 1), ("boom", 2)]
    assert rows[1]["deployment"] == first and rows[1]["conversation"] is None


async def test_a_newer_deployment_resolves_and_a_new_sighting_reopens(
    node: Previewd, api: httpx.AsyncClient
) -> None:
    first = await deploy(api)
    node.feedback.console(first, boom())
    await node.feedback.settled()
    second = await deploy(api, "fixed")
    await node.feedback.settled()
    assert await listed(api) == []
    [resolved] = await listed(api, include_resolved="true")
    assert resolved["resolved_at"] is not None and resolved["deployment"] == first
    node.feedback.console(second, boom())
    await node.feedback.settled()
    [again] = await listed(api)
    assert again["resolved_at"] is None and again["count"] == 2 and again["deployment"] == second


async def test_a_failed_build_is_feedback_of_its_conversation(
    node: Previewd, api: httpx.AsyncClient
) -> None:
    await deploy(api, alias="fix-login")
    queued = await api.post(
        "/projects/shop/deployments", params={"alias": "fix-login"}, json={"files": {"a.txt": "x"}}
    )
    failing = queued.json()["id"]

    def job_for(s: Any) -> int:
        d = s.scalar(select(Deployment).where(Deployment.id == failing))
        s.add(Conversation(project_id=d.project_id, name="fix-login"))
        job = Job(kind="build", deployment_seq=d.seq, status="running")
        s.add(job)
        s.flush()
        return int(job.id)

    job_id = await node.db.run(job_for)
    diagnostic = {
        "tool": "vite",
        "message": "Could not resolve './Missing'",
        "file": "src/App.jsx",
        "line": 2,
        "column": 19,
        "excerpt": "import Missing from './Missing'",
        "code": None,
    }
    async with node.broker.subscribe(feedback_topic("shop")) as changes:
        await node.service.fail(job_id, "step client:build exited with status 1", [diagnostic])
        async with asyncio.timeout(10):
            assert (await changes.get())["event"] == "new"
    [row] = await listed(api, conversation="fix-login", kind="build")
    assert row["conversation"] == "fix-login" and row["alias"] == "fix-login"
    assert "src/App.jsx:2:19" in row["text"] and "import Missing" in row["text"]
    assert await listed(api, conversation="other") == []
    assert await listed(api, kind="console") == []
    # a later good build of the conversation resolves it
    await deploy(api, "good", alias="fix-login")
    await node.feedback.settled()
    assert await listed(api, conversation="fix-login") == []


async def test_a_crash_is_condensed_from_its_record(node: Previewd, api: httpx.AsyncClient) -> None:
    deployment = await deploy(api)
    crash = Crash(
        at=0.0,
        exit_code=1,
        limit_hit=None,
        message="exited with status 1",
        stderr_tail=(
            "Traceback (most recent call last):",
            '  File "/work/app.py", line 3, in <module>',
            "    import flask_x",
            "ModuleNotFoundError: No module named 'flask_x'",
        ),
        uptime_s=0.2,
        during_start=True,
    )
    node.feedback.crash(deployment, crash)
    node.feedback.crash(deployment, crash)
    await node.feedback.settled()
    [row] = await listed(api, kind="crash")
    assert row["count"] == 2
    assert "app.py:3: ModuleNotFoundError: No module named 'flask_x'" in row["text"]


async def test_since_and_bad_filters(node: Previewd, api: httpx.AsyncClient) -> None:
    deployment = await deploy(api)
    node.feedback.console(deployment, boom())
    await node.feedback.settled()
    [row] = await listed(api)
    assert await listed(api, since=row["last_seen"]) != []
    assert await listed(api, since="2999-01-01T00:00:00Z") == []
    bad_kind = await api.get("/projects/shop/feedback", params={"kind": "weird"})
    assert bad_kind.status_code == 422
    bad_name = await api.get("/projects/shop/feedback", params={"conversation": "Bad Name"})
    assert bad_name.status_code == 400 and bad_name.json()["error"]["code"] == "invalid_name"
    missing = await api.get("/projects/nope/feedback")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "project_not_found"
    stream = await api.get("/projects/nope/feedback/stream")
    assert stream.status_code == 404


async def test_the_stream_carries_each_change(node: Previewd, api: httpx.AsyncClient) -> None:
    deployment = await deploy(api)
    headers = {"authorization": f"Bearer {TOKEN}"}
    async with (
        httpx.AsyncClient(base_url=node.api_url, headers=headers) as http,
        http.stream("GET", "/api/v1/projects/shop/feedback/stream") as stream,
    ):
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.aiter_lines()
        assert await anext(lines) == ": following"
        node.feedback.console(deployment, boom())
        node.feedback.console(deployment, boom())
        events = []
        async with asyncio.timeout(10):
            async for line in lines:
                if line.startswith("event: "):
                    events.append(line[7:])
                elif line.startswith("data: "):
                    events.append(json.loads(line[6:])["count"])
                if len(events) == 4:
                    break
    assert events == ["new", 1, "seen", 2]
