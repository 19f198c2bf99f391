from __future__ import annotations

from pathlib import Path

import pytest

from previewd.diagnostics import Diagnostic, parse
from tests.diagnostics.helpers import output

# esbuild 0.28, `esbuild src/bad.ts --bundle --color=true`.
ESBUILD = """\
\x1b[31m✘ \x1b[41;31m[\x1b[41;97mERROR\x1b[41;31m]\x1b[0m \x1b[1mExpected ";" but found "x"\x1b[0m

    src/bad.ts:2:10:
\x1b[37m      2 │ let b = a \x1b[32mx\x1b[37m
        │           \x1b[32m^\x1b[37m
        ╵           \x1b[32m;\x1b[0m

1 error
"""
# The same file through tsc: columns are 1-based there, 0-based in esbuild.
TSC_SAME_FILE = "src/bad.ts(2,11): error TS1005: ',' expected."

ESBUILD_SEVERAL = """\
✘ [ERROR] Could not resolve "lodash-es"

    src/util.ts:1:25:
      1 │ import { debounce } from "lodash-es";
        ╵                          ~~~~~~~~~~~

  You can mark the path "lodash-es" as external to exclude it from the bundle, which will remove this error and leave the unresolved path in the bundle.

✘ [ERROR] [plugin vue] Cannot read properties of undefined (reading 'descriptor')

▲ [WARNING] "import.meta" is not available in the configured target environment ("es2019") and will be empty [empty-import-meta]

✘ [ERROR] Must use "outdir" when there are multiple input files

2 warnings and 3 errors
"""

# Vite 5.4 (Rollup 4): a bare import that is not installed.
VITE_UNRESOLVED = """\
vite v5.4.21 building for production...
transforming...
✓ 3 modules transformed.
x Build failed in 50ms
error during build:
[vite]: Rollup failed to resolve import "not-installed-pkg" from "/work/src/main.js".
This is most likely unintended because it can break your application at runtime.
If you do want to externalize this module explicitly add it to
`build.rollupOptions.external`
    at viteWarn (file:///work/node_modules/vite/dist/node/chunks/dep-BK3b2jBa.js:65855:17)
    at onRollupWarning (file:///work/node_modules/vite/dist/node/chunks/dep-BK3b2jBa.js:65887:5)
    at ModuleLoader.handleInvalidResolvedId (file:///work/node_modules/rollup/dist/es/shared/node-entry.js:23696:26)
    at file:///work/node_modules/rollup/dist/es/shared/node-entry.js:23654:26
"""

VITE_MISSING_EXPORT = """\
vite v5.4.21 building for production...
transforming...
✓ 4 modules transformed.
x Build failed in 71ms
error during build:
src/main.js (1:9): "nothere" is not exported by "src/lib.js", imported by "src/main.js".
file: /work/src/main.js:1:9

1: import { nothere } from "./lib.js";
            ^
2: nothere();

    at getRollupError (file:///work/node_modules/rollup/dist/es/shared/parseAst.js:355:41)
    at error (file:///work/node_modules/rollup/dist/es/shared/parseAst.js:351:42)
    at Module.error (file:///work/node_modules/rollup/dist/es/shared/node-entry.js:18696:16)
"""

VITE_MISSING_FILE = """\
error during build:
Could not resolve "./missing.js" from "src/main.js"
file: /work/src/main.js
    at getRollupError (file:///work/node_modules/rollup/dist/es/shared/parseAst.js:355:41)
    at ModuleLoader.handleInvalidResolvedId (file:///work/node_modules/rollup/dist/es/shared/node-entry.js:23694:24)
"""

# A TypeScript syntax error reaches Vite through its esbuild plugin.
VITE_ESBUILD = """\
vite v5.4.21 building for production...
transforming...
✓ 2 modules transformed.
x Build failed in 63ms
error during build:
[vite:esbuild] Transform failed with 1 error:
/work/src/main.ts:2:10: ERROR: Expected ";" but found "x"
file: /work/src/main.ts:2:10

Expected ";" but found "x"
1  |  const a: number = 1
2  |  let b = a x
   |            ^
3  |  export {}
4  |

    at failureErrorWithLog (/work/node_modules/esbuild/lib/main.js:1472:15)
    at /work/node_modules/esbuild/lib/main.js:755:50
    at Socket.emit (node:events:524:28)
    at Pipe.onStreamRead (node:internal/stream_base_commons:191:23)
"""

