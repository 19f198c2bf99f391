"""Fingerprints: equal across rebuilds of the same problem, different for different problems."""

from __future__ import annotations

from previewd.feedback.condense import console_problem, crash_problem, http_problem
from previewd.feedback.fingerprint import fingerprint, normalize, path_template, source_file, unhash


def test_hashed_asset_names_lose_their_hash() -> None:
    assert unhash("assets/index-DiwrgTda.js") == "assets/index-*.js"
    assert unhash("static/js/main.3f2a9c1b.js") == "static/js/main.*.js"
    assert unhash("src/App.tsx") == "src/App.tsx"


def test_what_changes_between_builds_is_erased() -> None:
    a = (
        "TypeError: x is undefined at http://4k2j9x0a1b2c--shop.localhost:7701/assets/"
        "index-DiwrgTda.js?v=3:1:20345 (0x7ffd5a1b2c3d) 2025-01-02T10:11:12Z /tmp/tmpa8f3k/x.js"
    )
    b = (
        "TypeError: x is undefined at http://7q9w8e7r6t5y--shop.localhost:41234/assets/"
        "index-Bx81kPq2.js:1:20417 (0x55d0c0ffee00) 2025-03-04T01:02:03Z /tmp/tmpzz91/x.js"
    )
    assert normalize(a) == normalize(b)
    assert "assets/index-*.js" in normalize(a)


def test_line_shifts_in_source_files_keep_the_fingerprint() -> None:
    assert fingerprint("build", "src/App.tsx:12:5 oops") == fingerprint(
        "build", "src/App.tsx:14:5 oops"
    )
    assert normalize('File "/work/app.py", line 12') == normalize('File "/work/app.py", line 40')


def test_different_problems_differ() -> None:
    assert fingerprint("console", "x is undefined") != fingerprint("console", "y is undefined")
    assert fingerprint("console", "x") != fingerprint("build", "x")
    assert fingerprint("http", 500, "GET") != fingerprint("http", 502, "GET")


def test_console_errors_from_two_builds_of_a_bundle_are_one_problem() -> None:
    def sighting(deployment: str, bundle: str, column: int) -> str:
        return console_problem(
            deployment,
            {
                "kind": "error",
                "message": "Uncaught TypeError: Cannot read properties of undefined (reading 'price')",
                "source": f"http://{deployment}--shop.localhost:7701/assets/{bundle}",
                "line": 1,
                "column": column,
                "page": "/cart?id=3",
            },
        ).fingerprint

    one = sighting("4k2j9x0a1b2c", "index-DiwrgTda.js", 20345)
    assert one == sighting("7q9w8e7r6t5y", "index-Bx81kPq2.js", 20417)
    assert one != sighting("7q9w8e7r6t5y", "vendor-Bx81kPq2.js", 20417)


def test_http_paths_keep_their_shape_not_their_ids() -> None:
    assert path_template("/api/items/42?x=1") == "/api/items/:id"
    assert path_template("/u/3f2a9c1b8d7e/orders") == "/u/:id/orders"
    a = http_problem("1aaaaaaaaaaa", method="GET", path="/api/items/42", status=500)
    b = http_problem("2bbbbbbbbbbb", method="GET", path="/api/items/7", status=500)
    c = http_problem("2bbbbbbbbbbb", method="GET", path="/api/users/7", status=500)
    assert a.fingerprint == b.fingerprint != c.fingerprint


def test_crashes_with_the_same_cause_are_one_problem() -> None:
    def crash(deployment: str, line: int, address: str) -> str:
        tail = [
            "Traceback (most recent call last):",
            f'  File "/work/app.py", line {line}, in <module>',
            "    start()",
            f"RuntimeError: cannot bind 127.0.0.1:{address}",
        ]
        return crash_problem(
            deployment,
            exit_code=1,
            limit_hit=None,
            message="exited with status 1",
            stderr_tail=tail,
        ).fingerprint

    assert crash("1aaaaaaaaaaa", 12, "8000") == crash("2bbbbbbbbbbb", 15, "41234")
    other = crash_problem(
        "1aaaaaaaaaaa", exit_code=137, limit_hit="memory", message="killed", stderr_tail=[]
    )
    assert other.fingerprint != crash("1aaaaaaaaaaa", 12, "8000")


def test_source_file_is_a_path_in_the_deployment() -> None:
    assert source_file("https://a--shop.localhost:7701/assets/a-1b2c3d4e.js?v=2") == "assets/a-*.js"
    assert source_file("http://shop.localhost/") == "/"
    assert source_file(None) is None
