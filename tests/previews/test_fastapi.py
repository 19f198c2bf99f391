"""A real FastAPI app through the whole loop: API → build (pip from PyPI, in a sandbox) → edge.

JSON answers and a WebSocket echo of the app itself, both through the edge's
proxy, the unix-socket bridge and the sandbox's own loopback.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from previewd.server import Previewd
from tests.edge.upstream_server import ws_accept, ws_frame, ws_read
from tests.support import EdgeClient

pytestmark = [pytest.mark.anyio, pytest.mark.sandbox, pytest.mark.network]

FASTAPI_APP = """\
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect

app = FastAPI()


@app.get("/")
def index():
    return {"hello": "fastapi"}


@app.get("/items/{item_id}")
def item(item_id: int, request: Request, q: str | None = None):
    return {
        "item_id": item_id,
        "q": q,
        "forwarded_host": request.headers.get("x-forwarded-host"),
    }


@app.websocket("/ws")
async def echo(websocket: WebSocket):
    await websocket.accept()
    try:
        while True:
            text = await websocket.receive_text()
            await websocket.send_text("echo: " + text)
    except WebSocketDisconnect:
        pass
"""
# uvicorn speaks WebSocket through the `websockets` package (or wsproto): it must be there
FASTAPI_FILES = {"requirements.txt": "fastapi\nuvicorn\nwebsockets\n", "main.py": FASTAPI_APP}


async def test_fastapi_app_answers_json_and_echoes_a_websocket_through_the_edge(
    api: httpx.AsyncClient, edge: EdgeClient, node: Previewd
) -> None:
    response = await api.post(
        "/projects/fast/deployments",
        json={"files": FASTAPI_FILES},
        params={"wait": True, "timeout": 300},
    )
    deployment = response.json()
    assert deployment["status"] == "ready", deployment["error"]
    log = (await api.get(f"/deployments/{deployment['id']}/logs")).json()
    assert ("server:install", "done") in {(r["step"], r["status"]) for r in log if "status" in r}

    page = await edge.get("fast", timeout=60)  # the first request wakes the server
    assert page.status_code == 200, page.text
    assert page.headers["content-type"] == "application/json"
    assert page.json() == {"hello": "fastapi"}
    item = await edge.get("fast", "/items/42?q=chat")
    assert item.json() == {"item_id": 42, "q": "chat", "forwarded_host": f"fast.{edge.domain}"}
    invalid = await edge.get("fast", "/items/not-a-number")
    assert invalid.status_code == 422  # FastAPI's own validation answer, passed on as is
    assert invalid.json()["detail"][0]["loc"] == ["path", "item_id"]

    assert node.supervisor is not None
    reader, writer = await asyncio.open_connection(*node.edge_address)
    try:
        key = "dGhlIHNhbXBsZSBub25jZQ=="
        writer.write(
            (
                "GET /ws HTTP/1.1\r\n"
                f"Host: fast.{edge.domain}\r\n"
                "Connection: Upgrade\r\nUpgrade: websocket\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 101 "), head
        assert f"Sec-WebSocket-Accept: {ws_accept(key)}\r\n".encode() in head
        for text in ("hello", "ü" * 40_000):  # a short frame and one past 64 KiB
            writer.write(ws_frame(text.encode(), mask=True))
            opcode, payload = await asyncio.wait_for(ws_read(reader), 10)
            assert (opcode, payload.decode()) == (1, f"echo: {text}")
        assert node.supervisor.info(deployment["id"]).state == "running"
        writer.write(ws_frame(b"\x03\xe8", opcode=8, mask=True))  # close, 1000
        opcode, _ = await asyncio.wait_for(ws_read(reader), 10)
        assert opcode == 8
        assert await asyncio.wait_for(reader.read(), 10) == b""  # the tunnel closes
    finally:
        writer.close()
