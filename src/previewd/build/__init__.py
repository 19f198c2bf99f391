"""The build system: a snapshot in, static files and a prepared server out.

builder = Builder(runtime=choose(), blobs=blobs, root=data_dir / "build",
                  pool=ComputePool(concurrency=2, memory_bytes=4 * GiB), limits=ResourceLimits())
result = await builder.build(deployment_id, source, log)   # BuildResult, or BuildFailed

builder.py    detect → plan → execute → collect; the static fast path
plan.py       the steps of a detection, what each reads, its cache key
executor.py   steps as a DAG, independent ones at the same time
pool.py       the compute pool: slots, a memory budget, queue positions
cache.py      the step cache (outputs) and the dependency cache (sealed trees)
workspace.py  work folders: blobs hard-linked in, outputs collected back as blobs
toolchain.py  tool versions, part of every key
result.py     BuildResult, ServerBundle, StepReport, BuildLog, BuildFailed
"""

from previewd.build.builder import Builder, static_output
from previewd.build.pool import ComputePool
from previewd.build.result import (
    PREVIEWD,
    BuildLog,
    BuildResult,
    Deps,
    ServerBundle,
    StepReport,
)
from previewd.build.workspace import OutputLimits, link_tree
from previewd.errors import BuildFailed

__all__ = [
    "PREVIEWD",
    "BuildFailed",
    "BuildLog",
    "BuildResult",
    "Builder",
    "ComputePool",
    "Deps",
    "OutputLimits",
    "ServerBundle",
    "StepReport",
    "link_tree",
    "static_output",
]
