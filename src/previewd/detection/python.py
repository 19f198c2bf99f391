"""Python web apps: the framework, how to install the dependencies and how to start it.

An app is recognised by reading its likely entry files (``app.py``,
``main.py``, …) for the line that creates it, never by importing them.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any, NamedTuple

from previewd.detection.model import PORT, Argv, Server, command
from previewd.detection.scan import Scan, join, shown

ENTRIES = (
    "app.py",
    "main.py",
    "wsgi.py",
    "asgi.py",
    "application.py",
    "server.py",
    "streamlit_app.py",
    "app/main.py",
    "app/__init__.py",
    "src/main.py",
    "src/app.py",
)
_MARKERS = ("requirements.txt", "pyproject.toml", "setup.py", "manage.py", "Pipfile")
_FRAMEWORKS = ("django", "fastapi", "flask", "gradio", "starlette", "streamlit")
_PIP = ("python", "-m", "pip", "install", "--no-input", "--disable-pip-version-check")
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_ASSIGN = r"^([A-Za-z_]\w*)\s*(?::[^=\n]*)?=\s*"  # `app = ` or `app: FastAPI = `
_ASGI = re.compile(_ASSIGN + r"(?:fastapi\.|starlette\.applications\.)?(FastAPI|Starlette)\(", re.M)
_FLASK = re.compile(_ASSIGN + r"(?:flask\.)?Flask\(", re.M)
_FLASK_FACTORY = re.compile(r"^def create_app\(", re.M)


class Install(NamedTuple):
    argv: Argv | None
    lockfile: str | None  # the file whose hash keys the install cache
    deps: frozenset[str]  # normalised names of the listed dependencies
    listing: str  # the dependency specifiers, lowercased (to spot extras)


class App(NamedTuple):
    framework: str
    start: Argv
    env: dict[str, str]
    why: str


def looks_like(scan: Scan, folder: str) -> bool:
    """Whether ``folder`` holds a Python project or script detection would read."""
    return any(scan.has(join(folder, name)) for name in (*_MARKERS, *ENTRIES))


def server(scan: Scan, folder: str, why: list[str]) -> Server | None:
    if not looks_like(scan, folder):
        return None
    install_why: list[str] = []
    deps = install(scan, folder, install_why)
    entries = [
        (path, rel, text)
        for rel in ENTRIES
        if (text := scan.text(path := join(folder, rel))) is not None
    ]
    app = (
        _django(scan, folder, deps)
        or _asgi(entries, deps)
        or _flask(entries, deps)
        or _streamlit(entries)
        or _gradio(entries)
    )
    if app is None:
        if known := sorted(deps.deps & set(_FRAMEWORKS)):
            tried = ", ".join(join(folder, rel) for rel in ENTRIES[:6])
            scan.note(
                f"{deps.lockfile} lists {', '.join(known)}, but none of {tried}, … creates an "
                "app previewd recognises; set server.start in previewd.toml."
            )
        return None
    why.append(app.why)
    why.extend(install_why)
    return Server(
        runtime="python",
        dir=folder,
        framework=app.framework,
        install=deps.argv,
        lockfile=deps.lockfile,
        build=None,
        start=app.start,
        env=app.env,
    )


def install(scan: Scan, folder: str, why: list[str]) -> Install:
    requirements = join(folder, "requirements.txt")
    pyproject = join(folder, "pyproject.toml")
    setup = join(folder, "setup.py")
    parsed = scan.toml(pyproject)
    data = parsed or {}
    listed = _pyproject_deps(data)
    if scan.has(requirements):
        lines = (scan.text(requirements) or "").splitlines()
        listed += [line for line in lines if not line.lstrip().startswith(("-", "#"))]
        argv: Argv | None = (*_PIP, "-r", "requirements.txt")
        lockfile: str | None = requirements
        why.append(f"{requirements} → `{command(argv)}`; its hash keys the install cache.")
    elif scan.has(setup) or "build-system" in data or (scan.has(pyproject) and parsed is None):
        # An unreadable pyproject.toml is pip's to report, in the build log.
        argv, lockfile = (*_PIP, "."), pyproject if scan.has(pyproject) else setup
        why.append(f"{lockfile} → `{command(argv)}` installs the project and its dependencies.")
    elif scan.has(pyproject):
        specs = [spec for spec in _list(data.get("project"), "dependencies")]
        argv, lockfile = ((*_PIP, *specs) if specs else None), pyproject
        why.append(
            f"{pyproject} has no [build-system], so only its [project] dependencies are "
            f"installed: `{command(argv)}`."
        )
    else:
        argv, lockfile = None, None
        why.append(f"No requirements.txt or pyproject.toml in {shown(folder)}: nothing to install.")
    names = {_normal(m.group(1)) for spec in listed if (m := _NAME.match(spec))}
    return Install(argv, lockfile, frozenset(names), "\n".join(listed).lower())


def _pyproject_deps(data: dict[str, Any]) -> list[str]:
    specs = _list(data.get("project"), "dependencies")
    poetry = data.get("tool", {}).get("poetry", {}) if isinstance(data.get("tool"), dict) else {}
    if isinstance(poetry, dict) and isinstance(poetry.get("dependencies"), dict):
        specs += [name for name in poetry["dependencies"] if name != "python"]
    return specs


def _list(table: Any, key: str) -> list[str]:
    value = table.get(key) if isinstance(table, dict) else None
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _module(rel: str) -> str:
    return rel.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def _django(scan: Scan, folder: str, deps: Install) -> App | None:
    manage = join(folder, "manage.py")
    if not scan.has(manage):
        return None
    projects = sorted(
        posixpath.basename(d)
        for d in scan.dirs
        if d != folder
        and posixpath.dirname(d) == ("" if folder == "." else folder)
        and scan.has(join(d, "wsgi.py"))
    )
    if "gunicorn" in deps.deps and projects:
        start: Argv = (
            "python",
            "-m",
            "gunicorn",
            f"{projects[0]}.wsgi",
            "--bind",
            f"0.0.0.0:{PORT}",
        )
        how = f"gunicorn is listed, so gunicorn serves {projects[0]}.wsgi"
    else:
        start = ("python", "manage.py", "runserver", f"0.0.0.0:{PORT}", "--noreload")
        how = "runserver serves it (without the reloader, which would fork a second process)"
    return App("Django", start, {}, f"{manage} → a Django project; {how}.")


def _asgi(entries: list[tuple[str, str, str]], deps: Install) -> App | None:
    for path, rel, text in entries:
        if match := _ASGI.search(text):
            var, kind = match.groups()
            target = f"{_module(rel)}:{var}"
            start = ("python", "-m", "uvicorn", target, "--host", "0.0.0.0", "--port", PORT)
            why = f"{path} creates `{var} = {kind}(` → a {kind} (ASGI) app, served by uvicorn."
            if deps.deps and "uvicorn" not in deps.deps and "[standard" not in deps.listing:
                why += f" Note: uvicorn is not listed in {deps.lockfile}; the start needs it."
            return App(kind, start, {}, why)
    return None


def _flask(entries: list[tuple[str, str, str]], deps: Install) -> App | None:
    for path, rel, text in entries:
        match = _FLASK.search(text)
        if match is None and not (_FLASK_FACTORY.search(text) and "flask" in text.lower()):
            continue
        var = match.group(1) if match else "create_app()"
        module = _module(rel)
        if "gunicorn" in deps.deps:
            start: Argv = (
                "python",
                "-m",
                "gunicorn",
                f"{module}:{var}",
                "--bind",
                f"0.0.0.0:{PORT}",
            )
            how = "gunicorn is listed, so gunicorn serves it"
        else:
            app = module if var in ("app", "application", "create_app()") else f"{module}:{var}"
            start = (
                "python",
                "-m",
                "flask",
                "--app",
                app,
                "run",
                "--host",
                "0.0.0.0",
                "--port",
                PORT,
            )
            how = "the Flask server runs it"
        made = f"`{var} = Flask(`" if match else "a create_app() factory"
        return App("Flask", start, {}, f"{path} has {made} → a Flask (WSGI) app; {how}.")
    return None


def _imports(name: str) -> re.Pattern[str]:
    return re.compile(rf"^\s*(?:import|from) {name}\b", re.M)


def _streamlit(entries: list[tuple[str, str, str]]) -> App | None:
    pattern = _imports("streamlit")
    for path, rel, text in entries:
        if pattern.search(text):
            start: Argv = ("python", "-m", "streamlit", "run", rel, "--server.port", PORT)
            start += ("--server.headless", "true", "--browser.gatherUsageStats", "false")
            return App("Streamlit", start, {}, f"{path} imports streamlit → a Streamlit app.")
    return None


def _gradio(entries: list[tuple[str, str, str]]) -> App | None:
    pattern = _imports("gradio")
    for path, rel, text in entries:
        if pattern.search(text):
            env = {"GRADIO_SERVER_PORT": PORT, "GRADIO_SERVER_NAME": "0.0.0.0"}
            why = (
                f"{path} imports gradio → a Gradio app; it reads its port from GRADIO_SERVER_PORT."
            )
            return App("Gradio", ("python", rel), env, why)
    return None
