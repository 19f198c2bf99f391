"""Keeps an edge's in-memory route table in step with the store.

The edge never queries the database per request: this task applies route
events (published by the service on publish, rollback and removal) to the
table, loading each snapshot's manifest once. Another node's edge would run
the same task fed by PostgreSQL notifications.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import OrderedDict

from previewd import snapshots
from previewd.edge.routes import Route, RouteTable, Site
from previewd.edge.upstream import Upstream
from previewd.events import Broker, Event
from previewd.previews import Supervisor, bundles
from previewd.service import ROUTES, Service, deployment_topic

log = logging.getLogger("previewd.routing")


class RouteSync:
    def __init__(
        self,
        service: Service,
        broker: Broker,
        table: RouteTable,
        *,
        supervisor: Supervisor | None = None,
        cache_size: int = 512,
    ):
        self.service = service
        self.broker = broker
        self.table = table
        self.supervisor = supervisor
        self._upstreams: dict[str, Upstream] = {}  # deployment id -> its server, shared by labels
        self._sites: OrderedDict[tuple[str, bool], Site] = OrderedDict()
        self._cache_size = cache_size
        self.loaded = asyncio.Event()  # set once every existing route is in the table

    async def run(self) -> None:
        """Load every route, then follow changes until cancelled."""
        async with self.broker.subscribe(ROUTES) as changes:
            for event in await self.service.routes():
                await self.apply(event)
            self.loaded.set()
            while True:
                event = await changes.get()
                try:
                    await self.apply(event)
                except Exception:  # one bad route must not stop the others
                    log.exception("could not apply route %s", event)

    async def apply(self, event: Event) -> None:
        if event["deployment"] is None:
            self.table.set(event["label"], None)
            return
        site = await self._site(event["snapshot"], event["spa"])
        routes = await self._routes(event) if event.get("server") else ()
        self.table.set(
            event["label"],
            dataclasses.replace(
                site, deployment_id=event["deployment"], project=event["project"], routes=routes
            ),
        )
        self.broker.publish(deployment_topic(event["deployment"]), {"status": "live"})

    async def _site(self, digest: str, spa: bool) -> Site:
        """One Site per (snapshot, spa): deployments with equal files share it."""
        key = (digest, spa)
        site = self._sites.get(key)
        if site is None:
            snap = snapshots.cached(digest) or await self.service.snapshot(digest)
            entries = ((path, f.digest, f.size) for path, f in snap.files.items())
            site = Site.build("", "", entries, spa=spa)
            self._sites[key] = site
            if len(self._sites) > self._cache_size:
                self._sites.popitem(last=False)
        self._sites.move_to_end(key)
        return site

    async def _routes(self, event: Event) -> tuple[Route, ...]:
        """Path routes to the deployment's server, which the supervisor wakes on demand."""
        if self.supervisor is None:
            return ()  # no runtime here: the static part is all this node can serve
        deployment_id = event["deployment"]
        upstream = self._upstreams.get(deployment_id)
        if upstream is None:
            bundle = await bundles.load(event["server"], self.service.snapshot)
            supervisor = self.supervisor
            supervisor.add(deployment_id, bundle)

            async def ready() -> None:
                await supervisor.ensure_running(deployment_id)

            upstream = Upstream(
                str(supervisor.socket(deployment_id)),
                ready=ready,
                touch=lambda: supervisor.touch(deployment_id),
            )
            self._upstreams[deployment_id] = upstream
        return tuple(
            Route(pattern, upstream if part == "server" else "static")
            for pattern, part in event["routes"].items()
        )

    def serves(self, project: str, deployment_id: str) -> bool:
        site = self.table.get(f"{deployment_id}--{project}")
        return site is not None and site.deployment_id == deployment_id
