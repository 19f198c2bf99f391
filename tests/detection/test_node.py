from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.detection.helpers import Files, check, detect_both, package

VITE = "node_modules/vite/bin/vite.js"
NPM_CI = ("npm", "ci", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts")
NPM_INSTALL = ("npm", "install", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts")
REACT = {"react": "^18.3.1", "react-dom": "^18.3.1"}
VITE_APP = package({"dev": "vite", "build": "vite build"}, REACT, {"vite": "^5.4.0"})

CLIENTS: list[tuple[str, Files, dict[str, Any], str]] = [
    (
        "vite-react-npm",
        {"package.json": VITE_APP, "package-lock.json": "{}", "index.html": "<div id=root>"},
        {
            "parts": ("client",),
            "client.dir": ".",
            "client.framework": "Vite (React)",
            "client.package_manager": "npm",
            "client.lockfile": "package-lock.json",
            "client.install": NPM_CI,
            "client.build": ("node", VITE, "build"),
            "client.output": "dist",
            "routes": {"/*": "client"},
            "spa": True,
        },
        "package.json has a build script `vite build` and vite in devDependencies → Vite (React) "
        "app; output dist/ (Vite's default)",
    ),
    (
        "vite-no-lockfile",
        {"package.json": VITE_APP},
        {"client.package_manager": "npm", "client.lockfile": None, "client.install": NPM_INSTALL},
        "No lockfile in the root → npm: `npm install --prefer-offline --no-audit --no-fund --ignore-scripts` resolves versions afresh",
    ),
    (
        "vite-pnpm",
        {"package.json": VITE_APP, "pnpm-lock.yaml": "lockfileVersion: '9.0'\n"},
        {
            "client.package_manager": "pnpm",
            "client.lockfile": "pnpm-lock.yaml",
            "client.install": (
                "pnpm",
                "install",
                "--frozen-lockfile",
                "--prefer-offline",
                "--ignore-scripts",
            ),
            "client.build": ("node", VITE, "build"),
        },
        "pnpm-lock.yaml → pnpm",
    ),
    (
        "vite-yarn",
        {"package.json": VITE_APP, "yarn.lock": "# yarn lockfile v1\n"},
        {
            "client.package_manager": "yarn",
            "client.lockfile": "yarn.lock",
            "client.install": (
                "yarn",
                "install",
                "--frozen-lockfile",
                "--prefer-offline",
                "--non-interactive",
                "--ignore-scripts",
            ),
        },
        "yarn.lock → yarn",
    ),
    (
        "yarn-berry-runs-scripts-through-yarn",
        {
            "package.json": package(
                {"build": "vite build"}, REACT, {"vite": "5"}, packageManager="yarn@4.1.0"
            ),
            "yarn.lock": "__metadata:\n",
        },
        {
            "client.install": ("yarn", "install", "--immutable", "--mode=skip-build"),
            "client.build": ("yarn", "run", "build"),
        },
        "Yarn 2+ resolves packages itself",
    ),
    (
        "declared-package-manager-without-its-lockfile",
        {
            "package.json": package(
                {"build": "vite build"}, dev={"vite": "5"}, packageManager="pnpm@9.1.0"
            ),
            "package-lock.json": "{}",
        },
        {
            "client.package_manager": "pnpm",
            "client.lockfile": None,
            "client.install": (
                "pnpm",
                "install",
                "--no-frozen-lockfile",
                "--prefer-offline",
                "--ignore-scripts",
            ),
        },
        'package.json declares "packageManager": "pnpm@9.1.0" → pnpm: `pnpm install '
        "--no-frozen-lockfile --prefer-offline --ignore-scripts` resolves versions afresh",
    ),
    (
        "previewd-toml-names-the-package-manager",
        {
            "package.json": VITE_APP,
            "yarn.lock": "",
            "package-lock.json": "{}",
            "previewd.toml": '[client]\npackage_manager = "yarn"\n',
        },
        {
            "client.package_manager": "yarn",
            "client.lockfile": "yarn.lock",
            "client.install": (
                "yarn",
                "install",
                "--frozen-lockfile",
                "--prefer-offline",
                "--non-interactive",
                "--ignore-scripts",
            ),
        },
        "previewd.toml sets client.package_manager = yarn.",
    ),
    (
        "several-lockfiles-first-wins",
        {"package.json": VITE_APP, "package-lock.json": "{}", "yarn.lock": ""},
        {"client.package_manager": "npm", "client.lockfile": "package-lock.json"},
        "package-lock.json (yarn.lock ignored) → npm: `npm ci",
    ),
    (
        "vite-outdir-from-config",
        {
            "package.json": VITE_APP,
            "vite.config.ts": "export default {\n  // outDir: 'commented',\n"
            "  build: { outDir: 'build/site/' },\n}\n",
        },
        {"client.output": "build/site"},
        "output build/site/ (outDir in vite.config.ts)",
    ),
    (
        "vite-outdir-outside-the-tree",
        {"package.json": VITE_APP, "vite.config.js": "export default {build: {outDir: '../x'}}"},
        {"client.output": "dist"},
        "vite.config.js sets outDir to '../x', outside the tree",
    ),
    (
        "tsc-then-vite-goes-through-npm-run",
        {"package.json": package({"build": "tsc -b && vite build"}, REACT, {"vite": "5"})},
        {"client.framework": "Vite (React)", "client.build": ("npm", "run", "build")},
        "not one command previewd can run directly",
    ),
    (
        "prebuild-hook-goes-through-npm-run",
        {
            "package.json": package(
                {"prebuild": "node gen.js", "build": "vite build"}, dev={"vite": "5"}
            )
        },
        {"client.framework": "Vite", "client.build": ("npm", "run", "build")},
        "it has prebuild scripts",
    ),
    (
        "create-react-app",
        {
            "package.json": package(
                {"start": "react-scripts start", "build": "react-scripts build"},
                {**REACT, "react-scripts": "5.0.1"},
            )
        },
        {
            "parts": ("client",),
            "client.framework": "Create React App",
            "client.output": "build",
            "client.build": ("node", "node_modules/react-scripts/bin/react-scripts.js", "build"),
            "spa": True,
        },
        "react-scripts in dependencies → Create React App; output build/ (its default)",
    ),
    (
        "next-static-export",
        {
            "package.json": package({"build": "next build", "start": "next start"}, {"next": "14"}),
            "next.config.mjs": "const config = { output: 'export' };\nexport default config;\n",
        },
        {
            "parts": ("client",),
            "client.framework": "Next.js (static export)",
            "client.output": "out",
            "client.build": ("node", "node_modules/next/dist/bin/next", "build"),
            "spa": False,
        },
        "next export writes out/",
    ),
    (
        "astro",
        {"package.json": package({"build": "astro build"}, {"astro": "4"})},
        {"client.framework": "Astro", "client.output": "dist"},
        "Astro's default",
    ),
    (
        "sveltekit-static",
        {
            "package.json": package(
                {"build": "vite build"},
                dev={"@sveltejs/kit": "2", "@sveltejs/adapter-static": "3", "vite": "5"},
            ),
            "svelte.config.js": "adapter: adapter({ pages: 'public_html' })\n",
        },
        {
            "client.framework": "SvelteKit (static)",
            "client.output": "public_html",
            "client.build": ("node", VITE, "build"),
            "spa": False,
        },
        "pages in svelte.config.js",
    ),
    (
        "vue-cli",
        {
            "package.json": package(
                {"build": "vue-cli-service build"}, {"vue": "3"}, {"@vue/cli-service": "5"}
            ),
            "vue.config.js": 'module.exports = { outputDir: "static" }\n',
        },
        {"client.framework": "Vue CLI", "client.output": "static", "spa": True},
        "outputDir in vue.config.js",
    ),
    (
        "parcel",
        {"package.json": package({"build": "parcel build src/index.html"}, dev={"parcel": "2"})},
        {
            "client.framework": "Parcel",
            "client.output": "dist",
            "client.build": ("npm", "run", "build"),
        },
        "Parcel's default",
    ),
    (
        "custom-build-script",
        {"package.json": package({"build": "node build.mjs"}), "build.mjs": "// writes dist/"},
        {
            "client.framework": "custom",
            "client.build": ("node", "build.mjs"),
            "client.output": "dist",
            "spa": False,
        },
        "a guess: no framework previewd knows",
    ),
    (
        "native-module-runs-install-scripts",
        {"package.json": package({"build": "vite build"}, {"better-sqlite3": "11"}, {"vite": "5"})},
        {"client.install": NPM_INSTALL[:-1]},
        "better-sqlite3 needs its own to build",
    ),
]


@pytest.mark.parametrize(
    ("files", "expected", "reason"),
    [case[1:] for case in CLIENTS],
    ids=[case[0] for case in CLIENTS],
)
def test_clients(tmp_path: Path, files: Files, expected: dict[str, Any], reason: str) -> None:
    check(detect_both(tmp_path, files), expected, reason)


SERVERS: list[tuple[str, Files, dict[str, Any], str]] = [
    (
        "express-start-script",
        {
            "package.json": package({"start": "node server.js"}, {"express": "^4.19.2"}),
            "package-lock.json": "{}",
            "server.js": "app.listen(process.env.PORT || 3000)\n",
        },
        {
            "parts": ("server",),
            "server.runtime": "node",
            "server.framework": "Express",
            "server.dir": ".",
            "server.install": NPM_CI,
            "server.lockfile": "package-lock.json",
            "server.build": None,
            "server.start": ("node", "server.js"),
            "server.port_env": "PORT",
            "routes": {"/*": "server"},
        },
        "Run `node server.js` directly: `npm start` would start another Node process first.",
    ),
    (
        "express-build-and-start",
        {
            "package.json": package(
                {"build": "tsc", "start": "node dist/index.js"},
                {"express": "4"},
                {"typescript": "5"},
            )
        },
        {
            "parts": ("server",),
            "server.build": ("npm", "run", "build"),
            "server.start": ("node", "dist/index.js"),
        },
        "package.json lists express in dependencies → Express server.",
    ),
    (
        "fastify-main-without-start",
        {
            "package.json": package(deps={"fastify": "4"}, main="index.js"),
            "index.js": "listen(3000)",
        },
        {"server.framework": "Fastify", "server.start": ("node", "index.js")},
        "index.js never mentions PORT",
    ),
    (
        "start-script-of-another-kind",
        {"package.json": package({"start": "tsx src/index.ts"}, {"hono": "4"})},
        {"server.framework": "Hono", "server.start": ("npm", "start")},
        "Run the start script through `npm start`",
    ),
    (
        "sveltekit-node-adapter",
        {
            "package.json": package(
                {"build": "vite build"},
                dev={"@sveltejs/kit": "2", "@sveltejs/adapter-node": "5", "vite": "5"},
            )
        },
        {
            "server.framework": "SvelteKit (Node)",
            "server.build": ("node", "node_modules/vite/bin/vite.js", "build"),
            "server.start": ("node", "build"),
        },
        "@sveltejs/adapter-node writes a server to build/: `node build`.",
    ),
    (
        "server-js-is-npm-default",
        {"package.json": package(deps={"koa": "2"}), "server.js": "listen(process.env.PORT)"},
        {"server.framework": "Koa", "server.start": ("node", "server.js")},
        "start server.js (npm's default) with `node server.js`.",
    ),
    (
        "next-server",
        {"package.json": package({"build": "next build", "start": "next start"}, {"next": "14"})},
        {
            "parts": ("server",),
            "server.framework": "Next.js",
            "server.build": ("node", "node_modules/next/dist/bin/next", "build"),
            "server.start": ("node", "node_modules/next/dist/bin/next", "start"),
        },
        "→ Next.js server",
    ),
]


@pytest.mark.parametrize(
    ("files", "expected", "reason"),
    [case[1:] for case in SERVERS],
    ids=[case[0] for case in SERVERS],
)
def test_node_servers(tmp_path: Path, files: Files, expected: dict[str, Any], reason: str) -> None:
    check(detect_both(tmp_path, files), expected, reason)


def test_a_package_json_with_neither_build_nor_start_is_no_part(tmp_path: Path) -> None:
    files: Files = {"package.json": package({"test": "jest"}, main="index.js"), "index.js": ""}
    detection = detect_both(tmp_path, files)
    assert detection.parts == ()
    assert "package.json has neither a build nor a start script." in detection.reasons


def test_a_build_script_is_read_not_run(tmp_path: Path) -> None:
    files: Files = {"package.json": package({"build": "touch pwned && mkdir dist"})}
    detection = detect_both(tmp_path, files)
    assert detection.client is not None
    assert detection.client.build == ("npm", "run", "build")
    assert not (tmp_path / "tree" / "pwned").exists()
