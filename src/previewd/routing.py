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
from collections.abc import Awaitable, Callable

from previewd import snapshots
from previewd.edge.routes import Route, RouteTable, Site
from previewd.edge.upstream import Balancer, Target, Upstream
from previewd.events import Broker, Event
from previewd.previews import Supervisor, bundles
from previewd.service import ROUTES, Service, deployment_topic

log = logging.getLogger("previewd.routing")


def label_topic(label: str) -> str:
    """Where the route sync says that ``label`` serves another deployment (live reload)."""
    return f"label:{label}"


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
        self._upstreams: dict[str, Target] = {}  # deployment id -> its server, shared by labels
        self._sites: OrderedDict[tuple[str, bool], Site] = OrderedDict()
        self._cache_size = cache_size
        self.loaded = asyncio.Event()  # set once every existing route is in the table
        # Rewrites a new Site before it serves (the feedback page script in HTML pages).
        self.inject: Callable[[Site], Awaitable[Site]] | None = None
        self._warming: set[asyncio.Task[None]] = set()

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
        deployment_id = event["deployment"]
        self.table.set(
            event["label"],
            dataclasses.replace(
                site, deployment_id=event["deployment"], project=event["project"], routes=routes
            ),
        )
        self.broker.publish(label_topic(event["label"]), {"deployment": deployment_id})
        if routes and self.supervisor is not None and self.loaded.is_set():
            # just published: start its server now rather than on the first visit, and
            # call it live once it answers (or failed to start: that is an answer too)
            task = asyncio.create_task(self._warm(deployment_id))
            self._warming.add(task)
            task.add_done_callback(self._warming.discard)
            return
        self.broker.publish(deployment_topic(deployment_id), {"status": "live"})

    async def _warm(self, deployment_id: str) -> None:
        assert self.supervisor is not None
        try:
            await self.supervisor.ensure_running(deployment_id)
        except Exception as exc:  # recorded by the supervisor, shown at the edge
            log.info("server of %s did not start: %s", deployment_id, exc)
        self.broker.publish(deployment_topic(deployment_id), {"status": "live"})

    async def _site(self, digest: str, spa: bool) -> Site:
        """One Site per (snapshot, spa): deployments with equal files share it."""
        key = (digest, spa)
        site = self._sites.get(key)
        if site is None:
            snap = snapshots.cached(digest) or await self.service.snapshot(digest)
            entries = ((path, f.digest, f.size) for path, f in snap.files.items())
            site = Site.build("", "", entries, spa=spa)
            if self.inject is not None:
                site = await self.inject(site)
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
            upstream = await self._upstream(event)
            self._upstreams[deployment_id] = upstream
        return tuple(
            Route(pattern, upstream if part == "server" else "static")
            for pattern, part in event["routes"].items()
        )

    async def _upstream(self, event: Event) -> Target:
        """The server of a deployment, known to the supervisor, asleep until needed."""
        assert self.supervisor is not None
        supervisor, deployment_id = self.supervisor, event["deployment"]
        instances = self.service.config.preview_instances
        bundle = await bundles.load(event["server"], self.service.snapshot)
        supervisor.add(deployment_id, bundle, project=event["project"], replicas=instances)

        async def ready() -> None:
            await supervisor.ensure_running(deployment_id)

        def touch() -> None:
            supervisor.touch(deployment_id)

        if instances == 1:
            return Upstream(str(supervisor.socket(deployment_id)), ready=ready, touch=touch)
        return Balancer(
            [Upstream(str(supervisor.socket(deployment_id, n))) for n in range(instances)],
            healthy=lambda n: supervisor.serving(deployment_id, n),
            ready=ready,
            touch=touch,
        )

    def serves(self, project: str, deployment_id: str) -> bool:
        """The deployment's URL works: its route is in the table and its server, if it has
        one, has answered (or has failed to start, which its URL then says)."""
        site = self.table.get(f"{deployment_id}--{project}")
        if site is None or site.deployment_id != deployment_id:
            return False
        if not site.routes or self.supervisor is None:
            return True
        return deployment_id not in self.supervisor.known() or self.supervisor.tried(deployment_id)
