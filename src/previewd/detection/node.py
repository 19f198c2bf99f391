"""npm, pnpm and yarn projects: a package.json read as a client build or a Node server."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from previewd.detection.model import Argv, Client, Server, command
from previewd.detection.scan import Scan, inside, join, shown

MANAGERS = ("npm", "pnpm", "yarn")
_LOCKFILES = (
    ("package-lock.json", "npm"),
    ("npm-shrinkwrap.json", "npm"),
    ("pnpm-lock.yaml", "pnpm"),
    ("yarn.lock", "yarn"),
)
# Command-line tools whose entry file has not moved across major versions. Running
# it with node saves the Node process that `npm run` starts first (npx costs 2x).
_BINARIES = {
    "vite": ("vite", "node_modules/vite/bin/vite.js"),
    "react-scripts": ("react-scripts", "node_modules/react-scripts/bin/react-scripts.js"),
    "next": ("next", "node_modules/next/dist/bin/next"),
    "astro": ("astro", "node_modules/astro/astro.js"),
    "vue-cli-service": ("@vue/cli-service", "node_modules/@vue/cli-service/bin/vue-cli-service.js"),
}
_SERVER_PACKAGES = {
    "express": "Express",
    "fastify": "Fastify",
    "koa": "Koa",
    "hono": "Hono",
    "@hapi/hapi": "hapi",
    "@nestjs/core": "NestJS",
    "polka": "Polka",
    "restify": "restify",
    "@sveltejs/adapter-node": "SvelteKit (Node)",
}
# Native modules that build or fetch their binary in an install script.
_NEEDS_INSTALL_SCRIPTS = ("argon2", "bcrypt", "better-sqlite3", "canvas", "node-sass", "sqlite3")
_VITE_FLAVOURS = (
    ("react", "React"),
    ("vue", "Vue"),
    ("svelte", "Svelte"),
    ("preact", "Preact"),
    ("solid-js", "Solid"),
    ("lit", "Lit"),
)
_SPA = ("Create React App", "Vue CLI")
_SHELL = re.compile(r"""[&|;<>$`()*?!\\{}\[\]~#'"\n]""")
_JS = ("js", "mjs", "cjs", "ts", "mts", "cts")


@dataclass(frozen=True)
class Package:
    """What detection uses of one package.json."""

    dir: str
    path: str
    scripts: Mapping[str, str]
    deps: Mapping[str, str]  # package name -> the section that lists it
    main: str | None
    package_manager: str | None  # the "packageManager" field, e.g. "pnpm@9.1.0"


class Toolchain(NamedTuple):
    manager: str
    lockfile: str | None
    berry: bool  # Yarn 2+: Plug'n'Play, so no node_modules to run a binary from
    install: Argv


class Frontend(NamedTuple):
    framework: str
    dep: str | None  # the dependency that told
    output: str
    output_why: str


def read_package(scan: Scan, folder: str) -> Package | None:
    path = join(folder, "package.json")
    data = scan.json_object(path)
    if data is None:
        return None
    deps: dict[str, str] = {}
    for section in ("devDependencies", "dependencies"):
        deps.update(dict.fromkeys(_strings(scan, path, data, section), section))
    main = data.get("main")
    manager = data.get("packageManager")
    return Package(
        dir=folder,
        path=path,
        scripts=_strings(scan, path, data, "scripts"),
        deps=deps,
        main=main if isinstance(main, str) and main else None,
        package_manager=manager if isinstance(manager, str) else None,
    )


def _strings(scan: Scan, path: str, data: dict[str, Any], key: str) -> dict[str, str]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        scan.note(f'"{key}" in {path} is not an object, so it was ignored.')
        return {}
    return {k: v for k, v in value.items() if isinstance(v, str)}


def role(scan: Scan, pkg: Package) -> str | None:
    """``"client"``, ``"server"`` or None: what this package.json builds or runs."""
    server = _server_package(scan, pkg)
    if server is not None and _start_known(scan, pkg):
        return "server"
    if "build" in pkg.scripts:
        return "client"
    if "start" in pkg.scripts:
        return "server"
    scan.note(f"{pkg.path} has neither a build nor a start script.")
    return None


def is_spa(framework: str) -> bool:
    """Whether a client of ``framework`` routes in the browser (unknown paths get index.html)."""
    return framework.startswith("Vite") or framework in _SPA


def client(scan: Scan, pkg: Package, why: list[str], manager: str | None = None) -> Client | None:
    script = pkg.scripts.get("build")
    if script is None:
        return None
    front = _frontend(scan, pkg)
    told = f" and {front.dep} in {pkg.deps[front.dep]}" if front.dep else ""
    why.append(
        f"{pkg.path} has a build script `{script}`{told} → {_an_app(front.framework)}; "
        f"output {front.output}/ ({front.output_why})."
    )
    tools = toolchain(scan, pkg.dir, pkg, why, manager)
    build, build_why = _script(pkg, "build", tools)
    why.append(build_why)
    return Client(
        dir=pkg.dir,
        framework=front.framework,
        package_manager=tools.manager,
        lockfile=tools.lockfile,
        install=tools.install,
        build=build,
        output=front.output,
    )


def _an_app(framework: str) -> str:
    return framework if framework.endswith(" App") else f"{framework} app"


def server(scan: Scan, pkg: Package, why: list[str], manager: str | None = None) -> Server | None:
    found = _server_package(scan, pkg)
    if found is not None:
        why.append(f"{pkg.path} lists {found[0]} in {pkg.deps[found[0]]} → {found[1]} server.")
    tools = toolchain(scan, pkg.dir, pkg, why, manager)
    start = _start(scan, pkg, tools, why)
    if start is None:
        return None
    build: Argv | None = None
    if "build" in pkg.scripts:
        build, build_why = _script(pkg, "build", tools)
        why.append(f"The server is built first: {build_why[0].lower()}{build_why[1:]}")
    return Server(
        runtime="node",
        dir=pkg.dir,
        framework=found[1] if found else "Node",
        install=tools.install,
        lockfile=tools.lockfile,
        build=build,
        start=start,
    )


def toolchain(
    scan: Scan, folder: str, pkg: Package | None, why: list[str], manager: str | None = None
) -> Toolchain:
    """Package manager, lockfile and install command of the project in ``folder``."""
    found = [(join(folder, name), pm) for name, pm in _LOCKFILES if scan.has(join(folder, name))]
    field = pkg.package_manager if pkg and pkg.package_manager else ""
    declared, _, version = field.partition("@")
    if manager is not None:
        source = f"{manager}, as previewd.toml says,"
    elif declared in MANAGERS:
        manager = declared
        source = f'{join(folder, "package.json")} declares "packageManager": "{field}" → {manager}:'
    elif found:
        manager = found[0][1]
        ignored = f" ({', '.join(p for p, _ in found[1:])} ignored)" if len(found) > 1 else ""
        source = f"{found[0][0]}{ignored} → {manager}:"
    else:
        manager = "npm"
        source = f"No lockfile in {shown(folder)} → npm:"
    lockfile = next((path for path, pm in found if pm == manager), None)
    major = version.split(".")[0]
    berry = manager == "yarn" and (
        (major.isdigit() and int(major) >= 2) or scan.has(join(folder, ".yarnrc.yml"))
    )
    needs = [name for name in _NEEDS_INSTALL_SCRIPTS if pkg and name in pkg.deps]
    install = install_command(manager, lockfile is not None, berry, scripts=bool(needs))
    if lockfile:
        why.append(
            f"{source} `{command(install)}` installs exactly what {lockfile} locks, and that "
            "file's hash keys the install cache."
        )
    else:
        why.append(
            f"{source} `{command(install)}` resolves versions afresh, with no {manager} lockfile "
            "to key the install cache."
        )
    if needs:
        why.append(
            f"Install scripts run (inside the build sandbox): {', '.join(needs)} "
            f"{'needs its' if len(needs) == 1 else 'need their'} own to build."
        )
    else:
        why.append(
            "Dependencies' install scripts are skipped: none is known to need one "
            "(set the install command in previewd.toml to run them)."
        )
    return Toolchain(manager, lockfile, berry, install)


def install_command(manager: str, locked: bool, berry: bool, *, scripts: bool) -> Argv:
    """An install that reuses the package manager's download cache and asks nothing."""
    skip = "--ignore-scripts"
    if manager == "pnpm":
        frozen = "--frozen-lockfile" if locked else "--no-frozen-lockfile"
        argv = ["pnpm", "install", frozen, "--prefer-offline"]
    elif manager == "yarn" and berry:
        argv = ["yarn", "install", "--immutable" if locked else "--no-immutable"]
        skip = "--mode=skip-build"
    elif manager == "yarn":
        argv = ["yarn", "install", *(["--frozen-lockfile"] if locked else [])]
        argv += ["--prefer-offline", "--non-interactive"]
    else:
        argv = ["npm", "ci" if locked else "install", "--prefer-offline", "--no-audit", "--no-fund"]
    if not scripts:
        argv.append(skip)
    return tuple(argv)


def _script(pkg: Package, name: str, tools: Toolchain) -> tuple[Argv, str]:
    """The argv that runs script ``name``, and a sentence saying why that one."""
    script = pkg.scripts[name]
    direct = _direct(pkg, script)
    hooks = [f"{when}{name}" for when in ("pre", "post") if f"{when}{name}" in pkg.scripts]
    via = f"{tools.manager} start" if name == "start" else f"{tools.manager} run {name}"
    if direct and not hooks and not tools.berry:
        if script.split()[0] == "node":
            return (
                direct,
                f"Run `{script}` directly: `{via}` would start another Node process first.",
            )
        return direct, (
            f"Run `{script}` as `{command(direct)}`: `{via}` or npx would start another Node "
            "process first."
        )
    argv = (tools.manager, "start") if name == "start" else (tools.manager, "run", name)
    if hooks:
        because = f"it has {' and '.join(hooks)} scripts"
    elif tools.berry:
        because = "Yarn 2+ resolves packages itself"
    else:
        because = "it is not one command previewd can run directly"
    return argv, f"Run the {name} script through `{command(argv)}`: {because}."


def _direct(pkg: Package, script: str) -> Argv | None:
    if _SHELL.search(script):
        return None
    words = script.split()
    if len(words) >= 2 and words[0] == "node" and not words[1].startswith("-"):
        return tuple(words)
    if words and words[0] in _BINARIES:
        package, entry = _BINARIES[words[0]]
        if package in pkg.deps:
            return ("node", entry, *words[1:])
    return None


def _server_package(scan: Scan, pkg: Package) -> tuple[str, str] | None:
    if "next" in pkg.deps and not _next_export(scan, pkg):
        return "next", "Next.js"
    return next(
        ((name, label) for name, label in _SERVER_PACKAGES.items() if name in pkg.deps), None
    )


def _start_known(scan: Scan, pkg: Package) -> bool:
    return bool(
        "start" in pkg.scripts
        or pkg.main
        or scan.has(join(pkg.dir, "server.js"))
        or "next" in pkg.deps
        or "@sveltejs/adapter-node" in pkg.deps
    )


def _start(scan: Scan, pkg: Package, tools: Toolchain, why: list[str]) -> Argv | None:
    if "start" in pkg.scripts:
        argv, start_why = _script(pkg, "start", tools)
        why.append(f"{pkg.path} has a start script `{pkg.scripts['start']}`. {start_why}")
        entry: str | None = argv[1] if argv[0] == "node" else None
    elif "next" in pkg.deps:
        argv = ("node", _BINARIES["next"][1], "start")
        why.append("Next.js without a static export runs as a server: `next start`.")
        entry = None
    elif "@sveltejs/adapter-node" in pkg.deps:
        argv, entry = ("node", "build"), None
        why.append("@sveltejs/adapter-node writes a server to build/: `node build`.")
    elif pkg.main or scan.has(join(pkg.dir, "server.js")):
        entry = pkg.main or "server.js"
        argv = ("node", entry)
        source = '"main"' if pkg.main else "server.js (npm's default)"
        why.append(f"{pkg.path} has no start script; start {source} with `{command(argv)}`.")
    else:
        return None
    if entry is not None:
        text = scan.text(path := join(pkg.dir, entry))
        if text is not None and "PORT" not in text:
            why.append(
                f"{path} never mentions PORT: the server must listen on the port in the PORT "
                "environment variable."
            )
    return argv


def _next_export(scan: Scan, pkg: Package) -> bool:
    if "next export" in pkg.scripts.get("build", ""):
        return True
    found = scan.literal(_configs(pkg.dir, "next.config"), "output")
    return found is not None and found[1] == "export"


def _configs(folder: str, stem: str) -> tuple[str, ...]:
    return tuple(join(folder, f"{stem}.{ext}") for ext in _JS)


def _frontend(scan: Scan, pkg: Package) -> Frontend:
    deps, folder = pkg.deps, pkg.dir

    def output(stem: str, key: str, default: str, default_why: str) -> tuple[str, str]:
        found = scan.literal(_configs(folder, stem), key) if key else None
        if found is not None:
            path, value = found
            if (out := inside(folder, value.rstrip("/") or ".")) is not None:
                return out, f"{key} in {path}"
            scan.note(f"{path} sets {key} to {value!r}, outside the tree; using {default}/.")
        return join(folder, default), default_why

    if "next" in deps:
        return Frontend(
            "Next.js (static export)", "next", *output("", "", "out", "next export writes out/")
        )
    if "@sveltejs/kit" in deps:
        if "@sveltejs/adapter-static" in deps:
            out = output("svelte.config", "pages", "build", "adapter-static's default")
            return Frontend("SvelteKit (static)", "@sveltejs/adapter-static", *out)
        guess = "a guess: only @sveltejs/adapter-static writes a static site"
        return Frontend("SvelteKit", "@sveltejs/kit", *output("", "", "build", guess))
    if "astro" in deps:
        return Frontend(
            "Astro", "astro", *output("astro.config", "outDir", "dist", "Astro's default")
        )
    if "react-scripts" in deps:
        return Frontend("Create React App", "react-scripts", join(folder, "build"), "its default")
    if "@vue/cli-service" in deps:
        out = output("vue.config", "outputDir", "dist", "Vue CLI's default")
        return Frontend("Vue CLI", "@vue/cli-service", *out)
    if "vite" in deps:
        flavour = next((label for dep, label in _VITE_FLAVOURS if dep in deps), None)
        name = f"Vite ({flavour})" if flavour else "Vite"
        return Frontend(name, "vite", *output("vite.config", "outDir", "dist", "Vite's default"))
    if "parcel" in deps:
        return Frontend("Parcel", "parcel", join(folder, "dist"), "Parcel's default")
    guess = "a guess: no framework previewd knows is in its dependencies; set client.output in previewd.toml if it is wrong"
    return Frontend("custom", None, join(folder, "dist"), guess)
