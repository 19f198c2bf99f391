"""Helpers for edge tests: a handle on a started edge, a raw HTTP client, small utilities."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from previewd.edge import EdgeServer

PAGE = b"<!doctype html><title>shop</title><h1>Hello</h1>" + b"<p>lorem ipsum</p>" * 100


@dataclass
class Edge:
    server: EdgeServer
    host: str
    port: int
    raws: list[Raw] = field(default_factory=list)

    def client(self, host: str = "shop.localhost", **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=f"http://{self.host}:{self.port}", headers={"Host": host}, **kwargs
        )

    async def connect(self) -> Raw:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        raw = Raw(reader, writer)
        self.raws.append(raw)  # closed by the start_edge fixture
        return raw


@dataclass
class Response:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes


class Raw:
    """A raw HTTP/1.1 connection: send bytes, read answers one at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def response(self, *, head: bool = False, timeout: float = 5.0) -> Response:
        """Read one response; its body by Content-Length (none for HEAD and 304)."""
        block = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), timeout)
        status_line, *lines = block.decode("latin-1").split("\r\n")[:-2]
        _, status, reason = status_line.split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines:
            name, _, value = line.partition(":")
            assert name.lower() not in headers, f"duplicate header {name}"
            headers[name.lower()] = value.strip()
        length = 0 if head or status == "304" else int(headers.get("content-length", "0"))
        body = await asyncio.wait_for(self.reader.readexactly(length), timeout)
        return Response(int(status), reason, headers, body)

    async def closed(self, timeout: float = 5.0) -> bool:
        """Wait until the server closes the connection; True if it did (EOF or reset)."""
        try:
            rest = await asyncio.wait_for(self.reader.read(), timeout)
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False
        return rest == b""

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


def get(path: str = "/", host: str = "shop.localhost", *headers: str) -> bytes:
    """A GET request as bytes, with extra header lines."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", *headers, "", ""]
    return "\r\n".join(lines).encode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``condition()`` holds, checking on every loop turn for up to ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


async def settled(value: Callable[[], int], interval: float = 0.05, checks: int = 3) -> int:
    """Wait until ``value()`` stops changing (the same over ``checks`` polls); return it."""
    last, same = value(), 0
    for _ in range(200):
        await asyncio.sleep(interval)
        current = value()
        same = same + 1 if current == last else 0
        if same >= checks:
            return current
        last = current
    raise AssertionError("value kept changing")
