"""Apps that misbehave, through the whole loop: API → build → edge → sandboxed server.

Already covered elsewhere (not repeated here): a generic host loopback service
out of reach, memory hog, fork bomb, crash with backoff and a start timeout
at the supervisor (tests/previews/test_supervisor.py); an upstream that never
answers or stalls mid-body, with an in-process upstream (tests/edge/test_proxy.py).

Here the preview is a real Node server in a real sandbox, reached by the real
edge, with short limits set on the running node.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import httpx
import pytest

from previewd.edge.proxy import ProxyLimits
from previewd.server import Previewd
from tests.support import EdgeClient

pytestmark = [pytest.mark.anyio, pytest.mark.sandbox]

# one server, one misbehaviour per path; /closed tells how many answers lost their client
HOSTILE_SERVER = """\
const http = require("http");
const net = require("net");
let closed = 0;

function attempt(options) {
  return new Promise((resolve) => {
    const socket = net.connect(options);
    socket.setTimeout(2000, () => { socket.destroy(); resolve("timeout"); });
    socket.on("connect", () => { socket.destroy(); resolve("connected"); });
    socket.on("error", (err) => resolve(err.code));
  });
}

http.createServer(async (req, res) => {
  res.on("close", () => { if (!res.writableFinished) closed += 1; });
  const url = new URL(req.url, "http://x");
  if (url.pathname === "/probe") {
    const results = {};
    for (const [name, target] of JSON.parse(url.searchParams.get("targets"))) {
      results[name] = await attempt(target);
    }
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify(results));
  } else if (url.pathname === "/slow") {
    setTimeout(() => res.end("too late"), 30000);
  } else if (url.pathname === "/forever") {
    res.writeHead(200, { "content-type": "text/event-stream" });
    let n = 0;
    const timer = setInterval(() => res.write(`data: ${n++}\\n\\n`), 20);
    res.on("close", () => clearInterval(timer));
  } else if (url.pathname === "/stall") {
    res.writeHead(200, { "content-length": "1000" });
    res.write("part");
  } else if (url.pathname === "/closed") {
    res.end(String(closed));
  } else {
    res.end("fine");
  }
}).listen(Number(process.env.PORT), "127.0.0.1");
"""
PACKAGE = json.dumps({"name": "hostile", "private": True, "scripts": {"start": "node server.js"}})


async def deploy(api: httpx.AsyncClient, project: str, files: dict[str, str]) -> dict[str, Any]:
    response = await api.post(
        f"/projects/{project}/deployments",
        json={"files": files},
        params={"wait": True, "timeout": 120},
    )
    assert response.status_code == 201, response.text
    deployment: dict[str, Any] = response.json()
    assert deployment["status"] == "ready", deployment["error"]
    return deployment


async def hostile(api: httpx.AsyncClient, edge: EdgeClient, project: str = "bad") -> None:
    await deploy(api, project, {"package.json": PACKAGE, "server.js": HOSTILE_SERVER})
    assert (await edge.get(project, timeout=30)).text == "fine"


def short_proxy_limits(node: Previewd, **limits: float) -> None:
    """The edge's proxy timeouts, shortened on the running node (no setting names them yet)."""
    node.edge.app.proxy.limits = ProxyLimits(**limits)


async def closed_answers(edge: EdgeClient, project: str, at_least: int) -> int:
    """How many answers the app saw lose their client, once it is ``at_least`` (bounded)."""
    async with asyncio.timeout(10):
        while (count := int((await edge.get(project, "/closed")).text)) < at_least:
            await asyncio.sleep(0.05)
    return count


