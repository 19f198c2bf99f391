"""The builder: a source snapshot in, static output and a prepared server out.

    detect → plan → execute (steps in sandboxes, from the caches when they can) → collect

A static site never reaches a sandbox: its output is the source itself (or
the static folder re-rooted), in well under a millisecond for a small site
once detection has read its few files. Everything else runs as a plan of
steps (:mod:`previewd.build.plan`) in work folders under ``<root>/work`` that
are removed when the build ends, failed or not: the log carries what happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
import time
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path

from previewd import snapshots
from previewd.blobs.local import LocalBlobStore
from previewd.build import plan as plans
from previewd.build import workspace
from previewd.build.cache import DepsCache, StepCache
from previewd.build.executor import execute
from previewd.build.plan import COREPACK_HOME, NPM_CACHE, SERVER_COREPACK, Part, Plan, Step
from previewd.build.pool import ComputePool
from previewd.build.result import (
    PREVIEWD,
    BuildLog,
    BuildResult,
    Deps,
    ServerBundle,
    StepReport,
)
from previewd.build.toolchain import Toolchain, probe
from previewd.build.workspace import OutputError, OutputLimits
from previewd.changeset import FileSpec
from previewd.detection import Detection, Server, SnapshotTree, detect
from previewd.errors import BuildFailed
from previewd.runtimes.base import (
    DEFAULT_ENV,
    Mount,
    ResourceLimits,
    RunResult,
    Runtime,
    SandboxSpec,
)
from previewd.snapshots import Snapshot

TAIL_LINES = 40
_STALE_S = 3600
_HINTS = {
    "memory": "The step needs more memory than its limit: make it use less, or raise the limit.",
    "pids": "The step started too many processes at once (a fork loop?).",
    "timeout": "The step ran past its time limit: is it waiting for input, or serving instead of building?",
    "disk": "The step wrote more than its work folder or /tmp may hold.",
}


class Builder:
    """Builds snapshots; one per process, shared by all builds (its caches and pool are)."""

    def __init__(
        self,
        *,
        runtime: Runtime,
        blobs: LocalBlobStore,
        root: Path,
        pool: ComputePool,
        limits: ResourceLimits,
        output_limits: OutputLimits | None = None,
        toolchain: Toolchain | None = None,
    ) -> None:
        self.runtime = runtime
        self.blobs = blobs
        self.root = root
        self.pool = pool
        self.limits = limits
        self.output_limits = output_limits or OutputLimits()
        #: fixed tool versions (tests); None: probed once per process
        self.toolchain = toolchain
        self.work = root / "work"
        self.trash = root / "trash"  # work folders of ended builds, being deleted
        for folder in (self.work, self.trash):
            folder.mkdir(parents=True, exist_ok=True)
            os.chmod(folder, 0o700)
        self.steps = StepCache(root / "cache" / "steps", blobs)
        self.deps = DepsCache(root / "cache" / "deps")
        self.npm_cache = root / "cache" / "npm"
        self.npm_cache.mkdir(exist_ok=True)
        # who the sandbox runs as: its folders are made its own
        self.owner = (getattr(runtime, "uid", os.geteuid()), getattr(runtime, "gid", os.getegid()))
        _remove_stale(self.work, _STALE_S)
        _remove_stale(self.trash, 0)

    async def build(self, deployment_id: str, source: Snapshot, log: BuildLog) -> BuildResult:
        """Build ``source``; raise :class:`BuildFailed` naming the step that failed."""
        detection = detect(SnapshotTree(source.files, self.blobs))
        if detection.client is None and detection.server is None:
            return BuildResult(static_output(source, detection), None, detection, [])
        toolchain = self.toolchain or await probe(plans.tools(detection))
        try:
            plan = plans.make(detection, source.files, toolchain, self.blobs.read)
        except BuildFailed as exc:
            log.event(exc.step, "failed", exc.message)
            raise
        name = re.sub(r"[^A-Za-z0-9_-]", "_", deployment_id)[:64]
        run = _Run(self, plan, log, self.work / f"{name}.{secrets.token_hex(4)}")
        try:
            reports = await execute(plan.steps, run.step)
            return run.result(detection, source, reports)
        finally:
            self._discard(run.folder)

    def _discard(self, folder: Path) -> None:
        """Take a work folder out of ``work/`` at once; delete it in the background."""
        if not folder.exists():
            return
        trash = self.trash / folder.name
        os.rename(folder, trash)  # one system call: the result need not wait for rmtree
        asyncio.get_running_loop().run_in_executor(None, workspace.remove, trash)


def static_output(source: Snapshot, detection: Detection) -> Snapshot:
    """The static files to serve: the static root re-rooted, else the source as is.

    A server's own folder is never served as static files (its code may hold secrets).
    """
    root = detection.static.root if detection.static is not None else "."
    server = detection.server
    if root == "." and (server is None or server.dir == "."):
        return source  # the hot path: nothing to copy, nothing to hash
    files = plans.subtree(source.files, root)
    if server is not None and root == "." and server.dir != ".":
        files = {p: s for p, s in files.items() if not p.startswith(server.dir + "/")}
    return snapshots.build(files)


class _Run:
    """One build under way: what its steps produced so far."""

    def __init__(self, builder: Builder, plan: Plan, log: BuildLog, folder: Path) -> None:
        self.b = builder
        self.plan = plan
        self.log = log
        self.folder = folder
        self.deps: dict[str, Deps] = {}
        self.outputs: dict[str, Snapshot] = {}

    async def step(self, step: Step) -> StepReport:
        if step.kind == "install":
            assert step.deps_dir is not None
            part = self.plan.part(step.part)
            build = part.build if part is not None and step.part == "client" else None
            if build is not None and (output := self.b.steps.get(build.key)) is not None:
                self.outputs[step.part] = output  # the build takes it from here
                return self._cached(step, "not needed, the build's output is in the step cache")
            async with self.b.deps.lock(step.key):
                if (deps := self.b.deps.get(step.key, step.deps_dir)) is not None:
                    self.deps[step.part] = deps
                    return self._cached(step, f"{step.deps_dir} is in the dependency cache")
                return await self._run(step, self._install)
        if (output := self.outputs.get(step.part) or self.b.steps.get(step.key)) is not None:
            self.outputs[step.part] = output
            return self._cached(
                step, f"its output ({len(output.files)} files) is in the step cache"
            )
        return await self._run(step, self._build)

    def _cached(self, step: Step, what: str) -> StepReport:
        self.log.event(step.name, "cached", step.key[:12])
        self.log.line(step.name, PREVIEWD, f"cached: {what} (key {step.key[:12]})")
        return StepReport(step.name, "cached", 0.0, step.key)

    async def _run(self, step: Step, body: Callable[[Step], Awaitable[None]]) -> StepReport:
        def queued(position: int) -> None:
            self.log.event(step.name, "queued", f"position {position}")

        async with self.b.pool.slot(self.b.limits.memory_bytes, queued):
            self.log.event(step.name, "started")
            started = time.monotonic()
            try:
                await body(step)
            except BuildFailed as exc:
                self.log.event(step.name, "failed", exc.message)
                raise
            except asyncio.CancelledError:
                self.log.event(step.name, "failed", "cancelled: another step failed")
                raise
            seconds = time.monotonic() - started
            self.log.event(step.name, "done", f"{seconds:.2f}")
        return StepReport(step.name, "ran", seconds, step.key)

    async def _install(self, step: Step) -> None:
        assert step.deps_dir is not None
        folder = self.folder / f"{step.part}-install"
        await asyncio.to_thread(
            workspace.materialise, step.inputs, self.b.blobs, folder, self.b.owner
        )
        mounts = [Mount(self.b.npm_cache, NPM_CACHE, writable=True)] if step.shared_cache else []
        corepack = self.folder / f"{step.part}-corepack"
        if step.corepack is not None:
            # this install's own: corepack trusts what it finds there without checking it again
            corepack.mkdir(parents=True)
            mounts.append(Mount(corepack, COREPACK_HOME, writable=True))
        await self._sandbox(step, folder, mounts)
        started = time.monotonic()
        if step.corepack_in_deps:
            await asyncio.to_thread(_copy_corepack, corepack, folder, step.deps_dir)
        if step.corepack is not None:
            # sealed like node_modules, for the build to run the same package manager offline
            await asyncio.to_thread(self.b.deps.adopt, step.corepack, corepack, COREPACK_HOME)
        deps = await asyncio.to_thread(self._adopt, step, folder, step.deps_dir)
        self.deps[step.part] = deps
        ms = (time.monotonic() - started) * 1000
        self.log.line(
            step.name, PREVIEWD, f"sealed {step.deps_dir} into the dependency cache ({ms:.0f} ms)"
        )

    def _adopt(self, step: Step, folder: Path, deps_dir: str) -> Deps:
        installed = workspace.real_dir(folder, deps_dir)
        if installed is None:
            if os.path.lexists(folder / deps_dir) or deps_dir != "node_modules":
                state = "a symbolic link" if os.path.islink(folder / deps_dir) else "missing"
                raise BuildFailed(
                    f"step {step.name} left {deps_dir} {state}, not a folder",
                    step=step.name,
                )
            installed = folder / deps_dir  # nothing to install for this platform
            installed.mkdir()
        return self.b.deps.adopt(step.key, installed, deps_dir)

    async def _build(self, step: Step) -> None:
        assert step.output is not None
        part = self.plan.part(step.part)
        assert part is not None
        folder = self.folder / step.part
        deps = self.deps.get(step.part)
        restored = await asyncio.to_thread(self._prepare, step, folder, deps)
        if deps is not None:
            count, ms = restored
            self.log.line(
                step.name,
                PREVIEWD,
                f"restored {deps.target} from the dependency cache: {count} files hard-linked "
                f"in {ms:.0f} ms",
            )
        mounts = []
        if step.corepack is not None:
            home = self.b.deps.get(step.corepack, COREPACK_HOME)
            if home is None:
                self.log.line(step.name, PREVIEWD, "the package manager is not in the cache")
            else:
                mounts.append(Mount(home.tree, COREPACK_HOME))
        await self._sandbox(step, folder, mounts)
        skip = {part.deps_dir or "", ".npm-cache"} if step.output == "." else set()
        notes: list[str] = []
        try:
            files = await asyncio.to_thread(self._collect, step, folder, skip, notes)
        except OutputError as exc:
            raise BuildFailed(
                f"step {step.name} succeeded, but {exc}",
                step=step.name,
                hint="Check the build writes its files to the output folder detection names "
                "(client.output in previewd.toml).",
            ) from None
        finally:
            for note in notes:
                self.log.line(step.name, PREVIEWD, note)
        self.outputs[step.part] = snapshots.build(files)
        size = sum(f.size for f in files.values())
        shown = "its folder" if step.output == "." else f"{step.output}/"
        self.log.line(
            step.name, PREVIEWD, f"collected {len(files)} files ({size} bytes) from {shown}"
        )

    def _collect(
        self, step: Step, folder: Path, skip: set[str], notes: list[str]
    ) -> dict[str, FileSpec]:
        """Store the step's output as blobs and its listing in the step cache (one thread hop)."""
        assert step.output is not None
        files = workspace.collect(
            folder,
            step.output,
            self.b.blobs,
            skip=skip,
            limits=self.b.output_limits,
            note=notes.append,
        )
        self.b.steps.put(step.key, files)
        return files

    def _prepare(self, step: Step, folder: Path, deps: Deps | None) -> tuple[int, float]:
        """Lay out the step's files and restore its part's dependencies (one thread hop)."""
        workspace.materialise(step.inputs, self.b.blobs, folder, self.b.owner)
        if deps is None:
            return 0, 0.0
        started = time.monotonic()
        count = workspace.link_tree(deps.tree, folder / deps.target, self.b.owner)
        return count, (time.monotonic() - started) * 1000

    async def _sandbox(self, step: Step, folder: Path, mounts: list[Mount]) -> RunResult:
        tail: deque[str] = deque(maxlen=TAIL_LINES)

        def on_line(stream: str, text: str) -> None:
            tail.append(text)
            self.log.line(step.name, stream, text)

        spec = SandboxSpec(
            argv=step.argv,
            workdir=folder,
            env=self._env(step, folder, mounts),
            limits=self.b.limits,
            mounts=mounts,
            network=step.network,
        )
        result = await self.b.runtime.run(spec, on_line)
        if not result.ok:
            raise BuildFailed(
                _failure(step, result),
                step=step.name,
                tail=list(tail),
                hint=_HINTS.get(result.limit_hit or "", "The last lines of its log say why."),
            )
        return result

    def _env(self, step: Step, folder: Path, mounts: list[Mount]) -> dict[str, str]:
        env = dict(step.env)
        # Node cannot see its cgroup's memory limit (no /sys inside): size its heap to fit
        heap_mib = self.b.limits.memory_bytes * 3 // 4 // (1024 * 1024)
        env.setdefault("NODE_OPTIONS", f"--max-old-space-size={heap_mib}")
        if self.b.runtime.name == "unsafe-local":
            # no mounts and no /work there: give the host's paths instead
            where = {m.target: str(m.source) for m in mounts} | {"/work": str(folder)}
            for name, value in env.items():
                for target, source in where.items():
                    if value == target or value.startswith(target + "/"):
                        env[name] = source + value[len(target) :]
        return env

    def result(
        self, detection: Detection, source: Snapshot, reports: list[StepReport]
    ) -> BuildResult:
        if detection.client is not None:
            output = self.outputs["client"]
        elif detection.static is not None:
            output = static_output(source, detection)
        else:
            output = snapshots.build({})
        server = None
        if detection.server is not None:
            part = self.plan.part("server")
            assert part is not None
            files = self.outputs.get("server") or snapshots.build(part.files)
            server = _bundle(detection.server, part, files, self.deps.get("server"))
        return BuildResult(output, server, detection, reports)


