"""Build plans: the steps a detection calls for, exactly what each reads, and its cache key.

A plan is made without running or hashing anything: file digests come from the
snapshot's manifest. Each part (client, server) is built in a folder of its
own, holding only the files of the part's directory (re-rooted there), so the
two chains run side by side and neither can see, wait for or tamper with the
other's files.

    client   install (network "registries")  →  build (network "none") → output dir
    server   install (prepare the deps)        →  build, when it has one

An install step reads only the files that decide what gets installed: every
``package.json`` (the root one with its non-install scripts left out of the
key), the lockfile and the package manager's config, or ``requirements.txt``
and the files it includes. When an install may run project code (install
scripts, a custom command, ``pip install .``), it reads the whole part. It runs
in a folder holding only those files, so its key covers all it can see.

A build step reads every file of its part but its output folder and the
installed dependencies, plus those dependencies (the install key).
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from previewd.build.toolchain import Toolchain
from previewd.changeset import FileSpec
from previewd.detection import Client, Detection, Server
from previewd.detection.model import Argv
from previewd.errors import BuildFailed
from previewd.runtimes.base import Network

#: Where the shared npm download cache appears inside an install sandbox.
NPM_CACHE = "/cache/npm"
#: Where an install with no lockfile keeps its private download cache.
PRIVATE_NPM_CACHE = "/work/.npm-cache"
#: Where a yarn install keeps its download cache (in its work folder, dropped after).
PRIVATE_YARN_CACHE = "/work/.yarn-cache"
#: Where an install's (and its build's) corepack keeps the package manager it downloads.
COREPACK_HOME = "/cache/corepack"
#: Where a server started through pnpm or yarn finds that package manager: a copy of its
#: install's COREPACK_HOME inside the installed tree, so the preview sandbox needs no mount.
SERVER_COREPACK = ".corepack"
#: Bumped when the layout of what steps produce changes, so old cache entries are not reused.
VERSION = "1"

_INSTALL_SCRIPTS = frozenset(
    {"preinstall", "install", "postinstall", "prepublish", "preprepare", "prepare", "postprepare"}
)
_DEP_FIELDS = (
    "dependencies",
    "devDependencies",
    "optionalDependencies",
    "peerDependencies",
    "bundleDependencies",
    "bundledDependencies",
    "workspaces",
)
_NODE_CONFIG = (".npmrc", ".yarnrc", ".yarnrc.yml", ".pnpmfile.cjs", "pnpm-workspace.yaml")
_LOCAL_SPEC = ("file:", "link:", "portal:", "workspace:")
_NPM_ENV = {
    "npm_config_update_notifier": "false",
    "npm_config_fund": "false",
    "npm_config_audit": "false",
    "npm_config_progress": "false",
}
_PIP_ENV = {
    # pip's caches are keyed by URL and not checked against hashes, so one project
    # could poison them for the next: no shared pip cache (the venv cache serves warm builds)
    "PIP_NO_CACHE_DIR": "1",
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    "PIP_NO_INPUT": "1",
    "PIP_PROGRESS_BAR": "off",
}
# pnpm and yarn are not installed: corepack (shipped with Node) fetches the version the
# project pins, else these. It checks an npm download against the npm registry's
# signatures, or against the hash a spec carries (so the defaults carry theirs); a
# COREPACK_HOME is still never shared between install keys, since corepack trusts
# whatever it finds there without checking it again.
_COREPACK_DEFAULTS = {
    "pnpm": "pnpm@9.15.9+sha512.68046141893c66fad01c079231128e9afb89ef87e2691d69e4d40eee228988295fd4682181bae55b58418c3a253bde65a505ec7c5f9403ece5cc3cd37dcf2531",
    "yarn": "yarn@1.22.22+sha512.a6b2f7906b721bba3d67d4aff083df04dad64c399707841b7acf00f6b133b7ac24255f2652fa22ae3534329dc6180534e98d17432037ff6fd140556e2bb3137e",
    "berry": "yarn@4.5.3",
}
# an exact version from the registry, no URL or tag; corepack checks the hash when there is one
_COREPACK_SPEC = re.compile(
    r"(pnpm|yarn)@\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+sha(?:1|224|256|512)\.[0-9a-f]+)?"
)
_COREPACK_ENV = {
    "COREPACK_HOME": COREPACK_HOME,
    "COREPACK_ENABLE_DOWNLOAD_PROMPT": "0",
    "COREPACK_ENABLE_AUTO_PIN": "0",
    "COREPACK_ENABLE_PROJECT_SPEC": "0",  # the version is in the argv (and the key)
    "COREPACK_ENABLE_STRICT": "0",
    # corepack, pnpm and yarn use Node's own CA list; npm is told the system's in its npmrc
    "NODE_EXTRA_CA_CERTS": "/etc/ssl/certs/ca-certificates.crt",
}
_VENV = ".venv"
# the detected `python -m pip install …` needs a `python`; Debian has python3, and no pip
# in a venv made in 40 ms, so the system pip installs into the venv from outside it
_PIP_INTO_VENV = (
    'python3 -m venv --without-pip .venv && exec python3 -m pip --python .venv/bin/python "$@"'
)
_CUSTOM_IN_VENV = 'python3 -m venv .venv && . .venv/bin/activate && exec "$@"'
_REQ_INCLUDE = re.compile(r"^\s*(?:-r|-c|--requirement|--constraint)[\s=]+(\S+)")
_REQ_LOCAL = re.compile(r"^\s*(?:-e|--editable|-f|--find-links|\.|/)|file:")

Read = Callable[[str], bytes]
Kind = Literal["install", "build"]


@dataclass(frozen=True)
class Step:
    name: str  # "client:install", "client:build", "server:install", "server:build"
    part: str
    kind: Kind
    argv: Argv
    network: Network
    env: Mapping[str, str]
    #: The files the step is given (and keyed by), relative to the part's folder.
    inputs: Mapping[str, FileSpec]
    key: str
    after: tuple[str, ...] = ()
    #: install: the folder it fills (``node_modules`` or ``.venv``), moved to the deps cache
    deps_dir: str | None = None
    #: build: the folder it writes, relative to the part's folder ("." for all of it)
    output: str | None = None
    #: install: mounts the shared npm download cache (lockfile installs only)
    shared_cache: bool = False
    #: the dependency-cache key of the COREPACK_HOME the step mounts (writable for the
    #: install that fills it, read-only for its build), when it runs pnpm or yarn
    corepack: str | None = None
    #: install: also copy COREPACK_HOME into ``deps_dir/SERVER_COREPACK`` (a server's
    #: start runs the package manager, offline)
    corepack_in_deps: bool = False


@dataclass(frozen=True)
class Part:
    name: str  # "client" | "server"
    dir: str
    files: Mapping[str, FileSpec]  # re-rooted at ``dir``, installed dependencies left out
    install: Step | None
    build: Step | None
    deps_dir: str | None
    #: a server's start argv and the environment it needs, when the plan changes them
    start: Argv | None = None
    start_env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    parts: tuple[Part, ...] = field(default_factory=tuple)

    @property
    def steps(self) -> tuple[Step, ...]:
        return tuple(s for part in self.parts for s in (part.install, part.build) if s)

    def part(self, name: str) -> Part | None:
        return next((p for p in self.parts if p.name == name), None)


def tools(detection: Detection) -> set[str]:
    """The tools whose versions the plan's keys need."""
    needed: set[str] = set()
    if detection.client is not None:
        needed |= {"node", detection.client.package_manager}
    if (server := detection.server) is not None:
        if server.runtime == "python":
            needed |= {"python", "pip"}
        else:
            manager = (server.install or ("npm",))[0]
            needed |= {"node", manager if manager in ("npm", "pnpm", "yarn") else "npm"}
    return needed


