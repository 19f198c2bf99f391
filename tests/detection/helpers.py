"""Small project trees written to disk, detected through both kinds of SourceTree."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from previewd.blobs import LocalBlobStore
from previewd.changeset import FileSpec
from previewd.detection import Detection, DirectoryTree, SnapshotTree, detect

Files = dict[str, str | bytes]


def package(
    scripts: dict[str, str] | None = None,
    deps: dict[str, str] | None = None,
    dev: dict[str, str] | None = None,
    **fields: Any,
) -> str:
    data: dict[str, Any] = {"name": "demo", "version": "1.0.0", **fields}
    if scripts is not None:
        data["scripts"] = scripts
    if deps is not None:
        data["dependencies"] = deps
    if dev is not None:
        data["devDependencies"] = dev
    return json.dumps(data, indent=2)


def write(root: Path, files: Files) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def snapshot_tree(root: Path, files: Files) -> SnapshotTree:
    blobs = LocalBlobStore(root)
    specs = {}
    for name, content in files.items():
        data = content if isinstance(content, bytes) else content.encode()
        specs[name] = FileSpec(blobs.put(data), len(data), 0o644)
    return SnapshotTree(specs, blobs)


def detect_both(tmp_path: Path, files: Files) -> Detection:
    """Detect ``files`` from a folder and from a snapshot; both must agree."""
    from_dir = detect(DirectoryTree(write(tmp_path / "tree", files)))
    from_snapshot = detect(snapshot_tree(tmp_path / "blobs", files))
    assert from_dir == from_snapshot
    return from_dir


def value(detection: Detection, dotted: str) -> Any:
    """``client.build`` → detection.client.build."""
    target: Any = detection
    for name in dotted.split("."):
        target = getattr(target, name)
    return target


def check(detection: Detection, expected: dict[str, Any], reason: str | None = None) -> None:
    for dotted, wanted in expected.items():
        assert value(detection, dotted) == wanted, dotted
    if reason is not None:
        assert any(reason in r for r in detection.reasons), detection.reasons