async def test_preview_cannot_reach_the_api_the_edge_nor_another_preview(
    api: httpx.AsyncClient, edge: EdgeClient, node: Previewd
) -> None:
    victim = await deploy(api, "victim", {"package.json": PACKAGE, "server.js": HOSTILE_SERVER})
    assert (await edge.get("victim", timeout=30)).text == "fine"  # its socket now exists
    assert node.supervisor is not None
    victim_socket = node.supervisor.socket(victim["id"])
    assert victim_socket.is_socket()
    await hostile(api, edge)
    targets = [
        ["api", {"host": "127.0.0.1", "port": node.api_address[1]}],
        ["edge", {"host": "127.0.0.1", "port": node.edge_address[1]}],
        ["victim socket", {"path": str(victim_socket)}],
        ["victim folder", {"path": str(victim_socket.parent.parent / "run" / "http.sock")}],
        # the control: its own port on its own loopback answers
        ["itself", {"host": "127.0.0.1", "port": 8000}],
    ]
    probed = await edge.get("bad", "/probe", params={"targets": json.dumps(targets)}, timeout=30)
    results = probed.json()
    assert results["itself"] == "connected", results
    assert results["api"] == "ECONNREFUSED", results  # its own loopback: nobody listens there
    assert results["edge"] == "ECONNREFUSED", results
    assert results["victim socket"] == "ENOENT", results  # the host's folders are not there
    assert results["victim folder"] == "ENOENT", results
    assert (await edge.get("victim")).text == "fine"


async def test_app_that_never_binds_gets_a_clear_page_after_the_start_timeout(
    api: httpx.AsyncClient, edge: EdgeClient, node: Previewd
) -> None:
    assert node.supervisor is not None
    node.supervisor.config = dataclasses.replace(node.supervisor.config, start_timeout_s=1.0)
    never = "console.log('thinking about it');\nsetInterval(() => {}, 1000);\n"
    deployment = await deploy(api, "lazy", {"package.json": PACKAGE, "server.js": never})
    page = await edge.get("lazy", timeout=30)
    assert page.status_code == 504, (page.status_code, page.text)
    assert "text/html" in page.headers["content-type"]
    assert "did not answer on $PORT within 1 s" in page.text
    info = node.supervisor.info(deployment["id"])
    assert info.state == "crashed" and info.crashes[-1].during_start
    printed = (await api.get(f"/deployments/{deployment['id']}/runtime-logs")).json()
    assert any(line["text"] == "thinking about it" for line in printed), printed


async def test_slow_answer_times_out_and_the_app_keeps_serving(
    api: httpx.AsyncClient, edge: EdgeClient, node: Previewd
) -> None:
    await hostile(api, edge)
    short_proxy_limits(node, header_timeout=0.5)
    page = await edge.get("bad", "/slow", timeout=30)
    assert page.status_code == 504
    assert "did not answer in time" in page.text
    assert await closed_answers(edge, "bad", 1) == 1  # the edge let go of the request
    assert (await edge.get("bad", "/")).text == "fine"


async def test_endless_stream_flows_until_the_client_leaves(
    api: httpx.AsyncClient, edge: EdgeClient, node: Previewd
) -> None:
    await hostile(api, edge)
    short_proxy_limits(node, idle_timeout=0.3)  # events keep coming: never idle
    headers = {"host": f"bad.{edge.domain}"}
    events = 0
    loop = asyncio.get_running_loop()
    began = loop.time()
    async with edge.http.stream("GET", "/forever", headers=headers, timeout=10) as streamed:
        assert streamed.status_code == 200
        assert streamed.headers["transfer-encoding"] == "chunked"
        async for line in streamed.aiter_lines():
            events += line.startswith("data: ")
            if loop.time() - began > 1.0:  # past the idle timeout, still flowing
                break
    assert events >= 10
    assert await closed_answers(edge, "bad", 1) == 1  # the stream ended when the client left


async def test_stalled_stream_is_cut_after_the_idle_timeout(
    api: httpx.AsyncClient, edge: EdgeClient, node: Previewd
) -> None:
    await hostile(api, edge)
    short_proxy_limits(node, idle_timeout=0.3)
    headers = {"host": f"bad.{edge.domain}"}
    with pytest.raises(httpx.RemoteProtocolError):  # 4 of 1,000 bytes, then the edge hangs up
        async with edge.http.stream("GET", "/stall", headers=headers, timeout=10) as streamed:
            assert streamed.status_code == 200
            await streamed.aread()
    assert await closed_answers(edge, "bad", 1) == 1
    assert (await edge.get("bad", "/")).text == "fine"