def _bundle(server: Server, part: Part, files: Snapshot, deps: Deps | None) -> ServerBundle:
    bin_dir = "/work/.venv/bin" if server.runtime == "python" else "/work/node_modules/.bin"
    env: dict[str, str] = {"PATH": f"{bin_dir}:{DEFAULT_ENV['PATH']}"}
    if server.runtime == "python":
        env["VIRTUAL_ENV"] = "/work/.venv"
    return ServerBundle(
        files=files,
        deps=deps,
        start=part.start or server.start,
        port_env=server.port_env,
        env={**env, **part.start_env, **server.env},
        runtime=server.runtime,
        dir=server.dir,
    )


def _copy_corepack(home: Path, folder: Path, deps_dir: str) -> None:
    """Put the package manager corepack fetched into the installed tree, for the server's start.

    The sandbox is gone: nothing can swap a folder under this. A ``deps_dir``
    the install made a symlink is left alone (adopting it fails, and says so).
    """
    if os.path.lexists(folder / deps_dir) and workspace.real_dir(folder, deps_dir) is None:
        return
    installed = folder / deps_dir
    installed.mkdir(exist_ok=True)
    target = installed / SERVER_COREPACK
    if os.path.lexists(target):
        if target.is_dir() and not target.is_symlink():
            workspace.remove(target)
        else:
            target.unlink()
    shutil.copytree(home, target, symlinks=True)


def _failure(step: Step, result: RunResult) -> str:
    if result.limit_hit is not None:
        return f"{step.name}: {result.message()}"
    if result.exit_code > 128 and result.message().startswith("killed"):
        return f"step {step.name} failed: {result.message()}"
    return f"step {step.name} failed with exit status {result.exit_code}"


def _remove_stale(folder: Path, age_s: float) -> None:
    """Work folders a crashed previewd left behind (live builds' folders are younger)."""
    now = time.time()
    for entry in folder.iterdir():
        with contextlib.suppress(OSError):
            if now - entry.lstat().st_mtime >= age_s:
                shutil.rmtree(entry, ignore_errors=True)
