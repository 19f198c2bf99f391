"""An MCP server for AI agents (``previewd mcp``), on the official ``mcp`` SDK.

Each tool is one or two SDK calls to a running previewd (``PREVIEWD_API_URL``
and the token, as for the CLI): no logic of its own. Errors come back as tool
errors whose text is previewd's message and hint, so the model can act on
them. Transports: stdio (what desktop clients spawn) and streamable HTTP.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations

from previewd import __version__
from previewd.client import AsyncClient
from previewd.errors import ApiError, PreviewdError
from previewd.schemas import DeploymentView

LOG_LINES = 200  # most log lines a tool answers with: enough to see an error, small for a context

server = MCPServer(
    "previewd",
    version=__version__,
    instructions=(
        "previewd builds code into live preview URLs. Use create_preview for a set of files, "
        "or send_message to apply an assistant message (code blocks, diffs, SEARCH/REPLACE, "
        "patches) to a conversation whose URL always shows its newest good build. When a "
        "build fails or the page errors, get_feedback gives short messages to fix from."
    ),
    log_level="WARNING",
)


@asynccontextmanager
async def previewd() -> AsyncIterator[AsyncClient]:
    """The SDK client; previewd's errors become tool errors the model can read."""
    try:
        async with AsyncClient() as client:
            yield client
    except PreviewdError as exc:
        hint = f" Hint: {exc.hint}" if exc.hint else ""
        raise ToolError(f"{exc.message}.{hint}" if hint else exc.message) from None


def _deployment(d: DeploymentView) -> dict[str, Any]:
    """A deployment as a model needs it: where it is served and what went wrong."""
    result: dict[str, Any] = {
        "deployment": d.id,
        "project": d.project,
        "status": d.status,
        "url": next((a.url for a in d.aliases if a.name == (d.alias or "")), d.url),
        "permanent_url": d.url,
        "files": d.files,
    }
    if d.status == "failed":
        result["error"] = d.error
        result["errors"] = d.errors
    return result


@server.tool(annotations=ToolAnnotations(open_world_hint=False))
async def create_preview(
    files: dict[str, str],
    project: str = "mcp",
    alias: str | None = None,
    base: str | None = None,
    delete: list[str] | None = None,
) -> dict[str, Any]:
    """Build and serve files (path → text content) and answer with the preview URL.

    A static site is served as is; a package.json with a build script, or a
    Flask/FastAPI/Django/Node server, is built and run in a sandbox. With
    ``base`` ("latest" or a deployment id) the files and ``delete`` change that
    deployment's files instead of replacing them. ``alias`` also moves the URL
    <alias>--<project> to it. A failed build answers status "failed" with errors
    (file, line, message) and leaves the last good deployment live.
    """
    async with previewd() as client:
        d = await client.deploy_files(
            project, files, base=base, delete=delete or [], alias=alias, wait=True
        )
        if d.status in ("queued", "building"):
            d = await client.deployment(d.id, wait=True, timeout=600)
    return _deployment(d)


@server.tool(annotations=ToolAnnotations(open_world_hint=False))
async def send_message(
    project: str, conversation: str, content: str, create: bool = True
) -> dict[str, Any]:
    """Apply an assistant chat message to a conversation: previewd extracts its edits
    (fenced files, SEARCH/REPLACE, unified diffs, Codex patches, bolt, v0, Lovable),
    builds, and answers with the files changed, the build status and the URL once it
    serves. ``create`` starts the conversation if it does not exist. A block that
    does not apply is refused with the block named; nothing is changed then."""
    async with previewd() as client:
        try:
            reply = await client.send_message(project, conversation, content, wait=True)
        except ApiError as exc:
            if not create or exc.code != "conversation_not_found":
                raise
            await client.create_conversation(project, conversation)
            reply = await client.send_message(project, conversation, content, wait=True)
    if reply.get("status") in ("no_edits", "refused"):
        error = reply.get("error") or {}
        hint = f" Hint: {error['hint']}" if error.get("hint") else ""
        raise ToolError(f"{error.get('message') or reply['status']}.{hint}")
    return {k: v for k, v in reply.items() if k not in ("blocks", "pending", "head")}


