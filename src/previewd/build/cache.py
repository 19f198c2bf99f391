"""The step cache and the dependency cache, both on disk under ``<root>/cache``.

    steps/ab/<key>.json   a build step's output: a snapshot manifest (its bytes are blobs)
    deps/<key>/           an install step's tree (node_modules, .venv): root-owned, read-only
    npm/                  npm's download cache (_cacache), shared by lockfile installs
    tmp/                  entries being made; renamed into place when complete

A key is the SHA-256 of exactly what the step reads (:mod:`previewd.build.plan`),
so an entry never goes stale; it can only go unused. A build step hit gives
back its output without running anything. A dependency hit is restored into
the next work folder by hard links (:func:`previewd.build.workspace.link_tree`):
no byte is copied, and since the tree is root-owned and read-only, the
sandbox that reads it cannot change it for the next project.

npm's download cache is mounted read-write into lockfile installs only: its
tarballs are content-addressed and checked against the lockfile's integrity
hashes, so a project can spoil an entry for others (they fail) but cannot
swap one. Installs without a lockfile resolve versions from cached package
metadata, which a project could forge, so they get a private cache instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from previewd import snapshots
from previewd.blobs.local import LocalBlobStore
from previewd.build.result import Deps
from previewd.build.workspace import seal
from previewd.changeset import FileSpec
from previewd.snapshots import Snapshot


class StepCache:
    """Build outputs by step key."""

    def __init__(self, root: Path, blobs: LocalBlobStore) -> None:
        self.root = root
        self.blobs = blobs
        self._tmp = root.parent / "tmp"
        root.mkdir(parents=True, exist_ok=True)
        self._tmp.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> Snapshot | None:
        path = self._path(key)
        try:
            listing = json.loads(path.read_bytes())["files"]
            files = {p: FileSpec(d, s, m) for p, (d, s, m) in listing.items()}
        except (OSError, ValueError, KeyError, TypeError):
            return None
        # blobs may have been collected since; an entry is only good with all of them
        if not all(self.blobs.has(spec.digest) for spec in files.values()):
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # last use, for a cleaner that drops the oldest entries
        return snapshots.build(files)

    def put(self, key: str, files: Mapping[str, FileSpec]) -> None:
        path = self._path(key)
        path.parent.mkdir(exist_ok=True)
        listing = {p: [s.digest, s.size, s.mode] for p, s in files.items()}
        tmp = self._tmp / f"{key}.{secrets.token_hex(4)}.json"
        tmp.write_text(json.dumps({"files": listing}, sort_keys=True, separators=(",", ":")))
        os.replace(tmp, path)


class DepsCache:
    """Installed dependency trees by install-step key."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root.parent / "tmp"
        root.mkdir(parents=True, exist_ok=True)
        self._tmp.mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o700)
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    def get(self, key: str, target: str) -> Deps | None:
        tree = self.root / key
        if not tree.is_dir():
            return None
        with contextlib.suppress(OSError):
            os.utime(tree)
        return Deps(key, tree, target)

    def adopt(self, key: str, installed: Path, target: str) -> Deps:
        """Move a freshly installed tree into the cache and seal it (blocking: use a thread)."""
        staging = self._tmp / f"{key}.{secrets.token_hex(4)}"
        shutil.move(installed, staging)
        seal(staging)
        final = self.root / key
        try:
            os.rename(staging, final)
        except OSError:
            if not final.is_dir():
                raise
            shutil.rmtree(staging)  # another build installed the same meanwhile
        return Deps(key, final, target)

    @contextlib.asynccontextmanager
    async def lock(self, key: str) -> AsyncIterator[None]:
        """One install per key at a time in this process: the second waits and hits."""
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)
