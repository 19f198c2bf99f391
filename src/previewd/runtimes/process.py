"""Supervision shared by the runtimes: stream output, enforce limits, end cleanly.

A :class:`Supervised` owns one launched sandbox: it pumps stdout and stderr
line by line to the caller, watches the wall clock, the pids cgroup and the
size of the work directory, kills the whole tree when a limit is crossed or
when the main process ends, and runs the runtime's cleanups (cgroups, network
namespace) exactly once, whatever happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

from previewd.runtimes.base import (
    LimitHit,
    OnLine,
    RunResult,
    SandboxProcess,
    SandboxSpec,
    SandboxStats,
    Stream,
)
from previewd.runtimes.cgroups import Cgroup

logger = logging.getLogger(__name__)

_MAX_LINE = 64 * 1024
# how tools say that a write failed with ENOSPC
_NO_SPACE = ("No space left on device", "ENOSPC")


class Child:
    """A process started with :func:`spawn`, whose end the loop learns from a pidfd.

    asyncio's own subprocesses (in Python 3.11) park a thread in ``waitpid`` per
    child: slow to start, and one thread per sleeping preview server.
    """

    def __init__(
        self,
        popen: subprocess.Popen[bytes],
        stdout: asyncio.StreamReader,
        stderr: asyncio.StreamReader,
    ) -> None:
        self.pid = popen.pid
        self.stdout = stdout
        self.stderr = stderr
        self._popen = popen
        self._loop = asyncio.get_running_loop()
        self._pidfd = os.pidfd_open(popen.pid)
        self._exit: asyncio.Future[int] = self._loop.create_future()
        self._loop.add_reader(self._pidfd, self._reap)

    @property
    def returncode(self) -> int | None:
        return self._exit.result() if self._exit.done() else None

    def kill(self) -> None:
        if not self._exit.done():
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)

    async def wait(self) -> int:
        return await asyncio.shield(self._exit)

    def _reap(self) -> None:
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid == 0:
            return
        self._loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        code = os.waitstatus_to_exitcode(status)
        self._popen.returncode = code
        # killed by a signal: report it as a shell would, 128 + signal number
        self._exit.set_result(128 - code if code < 0 else code)


async def spawn(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path | None = None,
    pass_fds: Sequence[int] = (),
) -> Child:
    """Start ``argv`` in a new session, stdin from /dev/null, stdout and stderr piped."""
    popen = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=cwd,
        pass_fds=pass_fds,
        start_new_session=True,
    )
    assert popen.stdout is not None and popen.stderr is not None
    loop = asyncio.get_running_loop()
    readers = []
    transports: list[asyncio.ReadTransport] = []
    try:
        for pipe in (popen.stdout, popen.stderr):
            reader = asyncio.StreamReader(limit=_MAX_LINE, loop=loop)
            protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
            transport, _ = await loop.connect_read_pipe(lambda p=protocol: p, pipe)  # type: ignore[misc]
            transports.append(transport)
            readers.append(reader)
    except BaseException:  # cancelled before anyone could own the process: end it here
        popen.kill()
        popen.wait()
        for made in transports:
            made.close()
        for pipe in (popen.stdout, popen.stderr):
            pipe.close()
        raise
    return Child(popen, *readers)


class Supervised:
    """A running sandbox; see :class:`previewd.runtimes.base.SandboxProcess`."""

    def __init__(
        self,
        proc: Child,
        spec: SandboxSpec,
        *,
        cgroup: Cgroup | None,
        kill_tree: Callable[[], None],
        term_main: Callable[[], None],
        cleanups: Sequence[Callable[[], Awaitable[None]]],
        on_line: OnLine | None,
        started: float,
    ) -> None:
        self.pid = proc.pid
        self.spec = spec
        self._proc = proc
        #: the sandbox's cgroups, when it has any (for live stats and tests)
        self.cgroup = cgroup
        self._kill_tree = kill_tree
        self._term_main = term_main
        self._cleanups = cleanups
        self._on_line = on_line
        self._started = started
        self._limit_hit: LimitHit | None = None
        self._saw_no_space = False
        self._pumps = [
            asyncio.create_task(self._pump(proc.stdout, "stdout")),
            asyncio.create_task(self._pump(proc.stderr, "stderr")),
        ]
        self._watch = asyncio.create_task(self._watch_limits())
        self._done = asyncio.create_task(self._finish())

    async def wait(self) -> RunResult:
        return await asyncio.shield(self._done)

    async def kill(self) -> RunResult:
        if not self._done.done():
            self._kill()
        return await asyncio.shield(self._done)

    async def terminate(self, grace_s: float) -> RunResult:
        if not self._done.done():
            with contextlib.suppress(ProcessLookupError):
                self._term_main()
            with contextlib.suppress(TimeoutError):
                return await asyncio.wait_for(asyncio.shield(self._done), grace_s)
        return await self.kill()

    def set_cpu(self, cores: float | None) -> None:
        if self.cgroup is not None:
            self.cgroup.set_cpu(cores)

    def stats(self) -> SandboxStats:
        if self.cgroup is None:
            return SandboxStats(0.0, 0, 0, 0)
        return self.cgroup.stats()

    def _kill(self, reason: LimitHit | None = None) -> None:
        if reason and self._limit_hit is None:
            self._limit_hit = reason
        with contextlib.suppress(ProcessLookupError):
            self._kill_tree()

    async def _finish(self) -> RunResult:
        try:
            exit_code = await self._proc.wait()
            # the tree ends with its main process: nothing may linger holding the pipes
            self._kill()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*self._pumps), 5)
            duration = time.monotonic() - self._started
            limit_hit = self._limit_hit
            if limit_hit is None and exit_code != 0:
                limit_hit = self._limit_from_aftermath()
            if limit_hit is None and await self._work_too_big():
                limit_hit = "disk"
            return RunResult(exit_code, duration, limit_hit, self.spec.limits)
        finally:
            self._watch.cancel()
            for pump in self._pumps:
                pump.cancel()
            for cleanup in self._cleanups:
                try:
                    await cleanup()
                except Exception:
                    logger.exception("sandbox cleanup failed")

    async def _work_too_big(self) -> bool:
        limit = self.spec.limits.work_bytes
        return limit is not None and await asyncio.to_thread(disk_usage, self.spec.workdir) > limit

    def _limit_from_aftermath(self) -> LimitHit | None:
        group = self.cgroup
        if group is not None and group.oom_killed():
            return "memory"
        if group is not None and group.pids_exhausted():
            return "pids"
        if self._saw_no_space:
            return "disk"
        return None

    async def _watch_limits(self) -> None:
        limits = self.spec.limits
        deadline = None if limits.timeout_s is None else self._started + limits.timeout_s
        next_scan = time.monotonic()
        interval = 0.01
        while True:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return self._kill("timeout")
            # a fork bomb would otherwise spin at pids.max until the time limit
            if self.cgroup is not None and self.cgroup.pids_exhausted():
                return self._kill("pids")
            if limits.work_bytes is not None and now >= next_scan:
                if await self._work_too_big():
                    return self._kill("disk")
                next_scan = time.monotonic() + max(1.0, 20 * (time.monotonic() - now))
            interval = min(interval * 1.5, 0.25)
            pause = interval if deadline is None else min(interval, deadline - now)
            await asyncio.sleep(max(pause, 0))

    async def _pump(self, stream: asyncio.StreamReader, name: Stream) -> None:
        pending = b""
        while chunk := await stream.read(_MAX_LINE):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            if len(pending) >= _MAX_LINE:  # a "line" without end: pass it on in pieces
                lines.append(pending)
                pending = b""
            for line in lines:
                self._emit(name, line)
        if pending:
            self._emit(name, pending)

    def _emit(self, name: Stream, raw: bytes) -> None:
        line = raw.decode(errors="replace").rstrip("\r")
        if any(marker in line for marker in _NO_SPACE):
            self._saw_no_space = True
        if self._on_line is not None:
            try:
                self._on_line(name, line)
            except Exception:
                logger.exception("on_line callback failed")


async def run_to_end(process: SandboxProcess) -> RunResult:
    """Wait for ``process``; if the caller is cancelled, kill it and clean up first."""
    try:
        return await process.wait()
    except asyncio.CancelledError:
        killing = asyncio.ensure_future(process.kill())
        # anyio cancels again and again until the task ends: finish killing regardless
        while not killing.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(killing)
        raise


def disk_usage(root: Path) -> int:
    """Bytes allocated under ``root``, each inode counted once, symlinks not followed."""
    seen: set[tuple[int, int]] = set()
    total = 0
    stack = [str(root)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
    return total
