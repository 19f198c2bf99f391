"""What the runtime tests share: short limits, a line collector, a liveness check."""

from __future__ import annotations

from dataclasses import dataclass, field

from previewd.runtimes.base import MiB, ResourceLimits

#: small enough that each hostile test ends in well under a second or two
FAST = ResourceLimits(
    memory_bytes=128 * MiB, cpu_cores=1.0, pids=64, timeout_s=20, tmpfs_bytes=8 * MiB
)


@dataclass
class Lines:
    """An ``on_line`` callback that keeps what it is given."""

    seen: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, stream: str, line: str) -> None:
        self.seen.append((stream, line))

    def of(self, stream: str) -> list[str]:
        return [line for name, line in self.seen if name == stream]

    @property
    def text(self) -> str:
        return "\n".join(line for _, line in self.seen)


def alive(pid: int) -> bool:
    """True if ``pid`` is a live process (not a zombie waiting to be reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