def make(
    detection: Detection, files: Mapping[str, FileSpec], toolchain: Toolchain, read: Read
) -> Plan:
    """The plan for ``detection`` of the tree ``files``; ``read(digest)`` gives a blob's bytes."""
    parts = []
    if detection.client is not None:
        parts.append(_client(detection.client, files, toolchain, read))
    if detection.server is not None:
        parts.append(_server(detection.server, files, toolchain, read))
    return Plan(tuple(parts))


def subtree(files: Mapping[str, FileSpec], folder: str) -> dict[str, FileSpec]:
    """The files under ``folder`` ("." for all), with paths relative to it."""
    if folder == ".":
        return dict(files)
    prefix = folder.rstrip("/") + "/"
    return {path[len(prefix) :]: spec for path, spec in files.items() if path.startswith(prefix)}


def _client(
    client: Client, files: Mapping[str, FileSpec], toolchain: Toolchain, read: Read
) -> Part:
    name = "client"
    output = _relative(client.output, client.dir)
    if output is None:
        raise BuildFailed(
            f"the client's output folder {client.output}/ is outside its folder {client.dir}/",
            step=f"{name}:build",
            hint="Set client.output in previewd.toml to a folder inside client.dir.",
        )
    source = _without_deps(subtree(files, client.dir), "node_modules")
    install = _node_install(
        name, client.install, client.lockfile, client.dir, source, toolchain, read
    )
    build = _build(
        name, client.build, source, output, install, toolchain.of(["node", client.package_manager])
    )
    return Part(name, client.dir, source, install, build, "node_modules")


