"""Real Node servers through the whole loop: API → build (npm/pnpm in a sandbox) → edge.

A plain ``http`` server with no dependencies, an Express app installed from
the npm registry, and a pnpm project whose ``start`` script goes through
corepack (pnpm is not installed on the host: the build fetched it, the
preview's sandbox runs it offline).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from previewd.blobs.local import LocalBlobStore
from previewd.build import plan
from previewd.build.plan import _COREPACK_DEFAULTS
from previewd.build.toolchain import Toolchain
from previewd.detection import SnapshotTree, detect
from previewd.server import Previewd
from tests.builds.helpers import snapshot
from tests.support import EdgeClient

# what the server tells about how it was started: its port, and the package manager's marks
PLAIN_SERVER = """\
const http = require("http");
http
  .createServer((req, res) => {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({
      url: req.url,
      port: process.env.PORT,
      env: process.env.NODE_ENV || null,
      agent: process.env.npm_config_user_agent || null,
      script: process.env.npm_lifecycle_event || null,
      forwardedFor: req.headers["x-forwarded-for"] || null,
    }));
  })
  .listen(Number(process.env.PORT), "127.0.0.1");
"""
EXPRESS_SERVER = """\
const express = require("express");
const app = express();
app.use(express.json());
app.get("/", (req, res) => res.send("hello from express"));
app.post("/api/sum", (req, res) => res.json({ sum: req.body.numbers.reduce((a, b) => a + b, 0) }));
app.listen(process.env.PORT, () => console.log("express up on " + process.env.PORT));
"""


def package(**fields: Any) -> str:
    return json.dumps({"name": "app", "version": "1.0.0", "private": True, **fields}, indent=2)


async def deploy(api: httpx.AsyncClient, project: str, files: dict[str, str]) -> dict[str, Any]:
    response = await api.post(
        f"/projects/{project}/deployments",
        json={"files": files},
        params={"wait": True, "timeout": 300},
    )
    assert response.status_code == 201, response.text
    deployment: dict[str, Any] = response.json()
    assert deployment["status"] == "ready", deployment["error"]
    return deployment


async def steps(api: httpx.AsyncClient, deployment: dict[str, Any]) -> set[tuple[str, str]]:
    log = (await api.get(f"/deployments/{deployment['id']}/logs")).json()
    return {(r["step"], r["status"]) for r in log if "status" in r}


@pytest.mark.anyio
@pytest.mark.sandbox
@pytest.mark.network
async def test_plain_node_server_with_a_start_script(
    api: httpx.AsyncClient, edge: EdgeClient, node: Previewd
) -> None:
    files = {
        "package.json": package(scripts={"start": "node server.js"}),
        "server.js": PLAIN_SERVER,
    }
    deployment = await deploy(api, "plain", files)
    assert await steps(api, deployment) == set()  # no dependencies: nothing to install or build
    page = await edge.get("plain", "/hello?x=1", timeout=60)
    assert page.status_code == 200, page.text
    answer = page.json()
    assert (answer["url"], answer["port"]) == ("/hello?x=1", "8000")
    assert answer["script"] is None  # run as `node server.js`, no npm process in front
    assert answer["forwardedFor"] == "127.0.0.1"
    [preview] = (await api.get("/previews")).json()
    assert (preview["deployment"], preview["state"]) == (deployment["id"], "running")


@pytest.mark.anyio
@pytest.mark.sandbox
@pytest.mark.network
async def test_express_app_installed_from_the_registry(
    api: httpx.AsyncClient, edge: EdgeClient
) -> None:
    files = {
        "package.json": package(
            scripts={"start": "node index.js"}, dependencies={"express": "^4.21.0"}
        ),
        "index.js": EXPRESS_SERVER,
    }
    deployment = await deploy(api, "shop", files)
    assert ("server:install", "done") in await steps(api, deployment)
    page = await edge.get("shop", timeout=60)
    assert (page.status_code, page.text) == (200, "hello from express")
    headers = {"host": f"shop.{edge.domain}"}
    summed = await edge.http.post("/api/sum", json={"numbers": [1, 2, 39]}, headers=headers)
    assert summed.json() == {"sum": 42}
    printed = (await api.get(f"/deployments/{deployment['id']}/runtime-logs")).json()
    assert any(line["text"] == "express up on 8000" for line in printed), printed


@pytest.mark.anyio
@pytest.mark.sandbox
@pytest.mark.network
async def test_pnpm_start_script_runs_through_corepack_offline(
    api: httpx.AsyncClient, edge: EdgeClient, node: Previewd
) -> None:
    # not one command previewd can run directly (an assignment first): `pnpm start` runs it
    scripts = {"start": "NODE_ENV=production node server.js"}
    files = {
        "package.json": package(scripts=scripts, packageManager=_COREPACK_DEFAULTS["pnpm"]),
        "server.js": PLAIN_SERVER,
    }
    deployment = await deploy(api, "pn", files)
    # no dependencies, yet an install: it fetches pnpm for the start
    assert ("server:install", "done") in await steps(api, deployment)
    page = await edge.get("pn", "/from-pnpm", timeout=60)
    assert page.status_code == 200, page.text
    answer = page.json()
    assert answer["url"] == "/from-pnpm" and answer["env"] == "production"
    assert answer["script"] == "start"
    assert answer["agent"].startswith("pnpm/9.15.9 "), answer["agent"]
    # a second deployment with the same manifest starts from the cached install
    again = await deploy(api, "pn", {**files, "server.js": PLAIN_SERVER.replace("url:", "u:")})
    assert ("server:install", "cached") in await steps(api, again)
    page = await edge.get("pn", "/again", timeout=60)
    assert page.json()["u"] == "/again"
    assert node.supervisor is not None and node.supervisor.info(again["id"]).crashes == ()


@pytest.mark.parametrize(
    ("manager", "lockfile"), [("pnpm", "pnpm-lock.yaml"), ("yarn", "yarn.lock"), ("npm", None)]
)
def test_start_through_a_package_manager_is_planned_offline(
    manager: str, lockfile: str | None, tmp_path: Path
) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")
    scripts = {"prestart": "node check.js", "start": "node server.js"}  # a hook: not direct
    files = {
        "package.json": package(scripts=scripts, dependencies={"ms": "2.1.3"}),
        "server.js": PLAIN_SERVER,
        "check.js": "",
        **({lockfile: ""} if lockfile else {}),
    }
    source = snapshot(blobs, files)
    detection = detect(SnapshotTree(source.files, blobs))
    assert detection.server is not None and detection.server.start == (manager, "start")
    made = plan.make(detection, source.files, Toolchain({}), blobs.read)
    part = made.part("server")
    assert part is not None and part.install is not None
    if manager == "npm":  # npm is on the host: the start stays as detected
        assert part.start is None and not part.install.corepack_in_deps
        return
    install = part.install
    assert install.corepack_in_deps and install.corepack is not None
    assert part.start == ("corepack", _COREPACK_DEFAULTS[manager], "start")
    assert part.start_env["COREPACK_HOME"] == "/work/node_modules/.corepack"
    assert part.start_env["COREPACK_ENABLE_DOWNLOAD_PROMPT"] == "0"
    # its tree holds the package manager too: never the cache entry of a plain install
    plain = plan._node_install(
        "client",
        detection.server.install or (),
        lockfile,
        ".",
        source.files,
        Toolchain({}),
        blobs.read,
    )
    assert plain is not None and not plain.corepack_in_deps
    assert plain.argv == install.argv and plain.key != install.key
