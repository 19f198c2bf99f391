"""Choosing a runtime: bubblewrap by default, unsafe-local only by name, never silently."""

from __future__ import annotations

import pytest

from previewd.errors import BadRequest, Unavailable
from previewd.runtimes import auto
from previewd.runtimes.bubblewrap import BubblewrapRuntime
from previewd.runtimes.unsafe_local import UnsafeLocalRuntime

pytestmark = pytest.mark.sandbox


@pytest.fixture(autouse=True)
def fresh_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auto, "_checked", None)


def test_default_is_bubblewrap_probed_once() -> None:
    first = auto.choose()
    assert isinstance(first, BubblewrapRuntime) and first.name == "bubblewrap"
    assert auto.choose("bubblewrap") is first and auto.choose("auto") is first


def test_unsafe_local_only_by_name() -> None:
    assert isinstance(auto.choose("unsafe-local"), UnsafeLocalRuntime)
    with pytest.raises(BadRequest) as info:
        auto.choose("docker")
    assert info.value.hint == "choose one of: bubblewrap, unsafe-local"


def test_missing_bubblewrap_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auto, "BubblewrapRuntime", lambda: BubblewrapRuntime(bwrap="no-bwrap"))
    with pytest.raises(Unavailable) as info:
        auto.choose()
    assert "bubblewrap (bwrap) is not installed" in info.value.message
    assert info.value.hint is not None and "apt-get install bubblewrap" in info.value.hint
    assert "unsafe-local" in info.value.hint
    assert auto._checked is None  # and nothing was chosen in its place


def test_a_bwrap_that_cannot_sandbox_is_refused() -> None:
    with pytest.raises(Unavailable) as info:
        BubblewrapRuntime(bwrap="/usr/bin/false").check()
    assert "bubblewrap cannot start a sandbox here" in info.value.message