@server.tool(annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False))
async def get_status(
    project: str, deployment: str | None = None, conversation: str | None = None
) -> dict[str, Any]:
    """Where a deployment, a conversation or (with neither) a project stands: status,
    URL, and a failed build's errors."""
    async with previewd() as client:
        if deployment:
            return _deployment(await client.deployment(deployment))
        if conversation:
            return await client.conversation(project, conversation)
        recent = await client.deployments(project)
        return {
            "project": project,
            "deployments": [_deployment(d) for d in recent[:5]],
            "total": len(recent),
        }


@server.tool(annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False))
async def get_logs(deployment: str, runtime: bool = False, lines: int = 100) -> str:
    """The last ``lines`` (at most 200) lines of a deployment's build log, or with
    ``runtime`` of what its app server printed."""
    lines = max(1, min(lines, LOG_LINES))
    async with previewd() as client:
        if runtime:
            text = [f"{r['stream']}: {r['text']}" for r in await client.runtime_logs(deployment)]
        else:
            text = []
            async for r in client.logs(deployment):
                if "text" in r:
                    text.append(f"{r.get('step', '')} {r['stream']}: {r['text']}")
                elif "status" in r:
                    text.append(f"{r.get('step', '')} {r['status']} {r.get('detail', '')}".strip())
    kept = text[-lines:]
    skipped = f"({len(text) - len(kept)} earlier lines left out)\n" if len(text) > len(kept) else ""
    return skipped + "\n".join(kept) if kept else "(no log lines)"


@server.tool(annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False))
async def get_feedback(project: str, conversation: str | None = None) -> dict[str, Any]:
    """Open problems of a project (or one conversation): build errors, crashes, 5xx
    answers and browser console errors, each a short message ready to act on."""
    async with previewd() as client:
        problems = await client.feedback(project, conversation)
    return {
        "problems": [
            {
                "id": p.id,
                "kind": p.kind,
                "count": p.count,
                "deployment": p.deployment,
                "text": p.text,
            }
            for p in problems
        ]
    }


@server.tool(annotations=ToolAnnotations(destructive_hint=True, open_world_hint=False))
async def rollback(project: str, alias: str = "", to: str | None = None) -> dict[str, Any]:
    """Point the project's URL (or ``alias``, e.g. a conversation's name) back at the
    deployment before, or at deployment ``to``, without rebuilding."""
    async with previewd() as client:
        moved = await client.rollback(project, alias=alias, to=to)
    return moved.model_dump()


@server.tool(annotations=ToolAnnotations(destructive_hint=True, open_world_hint=False))
async def destroy(
    project: str, deployment: str | None = None, conversation: str | None = None
) -> str:
    """Remove one deployment (URLs that served it fall back to the one before) or one
    conversation. Whole projects are removed with the CLI, not from a chat."""
    if (deployment is None) == (conversation is None):
        raise ToolError("name exactly one of deployment and conversation to remove")
    async with previewd() as client:
        if deployment:
            found = await client.deployment(deployment)
            if found.project != project:
                raise ToolError(
                    f"deployment {deployment} belongs to {found.project}, not {project}"
                )
            await client.delete_deployment(deployment)
            return f"removed deployment {deployment}"
        assert conversation is not None
        await client.delete_conversation(project, conversation)
        return f"removed conversation {conversation}"


def serve(*, http: bool = False, host: str = "127.0.0.1", port: int = 7702) -> None:
    """Run until stdin closes (stdio) or Ctrl-C (HTTP, at http://host:port/mcp)."""
    import anyio

    if not http:
        server.run("stdio")
        return
    anyio.run(_serve_http, host, port)


async def _serve_http(host: str, port: int) -> None:
    import socket

    import uvicorn

    app = server.streamable_http_app(host=host)
    web = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    # bound here, not by uvicorn, so the URL (port 0 picks one) is known before serving
    sock = socket.create_server((host, port))
    bound_host, bound_port = sock.getsockname()[:2]
    print(f"MCP      http://{bound_host}:{bound_port}/mcp", file=sys.stderr, flush=True)
    await web.serve(sockets=[sock])
