"""One preview server: its folders, its state, its logs and its crash record.

An :class:`Instance` holds what lasts across sleeps (the work folder, the
logs, the crash history); the :class:`~previewd.previews.supervisor.Supervisor`
starts and stops its sandbox. A deployment may run several instances
(``replica`` 0, 1, …), each with its own folder and sandbox; they share one log.

    asleep ──ensure_running──▶ starting ──answers──▶ running ──idle / evicted──▶ asleep
                                  │                    │
                                  └──exits / timeout───┴──exits──▶ crashed ──(backoff)──▶ starting
                                                                     │
                                              N quick crashes in a row ▶ failed (until a new deployment)
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from previewd.build.result import ServerBundle
from previewd.runtimes.base import LimitHit, SandboxProcess

State = Literal["asleep", "starting", "running", "crashed", "failed"]
StopReason = Literal["idle", "evicted", "stopped", "start-timeout", "unhealthy"]

#: The socket's name, in the instance's socket folder (``/run/previewd`` inside).
SOCKET_NAME = "http.sock"
_MAX_SOCKET_PATH = 107  # sun_path holds 108 bytes, the last a NUL


@dataclass(frozen=True)
class LogLine:
    at: float  # time.time()
    stream: str  # "stdout", "stderr" or "previewd" (what the supervisor says)
    text: str
    replica: int = 0


@dataclass(frozen=True)
class Crash:
    """How one run of a preview server ended when nobody asked it to."""

    at: float  # time.time()
    exit_code: int
    #: which sandbox limit killed it ("memory", "pids", …), when one did
    limit_hit: LimitHit | None
    #: one line: "exited with status 3", "killed: memory limit of 64 MiB exceeded", …
    message: str
    stderr_tail: tuple[str, ...]
    uptime_s: float
    #: it ended (or was killed for not answering) before it answered its first request
    during_start: bool

    @property
    def hint(self) -> str:
        if self.limit_hit == "memory":
            return "It needs more memory than its limit: make it use less."
        if self.limit_hit == "pids":
            return "It started too many processes at once (a fork loop?)."
        return "The last lines of its stderr say why."


@dataclass(frozen=True)
class InstanceInfo:
    deployment_id: str
    state: State
    address: Path
    last_used: float  # time.monotonic()
    in_flight: int
    crashes: tuple[Crash, ...]  # the most recent last
    restarts: int
    replica: int = 0
    healthy: bool = True


class Instance:
    def __init__(
        self,
        deployment_id: str,
        bundle: ServerBundle,
        folder: Path,
        logs: deque[LogLine],
        *,
        project: str = "",
        replica: int = 0,
    ):
        self.deployment_id = deployment_id
        self.bundle = bundle
        self.project = project
        self.replica = replica
        self.folder = folder
        self.work = folder / "work"
        self.sockets = folder / "run"
        self.socket = self.sockets / SOCKET_NAME
        if len(str(self.socket).encode()) > _MAX_SOCKET_PATH:
            raise ValueError(f"socket path {self.socket} is too long for a unix socket")
        self.ready_marker = folder / "prepared"
        self.state: State = "asleep"
        self.process: SandboxProcess | None = None
        self.reserved = False  # a running slot is held for a start under way
        self.watcher: asyncio.Task[None] | None = None
        self.stop_reason: StopReason | None = None
        self.started_at = 0.0
        self.last_used = time.monotonic()
        self.in_flight = 0
        self.crashes: deque[Crash] = deque(maxlen=20)
        self.quick_crashes = 0
        self.last_crash_at = 0.0
        self.restarts = 0
        self.health_failures = 0  # health checks failed in a row while running
        self.logs = logs
        self.stderr_tail: deque[str] = deque(maxlen=50)
        self.lock = asyncio.Lock()
        self.starter: asyncio.Task[None] | None = None  # a start under way, shared by callers

    @property
    def live(self) -> bool:
        """Holds a sandbox, or a running slot for one about to start."""
        return self.process is not None or self.reserved

    @property
    def serving(self) -> bool:
        """Running and passing its health checks: the edge may send it requests."""
        return self.state == "running" and self.health_failures == 0

    def info(self) -> InstanceInfo:
        return InstanceInfo(
            self.deployment_id,
            self.state,
            self.socket,
            self.last_used,
            self.in_flight,
            tuple(self.crashes),
            self.restarts,
            self.replica,
            self.health_failures == 0,
        )


def best_state(states: Iterable[State]) -> State:
    """A deployment's state from its instances': the most useful one any of them is in."""
    order: list[State] = ["running", "starting", "crashed", "asleep", "failed"]
    return min(states, key=order.index)
