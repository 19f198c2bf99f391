"""The bridge on its own, on the host: bytes both ways, half-closes, back-pressure, exit status."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from previewd.previews import bridge

pytestmark = pytest.mark.anyio
BRIDGE = bridge.__file__


async def echo_upper(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    data = await reader.read()  # to EOF: the client's half-close came through
    writer.write(data.upper())
    await writer.drain()
    writer.write_eof()
    await reader.read()
    writer.close()


@pytest.fixture
async def bridged(root: Path) -> AsyncIterator[Path]:
    """The bridge run in this process (as it runs in a sandbox), for an app that sleeps."""
    app = await asyncio.start_server(echo_upper, "127.0.0.1", 0)
    port = app.sockets[0].getsockname()[1]
    path = root / "http.sock"
    sleeper = os.posix_spawnp("sleep", ["sleep", "60"], os.environ)
    serving = asyncio.create_task(bridge.main(str(path), port, sleeper, forward_signals=False))
    while not path.exists():
        await asyncio.sleep(0.01)
    yield path
    os.kill(sleeper, signal.SIGKILL)
    assert await serving == 128 + signal.SIGKILL  # the app's end is the bridge's
    app.close()
    await app.wait_closed()


async def test_a_client_is_closed_when_the_app_never_listens(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bridge, "_PATIENCE_S", 0.2)
    sleeper = os.posix_spawnp("sleep", ["sleep", "60"], os.environ)
    path = root / "s.sock"
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # nothing listens there
    serving = asyncio.create_task(bridge.main(str(path), port, sleeper, forward_signals=False))
    try:
        while not path.exists():
            await asyncio.sleep(0.01)
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(b"GET / HTTP/1.1\r\n\r\n")
        # closed with the request unread: a reset, or a plain end
        with contextlib.suppress(ConnectionResetError):
            assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
    finally:
        os.kill(sleeper, signal.SIGKILL)
    assert await serving == 137


async def test_a_client_waits_for_an_app_that_listens_late(root: Path) -> None:
    sleeper = os.posix_spawnp("sleep", ["sleep", "60"], os.environ)
    path = root / "s.sock"
    late = socket.socket()
    late.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused for now
    port = late.getsockname()[1]
    serving = asyncio.create_task(bridge.main(str(path), port, sleeper, forward_signals=False))
    try:
        while not path.exists():
            await asyncio.sleep(0.01)
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(b"hello")
        writer.write_eof()
        await asyncio.sleep(0.05)  # the bridge retries meanwhile
        late.setblocking(False)
        late.listen()
        app = await asyncio.start_server(echo_upper, sock=late)
        assert await asyncio.wait_for(reader.read(), 5) == b"HELLO"
        writer.close()
        app.close()
        await app.wait_closed()
    finally:
        os.kill(sleeper, signal.SIGKILL)
    assert await serving == 137


def sockets_of(pid: int) -> int:
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(FileNotFoundError):  # closed since the listing
            count += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
    return count


async def test_bytes_pass_both_ways_and_connections_are_released(bridged: Path) -> None:
    path = bridged
    idle = sockets_of(os.getpid())
    payload = os.urandom(4 * 1024 * 1024)  # far past every buffer: back-pressure both ways
    reader, writer = await asyncio.open_unix_connection(path, limit=2**24)
    assert sockets_of(os.getpid()) >= idle
    writer.write(payload)
    writer.write_eof()
    assert await reader.read() == payload.upper()
    writer.close()
    deadline = asyncio.get_running_loop().time() + 5
    while sockets_of(os.getpid()) != idle:  # both halves closed: nothing held
        assert asyncio.get_running_loop().time() < deadline, "bridge kept the connection"
        await asyncio.sleep(0.02)


async def test_it_exits_with_the_apps_status(root: Path) -> None:
    argv = [BRIDGE, str(root / "s.sock"), "1", "--", sys.executable, "-c", "raise SystemExit(7)"]
    process = await asyncio.create_subprocess_exec(sys.executable, "-I", "-S", *argv)
    assert await asyncio.wait_for(process.wait(), 10) == 7
    missing = [BRIDGE, str(root / "t.sock"), "1", "--", "/nonexistent/app"]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-I", "-S", *missing, stderr=asyncio.subprocess.PIPE
    )
    _, err = await process.communicate()
    assert process.returncode == 127 and b"cannot start /nonexistent/app" in err
