"""Update → live: from the API call that changes one file to the edge serving it.

Runs a real previewd node in this process (API and edge on free loopback
ports) and sends N updates of a small static site, each changing index.html
through the API (`base=latest`, `wait=true`) and then fetching the project URL
from the edge until the new bytes come back. The reference, run in the same
process: the same bytes written to a fresh directory and fetched from a plain
static server (`python -m http.server`).

    .venv/bin/python bench/update_to_live.py [--updates 200]
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import uvloop

from previewd.config import Config
from previewd.server import Previewd

SITE = {
    "index.html": "<!doctype html><title>bench</title><h1>start</h1>",
    "style.css": "body { font-family: sans-serif; }\n" * 20,
    "app.js": "console.log('bench');\n" * 50,
    **{f"pages/p{i}.html": f"<p>page {i}</p>\n" * 10 for i in range(12)},
}


def page(i: int) -> str:
    return f"<!doctype html><title>bench</title><h1>update {i}</h1>" + "<p>x</p>" * 40


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.95) - 1]


async def previewd_run(updates: int, warmup: int) -> list[float]:
    with tempfile.TemporaryDirectory() as data:
        config = Config(
            data_dir=Path(data), api_port=0, edge_port=0, token="bench", log_level="warning"
        )
        node = Previewd(config)
        await node.start()
        try:
            api = httpx.AsyncClient(
                base_url=node.api_url + "/api/v1",
                headers={"authorization": "Bearer bench"},
                timeout=30,
            )
            edge = httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{node.edge_address[1]}",
                headers={"host": "site.localhost"},
                timeout=30,
            )
            async with api, edge:
                await api.post(
                    "/projects/site/deployments", json={"files": SITE}, params={"wait": True}
                )
                samples = []
                for i in range(warmup + updates):
                    body = page(i)
                    start = time.perf_counter()
                    response = await api.post(
                        "/projects/site/deployments",
                        json={"files": {"index.html": body}, "base": "latest"},
                        params={"wait": True},
                    )
                    response.raise_for_status()
                    while (await edge.get("/")).text != body:
                        pass  # wait=true answers once served, so this loop should not turn
                    if i >= warmup:
                        samples.append(time.perf_counter() - start)
                return samples
        finally:
            await node.stop()


def free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def reference_run(updates: int, warmup: int) -> list[float]:
    with tempfile.TemporaryDirectory() as root:
        port = free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "http.server",
                str(port),
                "--bind",
                "127.0.0.1",
                "--directory",
                root,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
                while True:
                    with contextlib.suppress(httpx.TransportError):
                        await http.get("/")
                        break
                samples = []
                for i in range(warmup + updates):
                    body = page(i)
                    start = time.perf_counter()
                    fresh = Path(root) / f"v{i}"
                    fresh.mkdir()
                    (fresh / "index.html").write_text(body)
                    while (await http.get(f"/v{i}/index.html")).text != body:
                        pass
                    if i >= warmup:
                        samples.append(time.perf_counter() - start)
                return samples
        finally:
            server.terminate()
            server.wait()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()
    ours = summary(await previewd_run(args.updates, args.warmup))
    ref = summary(await reference_run(args.updates, args.warmup))
    print(f"update → live over {args.updates} updates (ms)      p50      p95")
    print(f"  previewd (API call → edge serves)     {ours[0] * 1e3:7.2f}  {ours[1] * 1e3:7.2f}")
    print(f"  reference (write file → http.server)  {ref[0] * 1e3:7.2f}  {ref[1] * 1e3:7.2f}")
    print(
        f"  ratio previewd / reference            {ours[0] / ref[0]:7.2f}× {ours[1] / ref[1]:7.2f}×"
    )
    print(
        f"  goal: p50 ≤ 10 ms, p95 ≤ 30 ms  →  {'met' if ours[0] <= 0.010 and ours[1] <= 0.030 else 'NOT met'}"
    )


if __name__ == "__main__":
    uvloop.run(main())
