from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from previewd.detection import explain
from tests.detection.helpers import Files, check, detect_both, package

VITE_APP = package({"build": "vite build"}, {"react": "18"}, {"vite": "5"})
FLASK_APP = "from flask import Flask\napp = Flask(__name__)\n"
FASTAPI_APP = "from fastapi import FastAPI\napp = FastAPI()\n"
EXPRESS = package({"start": "node index.js"}, {"express": "4"})
SPLIT = {"/api/*": "server", "/*": "client"}

CASES: list[tuple[str, Files, dict[str, Any], str | None]] = [
    (
        "static-root",
        {"index.html": "<h1>hi</h1>", "style.css": "h1{}", "README.md": "# hi"},
        {"parts": ("static",), "static.root": ".", "routes": {"/*": "static"}, "spa": False},
        "index.html → a static site served from the root.",
    ),
    (
        "static-in-public",
        {"public/index.html": "<h1>", "README.md": "# hi", "notes/a.html": ""},
        {"parts": ("static",), "static.root": "public"},
        "public/index.html → a static site served from public/.",
    ),
    (
        "static-anywhere-shallowest-wins",
        {"README.md": "", "pages/demo/index.html": "", "pages/demo/b/index.html": "", "x.html": ""},
        {"parts": ("static",), "static.root": "pages/demo"},
        "pages/demo/index.html is the shallowest, so pages/demo/ is served as a static site.",
    ),
    (
        "package-json-without-build-leaves-static",
        {"package.json": package({"dev": "live-server"}), "index.html": ""},
        {"parts": ("static",), "static.root": "."},
        "package.json has neither a build nor a start script.",
    ),
    (
        "frontend-and-backend",
        {
            "frontend/package.json": VITE_APP,
            "frontend/package-lock.json": "{}",
            "backend/requirements.txt": "flask\n",
            "backend/app.py": FLASK_APP,
            "README.md": "",
        },
        {
            "parts": ("client", "server"),
            "client.dir": "frontend",
            "client.output": "frontend/dist",
            "client.lockfile": "frontend/package-lock.json",
            "server.dir": "backend",
            "server.framework": "Flask",
            "server.lockfile": "backend/requirements.txt",
            "routes": SPLIT,
            "spa": True,
        },
        "A client in frontend/ and a server in backend/ → /api/* goes to the server and every "
        "other path to the client",
    ),
    (
        "client-and-server-folders-in-node",
        {
            "client/package.json": VITE_APP,
            "server/package.json": EXPRESS,
            "server/index.js": "PORT",
        },
        {
            "client.dir": "client",
            "server.dir": "server",
            "server.framework": "Express",
            "routes": SPLIT,
        },
        None,
    ),
    (
        "web-and-api",
        {
            "web/package.json": VITE_APP,
            "api/main.py": FASTAPI_APP,
            "api/requirements.txt": "fastapi",
        },
        {"client.dir": "web", "server.dir": "api", "server.framework": "FastAPI", "routes": SPLIT},
        None,
    ),
    (
        "root-client-and-backend-folder",
        {"package.json": VITE_APP, "backend/main.py": FASTAPI_APP},
        {"client.dir": ".", "server.dir": "backend", "routes": SPLIT},
        None,
    ),
    (
        "a-root-script-driving-a-subfolder-loses-to-it",
        {
            "package.json": package({"build": "npm --prefix frontend run build"}),
            "frontend/package.json": VITE_APP,
        },
        {"client.dir": "frontend", "client.framework": "Vite (React)"},
        None,
    ),
    (
        "static-frontend-and-backend",
        {"frontend/index.html": "", "backend/main.py": FASTAPI_APP},
        {
            "parts": ("static", "server"),
            "static.root": "frontend",
            "routes": {"/api/*": "server", "/*": "static"},
            "spa": False,
        },
        None,
    ),
    (
        "a-server-at-the-root-serves-its-own-files",
        {"app.py": FLASK_APP, "templates/index.html": "", "static/index.html": ""},
        {"parts": ("server",), "routes": {"/*": "server"}},
        None,
    ),
    (
        "one-wrapping-folder",
        {"my-app/package.json": VITE_APP, "my-app/src/main.jsx": "", "README.md": ""},
        {"client.dir": "my-app", "client.output": "my-app/dist"},
        "Everything is inside my-app/, so detection looked there.",
    ),
    (
        "malformed-package-json",
        {"package.json": '{"scripts": {"build": "vite build",}}', "index.html": ""},
        {"parts": ("static",)},
        "package.json could not be parsed as JSON (line 1, column 36: Expecting property name "
        "enclosed in double quotes), so it was ignored.",
    ),
    (
        "package-json-of-the-wrong-shape",
        {"package.json": '{"scripts": ["build"]}', "web/package.json": "[]", "index.html": ""},
        {"parts": ("static",)},
        '"scripts" in package.json is not an object, so it was ignored.',
    ),
    (
        "a-huge-package-json-is-not-read",
        {"package.json": '{"x": "' + "a" * (1024 * 1024) + '"}', "index.html": ""},
        {"parts": ("static",)},
        "package.json is larger than 1024 KiB, so it was not read.",
    ),
    (
        "not-utf8",
        {"app.py": b"\xff\xfe app = Flask(", "index.html": ""},
        {"parts": ("static",)},
        "app.py is not UTF-8 text, so it was ignored.",
    ),
    (
        "dependencies-are-not-looked-into",
        {"node_modules/x/index.html": "", "node_modules/x/package.json": VITE_APP},
        {"parts": ()},
        "Nothing to build or serve was found.",
    ),
]


