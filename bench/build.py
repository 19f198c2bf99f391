"""The build system's costs, next to references run in the same process.

* sandbox overhead per step: a whole builder step that runs ``true`` (detect,
  plan, link the files in, sandbox, collect, cache) and ``runtime.run(true)``
  alone, against bare ``bwrap --unshare-all … true`` (goal: at most 2x);
* a warm rebuild of a small Vite app after one source file changed (the
  install cached, the build run) against bare
  ``node node_modules/vite/bin/vite.js build`` in a prepared folder on the
  host (goal: at most 1.1x);
* the install: cold (empty download cache), warm (npm's download cache full,
  the dependency cache empty), and restored from the dependency cache;
* registry requests (``npm http fetch`` lines, npm asked to log them) of each,
  and of a warm rebuild (goal: 0).

    .venv/bin/python bench/build.py [--runs 10]

Needs root, bubblewrap, cgroup v1, nftables + iproute2, and the npm registry.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from sandbox import BARE, medians_ms

from previewd import snapshots
from previewd.blobs.local import LocalBlobStore
from previewd.build import Builder, BuildResult, ComputePool
from previewd.build.workspace import link_tree, materialise
from previewd.changeset import FileSpec
from previewd.runtimes.base import (
    DEFAULT_ENV,
    GiB,
    Mount,
    OnLine,
    ResourceLimits,
    RunResult,
    SandboxSpec,
)
from previewd.runtimes.bubblewrap import BubblewrapRuntime
from previewd.runtimes.process import spawn
from previewd.snapshots import Snapshot

PACKAGE = {
    "name": "bench-app",
    "private": True,
    "type": "module",
    "scripts": {"build": "vite build"},
    "devDependencies": {"vite": "^7.1.0"},
}
APP = {
    "package.json": json.dumps(PACKAGE),
    "index.html": '<!doctype html><div id="app"></div><script type="module" src="/main.js"></script>',
    "main.js": 'import { message } from "./message.js";\n'
    'document.querySelector("#app").textContent = message;\n',
    "message.js": 'export const message = "hello";\n',
}
LIMITS = ResourceLimits(
    memory_bytes=2 * GiB, cpu_cores=float(os.cpu_count() or 1), pids=512, timeout_s=300
)


class Counting:
    """A runtime that asks npm to log its HTTP requests and counts those that left the host."""

    def __init__(self, inner: BubblewrapRuntime) -> None:
        self.inner = inner
        self.name, self.uid, self.gid = inner.name, inner.uid, inner.gid
        self.fetches = 0
        self.registry_sandboxes = 0

    async def run(self, spec: SandboxSpec, on_line: OnLine | None = None) -> RunResult:
        if spec.network == "registries":
            self.registry_sandboxes += 1
            spec = dataclasses.replace(spec, env={**spec.env, "npm_config_loglevel": "http"})

        def count(stream: str, line: str) -> None:
            self.fetches += "npm http fetch" in line  # "npm http cache …" lines are hits
            if on_line is not None:
                on_line(stream, line)  # type: ignore[arg-type]

        return await self.inner.run(spec, count)

    async def start(self, spec: SandboxSpec, on_line: OnLine | None = None):  # type: ignore[no-untyped-def]
        raise NotImplementedError


class Quiet:
    def line(self, step: str, stream: str, text: str) -> None:
        pass

    def event(self, step: str, status: str, detail: str = "") -> None:
        pass


def snapshot(blobs: LocalBlobStore, files: dict[str, str]) -> Snapshot:
    specs = {}
    for path, text in files.items():
        data = text.encode()
        specs[path] = FileSpec(blobs.put(data), len(data), 0o644)
    return snapshots.build(specs)


async def resolve_lockfile(runtime: BubblewrapRuntime, base: Path) -> str:
    """package-lock.json from the registry, with a download cache of its own (left cold)."""
    folder, cache = base / "lock", base / "lock-cache"
    folder.mkdir()
    cache.mkdir()
    (folder / "package.json").write_text(APP["package.json"])
    argv = ["npm", "install", "--package-lock-only", "--ignore-scripts", "--no-audit", "--no-fund"]
    spec = SandboxSpec(
        argv,
        folder,
        env={"npm_config_cache": "/cache/npm"},
        limits=LIMITS,
        mounts=[Mount(cache, "/cache/npm", writable=True)],
        network="registries",
    )
    result = await runtime.run(spec)
    assert result.ok, result.message()
    return (folder / "package-lock.json").read_text()


def step_seconds(result: BuildResult, name: str) -> float:
    return next(r.seconds for r in result.steps if r.name == name)


async def main(runs: int) -> None:
    runtime = BubblewrapRuntime()
    runtime.check()
    base = Path(tempfile.mkdtemp(prefix="previewd-bench-build-"))
    try:
        await bench(runtime, base, runs)
    finally:
        shutil.rmtree(base, ignore_errors=True)


async def bench(runtime: BubblewrapRuntime, base: Path, runs: int) -> None:
    blobs = LocalBlobStore(base / "blobs")
    counting = Counting(runtime)
    builder = Builder(
        runtime=counting,  # type: ignore[arg-type]
        blobs=blobs,
        root=base / "build",
        pool=ComputePool(concurrency=2, memory_bytes=4 * GiB),
        limits=LIMITS,
    )
    files = {**APP, "package-lock.json": await resolve_lockfile(runtime, base)}

    # -- installs ---------------------------------------------------------------------
    cold = await builder.build("cold", snapshot(blobs, files), Quiet())
    cold_install, cold_fetches = step_seconds(cold, "client:install"), counting.fetches
    key = cold.steps[0].key
    deps = base / "build/cache/deps" / key
    shutil.rmtree(deps)  # the dependency cache forgets; npm's download cache remembers
    counting.fetches = 0
    # (a new message too: with the build's output cached, no install would be needed)
    fresh = {**files, "message.js": 'export const message = "fresh";\n'}
    warm = await builder.build("warm-install", snapshot(blobs, fresh), Quiet())
    warm_install, warm_fetches = step_seconds(warm, "client:install"), counting.fetches
    restore = []
    for i in range(5):
        target = base / f"restore-{i}"
        started = time.perf_counter()
        link_tree(deps, target)
        restore.append(time.perf_counter() - started)
    files_in_deps = sum(len(f) for _, _, f in os.walk(deps))

    # -- warm rebuild vs bare vite build ----------------------------------------------------
    prepared = base / "bare"
    materialise(snapshot(blobs, files).files, blobs, prepared, (0, 0))
    shutil.copytree(deps, prepared / "node_modules", symlinks=True)
    for folder, _, _ in os.walk(prepared):
        os.chmod(folder, 0o755)
    (prepared / "message.js").unlink()
    round_ = 0
    counting.fetches = counting.registry_sandboxes = 0
    registries_before = counting.registry_sandboxes

    async def bare_vite() -> None:
        nonlocal round_
        round_ += 1
        (prepared / "message.js").write_text(f'export const message = "bare {round_}";\n')
        child = await spawn(
            ["node", "node_modules/vite/bin/vite.js", "build"],
            env={**DEFAULT_ENV, "HOME": str(base)},
            cwd=prepared,
        )
        await asyncio.gather(child.stdout.read(), child.stderr.read())
        assert await child.wait() == 0

    async def warm_rebuild() -> None:
        nonlocal round_
        round_ += 1
        changed = {**files, "message.js": f'export const message = "warm {round_}";\n'}
        result = await builder.build(f"warm-{round_}", snapshot(blobs, changed), Quiet())
        assert [r.status for r in result.steps] == ["cached", "ran"], result.steps

    vite = await medians_ms(
        runs,
        {"bare node vite.js build, prepared folder": bare_vite, "warm rebuild": warm_rebuild},
    )
    warm_registry = counting.registry_sandboxes - registries_before

    # -- sandbox overhead per step -------------------------------------------------------
    empty = base / "empty"
    empty.mkdir()
    toml = '[client]\nbuild = "true"\noutput = "."\n'
    n = 0

    async def bare() -> None:
        assert await (await spawn(BARE, env={})).wait() == 0

    async def run_true() -> None:
        assert (await runtime.run(SandboxSpec(["true"], empty))).ok

    async def builder_step() -> None:
        nonlocal n
        n += 1  # a new source each time: a step cache hit would run nothing
        source = snapshot(blobs, {"previewd.toml": toml, "round.txt": str(n)})
        result = await builder.build(f"true-{n}", source, Quiet())
        assert [r.status for r in result.steps] == ["ran"]

    steps = await medians_ms(
        runs * 3,
        {
            "bare bwrap --unshare-all … true (reference)": bare,
            "runtime.run(true)": run_true,
            "builder step running `true`": builder_step,
        },
    )

    print(f"sandbox overhead per step, median of {runs * 3} interleaved rounds")
    reference = next(iter(steps.values()))
    for name, ms in steps.items():
        print(f"  {name:<46} {ms:8.2f} ms  {ms / reference:5.2f}x")
    print("  goal: <= 2.00x the reference")
    print(f"warm rebuild of a Vite app (one file changed), median of {runs} interleaved rounds")
    reference = next(iter(vite.values()))
    for name, ms in vite.items():
        print(f"  {name:<46} {ms:8.2f} ms  {ms / reference:5.2f}x")
    print("  goal: <= 1.10x the reference")
    print(f"install of vite ({files_in_deps} files in node_modules)")
    print(f"  cold: empty download cache                   {cold_install * 1000:8.0f} ms  "
          f"{cold_fetches} registry requests")  # fmt: skip
    print(f"  warm: npm's download cache, no deps cache    {warm_install * 1000:8.0f} ms  "
          f"{warm_fetches} registry requests")  # fmt: skip
    print(f"  restored from the dependency cache (links)   {statistics.median(restore) * 1000:8.1f} ms  "
          "0 registry requests")  # fmt: skip
    print(f"  cold / warm {cold_install / warm_install:.1f}x, "
          f"cold / restored {cold_install / statistics.median(restore):.0f}x")  # fmt: skip
    print(
        f"registry requests of {runs} warm rebuilds: {counting.fetches} "
        f"({warm_registry} sandboxes with registry access)   goal: 0"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    asyncio.run(main(parser.parse_args().runs))
