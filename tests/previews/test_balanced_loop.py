"""Two instances of one app server through the whole loop: API → build → edge → balancer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from previewd.config import Config
from previewd.edge import Balancer
from previewd.server import Previewd
from tests.previews.helpers import wait_for
from tests.previews.test_node import deploy, package
from tests.support import TOKEN, EdgeClient

pytestmark = [pytest.mark.anyio, pytest.mark.sandbox]

# each instance draws its own token at start: which one answered
SERVER = """\
const http = require("http");
const me = Math.random().toString(36).slice(2);
http
  .createServer((req, res) => setTimeout(() => res.end(me), req.url === "/slow" ? 300 : 0))
  .listen(Number(process.env.PORT), "127.0.0.1");
"""


@pytest.fixture
async def two(config: Config) -> AsyncIterator[Previewd]:
    node = Previewd(config.model_copy(update={"preview_instances": 2}))
    await node.start()
    try:
        yield node
    finally:
        await node.stop()


async def test_requests_are_spread_over_both_instances(two: Previewd) -> None:
    assert two.app is not None
    transport = httpx.ASGITransport(app=two.app)
    headers = {"authorization": f"Bearer {TOKEN}"}
    async with (
        httpx.AsyncClient(
            transport=transport, base_url="http://api/api/v1", headers=headers
        ) as api,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{two.edge_address[1]}") as http,
    ):
        edge = EdgeClient(http, two.config.preview_domain)
        files = {"package.json": package(scripts={"start": "node server.js"}), "server.js": SERVER}
        deployment = await deploy(api, "pair", files)
        assert two.supervisor is not None
        supervisor, deployment_id = two.supervisor, deployment["id"]
        await wait_for(lambda: all(supervisor.serving(deployment_id, n) for n in (0, 1)), 30)
        # one slow request holds one instance: the others go to the idle one
        slow = asyncio.ensure_future(edge.get("pair", "/slow"))
        balancer = two.route_sync._upstreams[deployment["id"]]
        assert isinstance(balancer, Balancer)
        await wait_for(lambda: sum(m.active for m in balancer.members) == 1)
        quick = {(await edge.get("pair", "/")).text for _ in range(3)}
        held = (await slow).text
        assert len(quick) == 1 and held not in quick  # two processes, both used
        [view] = (await api.get("/previews")).json()
        assert (view["instances"], view["healthy"]) == (2, 2)


def test_more_instances_than_running_slots_is_refused_at_start() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="cannot exceed preview_max_running"):
        Config(preview_instances=3, preview_max_running=2)
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        Config(preview_instances=0)
