from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from previewd.diagnostics import Diagnostic, parse
from tests.diagnostics.helpers import output

# Node 20, `node server.js` in the sandbox.
REFERENCE_ERROR = """\
/work/server.js:3
  return y + 1;
  ^

ReferenceError: y is not defined
    at f (/work/server.js:3:3)
    at Object.<anonymous> (/work/server.js:5:1)
    at Module._compile (node:internal/modules/cjs/loader:1521:14)
    at Function.executeUserEntryPoint [as runMain] (node:internal/modules/run_main:164:12)
    at node:internal/main/run_main_module:28:49

Node.js v20.20.2
"""

SYNTAX_ERROR = """\
/work/syn.js:2
const b = {;
           ^

SyntaxError: Unexpected token ';'
    at wrapSafe (node:internal/modules/cjs/loader:1464:18)
    at Module._compile (node:internal/modules/cjs/loader:1495:20)
    at node:internal/main/run_main_module:28:49

Node.js v20.20.2
"""

# Thrown inside Node: the project's own frame says where.
MISSING_MODULE = """\
node:internal/modules/cjs/loader:1210
  throw err;
  ^

Error: Cannot find module 'express'
Require stack:
- /work/req.js
    at Module._resolveFilename (node:internal/modules/cjs/loader:1207:15)
    at Module._load (node:internal/modules/cjs/loader:1038:27)
    at Module.require (node:internal/modules/cjs/loader:1289:19)
    at require (node:internal/modules/helpers:182:18)
    at Object.<anonymous> (/work/req.js:1:17)
    at Module._compile (node:internal/modules/cjs/loader:1521:14)
    at Function.executeUserEntryPoint [as runMain] (node:internal/modules/run_main:164:12) {
  code: 'MODULE_NOT_FOUND',
  requireStack: [ '/work/req.js' ]
}

Node.js v20.20.2
"""

# No frame of the project at all: "imported from" names the file.
MISSING_PACKAGE_ESM = """\
node:internal/modules/esm/resolve:873
  throw new ERR_MODULE_NOT_FOUND(packageName, fileURLToPath(base), null);
        ^

Error [ERR_MODULE_NOT_FOUND]: Cannot find package 'express' imported from /work/esm.mjs
    at packageResolve (node:internal/modules/esm/resolve:873:9)
    at moduleResolve (node:internal/modules/esm/resolve:946:18)
    at ModuleJob._link (node:internal/modules/esm/module_job:168:49) {
  code: 'ERR_MODULE_NOT_FOUND'
}

Node.js v20.20.2
"""

EVAL = """\
[eval]:1
y
^

ReferenceError: y is not defined
    at [eval]:1:1
    at runScriptInThisContext (node:internal/vm:209:10)

Node.js v20.20.2
"""

# esbuild's JS shim rethrowing after the binary printed the real error.
COMMAND_FAILED = """\
node:child_process:930
    throw err;
    ^

Error: Command failed: /work/node_modules/@esbuild/linux-x64/bin/esbuild src/bad.ts --bundle
    at genericNodeError (node:internal/errors:984:15)
    at checkExecSyncError (node:child_process:891:11)
    at Object.<anonymous> (/work/node_modules/esbuild/bin/esbuild:219:28) {
  status: 1,
  signal: null
}

Node.js v20.20.2
"""

# npm 11, `npm install` with a dependency that does not exist.
NPM_404 = """\
npm warn Unknown user config "nodedir". This will stop working in the next major version of npm.
npm error code E404
npm error 404 Not Found - GET https://registry.npmjs.org/definitely-not-a-package-previewd
npm error 404
npm error 404  The requested resource 'definitely-not-a-package-previewd@1.0.0' could not be found or you do not have permission to access it.
npm error 404
npm error 404 Note that you can also install from a
npm error 404 tarball, folder, http url, or git url.
npm error A complete log of this run can be found in: /root/.npm/_logs/2026-11-25T18_29_56_859Z-debug-0.log
"""

# npm 8 spells it "npm ERR!" and puts the log path on a block of its own.
NPM_404_OLD = """\
npm ERR! code E404
npm ERR! 404 Not Found - GET https://registry.npmjs.org/nope - Not found
npm ERR! 404
npm ERR! 404  'nope@*' is not in this registry.

npm ERR! A complete log of this run can be found in:
npm ERR!     /root/.npm/_logs/2024-03-01T10_00_00_000Z-debug-0.log
"""

NPM_ERESOLVE = """\
npm error code ERESOLVE
npm error ERESOLVE unable to resolve dependency tree
npm error
npm error While resolving: app@1.0.0
npm error Found: react@17.0.2
npm error node_modules/react
npm error   react@"17.0.2" from the root project
npm error
npm error Could not resolve dependency:
npm error peer react@"^18.2.0" from react-dom@18.2.0
npm error node_modules/react-dom
npm error   react-dom@"18.2.0" from the root project
npm error
npm error Fix the upstream dependency conflict, or retry this command with --force or --legacy-peer-deps to accept an incorrect (and potentially broken) dependency resolution.
npm error
npm error
npm error For a full report see:
npm error /root/.npm/_logs/2026-11-25T18_30_48_691Z-eresolve-report.txt
npm error A complete log of this run can be found in: /root/.npm/_logs/2026-11-25T18_30_48_691Z-debug-0.log
"""

