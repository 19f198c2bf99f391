"""What the preview tests share: bundles from dicts, apps, an HTTP client over a unix socket."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx

from previewd.blobs.local import LocalBlobStore
from previewd.build.result import ServerBundle
from previewd.runtimes.base import DEFAULT_ENV
from tests.builds.helpers import Content, snapshot

#: a stdlib HTTP server on $PORT; ``handle(path) -> str`` is prepended by each test
PYTHON_SERVER = """
import http.server, os, sys

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = handle(self.path).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
print("listening on", os.environ["PORT"], flush=True)
server.serve_forever()
"""

HELLO = 'def handle(path):\n    return "hello from python on " + os.environ["PORT"]\n'


def python_app(handler: str = HELLO, prelude: str = "import os\n") -> str:
    return prelude + handler + PYTHON_SERVER


def bundle(
    blobs: LocalBlobStore,
    files: Mapping[str, Content],
    start: tuple[str, ...] = ("python3", "app.py"),
    runtime: str = "python",
) -> ServerBundle:
    return ServerBundle(
        files=snapshot(blobs, files),
        deps=None,
        start=start,
        port_env="PORT",
        env={"PATH": DEFAULT_ENV["PATH"]},
        runtime=runtime,
        dir=".",
    )


def client(socket: Path) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(uds=str(socket))
    return httpx.AsyncClient(transport=transport, base_url="http://preview", timeout=10)


async def get(socket: Path, path: str = "/") -> httpx.Response:
    async with client(socket) as http:
        return await http.get(path)


async def wait_for(condition: Callable[[], bool], timeout: float = 10) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)
