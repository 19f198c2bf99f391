"""The seam every runtime implements: run a command in a sandbox, with limits.

A runtime takes a :class:`SandboxSpec` (what to run, where, with which limits)
and either runs it to completion (:meth:`Runtime.run`, build steps) or starts it
and hands back a :class:`SandboxProcess` (:meth:`Runtime.start`, preview
servers). Either way the whole process tree dies with the sandbox, and the
cgroups and namespaces made for it are removed.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

LimitHit = Literal["memory", "pids", "timeout", "disk"]
Network = Literal["none", "registries"]
Stream = Literal["stdout", "stderr"]
OnLine = Callable[[Stream, str], None]

#: What the sandboxed process sees unless its spec says otherwise.
DEFAULT_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8"}

#: Where a spec's ``unix_socket_dir`` appears inside the sandbox.
SOCKET_DIR = "/run/previewd"


@dataclass(frozen=True)
class ResourceLimits:
    """What one sandbox may use. ``None`` means no limit of that kind."""

    memory_bytes: int = 1 * GiB
    cpu_cores: float = 1.0
    pids: int = 256
    timeout_s: float | None = 600
    tmpfs_bytes: int = 256 * MiB
    #: Largest size of the work directory; checked while the step runs.
    work_bytes: int | None = 4 * GiB


@dataclass(frozen=True)
class Mount:
    """A host directory (or file) bound into the sandbox at ``target``."""

    source: Path
    target: str
    writable: bool = False


@dataclass(frozen=True)
class SandboxSpec:
    argv: Sequence[str]
    #: Host directory bound read-write at ``/work``, the command's working directory.
    workdir: Path
    #: The only environment the process sees, over :data:`DEFAULT_ENV`.
    env: Mapping[str, str] = field(default_factory=dict)
    limits: ResourceLimits = ResourceLimits()
    mounts: Sequence[Mount] = ()
    #: ``"none"``: a private loopback only. ``"registries"``: the internet, but
    #: not the host, its loopback services or private address ranges.
    network: Network = "none"
    #: Host directory bound read-write at :data:`SOCKET_DIR`, for a server that
    #: listens on a unix socket the edge connects to.
    unix_socket_dir: Path | None = None


@dataclass(frozen=True)
class RunResult:
    exit_code: int
    duration_s: float
    #: Which limit stopped the process, when one did.
    limit_hit: LimitHit | None
    limits: ResourceLimits = ResourceLimits()

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.limit_hit is None

    def message(self) -> str:
        """One line that says how the process ended and, if a limit did it, which."""
        limits = self.limits
        if self.limit_hit == "memory":
            return f"killed: memory limit of {_size(limits.memory_bytes)} exceeded"
        if self.limit_hit == "pids":
            return f"killed: process limit of {limits.pids} reached (forking without bound?)"
        if self.limit_hit == "timeout":
            return f"killed: time limit of {limits.timeout_s:g} s exceeded"
        if self.limit_hit == "disk":
            work = f", /work {_size(limits.work_bytes)}" if limits.work_bytes else ""
            return (
                f"failed: disk limit exceeded (/tmp {_size(limits.tmpfs_bytes)}{work}): "
                "no space left on device"
            )
        if self.exit_code > 128 and self.exit_code - 128 in _SIGNALS:
            return f"killed by {_SIGNALS[self.exit_code - 128]}"
        return f"exited with status {self.exit_code}"


@dataclass(frozen=True)
class SandboxStats:
    cpu_seconds: float
    memory_bytes: int
    memory_peak_bytes: int
    pids: int


class SandboxProcess(Protocol):
    """A started sandbox. Whoever starts one must ``wait()`` for it or ``kill()`` it."""

    #: Host pid of the sandbox's launcher.
    pid: int

    async def wait(self) -> RunResult:
        """Wait for the end (or the time limit), then clean up."""
        ...

    async def kill(self) -> RunResult:
        """Kill the whole process tree, wait for it and clean up."""
        ...

    async def terminate(self, grace_s: float) -> RunResult:
        """Ask the main process to end (SIGTERM); kill the tree if it has not within ``grace_s``."""
        ...

    def stats(self) -> SandboxStats:
        """CPU and memory used so far, from the sandbox's cgroups."""
        ...

    def set_cpu(self, cores: float | None) -> None:
        """Change the sandbox's CPU quota while it runs (None: no quota)."""
        ...


class Runtime(Protocol):
    name: str

    async def run(self, spec: SandboxSpec, on_line: OnLine | None = None) -> RunResult:
        """Run ``spec`` to its end; stream each output line to ``on_line(stream, line)``.

        Cancelling the call kills the process tree and cleans up before it returns.
        """
        ...

    async def start(self, spec: SandboxSpec, on_line: OnLine | None = None) -> SandboxProcess:
        """Start ``spec`` and return at once (long-running servers)."""
        ...


def _size(n: int | None) -> str:
    if n is None:
        return "unlimited"
    for unit, scale in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= scale:
            return f"{n / scale:g} {unit}"
    return f"{n} bytes"


_SIGNALS = {s.value: s.name for s in signal.Signals}