def _server(
    server: Server, files: Mapping[str, FileSpec], toolchain: Toolchain, read: Read
) -> Part:
    name = "server"
    if server.runtime == "python":
        source = _without_deps(subtree(files, server.dir), _VENV)
        install: Step | None = _python_install(name, server, source, toolchain, read)
        deps_dir = _VENV
        versions = toolchain.of(["python", "pip"])
    else:
        source = _without_deps(subtree(files, server.dir), "node_modules")
        manager = (server.install or ("npm",))[0]
        # a start through pnpm or yarn needs the package manager in the preview's sandbox
        runs_manager = server.start[0] in ("pnpm", "yarn")
        install = _node_install(
            name,
            server.install or (),
            server.lockfile,
            server.dir,
            source,
            toolchain,
            read,
            for_start=runs_manager,
        )
        deps_dir = "node_modules"
        versions = toolchain.of(["node", manager])
    build = _build(name, server.build, source, ".", install, versions) if server.build else None
    start, start_env = _start(server.start, install)
    return Part(name, server.dir, source, install, build, deps_dir, start, start_env)


def _start(argv: Argv, install: Step | None) -> tuple[Argv | None, dict[str, str]]:
    """``pnpm start`` → ``corepack pnpm@<its install's version> start``, offline, as builds do."""
    if install is None or not install.corepack_in_deps or argv[0] not in ("pnpm", "yarn"):
        return None, {}
    home = f"/work/{install.deps_dir}/{SERVER_COREPACK}"
    env = {**_COREPACK_ENV, "COREPACK_HOME": home, "npm_config_update_notifier": "false"}
    return ("corepack", install.argv[1], *argv[1:]), env


def _build(
    part: str,
    argv: Argv,
    source: Mapping[str, FileSpec],
    output: str,
    install: Step | None,
    versions: Mapping[str, str],
) -> Step:
    inputs = dict(source)
    if output != ".":
        inputs = {p: s for p, s in source.items() if not _under(p, output)}
    env: dict[str, str] = {}
    corepack = None
    if install is not None and install.corepack is not None and argv[0] in ("pnpm", "yarn"):
        # the package manager its install fetched, from that install's COREPACK_HOME
        argv = ("corepack", install.argv[1], *argv[1:])
        env.update(_COREPACK_ENV)
        corepack = install.corepack
    key = _key(
        "build",
        argv=argv,
        env=env,
        versions=versions,
        files=_listing(inputs),
        deps=install.key if install else None,
        output=output,
    )
    return Step(
        name=f"{part}:build",
        part=part,
        kind="build",
        argv=argv,
        network="none",
        env=env,
        inputs=inputs,
        key=key,
        after=(install.name,) if install else (),
        output=output,
        corepack=corepack,
    )


