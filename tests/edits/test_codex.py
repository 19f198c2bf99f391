"""Codex apply_patch envelopes: add, update with @@ hunks, delete and move, fitted uniquely."""

from __future__ import annotations

import pytest

from previewd.edits import Tree, apply, parse
from previewd.edits.codex import Update, find
from previewd.errors import EditFailed
from tests.edits.trees import HOSTILE, refused, run, texts

APP = """\
class A:
    def f(self):
        return 1


class B:
    def f(self):
        return 1
"""


def patch(body: str) -> str:
    return f"*** Begin Patch\n{body}*** End Patch\n"


FULL = """Here is the patch.

```
*** Begin Patch
*** Add File: src/hello.py
+def hello():
+    return "hi"
*** Update File: app.py
*** Move to: src/app.py
@@ class B:
@@ def f(self):
-        return 1
+        return 2
*** Delete File: old.txt
*** End Patch
```

Done.
"""


def test_a_patch_adds_updates_moves_and_deletes() -> None:
    result = run(FULL, {"app.py": APP, "old.txt": "bye\n"})
    assert texts(result) == {
        "src/hello.py": 'def hello():\n    return "hi"\n',
        "src/app.py": APP[: APP.rindex("1")] + "2\n",
    }
    assert result.deleted == {"app.py", "old.txt"}
    edits = parse(FULL).edits
    assert [(e.block.index, e.block.format, e.block.path) for e in edits] == [
        (1, "codex", "src/hello.py"),
        (2, "codex", "app.py"),
        (3, "codex", "old.txt"),
    ]


def test_the_fence_around_a_patch_is_claimed_with_it() -> None:
    (found,) = find(FULL)
    assert FULL[found.start : found.end] == FULL[FULL.index("```") : FULL.rindex("```") + 4]
    # Unfenced, only the envelope is claimed.
    bare = "Intro\n" + patch("*** Delete File: a\n") + "Outro\n"
    (found,) = find(bare)
    assert bare[found.start : found.end] == patch("*** Delete File: a\n")


def test_hunks_apply_in_order_and_the_first_may_omit_its_at_at() -> None:
    files = {"a.txt": "1\n2\n3\n4\n5\n6\n"}
    body = "*** Update File: a.txt\n 1\n-2\n+two\n@@\n 5\n-6\n+six\n"
    assert texts(run(patch(body), files)) == {"a.txt": "1\ntwo\n3\n4\n5\nsix\n"}


def test_an_anchor_is_matched_ignoring_surrounding_whitespace() -> None:
    body = "*** Update File: app.py\n@@   class B:  \n@@ def f(self):\n-        return 1\n+        return 3\n"
    assert texts(run(patch(body), {"app.py": APP}))["app.py"].endswith("return 3\n")


def test_context_that_fits_twice_is_refused_without_an_anchor() -> None:
    body = "*** Update File: app.py\n@@\n     def f(self):\n-        return 1\n+        return 2\n"
    error = refused(patch(body), {"app.py": APP})
    assert "hunk 1 of 'app.py': its context and removed lines fit 2 places (lines 2 and 7)" in (
        error.message
    )
    assert "an @@ line naming the enclosing class or function" in (error.hint or "")


def test_context_that_fits_nowhere_is_refused_with_the_closest_lines() -> None:
    body = "*** Update File: app.py\n@@ class A:\n     def f(self):\n-        return 7\n+        return 2\n"
    error = refused(patch(body), {"app.py": APP})
    assert "its context and removed lines are not in the file" in error.message
    assert "2 |     def f(self):" in (error.hint or "")


def test_an_anchor_that_is_not_there_is_refused() -> None:
    body = "*** Update File: app.py\n@@ class C:\n-        return 1\n+        return 2\n"
    error = refused(patch(body), {"app.py": APP})
    assert "the @@ line 'class C:' is not in the file" in error.message


def test_whitespace_slips_in_context_are_tolerated_as_codex_does() -> None:
    files = {"a.py": "if x:  \n    y = 1\n"}
    body = "*** Update File: a.py\n@@\n if x:\n-  y = 1\n+    y = 2\n"
    assert texts(run(patch(body), files)) == {"a.py": "if x:  \n    y = 2\n"}


def test_lines_only_added_go_below_the_anchor_or_at_the_end() -> None:
    files = {"a.py": "def f():\n    pass\n\ndef g():\n    pass\n"}
    below = "*** Update File: a.py\n@@ def f():\n+    '''Docs.'''\n"
    assert texts(run(patch(below), files))["a.py"].startswith("def f():\n    '''Docs.'''\n")
    end = "*** Update File: a.py\n@@\n+# end\n"
    assert texts(run(patch(end), files))["a.py"].endswith("    pass\n# end\n")


