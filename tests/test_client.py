"""The Python SDK against a real node: uploads only what the server lacks."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest

from previewd import AsyncClient, Client
from previewd.errors import ApiError, PreviewdError, Unavailable
from previewd.schemas import FeedbackView
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


async def test_async_client_has_the_same_surface(node, edge: EdgeClient, tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<h1>async</h1>")
    sent: list[tuple[int, int]] = []
    async with AsyncClient(node.api_url, TOKEN) as client:
        first = await client.deploy_dir("aio", site, progress=lambda a, b: sent.append((a, b)))
        assert first.status == "ready" and sent == [(14, 14)]
        second = await client.deploy_files("aio", {"more.txt": b"\x01"}, base=first.id)
        assert second.files == 2
        assert set(await client.deployment_files(second.id)) == {"index.html", "more.txt"}
        assert [d.id for d in await client.deployments("aio")] == [second.id, first.id]
        assert [p.name for p in await client.projects()] == ["aio"]
        assert [r async for r in client.logs(second.id)] == [
            r async for r in client.logs(second.id, follow=True)
        ]
        back = await client.rollback("aio")
        assert back.deployment == first.id
        with pytest.raises(ApiError) as caught:
            await client.deployment("1nonexistent")
        assert caught.value.code == "deployment_not_found" and caught.value.status == 404
        await client.delete_project("aio")
        assert await client.projects() == []
    assert (await edge.get("aio")).status_code == 404


async def test_an_unreachable_api_is_explained() -> None:
    async with AsyncClient("http://127.0.0.1:9", "x") as client:
        with pytest.raises(Unavailable) as caught:
            await client.projects()
    assert "cannot reach the previewd API" in caught.value.message
    assert "previewd up" in (caught.value.hint or "")


async def test_feedback_lists_and_streams_a_failed_build(node) -> None:
    async def broken(deployment_id, source, log):
        log.line("build", "stderr", "src/app.js:3:7: error: Unexpected token")
        raise PreviewdError("step build failed with exit status 1")

    node.service.prebuild = None
    node.worker.build = broken
    following = watch_subscriptions(node)
    async with AsyncClient(node.api_url, TOKEN) as client:
        assert (await client.create_project("fb")).deployments == 0
        stream = client.follow_feedback("fb")
        seen: list[tuple[str, FeedbackView]] = []

        async def follow() -> None:
            async for event in stream:
                seen.append(event)
                return

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(follow)
                await following.wait()  # the stream is subscribed: nothing can be missed
                failed = await client.deploy_files("fb", {"index.html": "x"})
        await stream.aclose()  # type: ignore[attr-defined]
        assert failed.status == "failed"
        [(event, problem)] = seen
        assert event == "new" and problem.kind == "build"
        assert problem.deployment == failed.id
        listed = await client.feedback("fb")
        assert [p.id for p in listed] == [problem.id]
        assert "Unexpected token" in listed[0].text
        assert await client.feedback("fb", kind="console") == []

    def sync() -> list[FeedbackView]:
        with Client(node.api_url, TOKEN) as client:
            return client.feedback("fb", conversation=None, include_resolved=True, limit=5)

    assert [p.id for p in await anyio.to_thread.run_sync(sync)] == [problem.id]


def watch_subscriptions(node) -> anyio.Event:
    """An event set when anyone subscribes to the node's feedback (a live stream opened)."""
    subscribed, subscribe = anyio.Event(), node.broker.subscribe

    @asynccontextmanager
    async def spy(topic: str):
        async with subscribe(topic) as queue:
            if topic.startswith("feedback"):
                subscribed.set()
            yield queue

    node.broker.subscribe = spy
    return subscribed


async def test_conversations_and_messages(node, edge: EdgeClient) -> None:
    page = "```html file=index.html\n<h1>from chat</h1>\n```\n"
    async with AsyncClient(node.api_url, TOKEN) as client:
        made = await client.create_conversation("talk", "first")
        assert made["name"] == "first" and made["project"] == "talk"
        reply = await client.send_message("talk", "first", page)
        assert reply["changes"] == {"index.html": "written"}
        assert (await edge.get("first--talk")).text == "<h1>from chat</h1>\n"
        chat = [
            {"role": "user", "content": "make it say hi"},
            {"role": "assistant", "content": page.replace("from chat", "hi")},
        ]
        again = await client.send_message("talk", "first", messages=chat)
        assert again["changes"] == {"index.html": "written"}
        assert (await edge.get("first--talk")).text == "<h1>hi</h1>\n"
        assert [c["name"] for c in await client.conversations("talk")] == ["first"]
        assert (await client.conversation("talk", "first"))["name"] == "first"
        assert len(await client.messages("talk", "first")) >= 2
        prose = await client.send_message("talk", "first", "no code in here")
        assert prose["status"] == "no_edits" and prose["error"]["code"] == "no_edits"
        with pytest.raises(ApiError) as caught:
            await client.send_message("talk", "nobody", page)
        assert caught.value.code == "conversation_not_found"
        with pytest.raises(PreviewdError):
            await client.send_message("talk", "first", "x", messages=chat)
        await client.delete_conversation("talk", "first")
        assert await client.conversations("talk") == []

    def sync() -> dict:
        with Client(node.api_url, TOKEN) as client:
            named = client.create_conversation("talk")
            return client.send_message("talk", named["name"], page)

    assert (await anyio.to_thread.run_sync(sync))["changes"] == {"index.html": "written"}
