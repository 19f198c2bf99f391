"""The step cache and the dependency cache."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from previewd.blobs.local import LocalBlobStore
from previewd.build.cache import DepsCache, StepCache
from tests.builds.helpers import snapshot

KEY = "ab" * 32


@pytest.fixture
def blobs(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


def test_a_step_output_comes_back_as_the_same_snapshot(
    blobs: LocalBlobStore, tmp_path: Path
) -> None:
    cache = StepCache(tmp_path / "cache/steps", blobs)
    output = snapshot(blobs, {"index.html": "<h1>", "assets/app.js": "js"})
    assert cache.get(KEY) is None
    cache.put(KEY, output.files)
    hit = cache.get(KEY)
    assert hit is not None and hit.digest == output.digest


def test_an_entry_whose_blobs_are_gone_or_that_is_corrupt_is_a_miss(
    blobs: LocalBlobStore, tmp_path: Path
) -> None:
    cache = StepCache(tmp_path / "cache/steps", blobs)
    output = snapshot(blobs, {"index.html": "<h1>gone soon</h1>"})
    cache.put(KEY, output.files)
    blobs.path(output.files["index.html"].digest).unlink()
    assert cache.get(KEY) is None
    cache._path(KEY).write_text("{not json")
    assert cache.get(KEY) is None


def test_an_adopted_tree_is_sealed_and_found_by_its_key(tmp_path: Path) -> None:
    cache = DepsCache(tmp_path / "cache/deps")
    installed = tmp_path / "work/node_modules"
    (installed / "pkg").mkdir(parents=True)
    (installed / "pkg/index.js").write_text("module.exports = 1")
    os.chown(installed / "pkg/index.js", 65534, 65534)
    assert cache.get(KEY, "node_modules") is None
    deps = cache.adopt(KEY, installed, "node_modules")
    assert not installed.exists()  # moved, not copied
    assert deps == cache.get(KEY, "node_modules")
    file = deps.tree / "pkg/index.js"
    assert file.read_text() == "module.exports = 1"
    assert file.stat().st_uid == 0 and not file.stat().st_mode & 0o222


def test_a_second_install_of_the_same_key_keeps_the_first_tree(tmp_path: Path) -> None:
    cache = DepsCache(tmp_path / "cache/deps")
    for content in ("first", "second"):
        installed = tmp_path / content
        installed.mkdir()
        (installed / "which").write_text(content)
        deps = cache.adopt(KEY, installed, "node_modules")
    assert (deps.tree / "which").read_text() == "first"
    assert list((tmp_path / "cache/tmp").iterdir()) == []


@pytest.mark.anyio
async def test_installs_of_one_key_take_turns(tmp_path: Path) -> None:
    cache = DepsCache(tmp_path / "cache/deps")
    inside: list[int] = []
    peak = 0

    async def install() -> None:
        nonlocal peak
        async with cache.lock(KEY):
            inside.append(1)
            peak = max(peak, len(inside))
            await asyncio.sleep(0.01)
            inside.pop()

    await asyncio.gather(*(install() for _ in range(3)))
    assert peak == 1 and cache._locks == {}
