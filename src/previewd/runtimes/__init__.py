"""Sandbox runtimes: where build steps and preview servers run.

``choose()`` in :mod:`previewd.runtimes.auto` picks one by name; ``bubblewrap``
is the default and the only one fit for code from a chat.
"""

from previewd.runtimes.auto import choose
from previewd.runtimes.base import (
    GiB,
    MiB,
    Mount,
    ResourceLimits,
    RunResult,
    Runtime,
    SandboxProcess,
    SandboxSpec,
    SandboxStats,
)
from previewd.runtimes.bubblewrap import BubblewrapRuntime
from previewd.runtimes.unsafe_local import UnsafeLocalRuntime

__all__ = [
    "BubblewrapRuntime",
    "GiB",
    "MiB",
    "Mount",
    "ResourceLimits",
    "RunResult",
    "Runtime",
    "SandboxProcess",
    "SandboxSpec",
    "SandboxStats",
    "UnsafeLocalRuntime",
    "choose",
]
