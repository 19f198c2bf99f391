"""pnpm and yarn projects, built with the package manager corepack fetches (none is installed).

The lockfiles are resolved once per session in a sandbox, by the same corepack.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from previewd.build import BuildResult, plan
from previewd.build.plan import _COREPACK_DEFAULTS
from previewd.build.toolchain import Toolchain
from previewd.detection import SnapshotTree, detect
from previewd.runtimes.base import Mount, SandboxSpec
from previewd.runtimes.bubblewrap import BubblewrapRuntime
from tests.builds.conftest import VITE_FILES, Shared
from tests.builds.helpers import ROOMY, Log, Recording, builder, read, snapshot

pytestmark = [pytest.mark.sandbox, pytest.mark.network]

_ENV = {
    "COREPACK_HOME": "/cache/corepack",
    "COREPACK_ENABLE_DOWNLOAD_PROMPT": "0",
    "COREPACK_ENABLE_PROJECT_SPEC": "0",
    "NODE_EXTRA_CA_CERTS": "/etc/ssl/certs/ca-certificates.crt",
}


def _locked(
    bubblewrap: BubblewrapRuntime, folder: Path, argv: list[str], lockfile: str
) -> dict[str, str]:
    """The Vite app with ``lockfile``, as ``argv`` (run by corepack in a sandbox) wrote it."""
    (folder / "package.json").write_text(VITE_FILES["package.json"])
    home = folder.parent / f"{folder.name}-corepack"
    home.mkdir()
    spec = SandboxSpec(
        argv,
        folder,
        env=_ENV,
        limits=ROOMY,
        mounts=[Mount(home, "/cache/corepack", writable=True)],
        network="registries",
    )
    lines: list[str] = []
    result = asyncio.run(bubblewrap.run(spec, lambda _, line: lines.append(line)))
    assert result.ok, "\n".join(lines)
    return {**VITE_FILES, lockfile: (folder / lockfile).read_text()}


@pytest.fixture(scope="session")
def pnpm_files(
    bubblewrap: BubblewrapRuntime, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    argv = [
        "corepack",
        _COREPACK_DEFAULTS["pnpm"],
        "install",
        "--lockfile-only",
        "--ignore-scripts",
    ]
    return _locked(bubblewrap, tmp_path_factory.mktemp("pnpm-lock"), argv, "pnpm-lock.yaml")


@pytest.fixture(scope="session")
def yarn_files(
    bubblewrap: BubblewrapRuntime, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    argv = ["corepack", _COREPACK_DEFAULTS["yarn"], "install", "--ignore-scripts"]
    argv += ["--non-interactive", "--no-progress", "--cache-folder", "/work/.yarn-cache"]
    return _locked(bubblewrap, tmp_path_factory.mktemp("yarn-lock"), argv, "yarn.lock")


def _build(
    bubblewrap: BubblewrapRuntime, shared: Shared, files: dict[str, str], name: str
) -> tuple[BuildResult, Log, Recording]:
    runtime = Recording(bubblewrap)
    build = builder(runtime, shared.root, shared.blobs, limits=ROOMY, toolchain=None)
    log = Log()
    result = asyncio.run(build.build(name, snapshot(shared.blobs, files), log))
    return result, log, runtime


def _assert_built(shared: Shared, result: BuildResult) -> None:
    files = result.output.files
    assert "index.html" in files
    scripts = [p for p in files if p.startswith("assets/") and p.endswith(".js")]
    assert scripts, sorted(files)
    assert any("hello from vite" in read(shared.blobs, result.output, p) for p in scripts)


@pytest.mark.parametrize(("manager", "fixture"), [("pnpm", "pnpm_files"), ("yarn", "yarn_files")])
def test_builds_through_corepack(
    manager: str,
    fixture: str,
    bubblewrap: BubblewrapRuntime,
    shared: Shared,
    request: pytest.FixtureRequest,
) -> None:
    files: dict[str, str] = request.getfixturevalue(fixture)
    result, _, runtime = _build(bubblewrap, shared, files, f"{manager}-vite")
    assert result.detection.client is not None
    assert result.detection.client.package_manager == manager
    install, build = runtime.specs
    assert list(install.argv[:3]) == ["corepack", _COREPACK_DEFAULTS[manager], "install"]
    assert install.env["COREPACK_HOME"] == "/cache/corepack"
    assert install.network == "registries"
    # the build runs vite directly, offline
    assert list(build.argv) == ["node", "node_modules/vite/bin/vite.js", "build"]
    assert build.network == "none"
    _assert_built(shared, result)


def test_pnpm_run_build_offline_from_the_sealed_corepack_home(
    bubblewrap: BubblewrapRuntime, shared: Shared, pnpm_files: dict[str, str]
) -> None:
    """A build script previewd cannot run directly goes through `pnpm run`, with no network."""
    package = json.loads(pnpm_files["package.json"])
    package["scripts"]["build"] = "vite build && echo built"
    files = {**pnpm_files, "package.json": json.dumps(package, indent=2)}
    result, log, runtime = _build(bubblewrap, shared, files, "pnpm-run-build")
    build = runtime.specs[-1]
    assert list(build.argv) == ["corepack", _COREPACK_DEFAULTS["pnpm"], "run", "build"]
    assert build.network == "none"
    home = [m for m in build.mounts if m.target == "/cache/corepack"]
    assert len(home) == 1 and not home[0].writable
    assert "built" in log.text
    _assert_built(shared, result)


def test_package_manager_field_pins_the_version(shared: Shared, pnpm_files: dict[str, str]) -> None:
    package = json.loads(pnpm_files["package.json"])
    package["packageManager"] = "pnpm@9.15.0"  # no hash: corepack checks the npm signature
    files = {**pnpm_files, "package.json": json.dumps(package, indent=2)}
    source = snapshot(shared.blobs, files)
    detection = detect(SnapshotTree(source.files, shared.blobs))
    made = plan.make(detection, source.files, Toolchain({}), shared.blobs.read)
    install = made.steps[0]
    assert install.argv[:2] == ("corepack", "pnpm@9.15.0")
    package["packageManager"] = "pnpm@https://example.com/pnpm.tgz"  # never a URL
    files["package.json"] = json.dumps(package)
    source = snapshot(shared.blobs, files)
    other = plan.make(detection, source.files, Toolchain({}), shared.blobs.read).steps[0]
    assert other.argv[:2] == ("corepack", _COREPACK_DEFAULTS["pnpm"])
    assert other.key != install.key