def test_end_of_file_pins_the_hunk_to_the_end() -> None:
    files = {"a.txt": "x\ny\nx\n"}
    body = "*** Update File: a.txt\n@@\n-x\n+z\n*** End of File\n"
    assert texts(run(patch(body), files)) == {"a.txt": "x\ny\nz\n"}


def test_the_updated_file_ends_with_a_newline() -> None:
    body = "*** Update File: a.txt\n@@\n-b\n+c\n"
    assert texts(run(patch(body), {"a.txt": "a\nb"})) == {"a.txt": "a\nc\n"}


def test_add_file_replaces_a_file_and_keeps_blank_lines_without_a_plus() -> None:
    body = "*** Add File: a.txt\n+one\n\n+three\n"
    assert texts(run(patch(body), {"a.txt": "old\n"})) == {"a.txt": "one\n\nthree\n"}


def test_move_replaces_the_target_and_an_update_may_only_move() -> None:
    body = "*** Update File: a.txt\n*** Move to: b.txt\n"
    result = run(patch(body), {"a.txt": "A\n", "b.txt": "B\n"})
    assert texts(result) == {"b.txt": "A\n"} and result.deleted == {"a.txt"}


def test_an_update_without_hunks_or_move_is_refused() -> None:
    error = refused(patch("*** Update File: a.txt\n"), {"a.txt": "a\n"})
    assert "the Update File has no hunk" in error.message


def test_markers_may_be_padded_with_whitespace() -> None:
    message = "  *** Begin Patch \n *** Update File: a.txt\n@@\n-a\n+b\n  *** End Patch  \n"
    assert texts(run(message, {"a.txt": "a\n"})) == {"a.txt": "b\n"}


def test_a_later_operation_sees_an_earlier_one() -> None:
    body = "*** Add File: n.txt\n+1\n*** Update File: n.txt\n@@\n-1\n+2\n"
    assert texts(run(patch(body))) == {"n.txt": "2\n"}


@pytest.mark.parametrize(
    ("body", "files", "reason"),
    [
        ("*** Delete File: gone.txt\n", {}, "cannot delete 'gone.txt': no such file"),
        ("*** Update File: gone.txt\n@@\n-a\n+b\n", {}, "'gone.txt' does not exist"),
        ("", {}, "the patch changes no file"),
        ("*** Frobnicate File: a\n", {}, "is not a patch operation"),
        ("*** Update File: a.txt\n@@\n?x\n", {"a.txt": "x\n"}, "unexpected line in a hunk"),
        ("*** Update File: a.txt\n-a\n+b\nzzz\n", {"a.txt": "a\n"}, "expected an @@ line"),
    ],
)
def test_bad_patches_are_refused(body: str, files: dict[str, str], reason: str) -> None:
    assert reason in refused(patch(body), files).message


def test_a_file_that_is_not_utf8_is_refused() -> None:
    base = Tree(frozenset({"b.bin"}), {"b.bin": b"\xc3\x28\n"}.__getitem__)
    body = "*** Update File: b.bin\n@@\n-x\n+y\n"
    with pytest.raises(EditFailed) as caught:
        apply(parse(patch(body)).edits, base)
    assert "'b.bin' is not UTF-8 text" in caught.value.message


@pytest.mark.parametrize("path", HOSTILE)
@pytest.mark.parametrize(
    "template",
    [
        "*** Add File: {}\n+x\n",
        "*** Delete File: {}\n",
        "*** Update File: {}\n@@\n-x\n+y\n",
        "*** Update File: a.txt\n*** Move to: {}\n",
    ],
)
def test_paths_that_escape_the_tree_are_refused(template: str, path: str) -> None:
    error = refused(patch(template.format(path)), {"a.txt": "x\n"})
    assert error.message.startswith("block 1 (codex")
    assert "Invalid path" in error.message


def test_a_patch_without_its_end_is_refused_or_pending_while_streaming() -> None:
    message = "*** Begin Patch\n*** Add File: a.txt\n+x\n"
    assert "the patch has no *** End Patch line" in refused(message).message
    streamed = parse(message, final=False)
    assert streamed.edits == [] and streamed.pending is not None
    assert streamed.pending.format == "codex"


def test_a_second_begin_before_the_end_is_refused() -> None:
    message = "*** Begin Patch\n*** Add File: a.txt\n+x\n*** Begin Patch\n*** End Patch\n"
    assert "a new *** Begin Patch starts" in refused(message).message


def test_a_streamed_message_yields_only_whole_patches() -> None:
    message = FULL + "\nAnd one more:\n" + patch("*** Add File: b.txt\n+b\n")
    final = parse(message).edits
    assert len(final) == 4 and isinstance(final[1], Update)
    for cut in range(len(message)):
        streamed = parse(message[:cut], final=False)
        assert streamed.edits == final[: len(streamed.edits)], cut
    assert parse(message[: message.index("Done.")], final=False).edits == final[:3]
