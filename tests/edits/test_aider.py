"""aider SEARCH/REPLACE blocks: found where aider prints them, applied at one place only."""

from __future__ import annotations

import pytest

from previewd.edits import Tree, apply, parse
from previewd.edits.aider import Replace, find
from previewd.errors import EditFailed
from tests.edits.trees import HOSTILE, refused, run, texts, tree

APP = """\
def greet(name):
    return f"Hello {name}"


def main():
    print(greet("world"))
"""


def block(path: str, search: str, replace: str, *, fence: str = "```python") -> str:
    return f"{path}\n{fence}\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n```\n"


def test_a_block_as_aider_prints_it() -> None:
    message = "Say hi instead.\n\n" + block(
        "app.py", '    return f"Hello {name}"\n', '    return f"Hi {name}"\n'
    )
    result = run(message, {"app.py": APP})
    assert texts(result) == {"app.py": APP.replace("Hello", "Hi")}
    # The path line and the fence belong to the block: nothing else saw them.
    assert [e.block.format for e in parse(message).edits] == ["aider"]


def test_the_region_claimed_runs_from_the_path_line_to_the_closing_fence() -> None:
    message = "Intro.\n" + block("app.py", "a\n", "b\n") + "Outro.\n"
    (found,) = find(message)
    assert message[found.start : found.end] == block("app.py", "a\n", "b\n")
    (edit,) = found.edits
    assert isinstance(edit, Replace)
    assert (edit.path, edit.search, edit.replace) == ("app.py", ["a"], ["b"])
    assert (edit.block.line, edit.block.path) == (2, "app.py")


def test_several_blocks_and_files_and_a_block_without_a_path_edits_the_file_before() -> None:
    util = block("util.py", "", "def shout(s):\n    return s.upper()\n")
    message = f"""Two edits to app.py and one to util.py.

app.py
```python
<<<<<<< SEARCH
def greet(name):
=======
def greet(name: str) -> str:
>>>>>>> REPLACE
```

```python
<<<<<<< SEARCH
    print(greet("world"))
=======
    print(greet("previewd"))
>>>>>>> REPLACE
```

{util}"""
    result = run(message, {"app.py": APP})
    assert texts(result) == {
        "app.py": APP.replace("greet(name):", "greet(name: str) -> str:").replace(
            '"world"', '"previewd"'
        ),
        "util.py": "def shout(s):\n    return s.upper()\n",
    }
    edits = parse(message).edits
    assert [(e.block.index, e.block.path) for e in edits] == [
        (1, "app.py"),
        (2, "app.py"),
        (3, "util.py"),
    ]


def test_several_blocks_in_one_fence() -> None:
    message = """app.py
```python
<<<<<<< SEARCH
def greet(name):
=======
def greet(who):
>>>>>>> REPLACE

<<<<<<< SEARCH
    return f"Hello {name}"
=======
    return f"Hello {who}"
>>>>>>> REPLACE
```
"""
    result = run(message, {"app.py": APP})
    assert texts(result)["app.py"].startswith('def greet(who):\n    return f"Hello {who}"\n')


@pytest.mark.parametrize(
    "opening",
    [
        "app.py\n```python",  # aider's own layout
        "```python\napp.py",  # the path inside the fence
        "```python file=app.py",  # the path in the info string
        "**app.py**\n```",
        "`app.py`:\n```py",
        "### app.py\n```",
        "```python\napp.py\n```\n```python",  # Deepseek Coder's layout
        "app.py",  # no fence at all
    ],
)
def test_where_the_path_may_be(opening: str) -> None:
    closing = "" if opening == "app.py" else "```\n"
    message = (
        f"{opening}\n<<<<<<< SEARCH\ndef main():\n=======\ndef run():\n>>>>>>> REPLACE\n{closing}"
    )
    result = run(message, {"app.py": APP})
    assert texts(result) == {"app.py": APP.replace("def main", "def run")}
    assert [e.block.format for e in parse(message).edits] == ["aider"]


def test_a_shell_fence_just_above_the_path_is_left_alone() -> None:
    message = "Run:\n```bash\npip install x\n```\n" + block(
        "app.py", "def main():\n", "def run():\n"
    )
    result = run(message, {"app.py": APP})
    assert texts(result) == {"app.py": APP.replace("def main", "def run")}


def test_trailing_whitespace_in_the_file_is_tolerated() -> None:
    files = {"app.py": "x = 1   \ny = 2\t\n"}
    result = run(block("app.py", "x = 1\ny = 2\n", "x = 10\ny = 2\n"), files)
    assert texts(result) == {"app.py": "x = 10\ny = 2\n"}


def test_a_uniform_indentation_slip_is_tolerated_and_applied_to_the_replacement() -> None:
    search = "def greet(name):\n    return 1\n"
    files = {"app.py": "class A:\n    def greet(name):\n        return 1\n"}
    result = run(block("app.py", search, "def greet(name):\n    return 2\n"), files)
    assert texts(result) == {"app.py": "class A:\n    def greet(name):\n        return 2\n"}


def test_an_edit_sees_the_edits_before_it() -> None:
    message = block("app.py", "def main():\n", "def run():\n") + block(
        "app.py", "def run():\n", "def start():\n"
    )
    assert texts(run(message, {"app.py": APP})) == {"app.py": APP.replace("def main", "def start")}


