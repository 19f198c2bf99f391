"""The preview server supervisor: start on demand, sleep when idle, restart after crashes.

Each deployment with a server part gets a folder ``<root>/previews/<id>/``
(:mod:`previewd.previews.layout`): ``work/`` with its files, laid out once and
kept across sleeps, and ``run/``, bound at ``/run/previewd`` where the bridge
listens on ``http.sock`` for the edge and forwards to the app's
``127.0.0.1:$PORT`` in the sandbox's own network namespace (apps unchanged).

A start is done when an HTTP request through the socket gets any answer.
Several instances (``replicas``) all start on a need, the first to answer
serves; the edge balances across those passing their health checks (every
``health_every_s``; one failing ``health_failures`` in a row is restarted).
Stops are graceful (SIGTERM, SIGKILL after ``stop_grace_s``). ``touch`` or
holding :meth:`Supervisor.active` is activity; instances idle for ``idle_s``
sleep; at ``max_running`` (or a project's ``max_per_project``) the least
recently used idle one is evicted. A process that ends on its own is a crash:
exit status and stderr tail are recorded and the next need restarts it after
an exponential backoff; ``max_quick_crashes`` quick crashes in a row leave it
``failed`` until a new deployment replaces it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import shutil
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from previewd.blobs.local import LocalBlobStore
from previewd.build import workspace
from previewd.build.result import ServerBundle
from previewd.errors import (
    NotFound,
    PreviewCrashed,
    PreviewPoolFull,
    PreviewStartTimeout,
    Unavailable,
)
from previewd.previews import layout
from previewd.previews.health import probe
from previewd.previews.instance import (
    Crash,
    Instance,
    InstanceInfo,
    LogLine,
    StopReason,
    best_state,
)
from previewd.runtimes.base import (
    GiB,
    MiB,
    ResourceLimits,
    RunResult,
    Runtime,
    SandboxProcess,
    SandboxStats,
    Stream,
)

logger = logging.getLogger(__name__)

OnLine = Callable[[str, str, str], None]  # (deployment id, stream, text)


#: A preview server's default limits: no time limit, it serves until it sleeps.
PREVIEW_LIMITS = ResourceLimits(
    memory_bytes=512 * MiB, cpu_cores=1.0, pids=128, timeout_s=None, work_bytes=1 * GiB
)


@dataclass(frozen=True)
class SupervisorConfig:
    root: Path  # the folders go under <root>/previews
    limits: ResourceLimits = PREVIEW_LIMITS
    #: the port the app listens on inside its sandbox (its own loopback)
    port: int = 8000
    start_timeout_s: float = 30.0
    idle_s: float = 300.0
    #: how often the reaper looks; None: a tenth of idle_s, between 0.05 and 10 s
    reap_every_s: float | None = None
    max_running: int = 16
    #: running instances one project may hold at once; None: no cap below max_running
    max_per_project: int | None = None
    max_quick_crashes: int = 3
    quick_crash_s: float = 30.0
    backoff_s: float = 0.5
    backoff_max_s: float = 30.0
    log_lines: int = 2000
    #: each probe is a `GET /` the app sees (User-Agent: previewd-health)
    health_every_s: float = 10.0
    health_timeout_s: float = 2.0
    #: health checks failed in a row before an instance is restarted
    health_failures: int = 2
    #: between SIGTERM and SIGKILL when a server is put to sleep
    stop_grace_s: float = 5.0
    #: run without a CPU quota until the server answers (a boot is CPU-bound and short;
    #: start_timeout_s bounds it), then hold it to limits.cpu_cores
    boost_start: bool = True


class Supervisor:
    """Runs the preview servers of many deployments on one host; see the module docstring.

    Use as ``async with Supervisor(...) as sup:`` (or ``await start()`` and
    ``await close()``): the idle reaper runs in between, and ``close`` stops
    every sandbox.
    """

    def __init__(
        self,
        *,
        runtime: Runtime,
        blobs: LocalBlobStore,
        config: SupervisorConfig,
        on_line: OnLine | None = None,
    ) -> None:
        self.runtime = runtime
        self.blobs = blobs
        self.config = config
        self.on_line = on_line
        # Told of each crash record as it is made (deployment id, crash): feedback.
        self.on_crash: Callable[[str, Crash], None] | None = None
        self.folder = config.root / "previews"
        self.owner = (getattr(runtime, "uid", os.geteuid()), getattr(runtime, "gid", os.getegid()))
        self._previews: dict[str, list[Instance]] = {}  # deployment id -> its instances
        self._room = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._bridge = self.folder / ".bridge.py"
        self._closed = False

    # lifecycle

    async def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        # a root-owned, read-only copy: what the sandbox runs never changes under it
        tmp = self._bridge.with_suffix(".tmp")
        shutil.copyfile(layout.BRIDGE_SOURCE, tmp)
        os.chmod(tmp, 0o444)
        os.replace(tmp, self._bridge)
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._reap()), asyncio.create_task(self._check())]

    async def close(self) -> None:
        """Stop every sandbox (a start under way finishes first, then stops)."""
        self._closed = True
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await asyncio.gather(*(self._stop_locked(i) for i in self._all()))

    async def __aenter__(self) -> Supervisor:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    # deployments

    def add(
        self, deployment_id: str, bundle: ServerBundle, *, project: str = "", replicas: int = 1
    ) -> None:
        """Know ``deployment_id``'s server (asleep until first needed). Adding it again is a no-op."""
        if deployment_id in self._previews:
            return
        if not deployment_id or "/" in deployment_id or deployment_id.startswith("."):
            raise ValueError(f"{deployment_id!r} cannot name a folder")
        if not 1 <= replicas <= self.config.max_running:
            raise ValueError(f"replicas must be between 1 and {self.config.max_running}")
        logs: deque[LogLine] = deque(maxlen=self.config.log_lines)
        self._previews[deployment_id] = [
            Instance(
                deployment_id,
                bundle,
                self.folder / (deployment_id if n == 0 else f"{deployment_id}.{n}"),
                logs,
                project=project,
                replica=n,
            )
            for n in range(replicas)
        ]

    async def remove(self, deployment_id: str) -> None:
        """Stop the server and delete its folder."""
        for instance in self._previews.pop(deployment_id, []):
            await self._stop_locked(instance)
            await asyncio.to_thread(workspace.remove, instance.folder)

    # the edge's side

    def socket(self, deployment_id: str, replica: int = 0) -> Path:
        """Where the edge reaches an instance of ``deployment_id``'s server (once it runs)."""
        return self._get(deployment_id)[replica].socket

    def serving(self, deployment_id: str, replica: int) -> bool:
        """The instance runs and passes its health checks: send it requests."""
        instances = self._previews.get(deployment_id)
        return instances is not None and instances[replica].serving

    async def ensure_running(self, deployment_id: str) -> Path:
        """The socket of a serving instance (the least busy); starts the server if needed.

        Every instance that is not up is started; the call returns as soon as
        one answers. Raises :class:`PreviewStartTimeout`, :class:`PreviewCrashed`
        or :class:`PreviewPoolFull` (all 5xx :class:`Unavailable` errors with a
        message) when none can serve.
        """
        instances = self._get(deployment_id)
        now = time.monotonic()
        for instance in instances:
            instance.last_used = now
        while True:
            # one failing its health checks still beats none, while nothing else answers
            serving = [i for i in instances if i.serving] or [
                i for i in instances if i.state == "running"
            ]
            starting = [self._starting(i) for i in instances if not i.serving]
            if serving:
                return min(serving, key=lambda i: i.in_flight).socket
            pending = [task for task in starting if task is not None]
            if not pending:
                if self._closed:
                    raise Unavailable("preview servers are shutting down")
                raise self._failed(instances[0])
            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if all(task.done() for task in pending) and not any(i.serving for i in instances):
                # every start failed: the first instance's error says why
                errors = [e for t in pending if not t.cancelled() and (e := t.exception())]
                raise errors[0] if errors else Unavailable("the preview server stopped at once")
            for instance in instances:
                instance.last_used = time.monotonic()

    def warm(self, deployment_id: str) -> None:
        """Start the server now, in the background (a new deployment's first visitor waits
        less); what goes wrong is recorded as for any start."""
        for instance in self._previews.get(deployment_id, []):
            instance.last_used = time.monotonic()
            self._starting(instance)

    def touch(self, deployment_id: str) -> None:
        """Traffic for ``deployment_id``: it is not idle now."""
        now = time.monotonic()
        for instance in self._previews.get(deployment_id, []):
            instance.last_used = now

    @contextlib.asynccontextmanager
    async def active(self, deployment_id: str) -> AsyncIterator[Path]:
        """Running and held busy (never reaped nor evicted) while the block runs."""
        address = await self.ensure_running(deployment_id)
        instance = next(i for i in self._get(deployment_id) if i.socket == address)
        instance.in_flight += 1
        try:
            yield address
        finally:
            instance.in_flight -= 1
            instance.last_used = time.monotonic()

    async def stop(self, deployment_id: str) -> None:
        """Put the server to sleep now (its files stay); a start under way finishes first."""
        await asyncio.gather(*(self._stop_locked(i) for i in self._get(deployment_id)))

    # what it looks like

    def info(self, deployment_id: str) -> InstanceInfo:
        """The first instance's state; crashes and restarts of every instance."""
        instances = self._get(deployment_id)
        first = instances[0].info()
        if len(instances) == 1:
            return first
        crashes = sorted((c for i in instances for c in i.crashes), key=lambda c: c.at)
        return dataclasses.replace(
            first,
            state=best_state(i.state for i in instances),
            last_used=max(i.last_used for i in instances),
            in_flight=sum(i.in_flight for i in instances),
            crashes=tuple(crashes[-20:]),
            restarts=sum(i.restarts for i in instances),
            healthy=any(i.serving for i in instances),
        )

    def instances(self, deployment_id: str) -> list[InstanceInfo]:
        return [i.info() for i in self._get(deployment_id)]

    def logs(self, deployment_id: str) -> list[LogLine]:
        """Runtime logs kept so far (the last ``log_lines``), over sleeps and restarts."""
        return list(self._get(deployment_id)[0].logs)

    def stats(self, deployment_id: str) -> SandboxStats | None:
        """CPU seconds and memory of the running sandboxes, from their cgroups; None when asleep."""
        running = [i.process.stats() for i in self._get(deployment_id) if i.process is not None]
        if not running:
            return None
        return SandboxStats(
            cpu_seconds=sum(r.cpu_seconds for r in running),
            memory_bytes=sum(r.memory_bytes for r in running),
            memory_peak_bytes=sum(r.memory_peak_bytes for r in running),
            pids=sum(r.pids for r in running),
        )

    def tried(self, deployment_id: str) -> bool:
        """Some instance answered or failed since the server was added: not merely asleep."""
        return any(
            i.state in ("running", "crashed", "failed") or (i.started_at and not i.live)
            for i in self._get(deployment_id)
        )

    def known(self) -> list[str]:
        """Every deployment with a server here, running or asleep."""
        return list(self._previews)

    def running(self) -> list[str]:
        return [d for d, instances in self._previews.items() if any(i.live for i in instances)]

    # inside

    def _get(self, deployment_id: str) -> list[Instance]:
        try:
            return self._previews[deployment_id]
        except KeyError:
            raise NotFound(f"no preview server for deployment {deployment_id}") from None

    def _all(self) -> list[Instance]:
        return [i for instances in self._previews.values() for i in instances]

    def _starting(self, instance: Instance) -> asyncio.Task[None] | None:
        """The start under way for ``instance``, or a new one; None when it cannot start."""
        if instance.starter is not None:
            return instance.starter
        if self._closed or instance.state in ("failed", "running"):
            return None  # a running one that fails health checks is restarted by _check
        task = asyncio.create_task(self._start_once(instance))
        instance.starter = task

        def done(task: asyncio.Task[None]) -> None:
            instance.starter = None
            if not task.cancelled():
                task.exception()  # retrieved: whoever waited has it, the crash record too

        task.add_done_callback(done)
        return task

    async def _start_once(self, instance: Instance) -> None:
        async with instance.lock:
            if self._closed:
                raise Unavailable("preview servers are shutting down")
            if instance.state == "running":
                return
            if instance.state == "failed":
                raise self._failed(instance)
            if instance.state == "crashed":
                await asyncio.sleep(self._backoff_left(instance))
            await self._make_room(instance)
            await self._start(instance)
            instance.last_used = time.monotonic()

    def _backoff_left(self, instance: Instance) -> float:
        c = self.config
        delay = min(c.backoff_max_s, c.backoff_s * 2 ** max(0, instance.quick_crashes - 1))
        return max(0.0, instance.last_crash_at + delay - time.monotonic())

    def _failed(self, instance: Instance) -> PreviewCrashed:
        crash = instance.crashes[-1] if instance.crashes else None
        what = f": {crash.message}" if crash else ""
        return PreviewCrashed(
            f"the preview server crashed {instance.quick_crashes} times in a row and stays "
            f"stopped{what}",
            crash,
            hint="Fix the error in its log and deploy again.",
        )

    async def _make_room(self, instance: Instance) -> None:
        """Take a running slot for ``instance``: under the project's cap, then the host's,
        evicting the least recently used idle instance where one is full."""
        c = self.config
        async with self._room:
            while True:
                live = [i for i in self._all() if i.live and i is not instance]
                mine = [i for i in live if i.project == instance.project]
                if c.max_per_project is not None and len(mine) >= c.max_per_project:
                    full, what = mine, f"project {instance.project!r} runs its {len(mine)}"
                elif len(live) >= c.max_running:
                    full, what = live, f"all {c.max_running}"
                else:
                    break
                idle = [i for i in full if i.state == "running" and i.in_flight == 0]
                if not idle:
                    raise PreviewPoolFull(
                        f"{what} preview servers, and every one is busy",
                        retry_after=5,
                        hint="Try again in a few seconds.",
                    )
                victim = min(idle, key=lambda i: i.last_used)
                self._note(victim, f"evicted to make room for {instance.deployment_id}")
                await self._stop(victim, "evicted")
            instance.state = "starting"
            instance.reserved = True  # the slot is taken until the sandbox exists

    async def _start(self, instance: Instance) -> None:
        c = self.config
        try:
            await asyncio.to_thread(layout.prepare, instance, self.blobs, self.owner)
            limits = c.limits
            if c.boost_start:
                limits = dataclasses.replace(limits, cpu_cores=float(os.cpu_count() or 1))
            spec = layout.spec(instance, self._bridge, c.port, limits)
            instance.stderr_tail.clear()
            instance.stop_reason = None
            process = await self.runtime.start(spec, lambda s, t: self._line(instance, s, t))
        except BaseException as exc:
            instance.process, instance.reserved = None, False
            instance.state = "crashed" if instance.crashes else "asleep"
            if isinstance(exc, Exception):
                self._note(instance, f"could not start a sandbox: {exc}")
            raise
        instance.process, instance.reserved = process, False
        instance.health_failures = 0
        instance.started_at = time.monotonic()
        if instance.crashes:
            instance.restarts += 1
        watcher = asyncio.create_task(self._watch(instance, process))
        instance.watcher = watcher
        bundle = instance.bundle
        if await self._healthy(instance, watcher):
            if c.boost_start:
                with contextlib.suppress(OSError):  # gone meanwhile: the watcher says so
                    process.set_cpu(c.limits.cpu_cores)
            instance.state = "running"
            self._note(instance, f"answering after {time.monotonic() - instance.started_at:.2f} s")
            return
        if not watcher.done():  # still up, but not answering: stop it, as a crash
            await self._stop(instance, "start-timeout")
            raise PreviewStartTimeout(
                f"the preview server did not answer on ${bundle.port_env} within "
                f"{c.start_timeout_s:g} s",
                hint=f"It must listen on the port in ${bundle.port_env} ({c.port}); "
                "its log says what it did instead.",
            )
        await watcher
        crash = instance.crashes[-1]
        raise PreviewCrashed(
            f"the preview server {crash.message} before it answered", crash, hint=crash.hint
        )

    async def _healthy(self, instance: Instance, watcher: asyncio.Task[None]) -> bool:
        """True once an HTTP request through the socket gets a status line back.

        The bridge holds a connection until the app listens, so once the socket
        exists one probe usually waits exactly as long as the app takes to boot.
        """
        deadline = instance.started_at + self.config.start_timeout_s
        pause = 0.002
        while not watcher.done() and (left := deadline - time.monotonic()) > 0:
            if instance.socket.exists():
                check = asyncio.ensure_future(probe(instance.socket, left))
                await asyncio.wait([check, watcher], return_when=asyncio.FIRST_COMPLETED)
                if not check.done():  # the server ended first
                    check.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await check
                    return False
                if check.result():
                    return True
            await asyncio.wait([watcher], timeout=min(pause, max(0.0, left)))
            # often while a quick start is likely (a stat is cheap), then less so
            pause = 0.002 if time.monotonic() - instance.started_at < 2 else 0.05
        return False

    async def _watch(self, instance: Instance, process: SandboxProcess) -> None:
        result = await process.wait()
        if instance.process is not process:
            return
        instance.process = None
        instance.watcher = None
        reason, instance.stop_reason = instance.stop_reason, None
        if reason in ("idle", "evicted", "stopped"):
            if time.monotonic() - instance.started_at >= self.config.quick_crash_s:
                instance.quick_crashes = 0  # it ran long enough: earlier crashes are forgiven
            instance.state = "asleep"
            self._note(instance, f"stopped ({reason})")
            return
        self._crashed(instance, result, reason)

    def _crashed(self, instance: Instance, result: RunResult, reason: StopReason | None) -> None:
        c = self.config
        now = time.monotonic()
        uptime = now - instance.started_at
        during_start = instance.state == "starting"
        message = result.message()
        if reason == "start-timeout":
            message = f"did not answer within {c.start_timeout_s:g} s (killed)"
        elif reason == "unhealthy":
            message = f"stopped answering: failed {c.health_failures} health checks in a row"
        crash = Crash(
            at=time.time(),
            exit_code=result.exit_code,
            limit_hit=result.limit_hit,
            message=message,
            stderr_tail=tuple(instance.stderr_tail),
            uptime_s=uptime,
            during_start=during_start,
        )
        instance.crashes.append(crash)
        quick = during_start or uptime < c.quick_crash_s
        instance.quick_crashes = instance.quick_crashes + 1 if quick else 1
        instance.last_crash_at = now
        instance.state = "failed" if instance.quick_crashes >= c.max_quick_crashes else "crashed"
        self._note(instance, f"crashed: {message}")
        if self.on_crash is not None:
            self.on_crash(instance.deployment_id, crash)

    async def _stop_locked(self, instance: Instance) -> None:
        async with instance.lock:
            await self._stop(instance, "stopped")

    async def _stop(self, instance: Instance, reason: StopReason) -> None:
        process, watcher = instance.process, instance.watcher
        if process is None:
            return
        instance.stop_reason = reason
        if reason in ("start-timeout", "unhealthy"):
            await process.kill()  # it does not answer: asking it to stop would only wait
        else:
            await process.terminate(self.config.stop_grace_s)
        if watcher is not None:
            await asyncio.shield(watcher)

    async def _reap(self) -> None:
        c = self.config
        every = c.reap_every_s or min(10.0, max(0.05, c.idle_s / 10))
        while True:
            await asyncio.sleep(every)
            now = time.monotonic()
            idle = [
                i
                for i in self._all()
                if i.state == "running" and i.in_flight == 0 and now - i.last_used >= c.idle_s
            ]
            results = await asyncio.gather(
                *(self._stop(i, "idle") for i in idle), return_exceptions=True
            )
            for instance, result in zip(idle, results, strict=True):
                if isinstance(result, Exception):
                    logger.error(
                        "stopping idle preview %s failed: %s", instance.deployment_id, result
                    )

    async def _check(self) -> None:
        """Probe every running instance; take failing ones out of rotation, restart hung ones."""
        c = self.config
        while True:
            await asyncio.sleep(c.health_every_s)
            running = [i for i in self._all() if i.state == "running"]
            results = await asyncio.gather(*(probe(i.socket, c.health_timeout_s) for i in running))
            for instance, ok in zip(running, results, strict=True):
                if instance.state != "running":
                    continue
                if ok:
                    if instance.health_failures:
                        self._note(instance, "answers its health check again")
                    instance.health_failures = 0
                    continue
                instance.health_failures += 1
                self._note(
                    instance,
                    f"failed a health check ({instance.health_failures} of {c.health_failures})",
                )
                if instance.health_failures >= c.health_failures:
                    try:
                        await self._stop(instance, "unhealthy")
                    except Exception:
                        logger.exception("stopping hung preview %s failed", instance.deployment_id)
                    self._starting(instance)  # restarted after the crash backoff

    def _line(self, instance: Instance, stream: Stream, text: str) -> None:
        if stream == "stderr":
            instance.stderr_tail.append(text)
        self._log(instance, stream, text)

    def _note(self, instance: Instance, text: str) -> None:
        self._log(instance, "previewd", text)

    def _log(self, instance: Instance, stream: str, text: str) -> None:
        instance.logs.append(LogLine(time.time(), stream, text, instance.replica))
        if self.on_line is not None:
            try:
                self.on_line(instance.deployment_id, stream, text)
            except Exception:
                logger.exception("on_line callback failed")
