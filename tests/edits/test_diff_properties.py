"""Properties of the diff formats: they never crash, never leave the tree, and round-trip."""

from __future__ import annotations

import difflib

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from previewd.edits import Tree, aider, apply, codex, parse, unified
from previewd.edits.base import Delete, Malformed, Move, Write
from previewd.errors import EditFailed
from tests.edits.trees import HOSTILE, assert_inside, texts, tree

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Pieces of every diff format, bad paths and a few traps, shuffled into messages.
FRAGMENTS = [
    "<<<<<<< SEARCH",
    "=======",
    ">>>>>>> REPLACE",
    "```",
    "```diff",
    "```python",
    "~~~",
    "*** Begin Patch",
    "*** End Patch",
    "*** Add File: a.txt",
    "*** Update File: a.txt",
    "*** Delete File: a.txt",
    "*** Move to: b.txt",
    "*** End of File",
    "@@",
    "@@ -1,2 +1,2 @@",
    "@@ -0,0 +1 @@",
    "@@ def f():",
    "--- a/a.txt",
    "+++ b/a.txt",
    "--- /dev/null",
    "+++ /dev/null",
    "diff --git a/a.txt b/a.txt",
    "diff --git a/a.txt b/b.txt",
    "rename from a.txt",
    "rename to b.txt",
    "new file mode 100644",
    "deleted file mode 100644",
    "\\ No newline at end of file",
    "a.txt",
    "",
    " ",
    "-a",
    "+b",
    " a",
    "-",
    "+",
    *HOSTILE,
    *(f"--- a/{p}" for p in HOSTILE),
    *(f"+++ b/{p}" for p in HOSTILE),
    *(f"*** Add File: {p}" for p in HOSTILE),
    "\ud800",
]
NOISE = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=12)), max_size=30).map(
    "\n".join
)
# Paths: hostile ones, fine ones, and whatever the characters that matter make of them.
FINE = st.sampled_from(["a.txt", "b.txt", "./sub/c.txt", "n.txt", "dev/null"])
PATHS = st.one_of(
    FINE,
    FINE,
    st.sampled_from([*HOSTILE, "a/../b.txt"]),
    st.text(alphabet="ab./\\:C\x00 .git", min_size=1, max_size=10),
)
BODY = st.lists(st.sampled_from(["a", "b", "x", "", " a"]), max_size=3).map(
    lambda lines: "".join(line + "\n" for line in lines)
)
BLOCKS = st.one_of(
    st.builds(
        "{}\n```\n<<<<<<< SEARCH\n{}=======\n{}>>>>>>> REPLACE\n```\n".format, PATHS, BODY, BODY
    ),
    st.builds(
        "*** Begin Patch\n*** Add File: {}\n+x\n*** Update File: {}\n*** Move to: {}\n@@\n-a\n"
        "+b\n*** Delete File: {}\n*** End Patch\n".format,
        PATHS,
        PATHS,
        PATHS,
        PATHS,
    ),
    st.builds(
        "```diff\n--- a/{}\n+++ b/{}\n@@ -1 +1 @@\n-a\n+b\n--- /dev/null\n+++ {}\n"
        "@@ -0,0 +1 @@\n+n\n```\n".format,
        PATHS,
        PATHS,
        PATHS,
    ),
    st.builds(
        "diff --git a/{0} b/{1}\nrename from {0}\nrename to {1}\n--- {0}\n+++ /dev/null\n"
        "@@ -1 +0,0 @@\n-a\n".format,
        PATHS,
        PATHS,
    ),
)
# Blocks among noise, sometimes cut short as a stream would be.
MESSAGES = st.one_of(
    NOISE,
    st.tuples(st.lists(st.one_of(BLOCKS, NOISE), min_size=1, max_size=4), st.integers(0, 400)).map(
        lambda parts: "\n".join(parts[0])[: parts[1] or None]
    ),
)
FILES = {"a.txt": "a\nb\n", "b.txt": "x\n", "sub/c.txt": ""}