VITE_CSS = """\
error during build:
[vite:css] [postcss] /work/src/style.css:3:5: Unknown word
file: /work/src/style.css:3:5
    at Input.error (/work/node_modules/postcss/lib/input.js:106:16)
    at Parser.unknownWord (/work/node_modules/postcss/lib/parser.js:593:22)
"""

# Vite 8 builds with Rolldown: "[CODE] message" and a boxed, 1-based frame.
VITE8_MISSING_FILE = """\
vite v8.3.8 building client environment for production...
transforming...
✓ 4 modules transformed.
✗ Build failed in 33ms
error during build:
Build failed with 1 error:

\x1b[31m[UNRESOLVED_IMPORT] \x1b[0mCould not resolve './missing.js' in src/main.js
   \x1b[38;5;246m╭\x1b[0m\x1b[38;5;246m─\x1b[0m\x1b[38;5;246m[\x1b[0m src/main.js:1:24 \x1b[38;5;246m]\x1b[0m
   \x1b[38;5;246m│\x1b[0m
 \x1b[38;5;246m1 │\x1b[0m \x1b[38;5;249mi\x1b[0m\x1b[38;5;249mm\x1b[0m\x1b[38;5;249mp\x1b[0m\x1b[38;5;249mo\x1b[0m\x1b[38;5;249mr\x1b[0m\x1b[38;5;249mt\x1b[0m\x1b[38;5;249m \x1b[0m\x1b[38;5;249m{\x1b[0m\x1b[38;5;249m \x1b[0m\x1b[38;5;249mh\x1b[0m\x1b[38;5;249me\x1b[0m\x1b[38;5;249ml\x1b[0m\x1b[38;5;249mp\x1b[0m\x1b[38;5;249me\x1b[0m\x1b[38;5;249mr\x1b[0m\x1b[38;5;249m \x1b[0m\x1b[38;5;249m}\x1b[0m\x1b[38;5;249m \x1b[0m\x1b[38;5;249mf\x1b[0m\x1b[38;5;249mr\x1b[0m\x1b[38;5;249mo\x1b[0m\x1b[38;5;249mm\x1b[0m\x1b[38;5;249m \x1b[0m"./missing.js"\x1b[38;5;249m;\x1b[0m
 \x1b[38;5;240m  │\x1b[0m                        ───────┬──────
 \x1b[38;5;240m  │\x1b[0m                               ╰──────── Module not found.
 \x1b[38;5;240m  │\x1b[0m
 \x1b[38;5;240m  │\x1b[0m \x1b[38;5;115mHelp\x1b[0m: 'src/main.js' is imported by the following path:
 \x1b[38;5;240m  │\x1b[0m         - src/main.js
 \x1b[38;5;240m  │\x1b[0m         - index.html
\x1b[38;5;246m───╯\x1b[0m

    at aggregateBindingErrorsIntoJsError (file:///work/node_modules/rolldown/dist/shared/error-CLo6EJKG.mjs:50:18)
    at async CAC.<anonymous> (file:///work/node_modules/vite/dist/node/cli.js:789:3) {
  errors: [Getter/Setter]
}
"""

VITE8_TWO_ERRORS = """\
error during build:
Build failed with 2 errors:

[PARSE_ERROR] Unexpected token
   ╭─[ src/main.js:3:12 ]
   │
 3 │ const b = {;
   │            ┬
   │            ╰──
───╯

[UNRESOLVED_IMPORT] Could not resolve './missing.js' in src/other.js
   ╭─[ src/other.js:1:24 ]
   │
 1 │ import { helper } from "./missing.js";
───╯

    at aggregateBindingErrorsIntoJsError (file:///work/node_modules/rolldown/dist/shared/error-CLo6EJKG.mjs:50:18)
"""

