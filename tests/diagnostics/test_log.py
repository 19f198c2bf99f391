from __future__ import annotations

import pytest

from previewd.diagnostics.log import MAX_EXCERPT_LINES, MAX_LINE, MAX_MESSAGE, Log, clean, frame


def test_clean_strips_colours_cursor_moves_links_and_controls() -> None:
    lines = clean(
        [
            "\x1b[1m\x1b[31merror\x1b[39m\x1b[22m TS2322",
            "\x1b[2K\x1b[1Gdone\x07 ",
            "\x1b]8;;https://example.com\x1b\\link\x1b]8;;\x1b\\",
            "a\x00b\x08c\tTab",
        ]
    )
    assert lines == ["error TS2322", "done", "link", "abc\tTab"]


def test_clean_splits_chunks_into_lines_and_keeps_blank_ones() -> None:
    assert clean(["one\ntwo\r\n", "", "three\r"]) == ["one", "two", "", "three"]


def test_clean_cuts_very_long_lines() -> None:
    (line,) = clean(["x" * (MAX_LINE * 3)])
    assert len(line) == MAX_LINE


@pytest.mark.parametrize(
    ("printed", "relative"),
    [
        ("/work/src/main.ts", "src/main.ts"),
        ("./src/main.ts", "src/main.ts"),
        ("file:///work/src/app.mjs", "src/app.mjs"),
        ('"/work/app.py"', "app.py"),
        ("src/App.tsx", "src/App.tsx"),
        ("/workshop/x.js", "/workshop/x.js"),  # only the root itself, not a prefix of a name
        ("/usr/lib/python3.11/json/decoder.py", "/usr/lib/python3.11/json/decoder.py"),
        ("/srv/builds/42/src/a.ts", "src/a.ts"),
        ("<string>", None),
        ("[eval]", None),
        ("node:internal/modules/cjs/loader", None),
        ("/work", None),
        ("", None),
    ],
)
def test_paths_become_relative_to_the_project(printed: str, relative: str | None) -> None:
    log = Log([], root="/srv/builds/42/")
    assert log.path(printed) == relative


def test_messages_lose_the_root_but_not_urls_that_contain_it() -> None:
    log = Log([], root="/srv/b")
    assert log.text('failed to resolve "x" from "/work/src/main.js".') == (
        'failed to resolve "x" from "src/main.js".'
    )
    assert log.text("open '/srv/b/package.json'") == "open 'package.json'"
    assert log.text("GET https://example.com/work/x") == "GET https://example.com/work/x"


def test_long_messages_are_cut_with_an_ellipsis() -> None:
    text = Log([]).text("word " * 1000)
    assert len(text) == MAX_MESSAGE
    assert text.endswith("…")


def test_frame_trims_blank_edges_dedents_and_caps() -> None:
    assert frame(["", "    a = 1", "      ^", ""]) == "a = 1\n  ^"
    assert frame(["", "  "]) is None
    many = [f"    {n}: line" for n in range(30)]
    assert frame(many) == "\n".join(f"{n}: line" for n in range(MAX_EXCERPT_LINES))
