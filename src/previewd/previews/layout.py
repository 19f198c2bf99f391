"""An app server's sandbox: its folder laid out once, and the spec each start runs.

The files are hard links to blobs, made once per deployment and kept across
sleeps; the installed dependencies are never copied or linked: each start
binds the cached tree's entries read-only at their place under ``/work``. The
sandbox's main process is the bridge (:mod:`previewd.previews.bridge`), which
starts the app with ``$PORT`` set.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path, PurePosixPath

from previewd.blobs.local import LocalBlobStore
from previewd.build import workspace
from previewd.build.result import ServerBundle
from previewd.detection.model import PORT
from previewd.previews.instance import SOCKET_NAME, Instance
from previewd.runtimes.base import SOCKET_DIR, Mount, ResourceLimits, SandboxSpec

#: Where the bridge script appears inside the sandbox.
BRIDGE_TARGET = "/opt/previewd/bridge.py"
#: The interpreter that runs the bridge inside (the host's /usr is bound read-only).
BRIDGE_PYTHON = "/usr/bin/python3"
BRIDGE_SOURCE = Path(__file__).with_name("bridge.py")


def prepare(instance: Instance, blobs: LocalBlobStore, owner: tuple[int, int]) -> None:
    """Lay out the files once (blocking: run in a thread); they stay while it sleeps."""
    if not instance.ready_marker.exists():
        workspace.remove(instance.work)
        instance.folder.mkdir(parents=True, exist_ok=True)
        bundle = instance.bundle
        workspace.materialise(bundle.files.files, blobs, instance.work, owner)
        if bundle.deps is not None:
            target = instance.work / bundle.deps.target
            target.mkdir(parents=True, exist_ok=True)
            os.chown(target, *owner)  # its top stays writable, as link_tree leaves it
            for entry in bundle.deps.tree.iterdir():
                if entry.is_symlink():  # venv's lib64 -> lib: a link, not a mount
                    os.symlink(os.readlink(entry), target / entry.name)
        instance.ready_marker.touch()
    instance.sockets.mkdir(exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        instance.socket.unlink()  # a stale one would pass for the new server's


def spec(instance: Instance, bridge: Path, port: int, limits: ResourceLimits) -> SandboxSpec:
    """The sandbox of one start: the bridge, then the app on ``port``, no network."""
    bundle = instance.bundle
    env = {k: v.replace(PORT, str(port)) for k, v in bundle.env.items()}
    env[bundle.port_env] = str(port)
    app = [arg.replace(PORT, str(port)) for arg in bundle.start]
    bridge_argv = [BRIDGE_PYTHON, "-I", "-S", BRIDGE_TARGET, f"{SOCKET_DIR}/{SOCKET_NAME}"]
    return SandboxSpec(
        argv=[*bridge_argv, str(port), "--", *app],
        workdir=instance.work,
        env=env,
        limits=limits,
        mounts=[Mount(bridge, BRIDGE_TARGET), *dependency_mounts(bundle)],
        network="none",
        unix_socket_dir=instance.sockets,
    )


def dependency_mounts(bundle: ServerBundle) -> list[Mount]:
    """The installed dependencies, bound read-only entry by entry: O(entries), not O(files),
    and the same root-owned files the build made (a sandbox cannot change them)."""
    if bundle.deps is None:
        return []
    base = PurePosixPath("/work", bundle.deps.target)
    with os.scandir(bundle.deps.tree) as entries:
        return [
            Mount(Path(entry.path), str(base / entry.name))
            for entry in sorted(entries, key=lambda e: e.name)
            if not entry.is_symlink()
        ]
