"""Pick a runtime by name; the default is bubblewrap, and nothing falls back silently."""

from __future__ import annotations

from previewd.errors import BadRequest
from previewd.runtimes import cgroups, network
from previewd.runtimes.base import Runtime
from previewd.runtimes.bubblewrap import BubblewrapRuntime
from previewd.runtimes.unsafe_local import UnsafeLocalRuntime

NAMES = ("bubblewrap", "unsafe-local")

_checked: BubblewrapRuntime | None = None


def choose(name: str | None = None) -> Runtime:
    """The runtime called ``name`` (``None`` or ``"auto"``: bubblewrap).

    Bubblewrap is probed once per process by starting a real sandbox; when it
    cannot work here this raises :class:`previewd.errors.Unavailable` with the
    fix, and never hands back ``unsafe-local`` instead: that one only comes
    when asked for by name.
    """
    global _checked
    if name in (None, "auto", "bubblewrap"):
        if _checked is None:
            runtime = BubblewrapRuntime()
            runtime.check()
            # what a crashed previewd left behind: empty cgroups, namespaces without processes
            cgroups.remove_stale()
            network.remove_stale()
            _checked = runtime
        return _checked
    if name == "unsafe-local":
        return UnsafeLocalRuntime()
    raise BadRequest(
        f"unknown runtime {name!r}",
        hint=f"choose one of: {', '.join(NAMES)}",
    )
