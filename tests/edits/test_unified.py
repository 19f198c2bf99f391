"""Unified diffs: git's and plain, bare or fenced; line numbers are hints, context is exact."""

from __future__ import annotations

import pytest

from previewd.edits import Tree, apply, parse
from previewd.edits.unified import Patch, find
from previewd.errors import EditFailed, NoEdits
from tests.edits.trees import HOSTILE, refused, run, texts

APP = "".join(f"line {n}\n" for n in range(1, 21))

GIT = """I changed three files:

```diff
diff --git a/src/app.txt b/src/app.txt
index 3b18e51..a3c5bd2 100644
--- a/src/app.txt
+++ b/src/app.txt
@@ -2,3 +2,3 @@
 line 2
-line 3
+line three
 line 4
@@ -17,3 +17,4 @@ some function
 line 17
 line 18
+line 18.5
 line 19
diff --git a/NEW.md b/NEW.md
new file mode 100644
index 0000000..e69de29
--- /dev/null
+++ b/NEW.md
@@ -0,0 +1,2 @@
+# New
+text
diff --git a/old.txt b/old.txt
deleted file mode 100644
--- a/old.txt
+++ /dev/null
@@ -1,2 +0,0 @@
-a
-b
```

- now run the tests
"""


def test_a_git_diff_of_several_files() -> None:
    result = run(GIT, {"src/app.txt": APP, "old.txt": "a\nb\n"})
    assert texts(result) == {
        "src/app.txt": APP.replace("line 3\n", "line three\n").replace(
            "line 18\n", "line 18\nline 18.5\n"
        ),
        "NEW.md": "# New\ntext\n",
    }
    assert result.deleted == {"old.txt"}
    assert [(e.block.index, e.block.format, e.block.path) for e in parse(GIT).edits] == [
        (1, "diff", "src/app.txt"),
        (2, "diff", "NEW.md"),
        (3, "diff", "old.txt"),
    ]


def test_the_fence_is_claimed_and_the_prose_after_a_bare_diff_is_left() -> None:
    (found,) = find(GIT)
    assert GIT[found.start : found.end] == GIT[GIT.index("```diff") : GIT.rindex("```") + 4]
    bare = "Change:\n--- a.txt\n+++ a.txt\n@@ -1 +1 @@\n-a\n+b\n- then rebuild\n"
    (found,) = find(bare)
    assert bare[found.start : found.end] == "--- a.txt\n+++ a.txt\n@@ -1 +1 @@\n-a\n+b\n"
    assert texts(run(bare, {"a.txt": "a\n"})) == {"a.txt": "b\n"}


def test_line_numbers_are_hints() -> None:
    # The hunk says line 10, the lines are at line 2: they fit only there.
    diff = (
        "--- a/src/app.txt\n+++ b/src/app.txt\n@@ -10,3 +10,3 @@\n line 2\n-line 3\n+x\n line 4\n"
    )
    assert texts(run(diff, {"src/app.txt": APP}))["src/app.txt"].startswith("line 1\nline 2\nx\n")


def test_at_the_hinted_line_a_hunk_applies_even_if_it_fits_elsewhere_too() -> None:
    files = {"a.txt": "x\ny\nx\ny\n"}
    diff = "--- a/a.txt\n+++ b/a.txt\n@@ -3,2 +3,2 @@\n x\n-y\n+z\n"
    assert texts(run(diff, files)) == {"a.txt": "x\ny\nx\nz\n"}


def test_a_hunk_that_fits_several_places_and_none_at_its_hint_is_refused() -> None:
    files = {"a.txt": "x\ny\nx\ny\nq\n"}
    diff = "--- a/a.txt\n+++ b/a.txt\n@@ -5,2 +5,2 @@\n x\n-y\n+z\n"
    error = refused(diff, files)
    assert "fit 2 places (lines 1 and 3), none at its line 5" in error.message
    assert "correct the @@ line numbers" in (error.hint or "")


def test_later_hunks_follow_where_earlier_ones_landed() -> None:
    # Both hunks' numbers are 5 lines off; the second's context ("line 1x") would also
    # fit before the first hunk, but hunks only move forward.
    diff = (
        "--- a/f\n+++ b/f\n"
        "@@ -7,2 +7,3 @@\n line 2\n+inserted\n line 3\n"
        "@@ -14,2 +15,2 @@\n line 9\n-line 10\n+line ten\n"
    )
    out = texts(run(diff, {"f": APP}))["f"]
    assert out.startswith("line 1\nline 2\ninserted\nline 3\n")
    assert "line 9\nline ten\nline 11\n" in out


def test_context_must_match_exactly() -> None:
    files = {"a.txt": "one  \ntwo\n"}
    diff = "--- a/a.txt\n+++ b/a.txt\n@@ -1,2 +1,2 @@\n one\n-two\n+2\n"
    error = refused(diff, files)
    assert "hunk 1 of 'a.txt': its context and removed lines are not in the file" in error.message
    assert "1 | one" in (error.hint or "")


