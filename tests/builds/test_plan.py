"""Plans: which steps, what each reads, and keys that change exactly when the inputs do."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from previewd.blobs.local import LocalBlobStore
from previewd.build import BuildFailed
from previewd.build import plan as plans
from previewd.build.plan import NPM_CACHE, PRIVATE_NPM_CACHE, Plan
from previewd.build.toolchain import Toolchain
from previewd.detection import SnapshotTree, detect
from tests.builds.conftest import FLASK_FILES, VITE_FILES
from tests.builds.helpers import TOOLS, Content, snapshot

LOCK = json.dumps({"name": "vite-app", "lockfileVersion": 3, "packages": {}})
VITE = {**VITE_FILES, "package-lock.json": LOCK}


@pytest.fixture
def blobs(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


def make(blobs: LocalBlobStore, files: Mapping[str, Content], tools: Toolchain = TOOLS) -> Plan:
    source = snapshot(blobs, files)
    detection = detect(SnapshotTree(source.files, blobs))
    return plans.make(detection, source.files, tools, blobs.read)


def keys(plan: Plan) -> dict[str, str]:
    return {step.name: step.key for step in plan.steps}


def test_a_static_site_needs_no_step(blobs: LocalBlobStore) -> None:
    assert make(blobs, {"index.html": "<h1>hi</h1>", "style.css": "h1 {}"}).steps == ()


def test_a_vite_client_installs_with_the_registries_then_builds_without_network(
    blobs: LocalBlobStore,
) -> None:
    install, build = make(blobs, VITE).steps
    assert (install.name, install.network, install.deps_dir) == (
        "client:install",
        "registries",
        "node_modules",
    )
    assert install.argv[:2] == ("npm", "ci") and "--ignore-scripts" in install.argv
    assert install.shared_cache and install.env["npm_config_cache"] == NPM_CACHE
    assert set(install.inputs) == {"package.json", "package-lock.json"}  # nothing else is read
    assert (build.name, build.network, build.after) == ("client:build", "none", ("client:install",))
    assert build.argv == ("node", "node_modules/vite/bin/vite.js", "build")
    assert build.output == "dist"
    assert set(build.inputs) == set(VITE)


def test_a_source_change_changes_the_build_key_but_not_the_install_key(
    blobs: LocalBlobStore,
) -> None:
    before = keys(make(blobs, VITE))
    after = keys(make(blobs, {**VITE, "message.js": 'export const message = "changed";\n'}))
    assert after["client:install"] == before["client:install"]
    assert after["client:build"] != before["client:build"]
    assert keys(make(blobs, VITE)) == before  # and keys are stable


def test_a_lockfile_change_changes_both_keys(blobs: LocalBlobStore) -> None:
    before = keys(make(blobs, VITE))
    after = keys(make(blobs, {**VITE, "package-lock.json": LOCK.replace("3", "2")}))
    assert after["client:install"] != before["client:install"]
    assert after["client:build"] != before["client:build"]  # it reads node_modules


def test_editing_scripts_no_install_runs_keeps_the_install_key(blobs: LocalBlobStore) -> None:
    package = json.loads(VITE["package.json"])
    before = keys(make(blobs, VITE))
    package["scripts"]["build"] = "vite build --mode staging"
    after = keys(make(blobs, {**VITE, "package.json": json.dumps(package)}))
    assert after["client:install"] == before["client:install"]
    assert after["client:build"] != before["client:build"]
    package["scripts"]["postinstall"] = "node fetch-things.js"
    hooked = keys(make(blobs, {**VITE, "package.json": json.dumps(package)}))
    assert hooked["client:install"] != before["client:install"]


def test_the_output_folder_and_uploaded_node_modules_are_not_build_inputs(
    blobs: LocalBlobStore,
) -> None:
    files = {**VITE, "dist/old.js": "stale", "node_modules/x/index.js": "uploaded by mistake"}
    plan = make(blobs, files)
    _, build = plan.steps
    assert "dist/old.js" not in build.inputs and "node_modules/x/index.js" not in build.inputs
    assert keys(plan)["client:build"] == keys(make(blobs, VITE))["client:build"]
    assert "node_modules/x/index.js" not in plan.parts[0].files


def test_the_toolchain_is_part_of_every_key(blobs: LocalBlobStore) -> None:
    newer = Toolchain({**TOOLS.versions, "node": "v22"})
    before, after = keys(make(blobs, VITE)), keys(make(blobs, VITE, newer))
    assert all(before[name] != after[name] for name in before)


def test_a_package_without_dependencies_has_no_install_step(blobs: LocalBlobStore) -> None:
    package = {"name": "plain", "scripts": {"build": "node build.js"}}
    plan = make(blobs, {"package.json": json.dumps(package), "build.js": "// writes dist"})
    assert [step.name for step in plan.steps] == ["client:build"]
    assert plan.steps[0].after == ()


def test_an_install_without_lockfile_gets_a_private_download_cache(blobs: LocalBlobStore) -> None:
    install, _ = make(blobs, {k: v for k, v in VITE.items() if k != "package-lock.json"}).steps
    assert install.argv[:2] == ("npm", "install")
    assert not install.shared_cache and install.env["npm_config_cache"] == PRIVATE_NPM_CACHE


def test_an_install_that_runs_scripts_reads_the_whole_part(blobs: LocalBlobStore) -> None:
    package = {**json.loads(VITE["package.json"]), "dependencies": {"bcrypt": "^5"}}
    install, _ = make(blobs, {**VITE, "package.json": json.dumps(package)}).steps
    assert "--ignore-scripts" not in install.argv  # bcrypt builds itself in a script
    assert set(install.inputs) == set(VITE)


def test_a_frontend_and_a_backend_are_two_independent_chains(blobs: LocalBlobStore) -> None:
    files = {f"frontend/{p}": c for p, c in VITE.items()}
    files |= {f"backend/{p}": c for p, c in FLASK_FILES.items()}
    plan = make(blobs, files)
    assert [(s.name, s.after) for s in plan.steps] == [
        ("client:install", ()),
        ("client:build", ("client:install",)),
        ("server:install", ()),
    ]
    client, server = plan.parts
    assert (client.dir, server.dir) == ("frontend", "backend")
    assert set(client.files) == set(VITE) and set(server.files) == set(FLASK_FILES)
    # re-rooted: the same client in a subfolder is the same build
    assert keys(plan)["client:build"] == keys(make(blobs, VITE))["client:build"]


def test_a_python_server_gets_a_venv_filled_by_pip_from_outside(blobs: LocalBlobStore) -> None:
    (install,) = make(blobs, FLASK_FILES).steps
    assert install.deps_dir == ".venv" and install.network == "registries"
    assert install.argv[:2] == ("sh", "-c") and "venv --without-pip .venv" in install.argv[2]
    assert install.argv[4:] == (
        "install",
        "--no-input",
        "--disable-pip-version-check",
        "-r",
        "requirements.txt",
    )
    assert set(install.inputs) == {"requirements.txt"}
    assert install.env["PIP_NO_CACHE_DIR"] == "1"  # no pip cache shared between projects


def test_requirements_follow_their_includes_and_local_paths_read_everything(
    blobs: LocalBlobStore,
) -> None:
    files = {**FLASK_FILES, "requirements.txt": "-r base.txt\n", "base.txt": "flask\n"}
    (install,) = make(blobs, files).steps
    assert set(install.inputs) == {"requirements.txt", "base.txt"}
    files = {**FLASK_FILES, "requirements.txt": "flask\n-e .\n", "setup.py": "setup()"}
    (install,) = make(blobs, files).steps
    assert set(install.inputs) == set(files)


def test_a_python_server_without_requirements_still_gets_a_venv(blobs: LocalBlobStore) -> None:
    files = {"Procfile": "web: python server.py", "server.py": "import http.server"}
    (install,) = make(blobs, files).steps
    assert install.argv == ("python3", "-m", "venv", "--without-pip", ".venv")
    assert install.inputs == {}


def test_an_output_folder_outside_the_client_is_refused(blobs: LocalBlobStore) -> None:
    files = {f"web/{p}": c for p, c in VITE.items()}
    files["previewd.toml"] = '[client]\ndir = "web"\noutput = "public"\n'
    with pytest.raises(BuildFailed, match="outside its folder") as caught:
        make(blobs, files)
    assert caught.value.step == "client:build" and caught.value.status == 422