def _node_install(
    part: str,
    argv: Argv,
    lockfile: str | None,
    folder: str,
    source: Mapping[str, FileSpec],
    toolchain: Toolchain,
    read: Read,
    *,
    for_start: bool = False,
) -> Step | None:
    if not argv or "package.json" not in source:
        return None
    manifest = _json(source["package.json"], read)
    manager = argv[0] if argv[0] in ("npm", "pnpm", "yarn") else "npm"
    corepack = manager != "npm"
    for_start = for_start and corepack
    if manifest is not None and not any(manifest.get(f) for f in _DEP_FIELDS) and not for_start:
        return None  # nothing to install: no step, no node_modules
    lock = _relative(lockfile, folder) if lockfile else None
    pure = _pure_node_install(argv, manifest)
    if pure:
        names = {*_NODE_CONFIG, *([lock] if lock else [])}
        inputs = {
            p: s
            for p, s in source.items()
            if p in names or posixpath.basename(p) == "package.json" or _under(p, ".yarn")
        }
    else:
        inputs = dict(source)
    listing = _listing(inputs)
    if pure and manifest is not None and "package.json" in inputs:
        # the root package.json without scripts no install runs: editing `build` keeps the cache
        keyed = {**manifest, "scripts": _install_scripts(manifest.get("scripts"))}
        listing["package.json"] = [_digest(keyed), inputs["package.json"].mode]
    shared = lock is not None
    env = {**_NPM_ENV, "npm_config_cache": NPM_CACHE if shared else PRIVATE_NPM_CACHE}
    if corepack:
        argv = ("corepack", _corepack_spec(manager, manifest, source), *argv[1:])
        env.update(_COREPACK_ENV)
    if manager == "yarn":
        # not in HOME (/tmp, a small tmpfs): yarn 1 fetches every platform's optional package
        env["YARN_CACHE_FOLDER"] = PRIVATE_YARN_CACHE
    key = _key(
        "install",
        argv=argv,
        env=env,
        versions=toolchain.of(["node", manager]),
        files=listing,
        # its tree holds the package manager too: never the same entry as a plain install's
        **({"corepack_in_deps": True} if for_start else {}),
    )
    return Step(
        name=f"{part}:install",
        part=part,
        kind="install",
        argv=argv,
        network="registries",
        env=env,
        inputs=inputs,
        key=key,
        deps_dir="node_modules",
        shared_cache=shared,
        corepack=f"{key}-corepack" if corepack else None,
        corepack_in_deps=for_start,
    )


def _corepack_spec(
    manager: str, manifest: dict[str, Any] | None, source: Mapping[str, FileSpec]
) -> str:
    """The ``name@version[+hash]`` corepack runs: package.json's "packageManager", else ours."""
    declared = manifest.get("packageManager") if manifest else None
    if (
        isinstance(declared, str)
        and declared.startswith(f"{manager}@")
        and _COREPACK_SPEC.fullmatch(declared)
    ):
        return declared
    if manager == "yarn" and ".yarnrc.yml" in source:
        return _COREPACK_DEFAULTS["berry"]
    return _COREPACK_DEFAULTS[manager]


def _pure_node_install(argv: Argv, manifest: dict[str, Any] | None) -> bool:
    """True when the install runs no project code and reads no project file beyond the manifests."""
    if len(argv) < 2 or argv[0] not in ("npm", "pnpm", "yarn") or argv[1] not in ("ci", "install"):
        return False
    if "--ignore-scripts" not in argv and "--mode=skip-build" not in argv:
        return False
    if manifest is None:
        return False
    for section in _DEP_FIELDS[:4]:
        deps = manifest.get(section)
        if isinstance(deps, dict) and any(
            isinstance(spec, str) and spec.startswith(_LOCAL_SPEC) for spec in deps.values()
        ):
            return False  # local packages: the install reads (and links) their folders
    return True


