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
import time
from collections.abc import Awaitable, Callable, Sequence
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


class Supervised:
    """A running sandbox; see :class:`previewd.runtimes.base.SandboxProcess`."""

    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        spec: SandboxSpec,
        *,
        cgroup: Cgroup | None,
        kill_tree: Callable[[], None],
        cleanups: Sequence[Callable[[], Awaitable[None]]],
        on_line: OnLine | None,
        started: float,
    ) -> None:
        self.pid = proc.pid
        self.spec = spec
        self._proc = proc
        self._cgroup = cgroup
        self._kill_tree = kill_tree
        self._cleanups = cleanups
        self._on_line = on_line
        self._started = started
        self._limit_hit: LimitHit | None = None
        self._saw_no_space = False
        assert proc.stdout is not None and proc.stderr is not None
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

    def stats(self) -> SandboxStats:
        if self._cgroup is None:
            return SandboxStats(0.0, 0, 0, 0)
        return self._cgroup.stats()

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

    def _limit_from_aftermath(self) -> LimitHit | None:
        group = self._cgroup
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
            if self._cgroup is not None and self._cgroup.pids_exhausted():
                return self._kill("pids")
            if limits.work_bytes is not None and now >= next_scan:
                used = await asyncio.to_thread(disk_usage, self.spec.workdir)
                if used > limits.work_bytes:
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
        await asyncio.shield(process.kill())
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
