"""The unsafe-local runtime: no isolation, but the time limit, cgroups and tree kill."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import anyio
import pytest

from previewd.runtimes.base import MiB, SandboxSpec
from previewd.runtimes.unsafe_local import UnsafeLocalRuntime
from tests.runtimes.helpers import FAST, Lines, alive

pytestmark = [pytest.mark.anyio, pytest.mark.sandbox]


@pytest.fixture
def unsafe(caplog: pytest.LogCaptureFixture) -> UnsafeLocalRuntime:
    with caplog.at_level(logging.WARNING):
        runtime = UnsafeLocalRuntime()
    assert "WITHOUT ANY SANDBOX" in caplog.text  # loud, every time one is made
    return runtime


async def test_runs_in_the_workdir_with_only_the_specs_env(
    unsafe: UnsafeLocalRuntime, workdir: Path, lines: Lines, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREVIEWD_HOST_SECRET", "hunter2")
    spec = SandboxSpec(["sh", "-c", "pwd; echo $FOO; env"], workdir, {"FOO": "bar"}, FAST)
    result = await unsafe.run(spec, lines)
    assert result.ok
    assert lines.of("stdout")[:2] == [str(workdir), "bar"]
    assert "hunter2" not in lines.text


async def test_time_limit_kills_the_tree(unsafe: UnsafeLocalRuntime, workdir: Path) -> None:
    script = "setsid sleep 1000 & ( sleep 1000 & ) ; sleep 1000"
    spec = SandboxSpec(["sh", "-c", script], workdir, limits=replace(FAST, timeout_s=1))
    process = await unsafe.start(spec)
    assert process.cgroup is not None
    with anyio.fail_after(5):
        while len(process.cgroup.procs()) < 4:
            await anyio.sleep(0.02)
    pids = process.cgroup.procs()
    result = await process.wait()
    assert (
        result.limit_hit == "timeout" and result.message() == "killed: time limit of 1 s exceeded"
    )
    assert not any(alive(pid) for pid in pids)


async def test_memory_limit_applies_through_cgroups(
    unsafe: UnsafeLocalRuntime, workdir: Path
) -> None:
    hog = "chunks = []\nwhile True: chunks.append(b'x' * (1 << 20))"
    limits = replace(FAST, memory_bytes=48 * MiB)
    result = await unsafe.run(SandboxSpec(["/usr/bin/python3", "-c", hog], workdir, limits=limits))
    assert (result.exit_code, result.limit_hit) == (137, "memory")
