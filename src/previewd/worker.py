"""The worker loop: claims queued jobs and turns source snapshots into live deployments.

Today a build publishes the source as it is (static sites); the build system
plugs in at ``build`` without changing the loop. Jobs are rows in the store,
so a worker in another process (or on another node) can claim them too.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from previewd import diagnostics, snapshots
from previewd.blobs import LocalBlobStore
from previewd.build import Builder, ServerBundle, static_output
from previewd.detection import SnapshotTree, detect
from previewd.errors import PreviewdError, Unavailable
from previewd.events import Broker
from previewd.logs import BuildLog, LogBook
from previewd.previews import bundles
from previewd.service import JOBS, Prebuilt, Service

logger = logging.getLogger("previewd.worker")


@dataclass(frozen=True)
class Built:
    """What a build gives the service to publish."""

    output: snapshots.Snapshot  # static files
    server: ServerBundle | None = None  # an app server to run behind the edge
    routes: dict[str, str] | None = None  # path pattern -> "server" | "static"


class Worker:
    def __init__(
        self,
        service: Service,
        broker: Broker,
        logs: LogBook,
        blobs: LocalBlobStore,
        *,
        builder: Builder | None = None,
        no_builder_reason: str = "no sandbox runtime is set up",
        concurrency: int = 8,
        poll_s: float = 2.0,
    ):
        # ``concurrency`` builds are taken from the queue at once; their steps then wait
        # in the builder's compute pool, where each can show its place in the line.
        self.service = service
        self.broker = broker
        self.logs = logs
        self.blobs = blobs
        self.builder = builder
        self.no_builder_reason = no_builder_reason
        self.slots = asyncio.Semaphore(concurrency)
        self.poll_s = poll_s
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """Claim and run jobs until cancelled. Wakes on a new job, or polls for other nodes' jobs."""
        await self.service.requeue_interrupted()
        async with self.broker.subscribe(JOBS) as wakeups:
            while True:
                await self.slots.acquire()
                claimed = await self.service.claim_job()
                if claimed is None:
                    self.slots.release()
                    await self._sleep(wakeups)
                    continue
                task = asyncio.create_task(self._run_job(*claimed))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _sleep(self, wakeups: asyncio.Queue[dict[str, object]]) -> None:
        try:
            await asyncio.wait_for(wakeups.get(), self.poll_s)
        except TimeoutError:
            return
        while not wakeups.empty():  # one claim pass serves all pending wake-ups
            wakeups.get_nowait()

    async def _run_job(self, job_id: int, deployment_id: str) -> None:
        log = self.logs.open(deployment_id)
        status = "failed"
        try:
            source = await self.service.source_of(deployment_id)
            built = await self.build(deployment_id, source, log)
            await self.service.publish(
                job_id, built.output, server=built.server, routes=built.routes
            )
            status = "ready"
        except Exception as exc:  # a failed build must never stop the loop
            if not isinstance(exc, PreviewdError):
                logger.exception("build of %s failed", deployment_id)
            message = (
                exc.message if isinstance(exc, PreviewdError) else f"{type(exc).__name__}: {exc}"
            )
            log.event("build", "failed", message)
            lines = (r["text"] for r in self.logs.read(deployment_id) if "text" in r)
            found = [d.to_dict() for d in diagnostics.parse(lines)]
            await self.service.fail(job_id, message, found)
        finally:
            log.end(status)
            self.slots.release()

    async def build(self, deployment_id: str, source: snapshots.Snapshot, log: BuildLog) -> Built:
        """Turn a source snapshot into what to serve, in sandboxes."""
        if self.builder is None:
            raise Unavailable(
                f"this deployment needs a build, and {self.no_builder_reason}",
                hint="Install bubblewrap (apt-get install bubblewrap) and run previewd up as "
                "root, or choose --runtime unsafe-local for code you trust.",
            )
        result = await self.builder.build(deployment_id, source, log)
        if result.server is None:
            return Built(result.output)
        routes = bundles.part_routes(dict(result.detection.routes), bool(result.output.files))
        return Built(result.output, result.server, routes)

    def prebuild(self, source: snapshots.Snapshot) -> Prebuilt:
        """Detect once: a static site's output now (no sandbox), else a build to queue."""
        detection = detect(SnapshotTree(source.files, self.blobs))
        if detection.client is not None or detection.server is not None:
            return Prebuilt(None, detection.spa)
        return Prebuilt(static_output(source, detection), detection.spa)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
