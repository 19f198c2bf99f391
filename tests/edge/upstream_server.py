"""A small real HTTP/1.1 server for proxy tests: asyncio streams on a unix socket or TCP.

Each request is handed to an ``app(request, writer)`` coroutine; the server
counts connections and keeps what it received, so tests can assert on both.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Received:
    method: str
    target: str
    headers: list[tuple[str, str]]
    reader: asyncio.StreamReader
    body: bytes = b""
    close: bool = False

    def header(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n == name.lower()]

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives (Content-Length or chunked)."""
        length = self.header("content-length")
        if length is not None:
            left = int(length)
            while left:
                chunk = await self.reader.read(min(left, 65536))
                if not chunk:
                    raise ConnectionError("body cut short")
                left -= len(chunk)
                yield chunk
        elif "chunked" in (self.header("transfer-encoding") or ""):
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    return
                yield await self.reader.readexactly(size)
                await self.reader.readexactly(2)

    async def read_body(self) -> bytes:
        self.body = b"".join([chunk async for chunk in self.chunks()])
        return self.body


App = Callable[[Received, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class UpstreamServer:
    app: App
    connections: int = 0
    requests: list[Received] = field(default_factory=list)
    server: asyncio.Server | None = None

    async def start_unix(self, path: Path) -> str:
        self.server = await asyncio.start_unix_server(self._serve, str(path), limit=1 << 20)
        return str(path)

    async def start_tcp(self) -> tuple[str, int]:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        host, port = self.server.sockets[0].getsockname()[:2]
        return host, port

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 1.0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    block = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                line, *lines = block.decode("latin-1").split("\r\n")[:-2]
                method, target, _ = line.split(" ", 2)
                headers = []
                for item in lines:
                    name, _, value = item.partition(":")
                    headers.append((name.lower(), value.strip()))
                request = Received(method, target, headers, reader)
                self.requests.append(request)
                await self.app(request, writer)
                await writer.drain()
                if request.close:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()


def response(status: int, body: bytes = b"", *headers: str, length: bool = True) -> bytes:
    lines = [f"HTTP/1.1 {status} X", *headers]
    if length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join([*lines, "", ""])).encode() + body


async def echo(request: Received, writer: asyncio.StreamWriter) -> None:
    """Answers with what it received: method, target and body."""
    body = await request.read_body()
    text = f"{request.method} {request.target} {len(body)}\n".encode() + body
    writer.write(response(200, text, "Content-Type: text/plain", "X-Upstream: yes"))


# WebSocket, just enough for an echo (RFC 6455)

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def ws_accept(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def ws_frame(payload: bytes, opcode: int = 1, mask: bool = False) -> bytes:
    head = bytes([0x80 | opcode])
    size = len(payload)
    bit = 0x80 if mask else 0
    if size < 126:
        head += bytes([bit | size])
    elif size < 65536:
        head += bytes([bit | 126]) + size.to_bytes(2, "big")
    else:
        head += bytes([bit | 127]) + size.to_bytes(8, "big")
    if mask:
        key = os.urandom(4)
        return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + payload


async def ws_read(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    first, second = await reader.readexactly(2)
    size = second & 0x7F
    if size == 126:
        size = int.from_bytes(await reader.readexactly(2), "big")
    elif size == 127:
        size = int.from_bytes(await reader.readexactly(8), "big")
    key = await reader.readexactly(4) if second & 0x80 else b""
    payload = await reader.readexactly(size)
    if key:
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return first & 0x0F, payload


async def websocket_echo(request: Received, writer: asyncio.StreamWriter) -> None:
    key = request.header("sec-websocket-key") or ""
    if (request.header("upgrade") or "").lower() != "websocket":
        writer.write(response(400, b"not a websocket"))
        return
    writer.write(
        response(
            101,
            b"",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Accept: {ws_accept(key)}",
            length=False,
        )
    )
    request.close = True
    while True:
        opcode, payload = await ws_read(request.reader)
        writer.write(ws_frame(payload, opcode))
        await writer.drain()
        if opcode == 8:
            return