def test_no_newline_at_end_of_file_is_honoured() -> None:
    removes = "--- a/a\n+++ b/a\n@@ -1,2 +1,2 @@\n a\n-b\n+b\n\\ No newline at end of file\n"
    assert texts(run(removes, {"a": "a\nb\n"})) == {"a": "a\nb"}
    adds = "--- a/a\n+++ b/a\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n"
    assert texts(run(adds, {"a": "a\nb"})) == {"a": "a\nb\n"}
    keeps = "--- a/a\n+++ b/a\n@@ -1,2 +1,2 @@\n-a\n+A\n b\n\\ No newline at end of file\n"
    assert texts(run(keeps, {"a": "a\nb"})) == {"a": "A\nb"}


def test_no_newline_on_a_hunk_that_does_not_end_the_file_is_refused() -> None:
    diff = "--- a/a\n+++ b/a\n@@ -1 +1 @@\n-a\n+A\n\\ No newline at end of file\n"
    assert "lines follow it" in refused(diff, {"a": "a\nb\n"}).message


def test_a_hunk_without_context_is_placed_by_its_numbers() -> None:
    # diff -U0: insert after line 2.
    diff = "--- a/a\n+++ b/a\n@@ -2,0 +3 @@\n+new\n"
    assert texts(run(diff, {"a": "1\n2\n3\n"})) == {"a": "1\n2\nnew\n3\n"}
    numberless = "```diff\n--- a/a\n+++ b/a\n@@\n+new\n```\n"
    assert "has no line numbers" in refused(numberless, {"a": "1\n"}).message


def test_miscounted_hunks_in_a_fence_still_apply() -> None:
    diff = "```diff\n--- a/a\n+++ b/a\n@@ -1,7 +1,9 @@\n a\n-b\n+B\n c\n```\n"
    assert texts(run(diff, {"a": "a\nb\nc\nd\n"})) == {"a": "a\nB\nc\nd\n"}
    understated = "```diff\n--- a/a\n+++ b/a\n@@ -1,1 +1,1 @@\n a\n-b\n+B\n c\n```\n"
    assert texts(run(understated, {"a": "a\nb\nc\nd\n"})) == {"a": "a\nB\nc\nd\n"}


def test_counted_lines_that_look_like_headers_are_content() -> None:
    files = {"q.sql": "select 1;\n-- old comment\n"}
    diff = (
        "--- a/q.sql\n+++ b/q.sql\n@@ -1,2 +1,2 @@\n select 1;\n--- old comment\n+-- new comment\n"
    )
    assert texts(run(diff, files)) == {"q.sql": "select 1;\n-- new comment\n"}


def test_crlf_files_keep_their_line_ends() -> None:
    diff = "--- a/w.txt\n+++ b/w.txt\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n"
    assert texts(run(diff, {"w.txt": "a\r\nb\r\n"})) == {"w.txt": "a\r\nc\r\n"}


def test_a_git_rename_with_and_without_changes() -> None:
    pure = "diff --git a/a.txt b/b.txt\nsimilarity index 100%\nrename from a.txt\nrename to b.txt\n"
    result = run(pure, {"a.txt": "x\n"})
    assert texts(result) == {"b.txt": "x\n"} and result.deleted == {"a.txt"}
    changed = (
        "diff --git a/a.txt b/d/b.txt\nsimilarity index 50%\nrename from a.txt\nrename to d/b.txt\n"
        "--- a/a.txt\n+++ b/d/b.txt\n@@ -1 +1 @@\n-x\n+y\n"
    )
    result = run(changed, {"a.txt": "x\n"})
    assert texts(result) == {"d/b.txt": "y\n"} and result.deleted == {"a.txt"}
    taken = refused(pure, {"a.txt": "x\n", "b.txt": "y\n"})
    assert "cannot rename 'a.txt' to 'b.txt': that file exists" in taken.message


def test_git_copies_new_empty_files_and_deletions_without_hunks() -> None:
    message = (
        "diff --git a/a.txt b/c.txt\ncopy from a.txt\ncopy to c.txt\n"
        "diff --git a/empty.txt b/empty.txt\nnew file mode 100644\nindex 0000000..e69de29\n"
        "diff --git a/old.txt b/old.txt\ndeleted file mode 100644\nindex e69de29..0000000\n"
        "\nThat is all.\n"
    )
    result = run(message, {"a.txt": "x\n", "old.txt": ""})
    assert texts(result) == {"c.txt": "x\n", "empty.txt": ""}
    assert result.deleted == {"old.txt"}