VITE8_UNRESOLVED = """\
✗ Build failed in 84ms
error during build:
Build failed with 1 error:

Error: [vite]: Rolldown failed to resolve import "not-installed-pkg" from "/work/src/main.js".
This is most likely unintended because it can break your application at runtime.
If you do want to externalize this module explicitly add it to
`build.rolldownOptions.external`
    at viteLog (file:///work/node_modules/vite/dist/node/chunks/node.js:34880:57)
    at async CAC.<anonymous> (file:///work/node_modules/vite/dist/node/cli.js:789:3) {
  errors: [Getter/Setter]
}
"""

# The Rollup 4 CLI, in colour.
ROLLUP_MISSING_EXPORT = """\
\x1b[36m
\x1b[1msrc/main.js\x1b[22m → \x1b[1mdist/b.js\x1b[22m...\x1b[39m
\x1b[1m\x1b[31m[!] \x1b[1mRollupError: src/main.js (1:9): "nothere" is not exported by "src/lib.js", imported by "src/main.js".\x1b[22m\x1b[1m\x1b[39m\x1b[22m
\x1b[36mhttps://rollupjs.org/troubleshooting/#error-name-is-not-exported-by-module\x1b[39m
src/main.js (1:9)
\x1b[2m1: import { nothere } from "./lib.js";
            ^
2: nothere();\x1b[22m
\x1b[2m    at getRollupError (/work/node_modules/rollup/dist/shared/parseAst.js:326:41)
    at Program.bind (/work/node_modules/rollup/dist/shared/rollup.js:7421:28)\x1b[22m


"""

ROLLUP_UNRESOLVED = """\
\x1b[1m\x1b[31m[!] \x1b[1mRollupError: Could not resolve "./nope.js" from "src/res.js"\x1b[22m\x1b[1m\x1b[39m\x1b[22m
src/res.js
\x1b[2m    at getRollupError (/work/node_modules/rollup/dist/shared/parseAst.js:326:41)
    at /work/node_modules/rollup/dist/shared/rollup.js:24885:26\x1b[22m
"""


def test_esbuild_error_with_location_and_frame() -> None:
    assert parse(ESBUILD.splitlines()) == [
        Diagnostic(
            tool="esbuild",
            message='Expected ";" but found "x"',
            file="src/bad.ts",
            line=2,
            column=11,
            excerpt="2 │ let b = a x\n  │           ^\n  ╵           ;",
        )
    ]


def test_esbuild_and_tsc_agree_on_the_column_of_the_same_error() -> None:
    (esbuild,) = parse(ESBUILD.splitlines())
    (tsc,) = parse([TSC_SAME_FILE])
    assert (esbuild.file, esbuild.line, esbuild.column) == (tsc.file, tsc.line, tsc.column)


def test_several_esbuild_errors_skip_warnings_and_name_plugins() -> None:
    found = parse(ESBUILD_SEVERAL.splitlines())
    assert [(d.message, d.file, d.line, d.column, d.code) for d in found] == [
        ('Could not resolve "lodash-es"', "src/util.ts", 1, 26, None),
        ("Cannot read properties of undefined (reading 'descriptor')", None, None, None, "vue"),
        ('Must use "outdir" when there are multiple input files', None, None, None, None),
    ]
    assert found[0].excerpt == (
        '1 │ import { debounce } from "lodash-es";\n  ╵                          ~~~~~~~~~~~'
    )


def test_vite_unresolved_bare_import() -> None:
    assert parse(VITE_UNRESOLVED.splitlines()) == [
        Diagnostic(
            "vite",
            'Rollup failed to resolve import "not-installed-pkg" from "src/main.js".',
            "src/main.js",
        )
    ]


def test_vite_rollup_error_with_its_frame_and_a_1_based_column() -> None:
    assert parse(VITE_MISSING_EXPORT.splitlines()) == [
        Diagnostic(
            "vite",
            '"nothere" is not exported by "src/lib.js", imported by "src/main.js".',
            "src/main.js",
            1,
            10,
            '1: import { nothere } from "./lib.js";\n            ^\n2: nothere();',
        )
    ]


def test_vite_missing_relative_file_takes_its_file_line() -> None:
    (found,) = parse(VITE_MISSING_FILE.splitlines())
    assert found.summary() == 'src/main.js: Could not resolve "./missing.js" from "src/main.js"'


