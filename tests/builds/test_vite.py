"""A real Vite app, built in real sandboxes from packages the npm registry really serves."""

from __future__ import annotations

import json
import os
import stat

import pytest

from previewd.build import PREVIEWD
from previewd.runtimes.bubblewrap import BubblewrapRuntime
from tests.builds.conftest import VITE_PACKAGE, Built, Shared
from tests.builds.helpers import ROOMY, Log, Recording, builder, read, snapshot, tree_state

pytestmark = [pytest.mark.anyio, pytest.mark.sandbox, pytest.mark.network]


def script(result_files: dict[str, object]) -> str:
    (name,) = [p for p in result_files if p.startswith("assets/") and p.endswith(".js")]
    return name


async def test_a_cold_build_installs_from_the_registry_and_builds(
    vite_cold: Built, shared: Shared
) -> None:
    result, log = vite_cold.result, vite_cold.log
    assert [(r.name, r.status) for r in result.steps] == [
        ("client:install", "ran"),
        ("client:build", "ran"),
    ]
    assert [spec.network for spec in vite_cold.runtime.specs] == ["registries", "none"]
    output = result.output
    assert "index.html" in output.files
    assert "hello from vite" in read(shared.blobs, output, script(dict(output.files)))
    assert any("built in" in text for step, _, text in log.lines if step == "client:build")
    assert log.statuses("client:install") == ["started", "done"]
    # the install is in the dependency cache: root-owned, read-only, found by its key
    deps = shared.root / "cache/deps" / result.steps[0].key
    vite_js = deps / "vite/bin/vite.js"
    assert vite_js.is_file() and vite_js.stat().st_uid == 0
    assert not vite_js.stat().st_mode & 0o222 and not deps.stat().st_mode & 0o222


async def test_the_same_source_again_runs_no_sandbox_at_all(
    vite_cold: Built, shared: Shared, bubblewrap: BubblewrapRuntime, vite_files: dict[str, str]
) -> None:
    runtime = Recording(bubblewrap)
    build = builder(runtime, shared.root, shared.blobs, limits=ROOMY, toolchain=None)
    result = await build.build("vite-again", snapshot(shared.blobs, vite_files), Log())
    assert runtime.specs == []
    assert [r.status for r in result.steps] == ["cached", "cached"]
    assert result.output.digest == vite_cold.result.output.digest


async def test_a_warm_rebuild_after_one_change_reuses_the_install_and_reaches_no_registry(
    vite_cold: Built, shared: Shared, bubblewrap: BubblewrapRuntime, vite_files: dict[str, str]
) -> None:
    # every sandbox of this build gets network "none": an install would find no registry
    runtime = Recording(bubblewrap, force_network="none")
    build = builder(runtime, shared.root, shared.blobs, limits=ROOMY, toolchain=None)
    changed = {**vite_files, "message.js": 'export const message = "changed in chat";\n'}
    log = Log()
    result = await build.build("vite-warm", snapshot(shared.blobs, changed), log)
    assert [(r.name, r.status) for r in result.steps] == [
        ("client:install", "cached"),
        ("client:build", "ran"),
    ]
    assert [spec.network for spec in runtime.specs] == ["none"]  # asked for: only the build
    assert [spec.argv[0] for spec in runtime.specs] == ["node"]
    output = result.output
    assert "changed in chat" in read(shared.blobs, output, script(dict(output.files)))
    assert output.digest != vite_cold.result.output.digest
    assert any(s == PREVIEWD and "hard-linked" in t for _, s, t in log.lines)


async def test_a_malicious_postinstall_does_not_run(
    vite_cold: Built, shared: Shared, bubblewrap: BubblewrapRuntime, vite_files: dict[str, str]
) -> None:
    package = {**VITE_PACKAGE, "scripts": {**VITE_PACKAGE["scripts"]}}
    package["scripts"]["postinstall"] = "echo PWNED-BY-POSTINSTALL; echo owned > /work/pwned"
    package["scripts"]["prepare"] = "echo PWNED-BY-PREPARE"
    files = {**vite_files, "package.json": json.dumps(package), ".npmrc": "ignore-scripts=false\n"}
    runtime = Recording(bubblewrap)
    build = builder(runtime, shared.root, shared.blobs, limits=ROOMY, toolchain=None)
    log = Log()
    result = await build.build("postinstall", snapshot(shared.blobs, files), log)
    # its own install ran (install scripts are part of the key), with --ignore-scripts winning
    assert (result.steps[0].name, result.steps[0].status) == ("client:install", "ran")
    assert "PWNED" not in log.text
    deps = shared.root / "cache/deps" / result.steps[0].key
    assert not (deps / "pwned").exists() and (deps / "vite").is_dir()
    assert "index.html" in result.output.files


async def test_a_build_cannot_change_its_sources_or_the_dependency_cache(
    vite_cold: Built, shared: Shared, bubblewrap: BubblewrapRuntime, vite_files: dict[str, str]
) -> None:
    deps = shared.root / "cache/deps" / vite_cold.result.steps[0].key
    before = tree_state(deps)
    tamper = (
        "for f in node_modules/vite/package.json node_modules/vite/bin/vite.js main.js; do "
        'echo tampered >> "$f" && echo "WROTE $f"; chmod 666 "$f" && echo "CHMOD $f"; done; '
        "ln node_modules/vite/bin/vite.js hardlink && echo LINKED; "
        "node node_modules/vite/bin/vite.js build"
    )
    package = {**VITE_PACKAGE, "scripts": {"build": tamper}}
    files = {**vite_files, "package.json": json.dumps(package)}
    source = snapshot(shared.blobs, files)
    runtime = Recording(bubblewrap)
    build = builder(runtime, shared.root, shared.blobs, limits=ROOMY, toolchain=None)
    log = Log()
    result = await build.build("tamper", source, log)
    assert result.steps[0].status == "cached"  # a new build script keeps the install
    # (npm echoes the script itself first: look for what it would print, at a line's start)
    said = [text for _, _, text in log.lines]
    assert not [line for line in said if line.startswith(("WROTE", "CHMOD", "LINKED"))]
    assert "Permission denied" in log.text or "Operation not permitted" in log.text
    assert tree_state(deps) == before
    blob = shared.blobs.path(source.files["main.js"].digest)
    assert blob.read_text() == vite_files["main.js"]
    assert stat.S_IMODE(os.stat(blob).st_mode) == 0o444
    assert "hello from vite" in read(shared.blobs, result.output, script(dict(result.output.files)))
