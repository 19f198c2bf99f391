"""``network="registries"``: package registries yes, the host and private ranges no."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
from dataclasses import replace
from pathlib import Path

import anyio
import pytest

from previewd.runtimes import network
from previewd.runtimes.base import MiB, SandboxSpec
from previewd.runtimes.bubblewrap import BubblewrapRuntime
from tests.runtimes.helpers import FAST, Lines

pytestmark = [pytest.mark.anyio, pytest.mark.sandbox, pytest.mark.network]

LIMITS = replace(FAST, memory_bytes=512 * MiB, tmpfs_bytes=128 * MiB, timeout_s=60)

PROBE = """
import socket, sys
for host, port in [(h, int(p)) for h, p in (a.split(":") for a in sys.argv[1:])]:
    try:
        socket.create_connection((host, port), timeout=3).close()
        print("CONNECTED", host, port)
    except OSError as e:
        print("blocked", host, port, e.errno)
"""


def host_address() -> str:
    """The host's own address on its uplink (192.0.2.2 on the CI machines)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("1.1.1.1", 53))  # no packet is sent
        return str(s.getsockname()[0])


def links() -> set[str]:
    out = subprocess.run(["ip", "-j", "link"], capture_output=True, check=True).stdout
    return {link["ifname"] for link in json.loads(out)}


def namespaces() -> set[str]:
    path = Path("/run/netns")
    return {p.name for p in path.iterdir()} if path.exists() else set()


async def test_registries_reachable_host_and_private_ranges_not(
    bubblewrap: BubblewrapRuntime, workdir: Path, lines: Lines
) -> None:
    before_links, before_ns = links(), namespaces()
    accepted: list[object] = []
    loopback = await asyncio.start_server(lambda r, w: accepted.append(w), "127.0.0.1", 0)
    uplink = await asyncio.start_server(lambda r, w: accepted.append(w), host_address(), 0)
    lo_port = loopback.sockets[0].getsockname()[1]
    up_port = uplink.sockets[0].getsockname()[1]
    targets = [
        f"127.0.0.1:{lo_port}",  # the sandbox's own loopback: nothing there
        f"{host_address()}:{up_port}",  # the host itself
        f"{network.POOL.network_address + 1}:{lo_port}",  # the host's end of the veth
        "169.254.169.254:80",  # cloud metadata
        "10.255.255.53:80",  # the resolver, but not DNS
        "192.0.2.1:80",  # the host's LAN (its gateway)
    ]
    script = (
        "npm view is-number version && "
        "python3 -m pip download --no-deps --quiet -d /tmp/dl six==1.16.0 && ls /tmp/dl && "
        f"python3 -c '{PROBE}' {' '.join(targets)}"
    )
    spec = SandboxSpec(["sh", "-c", script], workdir, limits=LIMITS, network="registries")
    async with loopback, uplink:
        result = await bubblewrap.run(spec, lines)
    out = lines.of("stdout")
    assert result.ok, lines.text
    assert out[0].count(".") == 2 and out[0][0].isdigit()  # is-number's version, e.g. 7.0.0
    assert out[1] == "six-1.16.0-py2.py3-none-any.whl"
    assert [line.split()[0] for line in out[2:]] == ["blocked"] * len(targets)
    assert not accepted
    # the namespace, its veth pair and the slot are gone again
    assert links() == before_links and namespaces() == before_ns
    assert not network._used


async def test_concurrent_sandboxes_get_their_own_subnets(
    bubblewrap: BubblewrapRuntime, workdir: Path, tmp_path: Path
) -> None:
    script = (
        "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
        "s.connect(('1.1.1.1', 53)); print(s.getsockname()[0])"
    )
    seen: list[Lines] = [Lines(), Lines(), Lines()]

    async def one(i: int) -> None:
        work = tmp_path / f"w{i}"
        work.mkdir()
        spec = SandboxSpec(["python3", "-c", script], work, limits=LIMITS, network="registries")
        assert (await bubblewrap.run(spec, seen[i])).ok

    async with anyio.create_task_group() as tg:
        for i in range(3):
            tg.start_soon(one, i)
    addresses = {lines.of("stdout")[0] for lines in seen}
    assert len(addresses) == 3
    assert all(a.startswith("10.213.") for a in addresses)


async def test_network_none_has_no_route_out(
    bubblewrap: BubblewrapRuntime, workdir: Path, lines: Lines
) -> None:
    spec = SandboxSpec(
        ["python3", "-c", PROBE, "1.1.1.1:443", f"{host_address()}:22"], workdir, limits=FAST
    )
    assert (await bubblewrap.run(spec, lines)).ok
    assert [line.split()[0] for line in lines.of("stdout")] == ["blocked", "blocked"]


def test_namespaces_left_by_a_crash_are_swept_busy_ones_kept() -> None:
    subprocess.run(["ip", "netns", "add", "previewd-16001"], check=True)
    subprocess.run(["ip", "netns", "add", "previewd-16002"], check=True)
    holder = subprocess.Popen(["ip", "netns", "exec", "previewd-16002", "sleep", "30"])
    try:
        for _ in range(200):  # until the sleeper is inside
            if subprocess.run(
                ["ip", "netns", "pids", "previewd-16002"], capture_output=True
            ).stdout:
                break
        assert network.remove_stale(min_age_s=0) >= 1
        assert "previewd-16001" not in namespaces() and "previewd-16002" in namespaces()
    finally:
        holder.kill()
        holder.wait()
        subprocess.run(["ip", "netns", "del", "previewd-16002"], check=True)
