"""``previewd up``: the API, the edge, route sync and the worker in one process and one loop."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import secrets
import signal
import socket
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from previewd.api import create_app
from previewd.blobs import LocalBlobStore
from previewd.build import Builder, ComputePool, OutputLimits
from previewd.config import Config
from previewd.conversations import Conversations
from previewd.edge.routes import RouteTable
from previewd.edge.server import EdgeServer
from previewd.errors import PreviewdError
from previewd.events import Broker
from previewd.feedback import EdgeFeedback, FeedbackBook, Injector
from previewd.logs import LogBook
from previewd.previews import views
from previewd.previews.supervisor import PREVIEW_LIMITS, Supervisor, SupervisorConfig
from previewd.routing import RouteSync
from previewd.runtimes import ResourceLimits, choose
from previewd.service import Service
from previewd.store import Database
from previewd.worker import Worker

log = logging.getLogger("previewd")


class _ApiServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the Previewd process owns signal handling, for all parts at once


def ensure_token(config: Config) -> str:
    """The API token: from the settings, else from data_dir/api-token, made on first start."""
    if config.token:
        return config.token
    path = config.token_file
    if path.exists():
        return path.read_text().strip()
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


class Previewd:
    """All the parts of one node. ``start`` returns once every part accepts work."""

    def __init__(self, config: Config) -> None:
        self.config = config
        data = config.data_path
        data.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.db = Database(config.resolved_database_url)
        self.blobs = LocalBlobStore(data / "blobs")
        self.broker = Broker()
        self.logs = LogBook(data / "logs", self.broker)
        self.service = Service(config, self.db, self.blobs, self.broker, self.logs)
        self.routes = RouteTable()
        self.route_sync = RouteSync(self.service, self.broker, self.routes)
        self.service.serving = self.route_sync.serves
        self.worker = Worker(self.service, self.broker, self.logs, self.blobs)
        self.service.prebuild = self.worker.prebuild
        self.conversations = Conversations(self.service)
        self.conversations.route_of = self._route_of
        self.edge = EdgeServer(
            self.routes,
            self.blobs,
            preview_domain=config.preview_domain,
            cache_bytes=config.edge_cache_bytes,
        )
        self.feedback = FeedbackBook(self.db, self.broker)
        self._wire_feedback()
        self.api_address: tuple[str, int] = ("", 0)
        self.edge_address: tuple[str, int] = ("", 0)
        self._tasks: list[asyncio.Task[None]] = []
        self._api: _ApiServer | None = None
        self.app: FastAPI | None = None
        self.supervisor: Supervisor | None = None  # runs app servers, when a runtime works here

    async def start(self) -> None:
        await self.db.migrate()
        await self._set_up_builds()
        token = ensure_token(self.config)
        self._tasks = [
            asyncio.create_task(self.feedback.run(), name="feedback"),
            asyncio.create_task(self.route_sync.run(), name="route-sync"),
        ]
        await self._until(self.feedback.listening.is_set)  # no failed build goes unrecorded
        await self._until(self.route_sync.loaded.is_set)  # serve no 404s for existing previews
        self.edge_address = await self.edge.start(self.config.edge_host, self.config.edge_port)
        if self.config.edge_port == 0 and self.config.public_port is None:
            self.config.public_port = self.edge_address[1]  # printed URLs must name the real port
        sock = _bind(self.config.api_host, self.config.api_port)
        self.api_address = sock.getsockname()[:2]
        self.app = create_app(
            self.service,
            token=token,
            debug=self.config.log_level == "debug",
            conversations=self.conversations,
        )
        self.app.state.feedback = self.feedback
        self._api = _ApiServer(
            uvicorn.Config(
                self.app,
                lifespan="off",
                log_config=None,
                access_log=False,
                log_level=self.config.log_level,
            )
        )
        api = self._api
        self._tasks += [
            asyncio.create_task(api.serve(sockets=[sock]), name="api"),
            asyncio.create_task(self.worker.run(), name="worker"),
        ]
        await self._until(lambda: api.started)

    def _wire_feedback(self) -> None:
        """Browser reports, 5xx answers and (when on) the page script, into the book."""
        app, book = self.edge.app, self.feedback
        client = EdgeFeedback(
            self.routes,
            app.hosts,
            app.dates,
            self.broker,
            reports=book.console,
            answers=book.http_error,
        )
        app.client = client
        app.proxy.on_answer = client.proxy_answer
        if self.config.feedback_script:
            self.route_sync.inject = Injector(self.blobs)

    def _route_of(self, label: str) -> str | None:
        site = self.routes.get(label)
        return site.deployment_id if site is not None else None

    async def _until(self, ready: Callable[[], bool]) -> None:
        """Wait for a part to come up, surfacing the error of any part that died instead."""
        while not ready():
            await asyncio.sleep(0.005)
            for task in self._tasks:
                if task.done():
                    task.result()

    async def _set_up_builds(self) -> None:
        """Give the worker a builder when a sandbox runtime works here; say why not otherwise."""
        config = self.config
        try:
            runtime = await asyncio.to_thread(choose, config.runtime)
        except PreviewdError as exc:
            self.worker.no_builder_reason = exc.message
            log.warning("builds are off: %s (%s)", exc.message, exc.hint or "")
            return
        if runtime.name == "unsafe-local":
            log.warning("UNSAFE: builds run WITHOUT a sandbox (--runtime unsafe-local)")
        limits = ResourceLimits(
            memory_bytes=config.step_memory_bytes,
            timeout_s=config.step_timeout_s,
            pids=config.step_pids,
            cpu_cores=config.step_cpu_cores,
        )
        pool = ComputePool(
            concurrency=config.build_concurrency, memory_bytes=config.build_memory_bytes
        )
        self.supervisor = Supervisor(
            runtime=runtime,
            blobs=self.blobs,
            config=supervisor_config(config),
            on_line=partial(views.runtime_line, self.broker),
        )
        await self.supervisor.start()
        self.route_sync.supervisor = self.service.supervisor = self.supervisor
        self.supervisor.on_crash = self.feedback.crash
        self.worker.builder = Builder(
            runtime=runtime,
            blobs=self.blobs,
            root=config.data_path / "build",
            pool=pool,
            limits=limits,
            output_limits=OutputLimits(
                max_files=config.max_files,
                max_file_bytes=config.max_file_bytes,
                max_bytes=config.max_deployment_bytes,
            ),
        )

    async def stop(self) -> None:
        if self._api is not None:
            self._api.should_exit = True
        await self.edge.close()
        await self.worker.close()
        for task in self._tasks:
            if task.get_name() != "api":  # the API finishes its requests and stops by itself
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.supervisor is not None:
            await self.supervisor.close()
        await self.db.close()

    @property
    def api_url(self) -> str:
        host, port = self.api_address
        return f"http://{host}:{port}"


async def serve(config: Config, announce: bool = True) -> None:
    """Run until SIGINT or SIGTERM, then stop every part cleanly."""
    node = Previewd(config)
    await node.start()
    if announce:
        _announce(node)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        log.info("stopping")
        await node.stop()


def _announce(node: Previewd) -> None:
    from rich.console import Console

    console = Console(stderr=True)
    config = node.config
    console.print(f"[bold green]previewd is up[/]  data in {Path(config.data_path)}")
    console.print(f"  API      {node.api_url}   (token in {config.token_file})")
    console.print(f"  previews {config.preview_url('<project>')}")
    console.print("  deploy a folder with: previewd deploy DIR --project NAME   (Ctrl-C stops)")


def supervisor_config(config: Config) -> SupervisorConfig:
    """The app servers' settings, from the node's."""
    return SupervisorConfig(
        root=config.data_path,
        limits=dataclasses.replace(
            PREVIEW_LIMITS,
            memory_bytes=config.preview_memory_bytes,
            cpu_cores=config.preview_cpu_cores,
            pids=config.preview_pids,
        ),
        idle_s=config.preview_idle_s,
        start_timeout_s=config.preview_start_timeout_s,
        max_running=config.preview_max_running,
        max_per_project=config.preview_max_per_project,
    )