def _python_install(
    part: str, server: Server, source: Mapping[str, FileSpec], toolchain: Toolchain, read: Read
) -> Step:
    detected = server.install
    inputs: dict[str, FileSpec]
    if detected is None:
        argv: Argv = ("python3", "-m", "venv", "--without-pip", _VENV)
        inputs = {}
    elif detected[:3] == ("python", "-m", "pip"):
        argv = ("sh", "-c", _PIP_INTO_VENV, "sh", *detected[3:])
        inputs = _pip_inputs(detected, source, read)
    else:
        argv = ("sh", "-c", _CUSTOM_IN_VENV, "sh", *detected)
        inputs = dict(source)
    env = dict(_PIP_ENV)
    key = _key(
        "install",
        argv=argv,
        env=env,
        versions=toolchain.of(["python", "pip"]),
        files=_listing(inputs),
    )
    return Step(
        name=f"{part}:install",
        part=part,
        kind="install",
        argv=argv,
        network="registries",
        env=env,
        inputs=inputs,
        key=key,
        deps_dir=_VENV,
    )


def _pip_inputs(argv: Argv, source: Mapping[str, FileSpec], read: Read) -> dict[str, FileSpec]:
    """requirements files and those they include; the whole part when pip reads local paths."""
    args = list(argv[3:])
    if any(a == "." or a.startswith(("./", "/", "file:")) for a in args):
        return dict(source)  # `pip install .` builds the project: it reads everything
    pending = [args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-r", "--requirement")]
    found: dict[str, FileSpec] = {}
    while pending:
        path = posixpath.normpath(pending.pop())
        spec = source.get(path)
        if spec is None or path in found:
            continue  # a missing file is pip's to report, in the log
        found[path] = spec
        for line in read(spec.digest).decode(errors="replace").splitlines():
            if _REQ_LOCAL.search(line):
                return dict(source)
            if match := _REQ_INCLUDE.match(line):
                pending.append(posixpath.join(posixpath.dirname(path), match.group(1)))
    return found


def _install_scripts(scripts: Any) -> dict[str, Any]:
    if not isinstance(scripts, dict):
        return {}
    return {k: v for k, v in scripts.items() if k in _INSTALL_SCRIPTS}


def _json(spec: FileSpec | None, read: Read) -> dict[str, Any] | None:
    if spec is None:
        return None
    try:
        data = json.loads(read(spec.digest))
    except (ValueError, UnicodeDecodeError):
        return None  # npm will say what is wrong with it, in the log
    return data if isinstance(data, dict) else None


def _without_deps(files: Mapping[str, FileSpec], deps_dir: str) -> dict[str, FileSpec]:
    """Leave out installed dependencies someone uploaded: the install step provides them."""
    return {
        p: s
        for p, s in files.items()
        if not _under(p, deps_dir) and "/node_modules/" not in f"/{p}"
    }


def _relative(path: str, folder: str) -> str | None:
    """``path`` (relative to the root) relative to ``folder``, or None outside it."""
    if folder == ".":
        return path
    if path == folder:
        return "."
    prefix = folder + "/"
    return path[len(prefix) :] if path.startswith(prefix) else None


def _under(path: str, folder: str) -> bool:
    return folder == "." or path == folder or path.startswith(folder + "/")


def _listing(files: Mapping[str, FileSpec]) -> dict[str, list[Any]]:
    return {path: [spec.digest, spec.mode] for path, spec in files.items()}


def _digest(value: Any) -> str:
    data = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(data.encode()).hexdigest()


def _key(kind: str, **material: Any) -> str:
    """SHA-256 of everything a step reads, as canonical JSON."""
    return _digest({"v": VERSION, "kind": kind, **material})
