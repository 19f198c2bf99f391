"""The whole project: which folders hold which parts, and how requests reach them."""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass, field

from previewd.detection import node, overrides, python
from previewd.detection.model import Argv, Client, Detection, Server, Static
from previewd.detection.overrides import Overrides
from previewd.detection.scan import Scan, join, shown
from previewd.detection.trees import SourceTree
from previewd.errors import InvalidContent

FRONTEND_DIRS = ("frontend", "client", "web", "ui", "app", "www")
BACKEND_DIRS = ("backend", "server", "api")
STATIC_DIRS = ("public", "site", "docs")
_DOCS = ("readme", "license", "licence", "changelog", ".gitignore", ".ds_store", ".editorconfig")
_NODE_COMMANDS = ("node", "npm", "npx", "pnpm", "yarn")
_PYTHON_COMMANDS = ("python", "python3", "gunicorn", "uvicorn", "hypercorn", "daphne", "streamlit")
_SHELL = re.compile(r"[&|;<>`()*?!\\{}\[\]~#$\n]")
_LOOKED_FOR = (
    "Nothing to build or serve was found. Looked for index.html at the root, in "
    f"{', '.join(f'{d}/' for d in STATIC_DIRS)} or anywhere; a package.json with a build or "
    "start script; a Python app (Flask, FastAPI, Starlette, Django, Streamlit, Gradio) in "
    f"{', '.join(python.ENTRIES[:4])}, …; and a Procfile with a web: line — at the root and in "
    f"{', '.join(f'{d}/' for d in FRONTEND_DIRS + BACKEND_DIRS)}."
)


@dataclass
class _Found:
    static: Static | None = None
    client: Client | None = None
    server: Server | None = None
    why: list[str] = field(default_factory=list)


def detect(tree: SourceTree) -> Detection:
    """What ``tree`` holds and how to build and run it. Reads a few small files; runs nothing.

    Raises InvalidContent only for a malformed previewd.toml; every other
    problem becomes a reason.
    """
    scan = Scan(tree)
    toml = overrides.load(scan)
    found = _find(scan, toml, ".")
    if not (found.static or found.client or found.server or toml.parts):
        inner = _wrapper(scan)
        wrapped = _find(scan, toml, inner) if inner else found
        if wrapped.static or wrapped.client or wrapped.server:
            found = wrapped
            found.why.insert(0, f"Everything is inside {inner}/, so detection looked there.")
    routes, spa = _routes(found, toml)
    found_any = found.static or found.client or found.server
    reasons = found.why if found_any else [_LOOKED_FOR, *found.why]
    return Detection(
        static=found.static,
        client=found.client,
        server=found.server,
        routes=routes,
        spa=spa,
        reasons=(*reasons, *scan.problems),
    )


def _find(scan: Scan, toml: Overrides, base: str) -> _Found:
    found = _Found()
    if "static" in toml.parts and "client" not in toml.parts:
        found.why.append("previewd.toml has a [static] section and no [client]: nothing is built.")
    else:
        found.client = _client(scan, toml, base, found.why)
    found.server = _server(scan, toml, base, found.why)
    if found.client is None:
        found.static = _static(scan, toml, base, found.server, found.why)
    return found


def _client(scan: Scan, toml: Overrides, base: str, why: list[str]) -> Client | None:
    values = toml.section("client")
    forced = values.get("dir")
    folders = [forced] if forced else [join(base, d) for d in (".", *FRONTEND_DIRS)]
    candidates: list[tuple[Client, list[str]]] = []
    for folder in folders:
        pkg = node.read_package(scan, folder)
        if pkg is None or not (forced or node.role(scan, pkg) == "client"):
            continue
        part_why: list[str] = []
        if part := node.client(scan, pkg, part_why, values.get("package_manager")):
            candidates.append((part, part_why))
    # A root build script that only drives a subfolder's build names no framework;
    # the subfolder's own package.json says more.
    known = [c for c in candidates if c[0].framework != "custom"]
    if chosen := (known or candidates):
        why.extend(chosen[0][1])
        return overrides.apply(chosen[0][0], "client", toml, why)
    if not values:
        return None
    folder = forced or base
    if "build" not in values:
        raise _missing("client", "build", f"package.json with a build script in {shown(folder)}")
    why.append(f"previewd.toml defines the client in {shown(folder)}.")
    tools = node.toolchain(scan, folder, node.read_package(scan, folder), why)
    if "output" not in values:
        why.append(f"The output folder is a guess: {join(folder, 'dist')}/.")
    part = Client(
        dir=folder,
        framework="custom",
        package_manager=tools.manager,
        lockfile=tools.lockfile,
        install=tools.install,
        build=values["build"],
        output=join(folder, "dist"),
    )
    return overrides.apply(part, "client", toml, why)


def _server(scan: Scan, toml: Overrides, base: str, why: list[str]) -> Server | None:
    values = toml.section("server")
    forced = values.get("dir")
    runtime = values.get("runtime")
    folders = [forced] if forced else [join(base, d) for d in (".", *BACKEND_DIRS)]
    for folder in folders:
        part_why: list[str] = []
        if part := _server_in(scan, folder, runtime, bool(forced), part_why):
            why.extend(part_why)
            return overrides.apply(part, "server", toml, why)
    if not values:
        return None
    folder = forced or base
    if "start" not in values:
        raise _missing("server", "start", f"server in {shown(folder)}")
    runtime = runtime or _runtime(scan, folder, shlex.join(values["start"]))
    why.append(f"previewd.toml defines a {runtime} server in {shown(folder)}.")
    install, lockfile = _install(scan, folder, runtime, why)
    part = Server(runtime, folder, "custom", install, lockfile, build=None, start=values["start"])
    return overrides.apply(part, "server", toml, why)