def test_quoted_git_paths() -> None:
    diff = (
        'diff --git "a/my file.txt" "b/my file.txt"\n'
        '--- "a/my file.txt"\n+++ "b/my file.txt"\n@@ -1 +1 @@\n-a\n+b\n'
    )
    assert texts(run(diff, {"my file.txt": "a\n"})) == {"my file.txt": "b\n"}
    octal = '--- "a/caf\\303\\251.txt"\n+++ "b/caf\\303\\251.txt"\n@@ -1 +1 @@\n-a\n+b\n'
    assert texts(run(octal, {"café.txt": "a\n"})) == {"café.txt": "b\n"}


def test_a_fenced_hunk_may_take_its_file_from_the_info_string() -> None:
    diff = "```diff file=a.txt\n@@ -1 +1 @@\n-a\n+b\n```\n"
    assert texts(run(diff, {"a.txt": "a\n"})) == {"a.txt": "b\n"}


def test_a_diff_fence_with_hunks_and_no_file_is_refused_and_prose_is_ignored() -> None:
    assert "the diff names no file" in refused("```diff\n@@ -1 +1 @@\n-a\n+b\n```\n").message
    with pytest.raises(NoEdits):
        parse("Like this:\n```diff\n- old way\n+ new way\n```\n")


def test_a_plain_fence_holding_a_diff_is_read_as_one() -> None:
    message = "app.txt\n```\n--- a/app.txt\n+++ b/app.txt\n@@ -1 +1 @@\n-a\n+b\n```\n"
    result = run(message, {"app.txt": "a\n"})
    assert texts(result) == {"app.txt": "b\n"}
    assert [type(e) for e in parse(message).edits] == [Patch]


@pytest.mark.parametrize(
    ("diff", "files", "reason"),
    [
        ("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n", {}, "'x' does not exist"),
        ("--- a/x\n+++ /dev/null\n@@ -1 +0,0 @@\n-a\n", {}, "'x' does not exist"),
        (
            "--- a/x\n+++ /dev/null\n@@ -1 +0,0 @@\n-a\n",
            {"x": "a\nb\n"},
            "the file has 1 more lines than the diff removes",
        ),
        (
            "--- /dev/null\n+++ b/x\n@@ -0,0 +1 @@\n+a\n",
            {"x": "old\n"},
            "it exists and is not empty",
        ),
        ("--- a/x\n+++ b/y\n@@ -1 +1 @@\n-a\n+b\n", {"x": "a\n"}, "name different files"),
        ("diff --git a/x b/x\nindex 1..2\nBinary files a/x and b/x differ\n", {}, "binary"),
        ("--- a/x\n+++ b/x\n\nProse.\n", {"x": "a\n"}, "the diff has no hunk"),
        ("```diff\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n", {"x": "a\n"}, "never closed"),
    ],
)
def test_bad_diffs_are_refused(diff: str, files: dict[str, str], reason: str) -> None:
    assert reason in refused(diff, files).message


def test_a_file_that_is_not_utf8_is_refused() -> None:
    base = Tree(frozenset({"b.bin"}), {"b.bin": b"\x80abc\n"}.__getitem__)
    with pytest.raises(EditFailed) as caught:
        apply(parse("--- a/b.bin\n+++ b/b.bin\n@@ -1 +1 @@\n-x\n+y\n").edits, base)
    assert "'b.bin' is not UTF-8 text" in caught.value.message


@pytest.mark.parametrize("path", [*HOSTILE, "a/../../x"])
@pytest.mark.parametrize(
    "template",
    [
        "--- a/{0}\n+++ b/{0}\n@@ -1 +1 @@\n-a\n+b\n",
        "--- /dev/null\n+++ b/{0}\n@@ -0,0 +1 @@\n+a\n",
        "--- {0}\n+++ /dev/null\n@@ -1 +0,0 @@\n-a\n",
        "diff --git a/ok b/x\nrename from ok\nrename to {0}\n",
    ],
)
def test_paths_that_escape_the_tree_are_refused(template: str, path: str) -> None:
    error = refused(template.format(path), {"ok": "a\n"})
    assert error.message.startswith("block 1 (diff")
    assert "Invalid path" in error.message


def test_a_bare_diff_cut_inside_a_hunk_is_pending_while_streaming() -> None:
    message = "--- a/a\n+++ b/a\n@@ -1,3 +1,3 @@\n a\n-b\n"
    assert "the diff stops inside a hunk" in refused(message, {"a": "a\nb\nc\n"}).message
    streamed = parse(message, final=False)
    assert streamed.edits == [] and streamed.pending is not None


def test_a_streamed_message_yields_only_whole_diffs() -> None:
    message = (
        GIT
        + "\nAnd:\n\ndiff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n-a\n+A\n b\n"
        + "diff --git a/n b/n\nnew file mode 100644\n--- /dev/null\n+++ b/n\n@@ -0,0 +1 @@\n+n"
    )
    final = parse(message).edits
    assert len(final) == 5
    for cut in range(len(message)):
        streamed = parse(message[:cut], final=False)
        assert streamed.edits == final[: len(streamed.edits)], cut
    assert parse(message[: message.index("And:")], final=False).edits == final[:3]
