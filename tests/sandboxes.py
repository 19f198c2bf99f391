"""Fixtures of every test folder that runs real sandboxes (imported by their conftests)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from previewd.runtimes import cgroups
from previewd.runtimes.base import ResourceLimits
from previewd.runtimes.bubblewrap import BubblewrapRuntime


@pytest.fixture(scope="session")
def bubblewrap() -> BubblewrapRuntime:
    runtime = BubblewrapRuntime()
    runtime.check()  # fails loudly (with the apt-get hint) rather than skipping
    return runtime


@pytest.fixture(autouse=True)
def groups_removed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[cgroups.Cgroup]]:
    """Every cgroup a test makes must be gone when it ends."""
    made: list[cgroups.Cgroup] = []
    create = cgroups.Cgroup.create

    def spy(name: str, limits: ResourceLimits) -> cgroups.Cgroup:
        group = create(name, limits)
        made.append(group)
        return group

    monkeypatch.setattr(cgroups.Cgroup, "create", spy)
    yield made
    left = [path for group in made for path in group.dirs.values() if path.exists()]
    assert not left, f"cgroups left behind: {left}"
