"""The builder's own logic, with a fake runtime: the static fast path, caching, failures, events."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path

import pytest

from previewd.blobs.local import LocalBlobStore
from previewd.build import PREVIEWD, BuildFailed, ComputePool
from previewd.runtimes.base import MiB, OnLine, ResourceLimits, RunResult, SandboxSpec
from tests.builds.conftest import FLASK_FILES, VITE_FILES
from tests.builds.helpers import Fake, Log, builder, ok, read, snapshot

pytestmark = pytest.mark.anyio

VITE = {**VITE_FILES, "package-lock.json": json.dumps({"lockfileVersion": 3, "packages": {}})}


@pytest.fixture
def blobs(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


def nothing_runs(spec: SandboxSpec, on_line: OnLine) -> RunResult:
    raise AssertionError(f"no sandbox may run, yet {spec.argv} did")


def plays(spec: SandboxSpec, on_line: OnLine) -> RunResult:
    """What npm ci, vite build and pip would leave in the work folder, roughly."""
    work = spec.workdir
    on_line("stdout", f"running {spec.argv[0]}")
    if spec.argv[:2] == ("npm", "ci"):
        (work / "node_modules/vite/bin").mkdir(parents=True)
        (work / "node_modules/vite/bin/vite.js").write_text("// vite")
    elif "vite.js" in " ".join(spec.argv):
        assert (work / "node_modules/vite/bin/vite.js").is_file()  # restored before the build
        (work / "dist").mkdir()
        (work / "dist/index.html").write_text((work / "index.html").read_text() + "<!-- built -->")
    elif spec.argv[0] == "sh":  # pip into a venv
        (work / ".venv/bin").mkdir(parents=True)
        (work / ".venv/bin/python").symlink_to("/usr/bin/python3")
    return ok(spec)


async def test_a_static_site_is_served_as_it_is_without_any_sandbox(
    blobs: LocalBlobStore, tmp_path: Path
) -> None:
    files = {"index.html": "<h1>hi</h1>"} | {
        f"css/f{i}.css": f"p{{order:{i}}}" for i in range(1000)
    }
    source = snapshot(blobs, files)
    build = builder(Fake(nothing_runs), tmp_path / "build", blobs, toolchain=None)
    log = Log()
    started = time.perf_counter()
    result = await build.build("d1", source, log)
    elapsed = time.perf_counter() - started
    assert result.output is source and result.server is None and result.steps == []
    assert log.events == [] and log.lines == []
    assert elapsed < 0.05, f"the static path took {elapsed * 1000:.1f} ms for 1,001 files"


async def test_a_static_root_in_a_subfolder_is_re_rooted(
    blobs: LocalBlobStore, tmp_path: Path
) -> None:
    source = snapshot(blobs, {"site/index.html": "<h1>", "site/a/b.css": "b", "README.md": "hi"})
    result = await builder(Fake(nothing_runs), tmp_path / "b", blobs).build("d", source, Log())
    assert set(result.output.files) == {"index.html", "a/b.css"}
    assert result.output.files["a/b.css"] == source.files["site/a/b.css"]


async def test_a_client_installs_builds_and_the_same_source_is_then_all_cached(
    blobs: LocalBlobStore, tmp_path: Path
) -> None:
    fake = Fake(plays)
    build = builder(fake, tmp_path / "build", blobs)
    log = Log()
    result = await build.build("d1", snapshot(blobs, VITE), log)
    assert [(r.name, r.status) for r in result.steps] == [
        ("client:install", "ran"),
        ("client:build", "ran"),
    ]
    assert read(blobs, result.output, "index.html").endswith("<!-- built -->")
    assert log.statuses("client:install") == ["started", "done"]
    assert ("client:build", "stdout", "running node") in log.lines
    assert any(s == PREVIEWD and "hard-linked" in t for _, s, t in log.lines)
    assert list((tmp_path / "build/work").iterdir()) == []  # work folders removed

    again = await build.build("d2", snapshot(blobs, VITE), log2 := Log())
    assert len(fake.specs) == 2  # nothing more ran
    assert [r.status for r in again.steps] == ["cached", "cached"]
    assert again.output.digest == result.output.digest
    assert log2.statuses("client:build") == ["cached"]


async def test_a_cached_client_build_needs_no_install_even_when_its_deps_are_gone(
    blobs: LocalBlobStore, tmp_path: Path
) -> None:
    fake = Fake(plays)
    build = builder(fake, tmp_path / "build", blobs)
    first = await build.build("d1", snapshot(blobs, VITE), Log())
    for entry in (tmp_path / "build/cache/deps").iterdir():
        shutil.rmtree(entry)  # a cleaner dropped the dependency tree
    again = await build.build("d2", snapshot(blobs, VITE), log := Log())
    assert len(fake.specs) == 2 and again.output.digest == first.output.digest
    assert [r.status for r in again.steps] == ["cached", "cached"]
    assert any("not needed" in text for step, _, text in log.lines if step == "client:install")


async def test_a_static_site_beside_a_server_never_serves_the_servers_code(
    blobs: LocalBlobStore, tmp_path: Path
) -> None:
    files = {"index.html": "<h1>", **{f"backend/{p}": c for p, c in FLASK_FILES.items()}}
    result = await builder(Fake(plays), tmp_path / "b", blobs).build(
        "d", snapshot(blobs, files), Log()
    )
    assert set(result.output.files) == {"index.html"}
    assert result.server is not None and set(result.server.files.files) == set(FLASK_FILES)


async def test_a_frontend_and_a_backend_build_side_by_side(
    blobs: LocalBlobStore, tmp_path: Path
) -> None:
    running: set[str] = set()
    overlapped = False

    async def slow(spec: SandboxSpec, on_line: OnLine) -> RunResult:
        nonlocal overlapped
        running.add(spec.argv[0])
        await asyncio.sleep(0.05)
        overlapped = overlapped or len(running) > 1
        running.discard(spec.argv[0])
        return plays(spec, on_line)

    files = {f"frontend/{p}": c for p, c in VITE.items()}
    files |= {f"backend/{p}": c for p, c in FLASK_FILES.items()}
    result = await builder(Fake(slow), tmp_path / "b", blobs).build(
        "d", snapshot(blobs, files), Log()
    )
    assert overlapped
    assert [r.name for r in result.steps] == ["client:install", "client:build", "server:install"]
    assert "index.html" in result.output.files
    server = result.server
    assert server is not None and server.dir == "backend" and server.runtime == "python"
    assert set(server.files.files) == set(FLASK_FILES)
    assert server.deps is not None and server.deps.target == ".venv"
    assert (server.deps.tree / "bin/python").is_symlink()
    assert server.env["PATH"].startswith("/work/.venv/bin:")
    assert server.start[:3] == ("python", "-m", "flask")


async def test_a_step_killed_by_a_limit_fails_the_build_naming_the_limit(
    blobs: LocalBlobStore, tmp_path: Path
) -> None:
    limits = ResourceLimits(memory_bytes=512 * MiB)

    def oom(spec: SandboxSpec, on_line: OnLine) -> RunResult:
        if spec.network == "registries":
            return plays(spec, on_line)
        for i in range(100):
            on_line("stderr", f"line {i}")
        return RunResult(137, 1.0, "memory", spec.limits)

    build = builder(Fake(oom), tmp_path / "b", blobs, limits=limits)
    log = Log()
    with pytest.raises(BuildFailed) as caught:
        await build.build("d", snapshot(blobs, VITE), log)
    failed = caught.value
    assert failed.message == "client:build: killed: memory limit of 512 MiB exceeded"
    assert failed.step == "client:build" and failed.status == 422 and failed.code == "build_failed"
    assert failed.tail == [f"line {i}" for i in range(60, 100)]
    assert log.statuses("client:build") == ["started", "failed"]
    assert list((tmp_path / "b/work").iterdir()) == []  # removed on failure too


async def test_a_non_zero_exit_fails_with_the_status(blobs: LocalBlobStore, tmp_path: Path) -> None:
    def fails(spec: SandboxSpec, on_line: OnLine) -> RunResult:
        return plays(spec, on_line) if spec.network == "registries" else ok(spec, 1)

    with pytest.raises(BuildFailed, match=r"^step client:build failed with exit status 1$"):
        await builder(Fake(fails), tmp_path / "b", blobs).build("d", snapshot(blobs, VITE), Log())


async def test_a_build_that_writes_no_output_folder_fails_clearly(
    blobs: LocalBlobStore, tmp_path: Path
) -> None:
    def forgets(spec: SandboxSpec, on_line: OnLine) -> RunResult:
        return plays(spec, on_line) if spec.network == "registries" else ok(spec)

    log = Log()
    with pytest.raises(BuildFailed, match="succeeded, but its output folder dist/ does not exist"):
        await builder(Fake(forgets), tmp_path / "b", blobs).build("d", snapshot(blobs, VITE), log)
    assert log.statuses("client:build") == ["started", "failed"]


async def test_a_build_waiting_for_the_pool_shows_its_queue_position(
    blobs: LocalBlobStore, tmp_path: Path
) -> None:
    pool = ComputePool(concurrency=1, memory_bytes=4096 * MiB)
    gate = asyncio.Event()

    async def held(spec: SandboxSpec, on_line: OnLine) -> RunResult:
        await gate.wait()
        return plays(spec, on_line)

    first, second = (
        builder(Fake(held), tmp_path / name, blobs, pool=pool) for name in ("one", "two")
    )
    log = Log()
    one = asyncio.create_task(first.build("one", snapshot(blobs, VITE), Log()))
    two = asyncio.create_task(second.build("two", snapshot(blobs, VITE), log))
    async with asyncio.timeout(2):
        while pool.queued == 0:
            await asyncio.sleep(0.001)
    gate.set()
    await asyncio.gather(one, two)
    assert log.statuses("client:install")[:2] == ["queued", "started"]
    assert log.events[0][:3] == ("client:install", "queued", "position 1")


async def test_unsafe_local_gets_host_paths_for_its_caches(
    blobs: LocalBlobStore, tmp_path: Path
) -> None:
    seen: list[dict[str, str]] = []

    def record(spec: SandboxSpec, on_line: OnLine) -> RunResult:
        seen.append(dict(spec.env))
        return plays(spec, on_line)

    fake = Fake(record)
    fake.name = "unsafe-local"  # type: ignore[misc]
    build = builder(fake, tmp_path / "b", blobs)
    await build.build("d", snapshot(blobs, VITE), Log())
    assert seen[0]["npm_config_cache"] == str(tmp_path / "b/cache/npm")


async def test_a_plan_that_cannot_work_fails_before_any_sandbox(
    blobs: LocalBlobStore, tmp_path: Path
) -> None:
    files = {f"web/{p}": c for p, c in VITE.items()}
    files["previewd.toml"] = '[client]\ndir = "web"\noutput = "public"\n'
    log = Log()
    with pytest.raises(BuildFailed, match="outside its folder"):
        await builder(Fake(nothing_runs), tmp_path / "b", blobs).build(
            "d", snapshot(blobs, files), log
        )
    assert log.statuses("client:build") == ["failed"]


async def test_node_gets_a_heap_that_fits_the_step_memory_limit(
    blobs: LocalBlobStore, tmp_path: Path
) -> None:
    fake = Fake(plays)
    build = builder(fake, tmp_path / "build", blobs)
    await build.build("d1", snapshot(blobs, VITE), Log())
    heap = build.limits.memory_bytes * 3 // 4 // (1024 * 1024)
    assert {spec.env["NODE_OPTIONS"] for spec in fake.specs} == {f"--max-old-space-size={heap}"}