@pytest.mark.parametrize(
    ("files", "expected", "reason"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_layouts(
    tmp_path: Path, files: Files, expected: dict[str, Any], reason: str | None
) -> None:
    check(detect_both(tmp_path, files), expected, reason)


def test_nothing_recognisable_says_what_was_looked_for(tmp_path: Path) -> None:
    detection = detect_both(tmp_path, {"README.md": "# notes", "notes/page.html": "<p>"})
    assert detection.parts == ()
    assert detection.routes == {}
    assert len(detection.reasons) == 1
    for looked_for in ("index.html", "package.json", "Flask", "Procfile", "backend/"):
        assert looked_for in detection.reasons[0]
    assert explain(detection).startswith("Nothing to build or serve was recognised.\nwhy\n")


def test_to_dict_is_plain_json(tmp_path: Path) -> None:
    files: Files = {
        "frontend/package.json": VITE_APP,
        "backend/app.py": "import gradio\n",
    }
    detection = detect_both(tmp_path, files)
    plain = detection.to_dict()
    assert json.loads(json.dumps(plain)) == plain
    assert plain["static"] is None
    assert plain["client"]["build"] == ["node", "node_modules/vite/bin/vite.js", "build"]
    assert plain["server"]["env"] == {
        "GRADIO_SERVER_PORT": "$PORT",
        "GRADIO_SERVER_NAME": "0.0.0.0",
    }
    assert list(plain["routes"]) == ["/api/*", "/*"]
    assert plain["spa"] is True
    assert plain["reasons"] == list(detection.reasons)


def test_explain(tmp_path: Path) -> None:
    files: Files = {
        "web/package.json": VITE_APP,
        "web/package-lock.json": "{}",
        "api/requirements.txt": "flask\n",
        "api/app.py": FLASK_APP,
    }
    text = explain(detect_both(tmp_path, files))
    lines = text.splitlines()
    assert lines[:4] == [
        "client  web/ · Vite (React) · npm (web/package-lock.json)",
        "          install  npm ci --prefer-offline --no-audit --no-fund --ignore-scripts",
        "          build    node node_modules/vite/bin/vite.js build",
        "          output   web/dist/",
    ]
    assert lines[4] == "server  api/ · python · Flask"
    assert "          start    python -m flask --app app run --host 0.0.0.0 --port $PORT" in lines
    assert "          env      PORT=$PORT" in lines
    assert "routes  /api/* → server, /* → client; other paths fall back to index.html" in lines
    assert "why" in lines
    assert any(line.startswith("  - web/package.json has a build script") for line in lines)
