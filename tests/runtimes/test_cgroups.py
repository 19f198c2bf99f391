"""cgroup v1 groups: where they go, and what a crash leaves behind being swept."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import time
from pathlib import Path

import pytest

from previewd.runtimes import cgroups
from previewd.runtimes.base import ResourceLimits

pytestmark = pytest.mark.sandbox


def test_groups_nest_under_previewds_own_group() -> None:
    # e.g. "4:memory:/some/service" -> memory: /sys/fs/cgroup/memory/some/service/previewd
    lines = Path("/proc/self/cgroup").read_text().splitlines()
    own = {name: path for _, name, path in (line.split(":", 2) for line in lines)}
    for controller, base in cgroups.hierarchies().items():
        assert base == Path("/sys/fs/cgroup", controller, own[controller].lstrip("/"), "previewd")
    assert set(cgroups.hierarchies()) == set(cgroups.CONTROLLERS) and cgroups.available()


def test_stale_empty_groups_are_swept_busy_ones_kept() -> None:
    stale = cgroups.Cgroup.create(f"stale-{secrets.token_hex(4)}", ResourceLimits())
    busy = cgroups.Cgroup.create(f"busy-{secrets.token_hex(4)}", ResourceLimits())
    hours_ago = time.time() - 7200  # older than any group a running previewd is filling
    for path in [*stale.dirs.values(), *busy.dirs.values()]:
        os.utime(path, (hours_ago, hours_ago))
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        busy.add(sleeper.pid)
        assert cgroups.remove_stale(min_age_s=3600) >= len(stale.dirs)
        assert not any(path.exists() for path in stale.dirs.values())
        assert all(path.exists() for path in busy.dirs.values())
    finally:
        sleeper.kill()
        sleeper.wait()
        asyncio.run(busy.close())
    assert not any(path.exists() for path in busy.dirs.values())