def test_crlf_files_keep_their_line_ends() -> None:
    files = {"app.py": "a = 1\r\nb = 2\r\n"}
    result = run(block("app.py", "a = 1\n", "a = 3\nc = 4\n"), files)
    assert texts(result) == {"app.py": "a = 3\r\nc = 4\r\nb = 2\r\n"}


def test_a_file_without_a_final_newline_keeps_it_so() -> None:
    result = run(block("a.txt", "two\n", "2\n"), {"a.txt": "one\ntwo"})
    assert texts(result) == {"a.txt": "one\n2"}


def test_an_empty_search_creates_a_file() -> None:
    result = run(block("src/new.py", "", "print('new')\n"))
    assert texts(result) == {"src/new.py": "print('new')\n"}
    # An existing empty file is filled, as if it were new.
    assert texts(run(block("e.py", "\n", "x = 1\n"), {"e.py": ""})) == {"e.py": "x = 1\n"}


def test_an_empty_search_on_a_file_with_content_is_refused() -> None:
    # aider would append; previewd cannot tell an append from a misplaced new file.
    error = refused(block("app.py", "", "print('more')\n"), {"app.py": APP})
    assert "an empty SEARCH creates a file, but 'app.py' exists" in error.message
    assert "SEARCH for the lines they follow" in (error.hint or "")


def test_search_that_fits_nowhere_is_refused_with_the_closest_lines() -> None:
    message = block("app.py", 'def greet(name):\n    return f"Hi {name}"\n', "x\n")
    error = refused(message, {"app.py": APP})
    assert (
        error.message
        == "block 1 (aider for 'app.py', line 1): the SEARCH lines are not in 'app.py'"
    )
    assert "1 | def greet(name):" in (error.hint or "")


def test_search_that_fits_twice_is_refused_never_applied_at_a_guess() -> None:
    files = {"a.js": "let x = 1;\nfoo();\nlet x = 1;\n"}
    error = refused(block("a.js", "let x = 1;\n", "let x = 2;\n"), files)
    assert "fit 'a.js' at 2 places (lines 1 and 3)" in error.message


def test_the_failing_block_is_named() -> None:
    message = block("app.py", "def main():\n", "def run():\n") + block(
        "app.py", "not there\n", "x\n"
    )
    base = tree({"app.py": APP})
    with pytest.raises(EditFailed) as caught:
        apply(parse(message).edits, base)
    assert caught.value.message.startswith("block 2 (aider for 'app.py', line 9)")


def test_a_missing_file_is_refused() -> None:
    error = refused(block("nope.py", "a\n", "b\n"))
    assert "'nope.py' does not exist" in error.message


def test_a_file_that_is_not_utf8_is_refused() -> None:
    base = Tree(frozenset({"bin.dat"}), {"bin.dat": b"\xff\xfe\x00x\n"}.__getitem__)
    with pytest.raises(EditFailed) as caught:
        apply(parse(block("bin.dat", "x\n", "y\n")).edits, base)
    assert "'bin.dat' is not UTF-8 text" in caught.value.message


def test_a_block_that_names_no_file_is_refused() -> None:
    error = refused("Here you go:\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n")
    assert "the block names no file" in error.message


@pytest.mark.parametrize("path", HOSTILE)
def test_paths_that_escape_the_tree_are_refused(path: str) -> None:
    error = refused(f"{path}\n<<<<<<< SEARCH\n=======\nx\n>>>>>>> REPLACE\n")
    assert error.message.startswith("block 1 (aider")
    assert "Invalid path" in error.message


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("a.py\n<<<<<<< SEARCH\nx\n", "no ======= line"),
        ("a.py\n<<<<<<< SEARCH\nx\n=======\ny\n", "no >>>>>>> REPLACE line"),
        ("a.py\n```\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPL", "no >>>>>>> REPLACE line"),
    ],
)
def test_unterminated_blocks_are_refused_or_pending_while_streaming(
    message: str, reason: str
) -> None:
    error = refused(message, {"a.py": "x\n"})
    assert reason in error.message
    streamed = parse(message, final=False)
    assert streamed.edits == [] and streamed.pending is not None
    assert streamed.pending.format == "aider"


def test_a_new_search_inside_a_block_is_refused() -> None:
    message = "a.py\n<<<<<<< SEARCH\nx\n<<<<<<< SEARCH\ny\n=======\nz\n>>>>>>> REPLACE\n"
    assert "a new <<<<<<< SEARCH starts (message line 4)" in refused(message).message


def test_a_streamed_message_yields_only_whole_blocks() -> None:
    message = (
        "First:\n"
        + block("app.py", "def main():\n", "def run():\n")
        + "\nThen:\n"
        + block("new.py", "", "x = 1\n")
    )
    final = parse(message).edits
    assert len(final) == 2
    for cut in range(len(message)):
        streamed = parse(message[:cut], final=False)
        assert streamed.edits == final[: len(streamed.edits)], cut
    # Cut after the first block's closing fence: it alone is ready.
    cut = message.index("Then:")
    assert parse(message[:cut], final=False).edits == final[:1]
