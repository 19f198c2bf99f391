"""Per-sandbox cgroup v1 groups: limits, usage, and a sure way to kill everything.

One sandbox gets one group in each of the memory, cpu, cpuacct, pids and
freezer hierarchies, at ``<our own group>/previewd/<name>``: nested under the
group previewd itself runs in, so a supervisor that accounts for previewd
(a service manager, a container) keeps accounting for its sandboxes too. On a
plain host that is ``/sys/fs/cgroup/<controller>/previewd/<name>``.

A process joins by having its pid written to ``cgroup.procs`` before it runs
anything of its own (the runtimes hold it back until then); everything it forks
stays inside, ``setsid`` and double forks included, so :meth:`Cgroup.close`
finds and kills them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path

from previewd.errors import Unavailable
from previewd.runtimes.base import ResourceLimits, SandboxStats

CONTROLLERS = ("memory", "cpu", "cpuacct", "pids", "freezer")
_PERIOD_US = 100_000
# sh: write our pid into each group's cgroup.procs (exit 125 if one refuses), then exec
_JOIN = (
    'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; '
    'n=$((n - 1)); done; exec "$@"'
)


@functools.cache
def hierarchies() -> dict[str, Path]:
    """Controller name → the directory under which our sandboxes' groups go."""
    mounts: dict[str, tuple[Path, str]] = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, rfields = left.split(), right.split()
            if not rfields or rfields[0] != "cgroup":
                continue
            options = rfields[2].split(",") if len(rfields) > 2 else []
            for controller in CONTROLLERS:
                if controller in options:
                    mounts[controller] = (Path(fields[4]), fields[3])
    own: dict[str, str] = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, names, path = line.rstrip("\n").split(":", 2)
            for name in names.split(","):
                own[name] = path
    found: dict[str, Path] = {}
    for controller, (mountpoint, root) in mounts.items():
        path = own.get(controller, "/")
        if root != "/" and path.startswith(root):
            path = path[len(root) :]
        elif root != "/":
            path = "/"
        found[controller] = mountpoint / path.lstrip("/") / "previewd"
    return found


def available() -> bool:
    """True when every controller we need is mounted and writable."""
    try:
        found = hierarchies()
    except OSError:
        return False
    return all(c in found and os.access(found[c].parent, os.W_OK) for c in CONTROLLERS)


def remove_stale(min_age_s: float = 60) -> int:
    """Remove empty sandbox groups older than ``min_age_s`` (left by a crash); count them."""
    removed = 0
    now = time.time()
    for base in dict.fromkeys(hierarchies().values()):
        try:
            children = [path for path in base.iterdir() if path.is_dir()]
        except FileNotFoundError:
            continue
        for path in children:
            with contextlib.suppress(OSError):
                if now - path.stat().st_mtime < min_age_s:
                    continue
                path.rmdir()  # EBUSY while any process is inside
                removed += 1
    return removed


