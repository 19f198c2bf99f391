"""Sandbox overhead per step, next to bare bubblewrap run in the same process.

Each case starts ``true`` N times, one after another, on one event loop, and
reports the median wall time per start (spawn to exit and cleanup):

* reference: ``bwrap --unshare-all --die-with-parent`` with /usr, /proc, /dev
  and a tmpfs, the cheapest useful bubblewrap sandbox;
* previewd's sandbox command line (uid drop, seccomp, /etc, sized tmpfs)
  without cgroups, then the whole ``BubblewrapRuntime.run()`` with cgroups;
* ``network="registries"``: the namespace, veth pair and routes set up and
  torn down, alone and as part of a run.

    .venv/bin/python bench/sandbox.py [--runs 50] [--favordynmods]

Joining a cgroup v1 group waits for an RCU grace period (5-15 ms here) unless
one joined moments before; the kernel skips that wait while any hierarchy is
mounted with ``favordynmods`` (which makes fork and exit a little dearer).
``--favordynmods`` mounts an empty named hierarchy with it for the duration
of the run, to show the difference; previewd itself leaves the host as it is.

Needs root, bubblewrap, cgroup v1, and for the last lines iproute2 + nftables.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

from previewd.runtimes.base import SandboxSpec
from previewd.runtimes.bubblewrap import BubblewrapRuntime
from previewd.runtimes.network import RegistryNetwork
from previewd.runtimes.process import spawn

BARE = [
    "bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr",
    "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib",
    "--symlink", "usr/lib64", "/lib64", "--proc", "/proc", "--dev", "/dev",
    "--tmpfs", "/tmp", "true",
]  # fmt: skip


async def medians_ms(
    runs: int, cases: dict[str, Callable[[], Awaitable[object]]]
) -> dict[str, float]:
    """Run the cases in turn, ``runs`` rounds, so that load from elsewhere hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    for round_ in range(runs + 3):
        for name, step in cases.items():
            started = time.perf_counter()
            await step()
            if round_ >= 3:  # warm-up rounds are not counted
                times[name].append(time.perf_counter() - started)
    return {name: statistics.median(ts) * 1000 for name, ts in times.items()}


async def main(runs: int) -> None:
    runtime = BubblewrapRuntime()
    runtime.check()
    work = Path(tempfile.mkdtemp(prefix="previewd-bench-"))
    spec = SandboxSpec(["true"], work)

    async def bare() -> None:
        assert await (await spawn(BARE, env={})).wait() == 0

    async def without_cgroups() -> None:
        argv, fds = runtime._argv_with(["true"], network_none=True)
        try:
            child = await spawn(argv, env={}, pass_fds=fds)
        finally:
            for fd in fds:
                os.close(fd)
        assert await child.wait() == 0

    async def full() -> None:
        assert (await runtime.run(spec)).ok

    async def registries() -> None:
        assert (await runtime.run(SandboxSpec(["true"], work, network="registries"))).ok

    async def network_only() -> None:
        await (await RegistryNetwork.create()).close()

    results = await medians_ms(
        runs,
        {
            "bare bwrap --unshare-all … true (reference)": bare,
            "previewd sandbox, no cgroups": without_cgroups,
            "previewd sandbox + cgroups: runtime.run()": full,
            "network=registries: netns + veth setup/teardown": network_only,
            "runtime.run() with network=registries": registries,
        },
    )
    reference = next(iter(results.values()))
    print(f"sandbox start to end of `true`, median of {runs} interleaved rounds")
    for name, ms in results.items():
        print(f"  {name:<50} {ms:7.2f} ms  {ms / reference:5.2f}x")
    print("goal: runtime.run() <= 2.00x the reference")


@contextlib.contextmanager
def favordynmods() -> Iterator[None]:
    mountpoint = tempfile.mkdtemp(prefix="previewd-favordynmods-")
    options = "none,name=previewd-bench,favordynmods"
    subprocess.run(["mount", "-t", "cgroup", "-o", options, "cgroup", mountpoint], check=True)
    try:
        yield
    finally:
        subprocess.run(["umount", mountpoint], check=True)
        os.rmdir(mountpoint)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--favordynmods", action="store_true")
    args = parser.parse_args()
    with favordynmods() if args.favordynmods else contextlib.nullcontext():
        asyncio.run(main(args.runs))
