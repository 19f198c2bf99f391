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

import os
import sys


def _spawn(argv: list[str]) -> int:
    """Start the app (its stdin is ours: /dev/null); 127 and a message when it cannot be."""
    try:
        return os.posix_spawnp(argv[0], argv, os.environ)
    except OSError as exc:
        print(f"previewd: cannot start {argv[0]}: {exc.strerror}", file=sys.stderr, flush=True)
        os._exit(127)


if __name__ == "__main__":
    if len(sys.argv) < 5 or sys.argv[3] != "--":
        sys.exit("usage: bridge.py SOCKET PORT -- ARGV...")
    # first, so the app boots while the bridge loads asyncio (a wake waits for both)
    _APP = _spawn(sys.argv[4:])

import asyncio  # noqa: E402
import contextlib  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402

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
        if peer is not None and peer.eof:  # both directions are done: nothing more can pass
            for half in (self, peer):
                if half.transport is not None:
                    half.transport.close()
            return False
        return True  # keep the other direction open until it ends too

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


_PATIENCE_S = 30.0  # how long a connection waits for the app to listen


async def _connect(port: int) -> _Half | None:
    """A connection to the app; while it has not bound its port yet, keep trying (a wake's
    first request then waits exactly as long as the app takes to boot, with no polling gap
    on the edge's side)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _PATIENCE_S
    pause = 0.001  # a refused connect costs ~20 µs: trying often is cheap, waiting is not
    while True:
        for host in _HOSTS:
            try:
                _, inner = await loop.create_connection(_Half, host, port)
                return inner
            except OSError:
                continue
        if loop.time() + pause > deadline:
            return None
        await asyncio.sleep(pause)
        pause = min(pause * 1.5, 0.002)


async def _forward(outer: _Half, port: int) -> None:
    assert outer.transport is not None
    inner = await _connect(port)
    if inner is None:  # the app never listened: the edge sees a closed connection
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


async def main(path: str, port: int, app: int, *, forward_signals: bool = True) -> int:
    """Serve ``path`` for ``127.0.0.1:port`` until the process ``app`` ends; its exit status."""
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    os.chmod(path, 0o666)
    server = await loop.create_unix_server(lambda: _Outer(port, tasks), sock=sock, backlog=1024)
    for sig in (signal.SIGTERM, signal.SIGINT) if forward_signals else ():
        loop.add_signal_handler(sig, os.kill, app, sig)
    _, status = await asyncio.to_thread(os.waitpid, app, 0)
    server.close()
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    status = asyncio.run(main(sys.argv[1], int(sys.argv[2]), _APP))
    sys.stderr.flush()
    os._exit(status)
