"""A real Flask app: flask pip-installed from PyPI into a venv, in a sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from previewd.build import ServerBundle, link_tree
from previewd.build.workspace import materialise
from previewd.runtimes.base import SandboxSpec
from previewd.runtimes.bubblewrap import BubblewrapRuntime
from tests.builds.conftest import FLASK_FILES, Built, Shared
from tests.builds.helpers import ROOMY, Log, Recording, builder, snapshot

pytestmark = [pytest.mark.anyio, pytest.mark.sandbox, pytest.mark.network]


async def test_a_flask_app_is_prepared_as_a_server_bundle_that_runs(
    flask_cold: Built, shared: Shared, bubblewrap: BubblewrapRuntime, tmp_path: Path
) -> None:
    result = flask_cold.result
    assert [(r.name, r.status) for r in result.steps] == [("server:install", "ran")]
    assert "Successfully installed" in flask_cold.log.text
    assert result.output.files == {}
    bundle = result.server
    assert isinstance(bundle, ServerBundle) and bundle.deps is not None
    assert bundle.runtime == "python" and set(bundle.files.files) == set(FLASK_FILES)
    assert bundle.deps.tree.stat().st_uid == 0 and (bundle.deps.tree / "bin/python").is_symlink()
    # what issue 4 will do: lay the bundle out, restore its venv, start python from the venv
    work = tmp_path / "server"
    materialise(bundle.files.files, shared.blobs, work, (65534, 65534))
    link_tree(bundle.deps.tree, work / bundle.deps.target)
    check = (
        "import sys, importlib.metadata as m, app; "
        'print(sys.prefix, m.version("flask"), app.index())'
    )
    lines: list[tuple[str, str]] = []
    spec = SandboxSpec(["python", "-c", check], work, env=bundle.env, limits=ROOMY)
    outcome = await bubblewrap.run(spec, lambda stream, line: lines.append((stream, line)))
    assert outcome.ok, lines
    ((_, said),) = [entry for entry in lines if entry[0] == "stdout"]
    assert said.startswith("/work/.venv 3.") and said.endswith(" hello from flask")


async def test_changing_the_app_keeps_the_venv_and_runs_nothing(
    flask_cold: Built, shared: Shared, bubblewrap: BubblewrapRuntime
) -> None:
    runtime = Recording(bubblewrap)
    build = builder(runtime, shared.root, shared.blobs, limits=ROOMY, toolchain=None)
    files = {**FLASK_FILES, "app.py": FLASK_FILES["app.py"].replace("hello", "changed")}
    result = await build.build("flask-warm", snapshot(shared.blobs, files), Log())
    assert runtime.specs == []
    assert [r.status for r in result.steps] == ["cached"]
    assert result.server is not None and result.server.deps == flask_cold.result.server.deps  # type: ignore[union-attr]


async def test_a_frontend_and_a_backend_build_at_the_same_time_for_real(
    vite_cold: Built,
    flask_cold: Built,
    shared: Shared,
    bubblewrap: BubblewrapRuntime,
    vite_files: dict[str, str],
) -> None:
    files = {f"frontend/{p}": c for p, c in vite_files.items()}
    files["frontend/message.js"] = 'export const message = "front and back";\n'
    files |= {f"backend/{p}": c for p, c in FLASK_FILES.items()}
    files["backend/requirements.txt"] = "flask\nitsdangerous\n"  # a new install, from PyPI
    runtime = Recording(bubblewrap)
    build = builder(runtime, shared.root, shared.blobs, limits=ROOMY, toolchain=None)
    log = Log()
    result = await build.build("both", snapshot(shared.blobs, files), log)
    assert [(r.name, r.status) for r in result.steps] == [
        ("client:install", "cached"),  # the same package.json and lockfile as the root app's
        ("client:build", "ran"),
        ("server:install", "ran"),
    ]
    # the client's build started before the server's install ended: side by side
    assert log.at("client:build", "started") < log.at("server:install", "done")
    assert log.at("server:install", "started") < log.at("client:build", "done")
    assert "index.html" in result.output.files
    assert result.server is not None and result.server.dir == "backend"
