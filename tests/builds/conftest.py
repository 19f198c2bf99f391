"""Real sandboxes and real registries for the build tests, warmed once per session.

The session keeps one builder root (caches) and one blob store: the Vite app's
lockfile is resolved once, its dependencies installed once (cold), and every
later test that needs them finds them in the caches, as a real node would.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from previewd.blobs.local import LocalBlobStore
from previewd.build import BuildResult
from previewd.runtimes.base import Mount, SandboxSpec
from previewd.runtimes.bubblewrap import BubblewrapRuntime
from tests.builds.helpers import ROOMY, Log, Recording, builder, snapshot

VITE_PACKAGE = {
    "name": "vite-app",
    "private": True,
    "version": "0.0.0",
    "type": "module",
    "scripts": {"build": "vite build"},
    "devDependencies": {"vite": "^7.1.0"},
}
VITE_FILES = {
    "package.json": json.dumps(VITE_PACKAGE, indent=2),
    "index.html": '<!doctype html><html><head><title>app</title></head><body><div id="app"></div>'
    '<script type="module" src="/main.js"></script></body></html>',
    "main.js": 'import { message } from "./message.js";\n'
    'document.querySelector("#app").textContent = message;\n',
    "message.js": 'export const message = "hello from vite";\n',
}
FLASK_FILES = {
    "requirements.txt": "flask\n",
    "app.py": "from flask import Flask\n\napp = Flask(__name__)\n\n\n"
    '@app.get("/")\ndef index():\n    return "hello from flask"\n',
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass(frozen=True)
class Shared:
    """The session's builder root and blob store: caches warmed once, used by many tests."""

    root: Path
    blobs: LocalBlobStore


@pytest.fixture(scope="session")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Shared:
    base = tmp_path_factory.mktemp("shared")
    return Shared(base / "build", LocalBlobStore(base / "blobs"))


@pytest.fixture(scope="session")
def vite_files(
    bubblewrap: BubblewrapRuntime, shared: Shared, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """The Vite app with a package-lock.json that npm resolved from the registry, once."""
    folder = tmp_path_factory.mktemp("vite-lock")
    (folder / "package.json").write_text(VITE_FILES["package.json"])
    cache = shared.root / "cache" / "npm"
    cache.mkdir(parents=True, exist_ok=True)
    argv = ["npm", "install", "--package-lock-only", "--ignore-scripts", "--no-audit", "--no-fund"]
    spec = SandboxSpec(
        argv,
        folder,
        env={"npm_config_cache": "/cache/npm", "npm_config_update_notifier": "false"},
        limits=ROOMY,
        mounts=[Mount(cache, "/cache/npm", writable=True)],
        network="registries",
    )
    lines: list[str] = []
    result = asyncio.run(bubblewrap.run(spec, lambda _, line: lines.append(line)))
    assert result.ok, "\n".join(lines)
    return {**VITE_FILES, "package-lock.json": (folder / "package-lock.json").read_text()}


@dataclass(frozen=True)
class Built:
    result: BuildResult
    log: Log
    runtime: Recording


@pytest.fixture(scope="session")
def vite_cold(bubblewrap: BubblewrapRuntime, shared: Shared, vite_files: dict[str, str]) -> Built:
    """The Vite app built once from cold caches: npm ci from the registry, then vite build."""
    runtime = Recording(bubblewrap)
    build = builder(runtime, shared.root, shared.blobs, limits=ROOMY, toolchain=None)
    log = Log()
    source = snapshot(shared.blobs, vite_files)
    result = asyncio.run(build.build("vite-cold", source, log))
    return Built(result, log, runtime)


@pytest.fixture(scope="session")
def flask_cold(bubblewrap: BubblewrapRuntime, shared: Shared) -> Built:
    """The Flask app prepared once: a venv with flask pip-installed from PyPI."""
    runtime = Recording(bubblewrap)
    build = builder(runtime, shared.root, shared.blobs, limits=ROOMY, toolchain=None)
    log = Log()
    result = asyncio.run(build.build("flask-cold", snapshot(shared.blobs, FLASK_FILES), log))
    return Built(result, log, runtime)
