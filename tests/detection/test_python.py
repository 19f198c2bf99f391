from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.detection.helpers import Files, check, detect_both

PIP = ("python", "-m", "pip", "install", "--no-input", "--disable-pip-version-check")
FLASK_APP = "from flask import Flask\n\napp = Flask(__name__)\n"
FASTAPI_APP = "from fastapi import FastAPI\n\napp: FastAPI = FastAPI(title='demo')\n"

CASES: list[tuple[str, Files, dict[str, Any], str]] = [
    (
        "flask",
        {"requirements.txt": "Flask==3.0.3\n", "app.py": FLASK_APP},
        {
            "parts": ("server",),
            "server.runtime": "python",
            "server.framework": "Flask",
            "server.dir": ".",
            "server.install": (*PIP, "-r", "requirements.txt"),
            "server.lockfile": "requirements.txt",
            "server.build": None,
            "server.start": (
                "python",
                "-m",
                "flask",
                "--app",
                "app",
                "run",
                "--host",
                "0.0.0.0",
                "--port",
                "$PORT",
            ),
            "server.port_env": "PORT",
            "routes": {"/*": "server"},
        },
        "app.py has `app = Flask(` → a Flask (WSGI) app",
    ),
    (
        "flask-with-gunicorn-and-another-name",
        {
            "requirements.txt": "flask>=3\n# the server\ngunicorn[gevent]==22.0\n-r more.txt\n",
            "main.py": "import flask\napplication = flask.Flask(__name__)\n",
        },
        {
            "server.framework": "Flask",
            "server.start": (
                "python",
                "-m",
                "gunicorn",
                "main:application",
                "--bind",
                "0.0.0.0:$PORT",
            ),
        },
        "gunicorn is listed, so gunicorn serves it",
    ),
    (
        "flask-factory",
        {"wsgi.py": "from flask import Flask\n\ndef create_app():\n    return Flask(__name__)\n"},
        {
            "server.start": (
                "python",
                "-m",
                "flask",
                "--app",
                "wsgi",
                "run",
                "--host",
                "0.0.0.0",
                "--port",
                "$PORT",
            )
        },
        "a create_app() factory",
    ),
    (
        "fastapi",
        {"requirements.txt": "fastapi\nuvicorn[standard]\n", "main.py": FASTAPI_APP},
        {
            "server.framework": "FastAPI",
            "server.start": (
                "python",
                "-m",
                "uvicorn",
                "main:app",
                "--host",
                "0.0.0.0",
                "--port",
                "$PORT",
            ),
        },
        "main.py creates `app = FastAPI(` → a FastAPI (ASGI) app, served by uvicorn.",
    ),
    (
        "fastapi-in-a-package-without-uvicorn",
        {"requirements.txt": "fastapi==0.111\n", "app/main.py": FASTAPI_APP, "app/__init__.py": ""},
        {
            "server.start": (
                "python",
                "-m",
                "uvicorn",
                "app.main:app",
                "--host",
                "0.0.0.0",
                "--port",
                "$PORT",
            )
        },
        "uvicorn is not listed in requirements.txt",
    ),
    (
        "starlette-with-pyproject-dependencies",
        {
            "pyproject.toml": '[project]\nname = "demo"\ndependencies = ["starlette", "uvicorn>=0.30"]\n',
            "asgi.py": "from starlette.applications import Starlette\napi = Starlette()\n",
        },
        {
            "server.framework": "Starlette",
            "server.install": (*PIP, "starlette", "uvicorn>=0.30"),
            "server.lockfile": "pyproject.toml",
            "server.start": (
                "python",
                "-m",
                "uvicorn",
                "asgi:api",
                "--host",
                "0.0.0.0",
                "--port",
                "$PORT",
            ),
        },
        "pyproject.toml has no [build-system], so only its [project] dependencies are installed",
    ),
    (
        "pyproject-package-installs-itself",
        {
            "pyproject.toml": '[build-system]\nrequires = ["hatchling"]\n\n[project]\nname = "x"\n'
            'dependencies = ["flask"]\n',
            "app.py": FLASK_APP,
        },
        {"server.install": (*PIP, "."), "server.lockfile": "pyproject.toml"},
        "installs the project and its dependencies",
    ),
    (
        "django",
        {
            "requirements.txt": "Django>=5\n",
            "manage.py": "import django\n",
            "mysite/settings.py": "",
            "mysite/wsgi.py": "application = get_wsgi_application()\n",
        },
        {
            "server.framework": "Django",
            "server.start": ("python", "manage.py", "runserver", "0.0.0.0:$PORT", "--noreload"),
        },
        "manage.py → a Django project",
    ),
    (
        "django-with-gunicorn",
        {
            "requirements.txt": "django\ngunicorn\n",
            "manage.py": "",
            "mysite/wsgi.py": "",
        },
        {"server.start": ("python", "-m", "gunicorn", "mysite.wsgi", "--bind", "0.0.0.0:$PORT")},
        "gunicorn serves mysite.wsgi",
    ),
    (
        "streamlit",
        {
            "requirements.txt": "streamlit\n",
            "streamlit_app.py": "import streamlit as st\nst.title('x')\n",
        },
        {
            "server.framework": "Streamlit",
            "server.start": (
                "python",
                "-m",
                "streamlit",
                "run",
                "streamlit_app.py",
                "--server.port",
                "$PORT",
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
            ),
        },
        "streamlit_app.py imports streamlit → a Streamlit app.",
    ),
    (
        "gradio",
        {
            "requirements.txt": "gradio\n",
            "app.py": "import gradio as gr\n\ngr.Interface(fn=str).launch()\n",
        },
        {
            "server.framework": "Gradio",
            "server.start": ("python", "app.py"),
            "server.env": {"GRADIO_SERVER_PORT": "$PORT", "GRADIO_SERVER_NAME": "0.0.0.0"},
        },
        "it reads its port from GRADIO_SERVER_PORT",
    ),
    (
        "procfile-wins",
        {
            "Procfile": "release: python migrate.py\nweb: gunicorn app:app --bind 0.0.0.0:${PORT}\n",
            "requirements.txt": "flask\ngunicorn\n",
            "app.py": FLASK_APP,
        },
        {
            "server.framework": "Procfile",
            "server.runtime": "python",
            "server.start": ("gunicorn", "app:app", "--bind", "0.0.0.0:$PORT"),
            "server.install": (*PIP, "-r", "requirements.txt"),
        },
        "Procfile has a web: line, which wins",
    ),
    (
        "procfile-with-shell-syntax",
        {"Procfile": "web: cd src && npm start\n", "src/package.json": "{}"},
        {"server.runtime": "node", "server.start": ("sh", "-c", "cd src && npm start")},
        "start `cd src && npm start` (node)",
    ),
    (
        "malformed-pyproject-is-a-reason",
        {"pyproject.toml": "[project\nname = 'x'\n", "app.py": FLASK_APP},
        {"server.framework": "Flask", "server.install": (*PIP, ".")},
        "pyproject.toml could not be parsed as TOML (",
    ),
]


@pytest.mark.parametrize(
    ("files", "expected", "reason"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_python_servers(
    tmp_path: Path, files: Files, expected: dict[str, Any], reason: str
) -> None:
    check(detect_both(tmp_path, files), expected, reason)


def test_a_framework_without_an_app_says_so(tmp_path: Path) -> None:
    detection = detect_both(tmp_path, {"requirements.txt": "flask\n", "run.py": FLASK_APP})
    assert detection.parts == ()
    assert any(
        r.startswith("requirements.txt lists flask, but none of app.py, main.py")
        and "set server.start in previewd.toml" in r
        for r in detection.reasons
    )


def test_a_script_without_a_web_framework_is_no_server(tmp_path: Path) -> None:
    detection = detect_both(tmp_path, {"main.py": "print('hello')\n"})
    assert detection.parts == ()
    assert detection.reasons[0].startswith("Nothing to build or serve was found.")