def _missing(section: str, key: str, looked_for: str) -> InvalidContent:
    return InvalidContent(
        f"previewd.toml has a [{section}] section, but detection found no {looked_for} to "
        f"complete it, and it does not set {section}.{key}.",
        hint=f"Set {section}.{key} (and {section}.dir if the {section} is in a subfolder).",
    )


def _server_in(
    scan: Scan, folder: str, runtime: str | None, forced: bool, why: list[str]
) -> Server | None:
    if (part := _procfile(scan, folder, runtime, why)) is not None:
        return part
    if runtime != "node" and (part := python.server(scan, folder, why)) is not None:
        return part
    pkg = node.read_package(scan, folder) if runtime != "python" else None
    if pkg is not None and (forced or node.role(scan, pkg) == "server"):
        return node.server(scan, pkg, why)
    return None


def _procfile(scan: Scan, folder: str, runtime: str | None, why: list[str]) -> Server | None:
    path = join(folder, "Procfile")
    lines = (scan.text(path) or "").splitlines()
    web = next(
        (v.strip() for k, _, v in (x.partition(":") for x in lines) if k.strip() == "web"), ""
    )
    if not web:
        return None
    start: Argv | None = None
    if not _SHELL.search(web.replace("${PORT}", "").replace("$PORT", "")):
        try:
            start = tuple(shlex.split(web.replace("${PORT}", "$PORT")))
        except ValueError:
            start = None
    start = start or ("sh", "-c", web)  # the shell expands $PORT from the environment
    runtime = runtime or _runtime(scan, folder, web)
    why.append(f"{path} has a web: line, which wins: start `{web}` ({runtime}).")
    install, lockfile = _install(scan, folder, runtime, why)
    return Server(runtime, folder, "Procfile", install, lockfile, build=None, start=start)


def _runtime(scan: Scan, folder: str, start: str) -> str:
    """Python or Node: by the command's first word, else by the files, else by any word."""
    words = re.findall(r"[\w.-]+", start)
    if words and words[0] in (*_NODE_COMMANDS, *_PYTHON_COMMANDS):
        return "node" if words[0] in _NODE_COMMANDS else "python"
    if python.looks_like(scan, folder):
        return "python"
    if scan.has(join(folder, "package.json")) or set(words) & set(_NODE_COMMANDS):
        return "node"
    return "python"


def _install(
    scan: Scan, folder: str, runtime: str, why: list[str]
) -> tuple[Argv | None, str | None]:
    if runtime == "python":
        deps = python.install(scan, folder, why)
        return deps.argv, deps.lockfile
    tools = node.toolchain(scan, folder, node.read_package(scan, folder), why)
    return tools.install, tools.lockfile


def _static(
    scan: Scan, toml: Overrides, base: str, server: Server | None, why: list[str]
) -> Static | None:
    if toml.section("static"):
        return overrides.apply(Static(base), "static", toml, why)
    if server is not None and server.dir == base:
        return None  # a server at the root serves its own files
    for folder in (join(base, d) for d in (".", *STATIC_DIRS, *FRONTEND_DIRS)):
        if scan.has(page := join(folder, "index.html")) and not (server and server.dir == folder):
            why.append(f"{page} → a static site served from {shown(folder)}.")
            return Static(folder)
    if server is not None:
        return None
    prefix = "" if base == "." else f"{base}/"
    pages = [p for p in scan.files if p.startswith(prefix) and p.endswith("index.html")]
    pages = [p for p in pages if posixpath.basename(p) == "index.html"]
    if not pages:
        return None
    page = min(pages, key=lambda p: (p.count("/"), p))
    folder = posixpath.dirname(page)
    why.append(
        f"No index.html at the root or in {', '.join(f'{d}/' for d in STATIC_DIRS)}; {page} is "
        f"the shallowest, so {folder}/ is served as a static site."
    )
    return Static(folder)


def _wrapper(scan: Scan) -> str | None:
    """The one folder that holds everything (an archive of ``my-app/``), if there is one."""
    tops = {path.split("/")[0] for path in scan.files if "/" in path}
    loose = [p for p in scan.files if "/" not in p and not p.lower().startswith(_DOCS)]
    return tops.pop() if len(tops) == 1 and not loose else None


def _routes(found: _Found, toml: Overrides) -> tuple[dict[str, str], bool]:
    front = "client" if found.client else "static" if found.static else None
    front_dir = found.client.dir if found.client else found.static.root if found.static else ""
    detected: dict[str, str] = {}
    if front and found.server:
        detected = {"/api/*": "server", "/*": front}
        found.why.append(
            f"A {front} in {shown(front_dir)} and a server in {shown(found.server.dir)} → "
            f"/api/* goes to the server and every other path to the {front} "
            "(change it under [routes] in previewd.toml)."
        )
    elif front or found.server:
        detected = {"/*": front or "server"}
    for pattern, target in toml.routes.items():
        if getattr(found, target) is None:
            raise InvalidContent(
                f"previewd.toml routes {pattern} to the {target}, but there is no {target}.",
                hint=f"Add a [{target}] section, or route {pattern} to "
                f"{' or '.join(p for p in ('static', 'client', 'server') if getattr(found, p))}.",
            )
        found.why.append(f"previewd.toml routes {pattern} to the {target}.")
    routes = {**toml.routes, **{k: v for k, v in detected.items() if k not in toml.routes}}
    if toml.spa is not None:
        found.why.append(f"previewd.toml sets routes.spa = {str(toml.spa).lower()}.")
        return routes, toml.spa
    if found.client and node.is_spa(found.client.framework):
        found.why.append(
            f"A {found.client.framework} app routes in the browser, so paths with no file get "
            "its index.html (routes.spa = false in previewd.toml turns this off)."
        )
        return routes, True
    return routes, False
