from __future__ import annotations

import dataclasses
import json

import pytest

from previewd.diagnostics import Diagnostic


def test_summary_of_a_typescript_error_reads_like_the_compiler() -> None:
    diagnostic = Diagnostic(
        tool="typescript",
        message="Type 'string' is not assignable to type 'number'.",
        file="src/App.tsx",
        line=12,
        column=5,
        excerpt=None,
        code="TS2322",
    )
    assert diagnostic.summary() == (
        "src/App.tsx:12:5 TS2322: Type 'string' is not assignable to type 'number'."
    )


@pytest.mark.parametrize(
    ("diagnostic", "summary"),
    [
        (Diagnostic("vite", "Could not resolve", "src/main.js"), "src/main.js: Could not resolve"),
        (Diagnostic("python", "boom", "app.py", 3, code="KeyError"), "app.py:3 KeyError: boom"),
        (Diagnostic("npm", "Not Found", code="E404"), "npm E404: Not Found"),
        (Diagnostic("pip", "No matching distribution"), "pip: No matching distribution"),
        # A column without a line points nowhere and is left out.
        (Diagnostic("generic", "bad", "a.c", None, 7), "a.c: bad"),
    ],
)
def test_summary_says_what_is_known(diagnostic: Diagnostic, summary: str) -> None:
    assert diagnostic.summary() == summary
    assert "\n" not in diagnostic.summary()


def test_to_dict_is_json_ready_and_complete() -> None:
    diagnostic = Diagnostic("node", "y is not defined", "server.js", 5, 3, "y\n^", "ReferenceError")
    as_dict = diagnostic.to_dict()
    assert as_dict == {
        "tool": "node",
        "message": "y is not defined",
        "file": "server.js",
        "line": 5,
        "column": 3,
        "excerpt": "y\n^",
        "code": "ReferenceError",
    }
    assert json.loads(json.dumps(as_dict)) == as_dict


def test_diagnostics_are_frozen_and_hashable() -> None:
    diagnostic = Diagnostic("pip", "nope")
    with pytest.raises(dataclasses.FrozenInstanceError):
        diagnostic.message = "other"
    assert {diagnostic, Diagnostic("pip", "nope")} == {diagnostic}
