"""Preview servers' costs, next to references run in the same process.

* change → new version answering: a one-file change of a Flask app through the
  API (``base=latest``, ``wait=true``: detect, plan, install restored from the
  dependency cache, publish) until the edge answers with the new body, against
  the bare app's own cold start (``python -m flask run`` in the same venv on the
  host, no sandbox: spawn → first HTTP 200). Goal: at most 1.3x.
* wake from zero: the Flask preview put to sleep, then one request through the
  edge until its 200, against the same bare cold start. Goal: at most 1.2x.
* added proxy latency, p50 and p99: a steady stdlib asyncio app deployed as a
  preview (bridge in its sandbox, reached on its unix socket), requested
  directly on that socket, through nginx ``proxy_pass`` (upstream keepalive)
  and through the edge; one keep-alive connection, sequential requests, from a
  separate client process. Goal: the edge adds at most 1.5x what nginx adds.
* memory (RSS) of the control plane (this process: API, edge, supervisor)
  with 100 sleeping previews (each woken once, then put to sleep) vs none.

    .venv/bin/python bench/runtime.py [--rounds 7] [--requests 3000]

Needs root, bubblewrap, cgroup v1, nginx, node and PyPI (flask, installed once).
Everything listens on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import uvloop

if TYPE_CHECKING:  # the load client (this file, run again) must start without previewd
    from previewd.server import Previewd

FLASK_REQUIREMENTS = "flask\n"


def flask_app(version: int) -> str:
    return (
        "from flask import Flask\n\napp = Flask(__name__)\n\n\n"
        f'@app.get("/")\ndef index():\n    return "version {version}"\n'
    )


# a steady target: one asyncio protocol answering fixed bytes, keep-alive, no framework
LATENCY_APP = """\
import asyncio, os

ANSWER = b"HTTP/1.1 200 OK\\r\\nContent-Type: text/plain\\r\\nContent-Length: 5\\r\\n\\r\\nhello"


class Answer(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.pending = transport, b""

    def data_received(self, data):
        self.pending += data
        while (end := self.pending.find(b"\\r\\n\\r\\n")) >= 0:
            self.pending = self.pending[end + 4 :]
            self.transport.write(ANSWER)


async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Answer, "127.0.0.1", int(os.environ["PORT"]))
    await server.serve_forever()


