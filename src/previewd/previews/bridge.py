"""The in-sandbox bridge: ``/run/previewd/http.sock`` ↔ ``127.0.0.1:$PORT``, then the app.

This file runs *inside* a preview's sandbox with the system ``python3``
(stdlib only, ``-I -S``): it is bound read-only into the sandbox and started as
its main process::

    python3 -I -S /opt/previewd/bridge.py SOCKET PORT -- APP ARGV...

It binds the unix socket first (the edge's only way in: the sandbox has no
network but its own loopback), starts the app as its child with the
environment it was given, forwards each connection on the socket to the app's
TCP port (bytes both ways, half-closes passed on, back-pressure honoured) and
exits with the app's exit status (``128 + signal`` when a signal ended it),
so the sandbox ends when the app does. It prints nothing while it works.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys

_HOSTS = ("127.0.0.1", "::1")


class _Half(asyncio.Protocol):
    """One side of a forwarded connection; ``peer`` is the other side."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.peer: _Half | None = None
        self.pending: list[bytes] = []
        self.eof = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def link(self, peer: _Half) -> None:
        self.peer = peer
        assert peer.transport is not None
        if self.pending:
            peer.transport.write(b"".join(self.pending))
            self.pending = []
        if self.eof and peer.transport.can_write_eof():
            peer.transport.write_eof()

    def data_received(self, data: bytes) -> None:
        peer = self.peer
        if peer is None or peer.transport is None:
            self.pending.append(data)
        else:
            peer.transport.write(data)

    def eof_received(self) -> bool:
        self.eof = True
        peer = self.peer
        if peer is not None and peer.transport is not None and peer.transport.can_write_eof():
            peer.transport.write_eof()
        return True  # keep the other direction open until the peer closes too

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        peer = self.peer
        if peer is not None and peer.transport is not None:
            peer.transport.close()

    # the peer's writes are buffered past its high-water mark: stop reading ours
    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()


async def _forward(outer: _Half, port: int) -> None:
    loop = asyncio.get_running_loop()
    assert outer.transport is not None
    for host in _HOSTS:
        try:
            _, inner = await loop.create_connection(_Half, host, port)
            break
        except OSError:
            continue
    else:  # the app is not listening (yet): the edge's health check sees a closed socket
        if outer.transport is not None:
            outer.transport.close()
        return
    if outer.transport is None:  # the client left meanwhile
        assert inner.transport is not None
        inner.transport.close()
        return
    outer.peer, inner.peer = inner, outer
    outer.link(inner)
    outer.transport.resume_reading()


class _Outer(_Half):
    """A connection from the edge: held (not read) until the app's side is connected."""

    def __init__(self, port: int, tasks: set[asyncio.Task[None]]) -> None:
        super().__init__()
        self.port = port
        self.tasks = tasks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert self.transport is not None
        self.transport.pause_reading()
        task = asyncio.get_running_loop().create_task(_forward(self, self.port))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


async def main(path: str, port: int, argv: list[str]) -> int:
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()

    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    os.chmod(path, 0o666)
    server = await loop.create_unix_server(lambda: _Outer(port, tasks), sock=sock, backlog=1024)
    app = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, app.send_signal, sig)
    code = await app.wait()
    server.close()
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    if len(sys.argv) < 5 or sys.argv[3] != "--":
        sys.exit("usage: bridge.py SOCKET PORT -- ARGV...")
    try:
        status = asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[4:]))
    except FileNotFoundError as exc:
        print(f"previewd: cannot start {sys.argv[4]}: {exc.strerror}", file=sys.stderr)
        status = 127
    sys.stderr.flush()
    os._exit(status)
