from __future__ import annotations

from pathlib import Path

import pytest

from previewd.diagnostics import Diagnostic, parse
from tests.diagnostics.helpers import output

# `npm run build` running `tsc -p . --pretty false` (TypeScript 5.9).
PLAIN = """\

> app@1.0.0 build
> tsc -p . --pretty false

src/App.ts(1,7): error TS2322: Type 'string' is not assignable to type 'number'.
src/App.ts(5,8): error TS2345: Argument of type 'string' is not assignable to parameter of type 'number'.
"""

# `tsc -p . --pretty`: colours, a frame under each error, a count at the end.
PRETTY = """\
\x1b[96msrc/App.ts\x1b[0m:\x1b[93m1\x1b[0m:\x1b[93m7\x1b[0m - \x1b[91merror\x1b[0m\x1b[90m TS2322: \x1b[0mType 'string' is not assignable to type 'number'.

\x1b[7m1\x1b[0m const count: number = "hello";
\x1b[7m \x1b[0m \x1b[91m      ~~~~~\x1b[0m

\x1b[96msrc/App.ts\x1b[0m:\x1b[93m5\x1b[0m:\x1b[93m8\x1b[0m - \x1b[91merror\x1b[0m\x1b[90m TS2345: \x1b[0mArgument of type 'string' is not assignable to parameter of type 'number'.

\x1b[7m5\x1b[0m add(1, "2");
\x1b[7m \x1b[0m \x1b[91m       ~~~\x1b[0m


Found 2 errors in the same file, starting at: src/App.ts\x1b[90m:1\x1b[0m
"""

# An elaborated error: the indented lines continue the first.
ELABORATED = """\
src/components/Card.tsx(14,6): error TS2741: Property 'title' is missing in type '{ body: string; }' but required in type 'CardProps'.
  src/components/Card.tsx(3,3): 'title' is declared here.
/work/src/pages/(marketing)/page.tsx(2,10): error TS2305: Module '"../lib"' has no exported member 'missing'.
error TS5058: The specified path does not exist: 'tsconfig.app.json'.
"""


def test_plain_errors_have_file_line_column_code_and_message() -> None:
    assert parse(PLAIN.splitlines()) == [
        Diagnostic(
            "typescript",
            "Type 'string' is not assignable to type 'number'.",
            "src/App.ts",
            1,
            7,
            None,
            "TS2322",
        ),
        Diagnostic(
            "typescript",
            "Argument of type 'string' is not assignable to parameter of type 'number'.",
            "src/App.ts",
            5,
            8,
            None,
            "TS2345",
        ),
    ]


def test_pretty_errors_match_plain_ones_and_carry_their_frame() -> None:
    pretty = parse(PRETTY.splitlines())
    plain = parse(PLAIN.splitlines())
    assert [(d.file, d.line, d.column, d.code, d.message) for d in pretty] == [
        (d.file, d.line, d.column, d.code, d.message) for d in plain
    ]
    assert pretty[0].excerpt == '1 const count: number = "hello";\n        ~~~~~'
    assert pretty[1].excerpt == '5 add(1, "2");\n         ~~~'


def test_first_line_of_an_elaborated_error_and_global_errors() -> None:
    found = parse(ELABORATED.splitlines())
    assert [d.summary() for d in found] == [
        "src/components/Card.tsx:14:6 TS2741: Property 'title' is missing in type "
        "'{ body: string; }' but required in type 'CardProps'.",
        "src/pages/(marketing)/page.tsx:2:10 TS2305: Module '\"../lib\"' has no exported member "
        "'missing'.",
        "typescript TS5058: The specified path does not exist: 'tsconfig.app.json'.",
    ]


@pytest.mark.network
def test_real_tsc_output(js_tools: Path, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.ts").write_text(
        'const total: number = "12";\nexport function twice(n: number) {\n  return n * 2;\n}\n'
        'twice("3");\n'
    )
    (tmp_path / "tsconfig.json").write_text(
        '{"compilerOptions": {"strict": true, "noEmit": true}, "include": ["src"]}'
    )
    for flag in ("false", "true"):
        found = parse(output([js_tools / "tsc", "-p", ".", "--pretty", flag], tmp_path))
        assert [(d.file, d.line, d.column, d.code) for d in found] == [
            ("src/main.ts", 1, 7, "TS2322"),
            ("src/main.ts", 5, 7, "TS2345"),
        ]
        assert (found[0].excerpt is not None) == (flag == "true")
