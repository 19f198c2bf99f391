"""The MCP server as an agent uses it: the mcp SDK's own client spawns `previewd mcp`
over stdio (and connects over streamable HTTP), pointed at a real node."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from previewd.errors import PreviewdError
from tests.support import TOKEN, EdgeClient

pytestmark = pytest.mark.anyio


def environment(node: Any) -> dict[str, str]:
    return {"PREVIEWD_API_URL": node.api_url, "PREVIEWD_TOKEN": TOKEN}


@pytest.fixture
async def agent(node) -> AsyncIterator[Client]:
    """An MCP client session with `python -m previewd mcp` as its stdio subprocess."""
    server = StdioServerParameters(
        command=sys.executable, args=["-m", "previewd", "mcp"], env=environment(node)
    )
    async with Client(server, read_timeout_seconds=120) as client:
        yield client


async def call(agent: Client, tool: str, **arguments: Any) -> Any:
    result = await agent.call_tool(tool, arguments)
    assert not result.is_error, result.content
    if result.structured_content is not None:
        content = result.structured_content
        return content.get("result", content) if set(content) == {"result"} else content
    return result.content[0].text  # type: ignore[union-attr]


async def failure(agent: Client, tool: str, **arguments: Any) -> str:
    result = await agent.call_tool(tool, arguments)
    assert result.is_error
    return result.content[0].text  # type: ignore[union-attr]


async def fetch(edge: EdgeClient, url: str) -> str:
    """A printed preview URL, through the edge by Host (the test has no *.localhost resolver)."""
    match = re.match(r"https?://([^./:]+)\.[^/]*(/.*)", url)
    assert match, url
    response = await edge.get(match[1], match[2])
    return response.text if response.status_code == 200 else f"HTTP {response.status_code}"


async def test_the_tools_and_what_they_promise(agent: Client) -> None:
    tools = {tool.name: tool for tool in (await agent.list_tools()).tools}
    assert set(tools) == {
        "create_preview",
        "send_message",
        "get_status",
        "get_logs",
        "get_feedback",
        "rollback",
        "destroy",
    }
    read_only = {
        name for name, t in tools.items() if t.annotations and t.annotations.read_only_hint
    }
    assert read_only == {"get_status", "get_logs", "get_feedback"}
    assert tools["destroy"].annotations and tools["destroy"].annotations.destructive_hint
    assert "files" in tools["create_preview"].input_schema["properties"]


async def test_preview_from_files_status_logs_rollback_destroy(
    agent: Client, edge: EdgeClient
) -> None:
    first = await call(
        agent, "create_preview", files={"index.html": "<h1>one</h1>"}, project="demo"
    )
    assert first["status"] == "ready" and first["project"] == "demo"
    assert await fetch(edge, first["url"]) == "<h1>one</h1>"
    assert await fetch(edge, first["permanent_url"]) == "<h1>one</h1>"

    second = await call(
        agent, "create_preview", files={"about.html": "about"}, project="demo", base="latest"
    )
    assert second["files"] == 2  # applied to the first one's files
    assert await fetch(edge, second["url"] + "about.html") == "about"

    status = await call(agent, "get_status", project="demo", deployment=second["deployment"])
    assert status["status"] == "ready" and status["url"] == second["url"]
    overview = await call(agent, "get_status", project="demo")
    assert [d["deployment"] for d in overview["deployments"]] == [
        second["deployment"],
        first["deployment"],
    ]
    assert isinstance(await call(agent, "get_logs", deployment=second["deployment"]), str)

    moved = await call(agent, "rollback", project="demo")
    assert moved["deployment"] == first["deployment"]
    assert await fetch(edge, first["url"] + "about.html") == "HTTP 404"

    refused = await failure(agent, "destroy", project="other", deployment=second["deployment"])
    assert "belongs to demo" in refused
    removed = await call(agent, "destroy", project="demo", deployment=second["deployment"])
    assert second["deployment"] in removed
    assert await fetch(edge, second["permanent_url"]) == "HTTP 404"
    assert "exactly one" in await failure(agent, "destroy", project="demo")


async def test_errors_reach_the_model_with_their_hint(agent: Client) -> None:
    escape = await failure(agent, "create_preview", files={"../up.html": "x"}, project="demo")
    assert "up.html" in escape
    unknown = await failure(agent, "get_status", project="demo", deployment="1zzzzzzzzzzz")
    assert "1zzzzzzzzzzz" in unknown


async def test_failed_build_errors_logs_and_feedback(agent: Client, node) -> None:
    async def broken(deployment_id, source, log):
        log.line("build", "stderr", "src/app.js:3:7: error: Unexpected token")
        raise PreviewdError("step build failed with exit status 1")

    node.service.prebuild = None
    node.worker.build = broken
    failed = await call(agent, "create_preview", files={"index.html": "x"}, project="demo")
    assert failed["status"] == "failed" and "exit status 1" in failed["error"]
    log = await call(agent, "get_logs", deployment=failed["deployment"], lines=1)
    assert log.splitlines()[-1].startswith("build failed")
    assert "earlier lines left out" in log
    with anyio.fail_after(30):
        feedback = await call(agent, "get_feedback", project="demo")
    [problem] = feedback["problems"]
    assert problem["kind"] == "build" and "Unexpected token" in problem["text"]


async def test_a_chat_message_applied_to_a_new_conversation(
    agent: Client, edge: EdgeClient
) -> None:
    message = "Here it is:\n\n```html file=index.html\n<h1>from the agent</h1>\n```\n"
    reply = await call(agent, "send_message", project="talk", conversation="c1", content=message)
    assert reply["changes"] == {"index.html": "written"}
    assert await fetch(edge, reply["url"]) == "<h1>from the agent</h1>\n"
    status = await call(agent, "get_status", project="talk", conversation="c1")
    assert status["name"] == "c1"
    assert (
        "no edits"
        in (
            await failure(agent, "send_message", project="talk", conversation="c1", content="hello")
        ).lower()
    )
    assert (
        await call(agent, "destroy", project="talk", conversation="c1") == "removed conversation c1"
    )


async def test_streamable_http(node, edge: EdgeClient) -> None:
    process = await anyio.open_process(
        [sys.executable, "-m", "previewd", "mcp", "--http", "--port", "0"],
        env={**os.environ, **environment(node)},
        stdout=subprocess.DEVNULL,
    )
    try:
        assert process.stderr is not None
        seen = b""
        with anyio.fail_after(30):
            while not (found := re.search(rb"MCP\s+(http://\S+)", seen)):
                seen += await process.stderr.receive()
        async with Client(found[1].decode()) as agent:
            made = await call(agent, "create_preview", files={"index.html": "over http"})
            assert await fetch(edge, made["url"]) == "over http"
    finally:
        process.terminate()
        await process.wait()
        await process.aclose()
