"""Snapshots: immutable, content-addressed file trees.

A snapshot is a manifest ``path -> (digest, size, mode)`` whose own digest is
the SHA-256 of its canonical JSON, so equal trees are one snapshot. Applying a
changeset to a snapshot gives the next one; file bytes live in the blob store.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

from previewd.changeset import Changeset, FileSpec
from previewd.config import Limits
from previewd.errors import InvalidPath, LimitExceeded
from previewd.paths import check_collisions


@dataclass(frozen=True)
class Snapshot:
    digest: str
    files: Mapping[str, FileSpec]
    manifest: str  # canonical JSON, what the store keeps

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files.values())


EMPTY: Mapping[str, FileSpec] = {}
_RECENT: OrderedDict[str, Snapshot] = OrderedDict()
_RECENT_SIZE = 256


def _remember(snapshot: Snapshot) -> Snapshot:
    """Keep recent snapshots in memory: they never change, and the next step wants them."""
    _RECENT[snapshot.digest] = snapshot
    _RECENT.move_to_end(snapshot.digest)
    if len(_RECENT) > _RECENT_SIZE:
        _RECENT.popitem(last=False)
    return snapshot


def cached(digest: str) -> Snapshot | None:
    return _RECENT.get(digest)


def build(files: Mapping[str, FileSpec]) -> Snapshot:
    manifest = json.dumps(
        {path: [f.digest, f.size, f.mode] for path, f in files.items()},
        sort_keys=True,
        separators=(",", ":"),
    )
    digest = hashlib.sha256(manifest.encode()).hexdigest()
    return _remember(Snapshot(digest, dict(files), manifest))


def parse(digest: str, manifest: str) -> Snapshot:
    """Decode a stored manifest (or reuse it when it is in memory already)."""
    if (snapshot := _RECENT.get(digest)) is not None:
        return snapshot
    files = {path: FileSpec(d, s, m) for path, (d, s, m) in json.loads(manifest).items()}
    return _remember(Snapshot(digest, files, manifest))


def apply(base: Mapping[str, FileSpec], changeset: Changeset, limits: Limits) -> Snapshot:
    """The snapshot ``changeset`` makes of ``base``, checked as a whole."""
    files = dict(base)
    for path in sorted(changeset.deletes):
        if files.pop(path, None) is None:
            raise InvalidPath(
                f"cannot delete {path!r}: the base snapshot has no such file",
                hint="List the base deployment's files with GET /api/v1/deployments/<id>/files.",
            )
    files.update(changeset.files)
    if len(files) > limits.max_files:
        raise LimitExceeded(
            f"the deployment would hold {len(files)} files; the limit is {limits.max_files}",
            hint="Raise PREVIEWD_MAX_FILES or leave generated folders (node_modules) out.",
        )
    total = sum(f.size for f in files.values())
    if total > limits.max_deployment_bytes:
        raise LimitExceeded(
            f"the deployment would hold {total} bytes; the limit is "
            f"{limits.max_deployment_bytes} bytes",
            hint="Raise PREVIEWD_MAX_DEPLOYMENT_BYTES or deploy fewer files.",
        )
    if changeset.files and base:
        check_collisions(files)  # a new path may collide with an old one by case
    return build(files)
