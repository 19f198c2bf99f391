"""Requests per second of the edge next to nginx, serving the same static files.

    .venv/bin/python bench/edge_static.py [--duration 10] [--connections 50]

Starts the edge in this process on uvloop (as ``previewd up`` does) and nginx
(one worker, sendfile, open_file_cache, no access log) on free ports of
127.0.0.1, then runs ``wrk -t1`` against each for a 2 KB and a 100 KB file and
prints requests per second and the edge/nginx ratio. Needs ``wrk`` and
``nginx`` (Debian: ``apt-get install wrk nginx``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import sys
import tempfile
from pathlib import Path

import uvloop

from previewd.blobs import LocalBlobStore
from previewd.edge import EdgeServer, RouteTable, Site

SIZES = {"2k.html": 2 * 1024, "100k.html": 100 * 1024}
NGINX_CONF = """
worker_processes 1;
daemon off;
master_process on;
user root;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    open_file_cache max=1000 inactive=60s;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    types {{ text/html html; }}
    server {{
        listen 127.0.0.1:{port};
        root {root};
        etag on;
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wrk(url: str, duration: int, connections: int) -> float:
    process = await asyncio.create_subprocess_exec(
        "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "-H", "Host: bench.localhost", url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await process.communicate()
    text = output.decode()
    match = re.search(r"Requests/sec:\s+([0-9.]+)", text)
    if match is None or "Non-2xx" in text or "Socket errors" in text:
        raise RuntimeError(f"wrk failed or saw errors:\n{text}")
    return float(match.group(1))


async def wait_listening(port: int) -> None:
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.02)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise RuntimeError(f"nothing listens on port {port}")


async def main(duration: int, connections: int) -> None:
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            sys.exit(f"{tool} is missing: apt-get install -y wrk nginx")
    tmp = Path(tempfile.mkdtemp(prefix="previewd-bench-"))
    root = tmp / "site"
    root.mkdir()
    os.chmod(tmp, 0o755)
    blobs = LocalBlobStore(tmp / "blobs")
    entries = []
    for name, size in SIZES.items():
        data = (b"<p>previewd benchmark " + os.urandom(8).hex().encode() + b"</p>\n") * size
        data = data[:size]
        (root / name).write_bytes(data)
        entries.append((name, blobs.put(data), size))
    routes = RouteTable()
    routes.set("bench", Site.build("1bench", "bench", entries))
    edge = EdgeServer(routes, blobs)
    _, edge_port = await edge.start("127.0.0.1", 0)

    nginx_port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, port=nginx_port, root=root))
    nginx = await asyncio.create_subprocess_exec(
        shutil.which("nginx") or "/usr/sbin/nginx", "-c", str(conf), "-e", str(tmp / "err.log")
    )
    try:
        await wait_listening(nginx_port)
        print(f"wrk -t1 -c{connections} -d{duration}s, edge on uvloop in-process, nginx 1 worker")
        print(f"{'file':<10} {'edge req/s':>12} {'nginx req/s':>12} {'edge/nginx':>11}")
        for name in SIZES:
            ours = await wrk(f"http://127.0.0.1:{edge_port}/{name}", duration, connections)
            theirs = await wrk(f"http://127.0.0.1:{nginx_port}/{name}", duration, connections)
            print(f"{name:<10} {ours:>12,.0f} {theirs:>12,.0f} {ours / theirs:>10.2f}x")
    finally:
        nginx.terminate()
        await nginx.wait()
        await edge.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args()
    uvloop.run(main(args.duration, args.connections))