asyncio.run(main())
"""
LATENCY_FILES = {
    "previewd.toml": '[server]\nruntime = "python"\nstart = "python3 app.py"\n',
    "app.py": LATENCY_APP,
}
NODE_SERVER = (
    'require("http").createServer((q, s) => s.end("asleep soon"))'
    ".listen(Number(process.env.PORT), '127.0.0.1');\n"
)
SLEEPER_FILES = {
    "package.json": json.dumps({"name": "sleeper", "scripts": {"start": "node server.js"}}),
    "server.js": NODE_SERVER,
}


# the load client: a separate process, so it never shares the edge's event loop


def client_main(target: str, host: str, requests: int, warmup: int) -> None:
    """Sequential GETs on one keep-alive connection; prints each latency (µs) as JSON."""
    if target.startswith("unix:"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(target[5:])
    else:
        address, port = target.rsplit(":", 1)
        sock = socket.create_connection((address, int(port)))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    request = f"GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: bench\r\n\r\n".encode()
    length = re.compile(rb"\r\ncontent-length: *(\d+)", re.I)
    clock, recv, send = time.perf_counter_ns, sock.recv, sock.sendall
    pending = b""
    samples = []

    def read() -> bytes:
        data = recv(65536)
        if not data:
            sys.exit(f"{target} closed the connection after {len(samples)} requests")
        return data

    for i in range(warmup + requests):
        began = clock()
        send(request)
        while (end := pending.find(b"\r\n\r\n")) < 0:
            pending += read()
        head = pending[:end]
        if not head.startswith(b"HTTP/1.1 200 "):
            sys.exit(f"unexpected answer from {target}: {head[:200]!r}")
        found = length.search(head)
        if found is None:
            sys.exit(f"no Content-Length from {target}: {head[:200]!r}")
        whole = end + 4 + int(found.group(1))
        while len(pending) < whole:
            pending += read()
        pending = pending[whole:]
        if i >= warmup:
            samples.append((clock() - began) / 1000)
    sock.close()
    print(json.dumps(samples))


async def run_client(target: str, host: str, requests: int, warmup: int) -> list[float]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--client",
        target,
        "--host",
        host,
        "--requests",
        str(requests),
        "--warmup",
        str(warmup),
        stdout=subprocess.PIPE,
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"the client for {target} failed ({process.returncode})")
    samples: list[float] = json.loads(out)
    return samples


# helpers


def free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


@dataclass
class Node:
    node: Previewd
    api: httpx.AsyncClient
    edge: httpx.AsyncClient
    domain: str

    async def deploy(self, project: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.api.post(
            f"/projects/{project}/deployments", json=body, params={"wait": True, "timeout": 300}
        )
        response.raise_for_status()
        deployment: dict[str, Any] = response.json()
        if deployment["status"] != "ready":
            raise RuntimeError(f"{project}: {deployment['error']}")
        return deployment

    async def get(self, project: str) -> httpx.Response:
        return await self.edge.get("/", headers={"host": f"{project}.{self.domain}"})

    async def steps(self, deployment_id: str) -> set[tuple[str, str]]:
        log = (await self.api.get(f"/deployments/{deployment_id}/logs")).json()
        return {(r["step"], r["status"]) for r in log if "status" in r}


@contextlib.asynccontextmanager
async def running_node() -> AsyncIterator[Node]:
    from previewd.config import Config
    from previewd.server import Previewd

    with tempfile.TemporaryDirectory(prefix="pvb-") as data:
        config = Config(
            data_dir=Path(data), api_port=0, edge_port=0, token="bench", log_level="warning"
        )
        node = Previewd(config)
        await node.start()
        if node.supervisor is None:
            raise SystemExit(f"no sandbox runtime here: {node.worker.no_builder_reason}")
        try:
            api = httpx.AsyncClient(
                base_url=node.api_url + "/api/v1",
                headers={"authorization": "Bearer bench"},
                timeout=300,
            )
            edge = httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{node.edge_address[1]}", timeout=60
            )
            async with api, edge:
                yield Node(node, api, edge, config.preview_domain)
        finally:
            await node.stop()


# a, b: change → live and wake from zero, against the bare cold start


@dataclass
class Stages:
    """Where one change → live (or wake) went, in seconds from the API call (or request)."""

    api: float  # the API answered: built, published, route live (0 for a wake)
    sandbox: float  # the supervisor started the sandbox
    bound: float  # the app printed that it listens
    answering: float  # the supervisor's probe got an answer through the bridge
    first: float  # the edge answered with the new body


def stages(node: Previewd, deployment_id: str, t0_wall: float, api: float, first: float) -> Stages:
    assert node.supervisor is not None
    lines = [line for line in node.supervisor.logs(deployment_id) if line.at >= t0_wall - 0.001]
    answered = next((ln for ln in lines if ln.text.startswith("answering after ")), None)
    bound = next((ln for ln in lines if "Running on" in ln.text), None)
    if answered is None:
        return Stages(api, float("nan"), float("nan"), float("nan"), first)
    took = float(answered.text.split()[2])
    at = answered.at - t0_wall
    return Stages(api, at - took, (bound.at - t0_wall) if bound else float("nan"), at, first)


async def change_to_live(n: Node, rounds: int) -> tuple[list[float], list[Stages], int]:
    """Each round: a one-file change through the API, then the edge until the new body."""
    cached = 0
    samples: list[float] = []
    breakdown: list[Stages] = []
    for i in range(1, rounds + 2):  # the first round warms code paths: not counted
        body = f"version {i}"
        t0_wall, t0 = time.time(), time.perf_counter()
        deployment = await n.deploy("flask", {"files": {"app.py": flask_app(i)}, "base": "latest"})
        api = time.perf_counter() - t0
        while (await n.get("flask")).text != body:
            pass  # a 503 "starting" page would turn this loop; the edge holds requests instead
        first = time.perf_counter() - t0
        if ("server:install", "cached") in await n.steps(deployment["id"]):
            cached += 1
        if i > 1:
            samples.append(first)
            breakdown.append(stages(n.node, deployment["id"], t0_wall, api, first))
    return samples, breakdown, cached - 1


async def wake_from_zero(n: Node, rounds: int) -> tuple[list[float], list[Stages]]:
    assert n.node.supervisor is not None
    deployment = await n.deploy("flask", {"files": {"app.py": flask_app(0)}, "base": "latest"})
    supervisor, deployment_id = n.node.supervisor, deployment["id"]
    assert (await n.get("flask")).text == "version 0"
    samples: list[float] = []
    breakdown: list[Stages] = []
    for other in supervisor.running():  # the earlier versions' servers: out of the way
        if other != deployment_id:
            await supervisor.stop(other)
    for _ in range(rounds):
        await supervisor.stop(deployment_id)
        if deployment_id in supervisor.running():
            raise RuntimeError("still running after stop")
        t0_wall, t0 = time.time(), time.perf_counter()
        response = await n.get("flask")
        first = time.perf_counter() - t0
        if response.text != "version 0":
            raise RuntimeError(f"wake answered {response.status_code}: {response.text[:200]}")
        samples.append(first)
        breakdown.append(stages(n.node, deployment_id, t0_wall, 0.0, first))
    return samples, breakdown


def flask_venv(data: Path) -> Path:
    """The venv previewd's build installed flask into (the dependency cache): the same flask."""
    for tree in (data / "build" / "cache" / "deps").iterdir():
        if list(tree.glob("lib/python3*/site-packages/flask")):
            return tree
    raise RuntimeError("flask's venv is not in the dependency cache")