class Cgroup:
    """The groups of one sandbox. Make them with :meth:`create`, end with :meth:`close`."""

    def __init__(self, name: str, dirs: dict[str, Path]) -> None:
        self.name = name
        self.dirs = dirs

    @classmethod
    def create(cls, name: str, limits: ResourceLimits) -> Cgroup:
        if not available():
            raise Unavailable(
                "cgroup v1 controllers (memory, cpu, cpuacct, pids, freezer) are not "
                "mounted read-write, so sandbox limits cannot be enforced",
                hint="run previewd as root on a host with cgroup v1 mounted at /sys/fs/cgroup",
            )
        dirs: dict[str, Path] = {}
        group = cls(name, dirs)
        try:
            for controller, base in hierarchies().items():
                base.mkdir(exist_ok=True)
                path = base / name
                # cpu and cpuacct may share one hierarchy ("cpu,cpuacct")
                if path not in dirs.values():
                    path.mkdir()
                dirs[controller] = path
            group._limit(limits)
        except BaseException:
            group._remove_now()
            raise
        return group

    def _limit(self, limits: ResourceLimits) -> None:
        memory = self.dirs["memory"]
        _write(memory / "memory.limit_in_bytes", limits.memory_bytes)
        # without the swap limit too, a group over its limit swaps instead of dying
        if (memory / "memory.memsw.limit_in_bytes").exists():
            _write(memory / "memory.memsw.limit_in_bytes", limits.memory_bytes)
        # quota per period; a new group's period is the kernel's default, 100 ms
        quota = max(1000, int(limits.cpu_cores * _PERIOD_US))
        _write(self.dirs["cpu"] / "cpu.cfs_quota_us", quota)
        _write(self.dirs["pids"] / "pids.max", limits.pids)

    def set_cpu(self, cores: float | None) -> None:
        """Change the CPU quota of a running group (None: no quota)."""
        quota = -1 if cores is None else max(1000, int(cores * _PERIOD_US))
        _write(self.dirs["cpu"] / "cpu.cfs_quota_us", quota)

    def joined(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run by a shell that first moves itself into this group, so everything
        it becomes and starts is limited from its first instruction (and dies with it)."""
        procs = [str(p / "cgroup.procs") for p in dict.fromkeys(self.dirs.values())]
        return ["/bin/sh", "-c", _JOIN, "sh", str(len(procs)), *procs, *argv]

    def add(self, pid: int) -> None:
        """Move ``pid`` (and its threads) into every group of this sandbox."""
        for path in dict.fromkeys(self.dirs.values()):
            _write(path / "cgroup.procs", pid)

    def procs(self) -> list[int]:
        text = _read(self.dirs["pids"] / "cgroup.procs")
        return [int(p) for p in text.split()]

    def stats(self) -> SandboxStats:
        memory = self.dirs["memory"]
        return SandboxStats(
            cpu_seconds=int(_read(self.dirs["cpuacct"] / "cpuacct.usage") or 0) / 1e9,
            memory_bytes=int(_read(memory / "memory.usage_in_bytes") or 0),
            memory_peak_bytes=int(_read(memory / "memory.max_usage_in_bytes") or 0),
            pids=int(_read(self.dirs["pids"] / "pids.current") or 0),
        )

    def oom_killed(self) -> bool:
        """True once the kernel killed a process of this group for want of memory."""
        return _counter(self.dirs["memory"] / "memory.oom_control", "oom_kill") > 0

    def pids_exhausted(self) -> bool:
        """True once a fork or clone failed because the group held ``pids.max`` tasks."""
        return _counter(self.dirs["pids"] / "pids.events", "max") > 0

    def kill(self) -> int:
        """SIGKILL every process in the group (frozen first, so none can fork meanwhile)."""
        freezer = self.dirs["freezer"] / "freezer.state"
        if not self.procs():
            return 0
        with contextlib.suppress(OSError):
            freezer.write_text("FROZEN")
        killed = 0
        for pid in self.procs():
            killed += self._signal_member(pid, signal.SIGKILL)
        # frozen tasks act on the pending SIGKILL as soon as they thaw
        with contextlib.suppress(OSError):
            freezer.write_text("THAWED")
        return killed

    def signal_children(self, parent: int, sig: signal.Signals) -> int:
        """Send ``sig`` to the processes of the group whose parent is ``parent``."""
        sent = 0
        for pid in self.procs():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    # the fields after the command name, which may hold spaces and parens
                    ppid = int(f.read().rpartition(")")[2].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == parent:
                sent += self._signal_member(pid, sig)
        return sent

    def _signal_member(self, pid: int, sig: signal.Signals) -> int:
        # A pid read from cgroup.procs may have been reaped and reused since: pin the
        # process with a pidfd, check it is still ours, and signal through the pidfd.
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            return 0
        try:
            with open(f"/proc/{pid}/cgroup") as f:
                mine = any(line.rstrip("\n").endswith(f"/previewd/{self.name}") for line in f)
            if mine:
                signal.pidfd_send_signal(fd, sig)
                return 1
        except OSError:
            pass
        finally:
            os.close(fd)
        return 0

    async def close(self) -> None:
        """Kill what is left in the group and remove it. Safe to call twice."""
        for attempt in range(200):
            self.kill()
            if self._remove_now():
                return
            await asyncio.sleep(0.002 if attempt < 20 else 0.02)
        raise Unavailable(f"cgroup {self.name} still has processes after SIGKILL")

    def _remove_now(self) -> bool:
        left = False
        for path in dict.fromkeys(self.dirs.values()):
            try:
                path.rmdir()
            except FileNotFoundError:
                pass
            except OSError as exc:
                if exc.errno != errno.EBUSY:
                    raise
                left = True
        return not left


def _write(path: Path, value: int | str) -> None:
    with open(path, "w") as f:
        f.write(str(value))


def _read(path: Path) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        return ""


def _counter(path: Path, key: str) -> int:
    for line in _read(path).splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return int(value)
    return 0