def _paths(edit: object) -> list[str]:
    if isinstance(edit, aider.Replace):
        return [edit.path]
    if isinstance(edit, codex.Update):
        return [edit.path] + ([edit.target] if edit.target else [])
    if isinstance(edit, unified.Patch):
        return [p for p in (edit.source, edit.target) if p is not None]
    if isinstance(edit, (Write, Delete)):
        return [edit.path]
    if isinstance(edit, Move):
        return [edit.source, edit.target]
    raise AssertionError(f"unexpected edit {edit!r}")


@PROPERTY
@given(MESSAGES)
@example("a.txt\n<<<<<<< SEARCH\n=======\n")
@example("*** Begin Patch\n*** Update File: a.txt\n@@\n*** End Patch")
@example("--- a/a.txt\n+++ b/a.txt\n@@ -1,2 +1,2 @@\n--- a/a.txt\n+++ b/a.txt\n")
def test_find_raises_only_malformed_and_stays_inside_the_tree(message: str) -> None:
    for fmt in (aider, codex, unified):
        try:
            for found in fmt.find(message):
                assert 0 <= found.start < found.end <= len(message)
                for edit in found.edits:
                    for path in _paths(edit):
                        assert_inside(path)
        except Malformed as problem:
            assert problem.error.reason


@PROPERTY
@given(MESSAGES, st.booleans())
def test_a_whole_message_fails_only_with_edit_failed_and_writes_only_inside(
    message: str, final: bool
) -> None:
    try:
        parsed = parse(message, final=final)
        result = apply(parsed.edits, tree(FILES))
    except EditFailed as error:
        assert error.message
        return
    for path in [*result.written, *result.deleted]:
        assert_inside(path)


LINES = st.lists(
    st.sampled_from(["a", "b", "", "  a", "x = 1", "-- a/f", "++ b/f", "@@", "\\", "+", "-"]),
    max_size=14,
)


def _text(lines: list[str], final_newline: bool) -> str:
    body = "\n".join(lines)
    return body + "\n" if lines and final_newline else body


def _diff(before: str, after: str, context: int) -> str:
    out = []
    for line in difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), "a/f", "b/f", n=context
    ):
        # As git prints it: a line without a newline is followed by the marker.
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


@PROPERTY
@given(
    LINES,
    st.booleans(),
    LINES,
    st.booleans(),
    st.integers(min_value=0, max_value=3),
    st.booleans(),
)
@example(["a"], True, ["a"], False, 3, False)
@example(["a", "b", "a", "b"], True, ["a", "b", "a", "c"], True, 0, True)
def test_a_difflib_diff_applies_back_to_exactly_the_new_text(
    old: list[str], old_newline: bool, new: list[str], new_newline: bool, context: int, fenced: bool
) -> None:
    before, after = _text(old, old_newline), _text(new, new_newline)
    diff = _diff(before, after, context)
    if not diff:
        return
    message = f"Here:\n```diff\n{diff}```\n" if fenced else diff
    result = apply(parse(message).edits, tree({"f": before}))
    assert texts(result) == {"f": after}


@PROPERTY
@given(LINES, st.data())
def test_search_replace_lands_where_the_lines_are_or_nowhere(
    old: list[str], data: st.DataObject
) -> None:
    start = data.draw(st.integers(min_value=0, max_value=len(old)))
    stop = data.draw(st.integers(min_value=start, max_value=len(old)))
    search = old[start:stop]
    if not any(line.strip() for line in search):
        return  # an empty SEARCH creates a file
    replace = data.draw(LINES)
    before = _text(old, True)
    message = "f.txt\n```\n<<<<<<< SEARCH\n{}=======\n{}>>>>>>> REPLACE\n```\n".format(
        "".join(line + "\n" for line in search), "".join(line + "\n" for line in replace)
    )
    places = [i for i in range(len(old) - len(search) + 1) if old[i : i + len(search)] == search]
    base = Tree(frozenset({"f.txt"}), {"f.txt": before.encode()}.__getitem__)
    try:
        result = apply(parse(message).edits, base)
    except EditFailed as error:
        assert len(places) > 1 and "places" in error.message
        return
    assert places == [start] or len(places) == 1
    at = places[0]
    assert texts(result) == {"f.txt": _text(old[:at] + replace + old[at + len(search) :], True)}