def test_vite_esbuild_transform_error_is_esbuild_s() -> None:
    (found,) = parse(VITE_ESBUILD.splitlines())
    assert (found.tool, found.file, found.line, found.column) == ("esbuild", "src/main.ts", 2, 11)
    assert found.message == 'Expected ";" but found "x"'
    assert found.excerpt is not None
    assert "2  |  let b = a x\n   |            ^" in found.excerpt


def test_vite_plugin_error_names_the_plugin_and_keeps_its_own_position() -> None:
    (found,) = parse(VITE_CSS.splitlines())
    assert found.summary() == "src/style.css:3:5 vite:css: Unknown word"


def test_vite8_rolldown_error_and_frame_without_the_help_text() -> None:
    (found,) = parse(VITE8_MISSING_FILE.splitlines())
    assert found.to_dict() == {
        "tool": "vite",
        "message": "Could not resolve './missing.js' in src/main.js",
        "file": "src/main.js",
        "line": 1,
        "column": 24,
        "excerpt": '1 │ import { helper } from "./missing.js";\n'
        "  │                        ───────┬──────\n"
        "  │                               ╰──────── Module not found.",
        "code": "UNRESOLVED_IMPORT",
    }


def test_vite8_block_with_two_errors() -> None:
    found = parse(VITE8_TWO_ERRORS.splitlines())
    assert [d.summary() for d in found] == [
        "src/main.js:3:12 PARSE_ERROR: Unexpected token",
        "src/other.js:1:24 UNRESOLVED_IMPORT: Could not resolve './missing.js' in src/other.js",
    ]
    assert found[1].excerpt == '1 │ import { helper } from "./missing.js";'


def test_vite8_unresolved_bare_import() -> None:
    (found,) = parse(VITE8_UNRESOLVED.splitlines())
    assert found.summary() == (
        'src/main.js: Rolldown failed to resolve import "not-installed-pkg" from "src/main.js".'
    )


def test_rollup_cli_errors() -> None:
    assert parse(ROLLUP_MISSING_EXPORT.splitlines()) == [
        Diagnostic(
            "rollup",
            '"nothere" is not exported by "src/lib.js", imported by "src/main.js".',
            "src/main.js",
            1,
            10,
            '1: import { nothere } from "./lib.js";\n            ^\n2: nothere();',
        )
    ]
    assert parse(ROLLUP_UNRESOLVED.splitlines()) == [
        Diagnostic("rollup", 'Could not resolve "./nope.js" from "src/res.js"', "src/res.js")
    ]


def test_a_block_stack_is_not_read_as_node_errors() -> None:
    # The stacks above name files and lines; only the block's error comes out.
    for sample in (VITE_ESBUILD, VITE8_MISSING_FILE, ROLLUP_MISSING_EXPORT):
        assert len(parse(sample.splitlines())) == 1


@pytest.mark.network
def test_real_vite_and_esbuild_output(js_tools: Path, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "index.html").write_text('<script type="module" src="/src/main.js"></script>')
    (tmp_path / "src" / "lib.js").write_text("export const there = 1;\n")
    (tmp_path / "src" / "main.js").write_text(
        'import { there, nothere } from "./lib.js";\nconsole.log(there, nothere);\n'
    )
    (vite,) = parse(output([js_tools / "vite", "build"], tmp_path), root=tmp_path)
    assert (vite.tool, vite.file, vite.line, vite.column) == ("vite", "src/main.js", 1, 17)
    assert '"nothere" is not exported by "src/lib.js"' in vite.message

    (tmp_path / "src" / "bad.ts").write_text("const a = 1\nlet b = a x\nexport {}\n")
    argv: list[str | Path] = [
        js_tools / "esbuild",
        "src/bad.ts",
        "--bundle",
        "--color=true",
        "--outdir=out",
    ]
    (esbuild,) = parse(output(argv, tmp_path), root=tmp_path)
    assert (esbuild.tool, esbuild.file, esbuild.line, esbuild.column) == (
        "esbuild",
        "src/bad.ts",
        2,
        11,
    )
    assert esbuild.message == 'Expected ";" but found "x"'
