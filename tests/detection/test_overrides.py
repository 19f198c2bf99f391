from __future__ import annotations

from pathlib import Path

import pytest

from previewd.errors import InvalidContent
from tests.detection.helpers import Files, detect_both, package

VITE_APP = package({"build": "vite build"}, {"react": "18"}, {"vite": "5"})


def test_previewd_toml_overrides_fields(tmp_path: Path) -> None:
    files: Files = {
        "web/package.json": VITE_APP,
        "web/pnpm-lock.yaml": "",
        "server.py": "import http.server\n",
        "previewd.toml": """
[client]
dir = "web/"
build = "npm run build:prod -- --mode 'staging area'"
output = "web/out"

[server]
start = "python server.py"
runtime = "python"
env = { DEBUG = "1" }

[routes]
"/api/*" = "server"
"/health" = "server"
spa = false
""",
    }
    detection = detect_both(tmp_path, files)
    client, server = detection.client, detection.server
    assert client is not None and server is not None
    assert client.dir == "web"
    assert client.framework == "Vite (React)"  # still detected
    assert client.package_manager == "pnpm"  # still detected
    assert client.build == ("npm", "run", "build:prod", "--", "--mode", "staging area")
    assert client.output == "web/out"
    assert (server.runtime, server.dir, server.framework) == ("python", ".", "custom")
    assert server.start == ("python", "server.py")
    assert server.install is None
    assert server.env == {"DEBUG": "1"}
    assert detection.routes == {"/api/*": "server", "/health": "server", "/*": "client"}
    assert detection.spa is False
    for reason in (
        "previewd.toml sets client.output = web/out.",
        "previewd.toml sets client.build = `npm run build:prod -- --mode 'staging area'`.",
        "previewd.toml defines a python server in the root.",
        "previewd.toml routes /health to the server.",
        "previewd.toml sets routes.spa = false.",
    ):
        assert reason in detection.reasons


def test_previewd_toml_forces_a_folder_and_takes_lists(tmp_path: Path) -> None:
    files: Files = {
        "site/package.json": package({"start": "node s.js"}, {"express": "4"}),
        "site/package-lock.json": "{}",
        "previewd.toml": '[client]\ndir = "site"\nbuild = ["node", "make.js"]\n'
        '[server]\ndir = "site"\ninstall = []\n',
    }
    detection = detect_both(tmp_path, files)
    assert detection.client is not None and detection.server is not None
    assert detection.client.build == ("node", "make.js")
    assert detection.client.install[:2] == ("npm", "ci")
    assert detection.client.output == "site/dist"
    assert detection.server.start == ("node", "s.js")
    assert detection.server.install is None
    assert "The output folder is a guess: site/dist/." in detection.reasons


def test_a_static_section_without_client_builds_nothing(tmp_path: Path) -> None:
    files: Files = {"package.json": VITE_APP, "previewd.toml": '[static]\nroot = "docs"\n'}
    detection = detect_both(tmp_path, files)
    assert detection.parts == ("static",)
    assert detection.static is not None and detection.static.root == "docs"
    assert "previewd.toml sets static.root = docs." in detection.reasons


BAD: list[tuple[str, str, str]] = [
    ("syntax", "[client\n", "previewd.toml: not valid TOML: Expected ']'"),
    (
        "unknown-key",
        '[client]\nbuid = "x"\n',
        "unknown key client.buid; [client] allows build, dir, framework, install, lockfile, "
        "output, package_manager.",
    ),
    (
        "unknown-section",
        '[clients]\nbuild = "x"\n',
        "unknown key 'clients'; allowed sections: [static], [client], [server], [routes].",
    ),
    ("top-level-key", "spa = true\n", "unknown key 'spa'"),
    ("section-not-a-table", 'client = "web"\n', "client must be a table ([client]), not a string."),
    (
        "wrong-type",
        "[client]\nbuild = 3\n",
        "client.build must be a string or an array of strings, not an integer.",
    ),
    (
        "wrong-item-type",
        "[server]\nstart = ['node', 1]\n",
        "server.start must be a string or an array of strings, not an array.",
    ),
    ("empty-command", '[server]\nstart = ""\n', "server.start is empty"),
    ("unbalanced-quotes", '[client]\nbuild = "npm run \'x"\n', "cannot be split into words"),
    (
        "dotdot-path",
        '[client]\noutput = "../elsewhere"\n',
        "client.output = '../elsewhere' is not a path inside the project",
    ),
    (
        "absolute-path",
        '[static]\nroot = "/etc"\n',
        "static.root = '/etc' is not a path inside the project: Invalid path '/etc': it is absolute.",
    ),
    ("git-path", '[static]\nroot = ".git"\n', "it writes into '.git'"),
    (
        "bad-choice",
        '[server]\nruntime = "ruby"\n',
        "server.runtime must be one of python, node, not 'ruby'.",
    ),
    (
        "bad-env-name",
        '[server]\nport_env = "MY PORT"\n',
        "server.port_env must be an environment variable name",
    ),
    (
        "bad-env-value",
        "[server]\nenv = { A = 1 }\n",
        "server.env.A must be a string, not an integer.",
    ),
    ("spa-not-bool", '[routes]\nspa = "yes"\n', "routes.spa must be true or false, not a string."),
    (
        "route-target",
        '[routes]\n"/api/*" = "backend"\n',
        "must name static, client or server, not 'backend'.",
    ),
    ("route-pattern", '[routes]\n"/a*b" = "client"\n', "may hold '*' only at its end"),
    ("route-key", '[routes]\napi = "server"\n', "unknown key routes.api; [routes] allows spa"),
    (
        "route-to-missing-part",
        '[routes]\n"/api/*" = "server"\n',
        "routes /api/* to the server, but there is no server.",
    ),
    (
        "client-without-build",
        '[client]\ndir = "web"\n',
        "detection found no package.json with a build script in web/ to complete it, and it does not set client.build.",
    ),
    ("server-without-start", '[server]\nruntime = "node"\n', "does not set server.start."),
]


@pytest.mark.parametrize(("toml", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_a_malformed_previewd_toml_is_refused(tmp_path: Path, toml: str, message: str) -> None:
    files: Files = {"index.html": "", "previewd.toml": toml}
    with pytest.raises(InvalidContent) as caught:
        detect_both(tmp_path, files)
    assert message in caught.value.message
    assert caught.value.hint


def test_an_oversized_previewd_toml_is_refused(tmp_path: Path) -> None:
    files: Files = {"previewd.toml": "# " + "x" * (1024 * 1024) + "\n"}
    with pytest.raises(
        InvalidContent, match=r"previewd\.toml: the file is larger than 1048576 bytes\."
    ):
        detect_both(tmp_path, files)
