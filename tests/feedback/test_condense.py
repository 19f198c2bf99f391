"""Condensed messages: at most 1 KB, what failed, where (file:line), the shortest excerpt."""

from __future__ import annotations

from previewd.feedback.condense import (
    MAX_BUILD_PROBLEMS,
    build_problems,
    console_problem,
    crash_problem,
    fit,
    http_problem,
)

DEPLOYMENT = "4k2j9x0a1b2c"


def size(text: str) -> int:
    return len(text.encode())


def test_a_build_error_names_file_line_and_excerpt() -> None:
    diagnostic = {
        "tool": "typescript",
        "message": "Type 'string' is not assignable to type 'number'.",
        "file": "src/App.tsx",
        "line": 12,
        "column": 5,
        "excerpt": 'const n: number = "x";',
        "code": "TS2322",
    }
    [problem] = build_problems(DEPLOYMENT, "step client:build exited with status 2", [diagnostic])
    assert problem.kind == "build"
    assert problem.text.splitlines()[:2] == [
        "Build failed: typescript reports an error in src/App.tsx:12:5:",
        "TS2322: Type 'string' is not assignable to type 'number'.",
    ]
    assert '  > const n: number = "x";' in problem.text
    assert DEPLOYMENT in problem.text
    assert problem.detail["line"] == 12


def test_a_build_without_structured_errors_is_one_problem() -> None:
    [problem] = build_problems(DEPLOYMENT, "step client:install hit its memory limit", [])
    assert problem.text.startswith("Build failed:\nstep client:install hit its memory limit")


def test_many_build_errors_are_capped() -> None:
    many = [
        {"tool": "generic", "message": f"error {i}", "file": f"f{i}.c", "line": i}
        for i in range(40)
    ]
    problems = build_problems(DEPLOYMENT, "failed", many)
    assert len(problems) == MAX_BUILD_PROBLEMS
    assert len({p.fingerprint for p in problems}) == MAX_BUILD_PROBLEMS


def test_a_crash_names_the_cause_in_the_stderr_tail() -> None:
    tail = [
        " * Serving Flask app 'app'",
        "Traceback (most recent call last):",
        '  File "/work/app.py", line 7, in <module>',
        "    total = 1 / 0",
        "            ~~^~~",
        "ZeroDivisionError: division by zero",
    ]
    problem = crash_problem(
        DEPLOYMENT,
        exit_code=1,
        limit_hit=None,
        message="exited with status 1",
        stderr_tail=tail,
        during_start=True,
    )
    lines = problem.text.splitlines()
    assert lines[0] == "The app server crashed while starting: exited with status 1"
    assert lines[1] == "app.py:7: ZeroDivisionError: division by zero"
    assert "  > total = 1 / 0" in lines
    assert problem.detail["exit_code"] == 1 and problem.detail["line"] == 7


def test_a_crash_without_a_traceback_shows_the_last_stderr_lines() -> None:
    problem = crash_problem(
        DEPLOYMENT,
        exit_code=137,
        limit_hit="memory",
        message="killed: memory limit of 64 MiB exceeded",
        stderr_tail=["allocating", "more", "", "still more", "and more"],
    )
    assert "It hit its memory limit." in problem.text
    assert problem.text.endswith("stderr:\n  > allocating\n  > more\n  > still more\n  > and more")


def test_a_5xx_shows_the_start_of_the_answer_without_tags() -> None:
    body = (
        b"<html><head><style>p{}</style></head><body><h1>Internal Server Error</h1>"
        + b"<p>x</p>" * 5000
    )
    problem = http_problem(
        DEPLOYMENT, method="POST", path="/api/items/3?q=1", status=500, body_start=body
    )
    assert problem.text.startswith("The app server answered 500 to POST /api/items/3")
    assert "  > Internal Server Error" in problem.text
    assert "p{}" not in problem.text and size(problem.text) <= 1024


def test_a_console_error_names_page_file_line_and_stack() -> None:
    problem = console_problem(
        DEPLOYMENT,
        {
            "kind": "rejection",
            "message": "Error: fetch failed",
            "source": "http://shop.localhost:7701/assets/app-1b2c3d4e.js",
            "line": 14,
            "column": 9,
            "page": "/checkout?step=2",
            "stack": "Error: fetch failed\n    at load (http://shop.localhost:7701/assets/app.js:14:9)\n"
            "    at async main (http://shop.localhost:7701/assets/app.js:30:3)",
        },
    )
    assert problem.text.splitlines() == [
        "Unhandled promise rejection on /checkout:",
        "Error: fetch failed",
        "at assets/app-*.js:14:9",
        f"(deployment {DEPLOYMENT})",
        "stack:",
        "  > at load (/assets/app.js:14:9)",
        "  > at async main (/assets/app.js:30:3)",
    ]


def test_every_kind_stays_within_1_kb_whatever_comes_in() -> None:
    huge = "é" * 5000 + "\n" + "x" * 5000
    texts = [
        build_problems(
            DEPLOYMENT,
            huge,
            [{"tool": "vite", "message": huge, "file": "a.js", "line": 1, "excerpt": huge}],
        )[0].text,
        build_problems(DEPLOYMENT, huge, [])[0].text,
        crash_problem(
            DEPLOYMENT, exit_code=1, limit_hit=None, message=huge, stderr_tail=[huge] * 50
        ).text,
        http_problem(
            DEPLOYMENT, method="GET", path="/" + "a" * 5000, status=503, body_start=huge.encode()
        ).text,
        console_problem(
            DEPLOYMENT, {"message": huge, "stack": huge, "page": huge, "source": huge}
        ).text,
    ]
    for text in texts:
        assert size(text) <= 1024
        text.encode().decode()  # whole characters only


def test_fit_cuts_whole_lines_first() -> None:
    assert fit("short") == "short"
    cut = fit("a" * 600 + "\n" + "b" * 600)
    assert cut == "a" * 600 + " …"
