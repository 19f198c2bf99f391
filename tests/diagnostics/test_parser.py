from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from previewd.diagnostics import MAX_DIAGNOSTICS, TOOLS, Diagnostic, parse
from previewd.diagnostics.log import MAX_EXCERPT_LINES
from tests.diagnostics import test_bundlers, test_generic, test_node, test_python, test_typescript

SAMPLES = [
    value
    for module in (test_bundlers, test_generic, test_node, test_python, test_typescript)
    for name, value in vars(module).items()
    if name.isupper() and isinstance(value, str) and "\n" in value
]

# `npm ci && npm run build` failing in tsc, as the build log keeps it.
BUILD_LOG = """\
npm warn deprecated inflight@1.0.6: This module is not supported, and leaks memory.

added 212 packages, and audited 213 packages in 4s

> web@0.1.0 build
> tsc -b && vite build

src/App.tsx(12,5): error TS2322: Type 'string' is not assignable to type 'number'.
src/App.tsx(20,1): error TS2304: Cannot find name 'useEfect'.
npm error Lifecycle script `build` failed with error:
npm error code 2
npm error path /work
npm error workspace web@0.1.0
npm error location /work
npm error command failed
npm error command sh -c tsc -b && vite build
"""

# Failed, but nothing in it is a tool's error the parser knows: the caller shows the tail.
UNRECOGNISED = """\
> web@0.1.0 build
> vite build

sh: 1: vite: not found
Killed
make: *** [Makefile:3: build] Error 127
Error: something went wrong
"""

# A build that passed with warnings of every kind.
WARNINGS_ONLY = """\
npm warn deprecated rimraf@3.0.2: Rimraf versions prior to v4 are no longer supported
▲ [WARNING] Duplicate key "a" in object literal [duplicate-object-key]

    src/config.ts:3:2:
      3 │   a: 2,
        ╵   ^

(!) Some chunks are larger than 500 kB after minification.
WARNING: Running pip as the 'root' user can result in broken permissions.
/work/app.py:3: DeprecationWarning: datetime.datetime.utcnow() is deprecated
  now = datetime.utcnow()
src/util.c:7:5: warning: unused variable 'x' [-Wunused-variable]
✓ built in 1.20s
"""


def tsc_error(n: int) -> str:
    return f"src/file{n}.ts({n},1): error TS2304: Cannot find name 'x{n}'."


def test_a_build_log_yields_the_tool_s_errors_not_npm_s_wrapper() -> None:
    assert [d.summary() for d in parse(BUILD_LOG.splitlines())] == [
        "src/App.tsx:12:5 TS2322: Type 'string' is not assignable to type 'number'.",
        "src/App.tsx:20:1 TS2304: Cannot find name 'useEfect'.",
    ]


def test_unrecognised_failures_and_warnings_give_nothing() -> None:
    assert parse(UNRECOGNISED.splitlines()) == []
    assert parse(WARNINGS_ONLY.splitlines()) == []
    assert parse([]) == []


def test_identical_diagnostics_are_kept_once_in_order_of_first_appearance() -> None:
    first, second = tsc_error(1), tsc_error(2)
    # Watch mode prints errors again; the pretty form of the same error is the same error.
    pretty = "src/file1.ts:1:1 - error TS2304: Cannot find name 'x1'."
    other_column = "src/file1.ts(1,2): error TS2304: Cannot find name 'x1'."
    found = parse([first, second, first, pretty, other_column, second])
    assert [(d.file, d.line, d.column) for d in found] == [
        ("src/file1.ts", 1, 1),
        ("src/file2.ts", 2, 1),
        ("src/file1.ts", 1, 2),
    ]


def test_at_most_fifty_the_first_ones() -> None:
    found = parse(tsc_error(n) for n in range(1, 200))
    assert len(found) == MAX_DIAGNOSTICS == 50
    assert [d.line for d in found] == list(range(1, 51))


def test_chunks_holding_several_lines_and_crlf_are_split() -> None:
    chunk = "\r\n".join(test_python.NAME_ERROR.splitlines())
    assert parse([chunk]) == parse(test_python.NAME_ERROR.splitlines())
    assert len(parse([chunk])) == 1


def test_a_root_outside_the_sandbox_is_stripped_too(tmp_path: Path) -> None:
    log = [
        "Traceback (most recent call last):",
        f'  File "{tmp_path}/app/main.py", line 7, in <module>',
        "    run()",
        "ValueError: bad port",
    ]
    (found,) = parse(log, root=tmp_path)
    assert found.file == "app/main.py"
    (unrooted,) = parse(log)
    assert unrooted.file == f"{tmp_path}/app/main.py"


def test_every_cut_of_every_sample_parses() -> None:
    # Logs are kept and shown with limits, so a block can end anywhere.
    for sample in SAMPLES:
        lines = sample.splitlines()
        for cut in range(len(lines) + 1):
            for part in (lines[:cut], lines[cut:]):
                check(parse(part))


def check(found: list[Diagnostic]) -> None:
    assert len(found) <= MAX_DIAGNOSTICS
    keys = [(d.file, d.line, d.column, d.message) for d in found]
    assert len(set(keys)) == len(keys)
    for diagnostic in found:
        assert diagnostic.tool in TOOLS
        assert diagnostic.message and "\n" not in diagnostic.message
        assert diagnostic.file is None or (diagnostic.file and "\n" not in diagnostic.file)
        assert diagnostic.line is None or diagnostic.line >= 0
        assert diagnostic.column is None or (diagnostic.column >= 0 and diagnostic.line is not None)
        assert (
            diagnostic.excerpt is None or len(diagnostic.excerpt.splitlines()) <= MAX_EXCERPT_LINES
        )
        assert "\n" not in diagnostic.summary()


FRAGMENTS = sorted(
    {line for sample in SAMPLES for line in sample.splitlines()}
    | {"", "    at x (/work/a.js:1:2)", "error during build:", "Build failed with 2 errors:", "}"}
)


def soup() -> st.SearchStrategy[list[str]]:
    """Lines of the tools' output in any order, cut, joined and mixed with noise."""
    fragment = st.sampled_from(FRAGMENTS)
    mangled = st.tuples(fragment, st.integers(0, 200), st.text(max_size=10)).map(
        lambda t: t[0][: t[1]] + t[2]
    )
    return st.lists(st.one_of(fragment, mangled, st.text(max_size=40)), max_size=60)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(), max_size=40))
def test_parse_never_raises_on_arbitrary_text(lines: list[str]) -> None:
    check(parse(lines))


@settings(max_examples=500, deadline=None)
@given(soup())
def test_parse_never_raises_on_shuffled_tool_output(lines: list[str]) -> None:
    check(parse(lines))


def test_parse_takes_any_iterable() -> None:
    def lines() -> Iterator[str]:
        yield from test_typescript.PLAIN.splitlines()

    assert parse(lines()) == parse(test_typescript.PLAIN.splitlines())