NPM_OTHERS = """\
npm ERR! code ETARGET
npm ERR! notarget No matching version found for react@99.0.0.
npm ERR! notarget In most cases you or one of your dependencies are requesting
npm ERR! notarget a package version that doesn't exist.
npm ERR! code ENOENT
npm ERR! syscall open
npm ERR! path /work/package.json
npm ERR! errno -2
npm ERR! enoent ENOENT: no such file or directory, open '/work/package.json'
npm ERR! enoent This is related to npm not being able to find a file.

> npm run build
npm ERR! missing script: build
"""

# A failing script: npm only says so; the script printed the error above.
NPM_SCRIPT_FAILED = """\
npm ERR! code ELIFECYCLE
npm ERR! errno 2
npm ERR! app@1.0.0 build: `tsc && vite build`
npm ERR! Exit status 2
npm ERR!
npm ERR! Failed at the app@1.0.0 build script.
npm ERR! This is probably not a problem with npm. There is likely additional logging output above.
npm ERR! Lifecycle script `build` failed with error:
npm ERR! Error: command failed
npm ERR!   in workspace: web
npm ERR!   at location: /work/web
npm error code 1
npm error path /work
npm error command failed
npm error command sh -c node postinstall.js
"""


def test_reference_error_points_at_the_caret() -> None:
    assert parse(REFERENCE_ERROR.splitlines()) == [
        Diagnostic(
            "node", "y is not defined", "server.js", 3, 3, "return y + 1;\n^", "ReferenceError"
        )
    ]


def test_syntax_error_column_comes_from_the_caret_in_the_undented_line() -> None:
    (found,) = parse(SYNTAX_ERROR.splitlines())
    assert found.summary() == "syn.js:2:12 SyntaxError: Unexpected token ';'"
    assert found.excerpt == "const b = {;\n           ^"


def test_error_thrown_inside_node_points_at_the_project_frame() -> None:
    (found,) = parse(MISSING_MODULE.splitlines())
    assert (found.file, found.line, found.column) == ("req.js", 1, 17)
    assert found.summary() == "req.js:1:17 Error: Cannot find module 'express'"
    assert found.excerpt is None  # Node's own source line is not the project's


def test_esm_missing_package_names_the_importer() -> None:
    (found,) = parse(MISSING_PACKAGE_ESM.splitlines())
    assert found == Diagnostic(
        "node",
        "Cannot find package 'express' imported from esm.mjs",
        "esm.mjs",
        code="ERR_MODULE_NOT_FOUND",
    )


def test_eval_has_no_file() -> None:
    assert parse(EVAL.splitlines()) == [
        Diagnostic("node", "y is not defined", code="ReferenceError")
    ]


def test_a_wrapper_around_a_failed_command_is_not_an_error_of_its_own() -> None:
    assert parse(COMMAND_FAILED.splitlines()) == []


def test_npm_404() -> None:
    expected = "Not Found - GET https://registry.npmjs.org/definitely-not-a-package-previewd"
    assert parse(NPM_404.splitlines()) == [Diagnostic("npm", expected, code="E404")]
    (old,) = parse(NPM_404_OLD.splitlines())
    assert old.summary() == "npm E404: Not Found - GET https://registry.npmjs.org/nope - Not found"


def test_npm_eresolve_says_which_peer_conflicts() -> None:
    (found,) = parse(NPM_ERESOLVE.splitlines())
    assert found.code == "ERESOLVE"
    assert found.message == (
        'unable to resolve dependency tree: peer react@"^18.2.0" from react-dom@18.2.0'
    )


def test_npm_blocks_split_on_code_and_enoent_names_the_file() -> None:
    assert [d.summary() for d in parse(NPM_OTHERS.splitlines())] == [
        "npm ETARGET: No matching version found for react@99.0.0.",
        "package.json ENOENT: ENOENT: no such file or directory, open 'package.json'",
        "npm: missing script: build",
    ]


def test_npm_script_failures_are_not_diagnostics() -> None:
    assert parse(NPM_SCRIPT_FAILED.splitlines()) == []


def test_real_node_errors(tmp_path: Path) -> None:
    assert shutil.which("node"), "scripts/install installs Node"
    (tmp_path / "server.js").write_text(
        "const http = require('http');\nfunction start() {\n  return http.createServer(hanlder);\n}\n"
        "start();\n"
    )
    (found,) = parse(output(["node", "server.js"], tmp_path), root=tmp_path)
    assert found.summary() == "server.js:3:28 ReferenceError: hanlder is not defined"
    assert found.excerpt == "return http.createServer(hanlder);\n                         ^"

    (tmp_path / "esm.mjs").write_text("import express from 'express';\nexpress();\n")
    (found,) = parse(output(["node", "esm.mjs"], tmp_path), root=tmp_path)
    assert (found.file, found.code) == ("esm.mjs", "ERR_MODULE_NOT_FOUND")
    assert found.message == "Cannot find package 'express' imported from esm.mjs"


def test_real_npm_missing_script(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text('{"name": "app", "version": "1.0.0", "scripts": {}}')
    (found,) = parse(output(["npm", "run", "build"], tmp_path), root=tmp_path)
    assert (found.tool, found.message.lower()) == ("npm", 'missing script: "build"')


@pytest.mark.network
def test_real_npm_404(tmp_path: Path) -> None:
    (found,) = parse(output(["npm", "view", "definitely-not-a-package-previewd"], tmp_path))
    assert found.code == "E404"
    assert found.message.endswith("registry.npmjs.org/definitely-not-a-package-previewd")