async def bare_cold_starts(venv: Path, rounds: int) -> list[float]:
    """``python -m flask run`` in a prepared folder on the host: spawn → first HTTP 200."""
    samples: list[float] = []
    with tempfile.TemporaryDirectory(prefix="pvb-bare-") as folder:
        Path(folder, "app.py").write_text(flask_app(0))
        for i in range(rounds + 1):
            port = free_port()
            argv = [str(venv / "bin" / "python"), "-m", "flask", "--app", "app", "run"]
            argv += ["--host", "127.0.0.1", "--port", str(port)]
            t0 = time.perf_counter()
            process = await asyncio.create_subprocess_exec(
                *argv,
                cwd=folder,
                env={"PATH": os.environ["PATH"], "VIRTUAL_ENV": str(venv)},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                    while True:
                        try:
                            if (await http.get("/")).status_code == 200:
                                break
                        except httpx.TransportError:
                            await asyncio.sleep(0.002)
                took = time.perf_counter() - t0
            finally:
                process.terminate()
                await process.wait()
            if i > 0:  # the first warms the page cache
                samples.append(took)
    return samples


# c: added proxy latency


NGINX_CONF = """\
worker_processes 1;
user root;
daemon off;
master_process off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream app {{
        server unix:{socket};
        keepalive 16;
        keepalive_requests 1000000;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }}
    }}
}}
"""


@contextlib.asynccontextmanager
async def nginx(upstream_socket: Path) -> AsyncIterator[int]:
    with tempfile.TemporaryDirectory(prefix="pvb-nginx-") as prefix:
        port = free_port()
        conf = Path(prefix, "nginx.conf")
        conf.write_text(NGINX_CONF.format(prefix=prefix, socket=upstream_socket, port=port))
        process = await asyncio.create_subprocess_exec(
            "/usr/sbin/nginx", "-c", str(conf), "-p", prefix, stderr=subprocess.PIPE
        )
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.close()
                    break
                except OSError:
                    if process.returncode is not None or time.monotonic() > deadline:
                        raise RuntimeError("nginx did not start") from None
                    await asyncio.sleep(0.01)
            yield port
        finally:
            process.terminate()
            await process.wait()


async def proxy_latency(n: Node, rounds: int, requests: int) -> dict[str, list[float]]:
    assert n.node.supervisor is not None
    deployment = await n.deploy("lat", {"files": LATENCY_FILES})
    answer = await n.get("lat")  # wakes it: the socket exists from now on
    if answer.text != "hello":
        raise RuntimeError(f"the latency app answered {answer.status_code}: {answer.text[:200]}")
    path = n.node.supervisor.socket(deployment["id"])
    host = f"lat.{n.domain}"
    edge = f"127.0.0.1:{n.node.edge_address[1]}"
    samples: dict[str, list[float]] = {"direct": [], "nginx": [], "edge": []}
    async with nginx(path) as port:
        targets = {"direct": f"unix:{path}", "nginx": f"127.0.0.1:{port}", "edge": edge}
        for _ in range(rounds):  # interleaved: drift in the machine's load hits all three
            for name, target in targets.items():
                samples[name] += await run_client(target, host, requests, requests // 10)
    return samples


# d: memory with 100 sleeping previews


async def memory(count: int) -> tuple[int, int, float]:
    async with running_node() as n:
        supervisor = n.node.supervisor
        assert supervisor is not None
        # one static deployment first, so imports and caches count in the baseline
        await n.deploy("warm", {"files": {"index.html": "<p>warm</p>"}})
        gc.collect()
        before = rss_bytes()
        t0 = time.perf_counter()
        for i in range(count):
            deployment = await n.deploy(f"m{i}", {"files": SLEEPER_FILES})
            if (await n.get(f"m{i}")).text != "asleep soon":
                raise RuntimeError(f"m{i} did not answer")
            await supervisor.stop(deployment["id"])
        took = time.perf_counter() - t0
        if supervisor.running():
            raise RuntimeError(f"still running: {supervisor.running()}")
        gc.collect()
        return before, rss_bytes(), took


# the report


def ms(value: float) -> str:
    return f"{value * 1000:8.1f} ms"


def print_stages(title: str, rows: list[Stages]) -> None:
    def med(attr: str) -> float:
        values = [getattr(r, attr) for r in rows]
        values = [v for v in values if v == v]  # NaN: the log line was not there
        return statistics.median(values) if values else float("nan")

    api, sandbox, bound = med("api"), med("sandbox"), med("bound")
    answering, first = med("answering"), med("first")
    print(f"  where the time goes ({title}, medians, from the call):")
    if api:
        print(f"    API answered (detect, plan, install cached, publish, route) {ms(api)}")
    print(f"    sandbox started (supervisor → bwrap spawned)               {ms(sandbox)}")
    print(f"    app printed it listens (bridge + python + flask import)    {ms(bound)}")
    print(f"    supervisor's probe answered through the bridge             {ms(answering)}")
    print(f"    the edge answered with the body                            {ms(first)}")


async def run(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    before, after, took = await memory(args.sleepers)
    async with running_node() as n:
        first = await n.deploy(
            "flask", {"files": {"requirements.txt": FLASK_REQUIREMENTS, "app.py": flask_app(0)}}
        )
        if (await n.get("flask")).text != "version 0":
            raise RuntimeError("the Flask preview did not answer")
        venv = flask_venv(n.node.config.data_path)
        bare = await bare_cold_starts(venv, args.rounds)
        live, live_stages, cached = await change_to_live(n, args.rounds)
        wake, wake_stages = await wake_from_zero(n, args.rounds)
        bare += await bare_cold_starts(venv, args.rounds)  # before and after: drift shows
        latency = await proxy_latency(n, args.latency_rounds, args.requests)
        install = await n.steps(first["id"])
    ref = statistics.median(bare)
    print(f"Flask app, {args.rounds} rounds each (medians; bare: {len(bare)} starts)")
    print(f"  bare cold start (host venv, flask run → first 200)  {ms(ref)}")
    live_m, wake_m = statistics.median(live), statistics.median(wake)
    goal = "met" if live_m / ref <= 1.3 else "NOT met"
    print(
        f"  change → new version answering (API → edge)         {ms(live_m)}  "
        f"{live_m / ref:5.2f}×   goal ≤ 1.30×: {goal}"
    )
    goal = "met" if wake_m / ref <= 1.2 else "NOT met"
    print(
        f"  wake from zero (request → edge 200)                 {ms(wake_m)}  "
        f"{wake_m / ref:5.2f}×   goal ≤ 1.20×: {goal}"
    )
    print(
        f"  server:install restored from the dependency cache in {cached} of "
        f"{args.rounds} changes (first install: {sorted(s for s in install if s[0].startswith('server'))})"
    )
    print_stages("change → live", live_stages)
    print_stages("wake", wake_stages)

    direct = latency["direct"]
    print(
        f"proxy latency, {args.latency_rounds} interleaved rounds × {args.requests} sequential "
        "keep-alive requests (µs)"
    )
    print("                                     p50      p99   added p50  added p99")
    rows = {}
    for name, label in (
        ("direct", "direct to the app's unix socket"),
        ("nginx", "nginx proxy_pass"),
        ("edge", "previewd edge"),
    ):
        s = latency[name]
        p50, p99 = pct(s, 0.50), pct(s, 0.99)
        rows[name] = (p50 - pct(direct, 0.50), p99 - pct(direct, 0.99))
        added = "" if name == "direct" else f"  {rows[name][0]:8.1f}   {rows[name][1]:8.1f}"
        print(f"  {label:<33} {p50:7.1f}  {p99:7.1f}{added}")
    r50 = rows["edge"][0] / rows["nginx"][0] if rows["nginx"][0] > 0 else float("inf")
    r99 = rows["edge"][1] / rows["nginx"][1] if rows["nginx"][1] > 0 else float("inf")
    print(
        f"  edge added / nginx added           {r50:5.2f}× p50, {r99:5.2f}× p99   "
        f"goal ≤ 1.50×: {'met' if r50 <= 1.5 else 'NOT met'} (p50)"
    )

    mib = 1024 * 1024
    print(f"control plane memory (RSS of this process), {args.sleepers} sleeping previews")
    print(f"  no previews                         {before / mib:8.1f} MiB")
    print(
        f"  {args.sleepers} sleeping previews (woken once)  {after / mib:8.1f} MiB   "
        f"+{(after - before) / args.sleepers / 1024:.1f} KiB each "
        f"(deploy + wake + sleep: {took / args.sleepers * 1000:.0f} ms each)"
    )
    print(f"bench took {time.perf_counter() - started:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--latency-rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--sleepers", type=int, default=100)
    # the load client, run as a separate process by the latency bench
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--host", help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client_main(args.client, args.host, args.requests, args.warmup)
        return
    uvloop.run(run(args))


if __name__ == "__main__":
    main()
