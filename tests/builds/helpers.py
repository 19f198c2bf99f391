"""What the build tests share: snapshots from dicts, a recording log, runtimes that record."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from previewd import snapshots
from previewd.blobs.local import LocalBlobStore
from previewd.build import Builder, ComputePool
from previewd.build.toolchain import Toolchain
from previewd.changeset import FileSpec
from previewd.runtimes.base import MiB, OnLine, ResourceLimits, RunResult, Runtime, SandboxSpec
from previewd.snapshots import Snapshot

#: small enough that each hostile build ends in a second or two
FAST = ResourceLimits(
    memory_bytes=128 * MiB,
    cpu_cores=1.0,
    pids=64,
    timeout_s=20,
    tmpfs_bytes=8 * MiB,
    work_bytes=16 * MiB,
)
#: for real installs and builds
ROOMY = ResourceLimits(memory_bytes=1024 * MiB, cpu_cores=2.0, pids=256, timeout_s=180)
TOOLS = Toolchain(
    {"node": "v20", "npm": "10", "pnpm": "9", "yarn": "1", "python": "3", "pip": "23"}
)

Content = str | bytes | tuple[str | bytes, int]


def snapshot(blobs: LocalBlobStore, files: Mapping[str, Content]) -> Snapshot:
    """A snapshot of ``files`` (path → text, bytes, or (content, mode)), its blobs stored."""
    specs = {}
    for path, content in files.items():
        data, mode = content if isinstance(content, tuple) else (content, 0o644)
        raw = data.encode() if isinstance(data, str) else data
        specs[path] = FileSpec(blobs.put(raw), len(raw), mode)
    return snapshots.build(specs)


def read(blobs: LocalBlobStore, output: Snapshot, path: str) -> str:
    return blobs.read(output.files[path].digest).decode()


@dataclass
class Log:
    """A BuildLog that keeps everything, with the time of each event."""

    lines: list[tuple[str, str, str]] = field(default_factory=list)
    events: list[tuple[str, str, str, float]] = field(default_factory=list)

    def line(self, step: str, stream: str, text: str) -> None:
        self.lines.append((step, stream, text))

    def event(self, step: str, status: str, detail: str = "") -> None:
        self.events.append((step, status, detail, time.monotonic()))

    @property
    def text(self) -> str:
        return "\n".join(text for _, _, text in self.lines)

    def statuses(self, step: str) -> list[str]:
        return [status for name, status, _, _ in self.events if name == step]

    def at(self, step: str, status: str) -> float:
        return next(t for name, s, _, t in self.events if name == step and s == status)


class Recording:
    """Wraps a runtime: keeps each spec it is asked to run."""

    def __init__(self, inner: Runtime, *, force_network: str | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.uid = getattr(inner, "uid", 0)
        self.gid = getattr(inner, "gid", 0)
        self.force_network = force_network
        self.specs: list[SandboxSpec] = []

    async def run(self, spec: SandboxSpec, on_line: OnLine | None = None) -> RunResult:
        self.specs.append(spec)
        if self.force_network is not None:
            spec = dataclasses.replace(spec, network=self.force_network)  # type: ignore[arg-type]
        return await self.inner.run(spec, on_line)

    async def start(self, spec: SandboxSpec, on_line: OnLine | None = None):  # type: ignore[no-untyped-def]
        raise AssertionError("builds never start long-running sandboxes")


class Fake:
    """A runtime that runs nothing: ``act(spec, on_line)`` plays the step, on the host."""

    name = "fake"

    def __init__(self, act: Callable[[SandboxSpec, OnLine], Awaitable[RunResult] | RunResult]):
        self.act = act
        self.uid, self.gid = 0, 0
        self.specs: list[SandboxSpec] = []

    async def run(self, spec: SandboxSpec, on_line: OnLine | None = None) -> RunResult:
        self.specs.append(spec)
        result = self.act(spec, on_line or (lambda s, t: None))
        if not isinstance(result, RunResult):
            result = await result
        return result

    async def start(self, spec: SandboxSpec, on_line: OnLine | None = None):  # type: ignore[no-untyped-def]
        raise AssertionError("builds never start long-running sandboxes")


def ok(spec: SandboxSpec, code: int = 0) -> RunResult:
    return RunResult(code, 0.01, None, spec.limits)


def builder(
    runtime: object,
    root: Path,
    blobs: LocalBlobStore,
    *,
    limits: ResourceLimits = FAST,
    pool: ComputePool | None = None,
    toolchain: Toolchain | None = TOOLS,
) -> Builder:
    return Builder(
        runtime=runtime,  # type: ignore[arg-type]
        blobs=blobs,
        root=root,
        pool=pool or ComputePool(concurrency=2, memory_bytes=4096 * MiB),
        limits=limits,
        toolchain=toolchain,
    )


def tree_state(root: Path) -> dict[str, tuple[int, int, int, bytes]]:
    """Path → (mode, uid, inode, bytes) of every file under ``root``: to show nothing changed."""
    state = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        data = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
        state[str(path.relative_to(root))] = (st.st_mode, st.st_uid, st.st_ino, data)
    return state
