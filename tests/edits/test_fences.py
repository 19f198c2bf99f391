"""Fenced code blocks that name a file."""

from __future__ import annotations

import pytest

from previewd.edits import parse
from previewd.errors import NoEdits
from tests.edits.trees import HOSTILE, refused, run, texts


@pytest.mark.parametrize(
    "opening",
    [
        '```ts file="src/app.ts"',
        "```ts file=src/app.ts",
        "```ts file='src/app.ts'",
        '```ts path="src/app.ts"',
        '```ts filename="src/app.ts"',
        '```ts filepath="src/app.ts"',
        '```ts title="src/app.ts"',
        "```ts src/app.ts",
        '```ts "src/app.ts"',
        "```typescript:src/app.ts",
        "```src/app.ts",
        "```ts ./src/app.ts",
        '```ts {1,3} title="src/app.ts" showLineNumbers',
        '~~~ts file="src/app.ts"',
        '   ```ts file="src/app.ts"',
    ],
)
def test_the_info_string_names_the_file(opening: str) -> None:
    indent = opening[: len(opening) - len(opening.lstrip())]
    closing = indent + opening.strip()[:3]
    message = f"Here it is:\n{opening}\n{indent}const a = 1;\n{closing}\nDone."
    assert texts(run(message)) == {"src/app.ts": "const a = 1;\n"}


@pytest.mark.parametrize(
    ("first", "path"),
    [
        ("// src/app.ts", "src/app.ts"),
        ("//src/app.ts", "src/app.ts"),
        ("# app.py", "app.py"),
        ("<!-- public/index.html -->", "public/index.html"),
        ("/* styles/main.css */", "styles/main.css"),
        ("// File: src/app.ts", "src/app.ts"),
        ("# Dockerfile", "Dockerfile"),
    ],
)
def test_a_first_line_comment_names_the_file_and_is_removed(first: str, path: str) -> None:
    message = f"```\n{first}\nline one\nline two\n```\n"
    assert texts(run(message)) == {path: "line one\nline two\n"}


@pytest.mark.parametrize(
    "first",
    [
        "#!/usr/bin/env python",
        "# Install the dependencies",
        "// eslint-disable-next-line",
        "# v1.2",
        "#include <stdio.h>",
        "// see https://example.com/a.js",
    ],
)
def test_a_comment_that_is_not_a_path_leaves_the_fence_prose(first: str) -> None:
    with pytest.raises(NoEdits):
        parse(f"```\n{first}\nx\n```\n")


def test_the_info_string_wins_over_a_comment_which_then_stays() -> None:
    message = "```py file=a.py\n# b.py\nx = 1\n```\n"
    assert texts(run(message)) == {"a.py": "# b.py\nx = 1\n"}


@pytest.mark.parametrize(
    "above",
    [
        "src/app.ts",
        "src/app.ts:",
        "`src/app.ts`",
        "`src/app.ts`:",
        "**`src/app.ts`**",
        "**src/app.ts**",
        "### src/app.ts",
        "### `src/app.ts`",
        "**File:** `src/app.ts`",
        "1. **`src/app.ts`**",
        "- `src/app.ts`",
    ],
)
def test_a_line_holding_only_the_path_just_above_names_the_file(above: str) -> None:
    for gap in ("", "\n"):
        message = f"Change this:\n\n{above}\n{gap}```ts\nconst a = 1;\n```\n"
        assert texts(run(message)) == {"src/app.ts": "const a = 1;\n"}


@pytest.mark.parametrize(
    "above",
    [
        "### Next.js",
        "**Node.js**",
        "Install it with:",
        "Then run `npm install` and open src/app.ts:",
        "src/app.ts\n\n",  # two blank lines: too far
    ],
)
def test_lines_above_that_are_titles_or_sentences_name_nothing(above: str) -> None:
    with pytest.raises(NoEdits):
        parse(f"{above}\n```bash\nnpm install\n```\n")


@pytest.mark.parametrize(
    "info",
    [
        "",
        "bash",
        "js showLineNumbers",
        "python {1,3}",
        "12:15:app/x.tsx",
        "{.python}",
        "js https://x.io/a.js",
    ],
)
def test_fences_that_name_no_file_are_prose(info: str) -> None:
    error = refused(f"Run:\n```{info}\nnpm install\n```\n")
    assert isinstance(error, NoEdits)


def test_diff_fences_are_left_to_the_diff_formats_even_with_a_path() -> None:
    with pytest.raises(NoEdits):
        parse("```diff src/app.ts\n-a\n+b\n```\n")
    with pytest.raises(NoEdits):
        parse("src/app.ts\n```patch\n-a\n+b\n```\n")


def test_content_is_the_lines_between_ending_with_one_newline() -> None:
    message = "```txt file=a.txt\n\n  indented\n\ntrailing blank above\n\n```\n```txt file=empty.txt\n```\n"
    assert texts(run(message)) == {
        "a.txt": "\n  indented\n\ntrailing blank above\n\n",
        "empty.txt": "",
    }


def test_an_indented_fence_loses_its_indentation_and_no_more() -> None:
    message = "1. Write it:\n\n   ```py file=a.py\n   def f():\n       return 1\n   ```\n"
    assert texts(run(message)) == {"a.py": "def f():\n    return 1\n"}


def test_a_longer_outer_fence_holds_shorter_ones() -> None:
    readme = "# Demo\n\n```bash\nnpm install\n```\n\n~~~\ntilde\n~~~\n"
    message = f"````md README.md\n{readme}````\n\n~~~~md file=b.md\n```\nx\n```\n~~~~\n"
    assert texts(run(message)) == {"README.md": readme, "b.md": "```\nx\n```\n"}


def test_an_equal_inner_fence_that_would_cut_the_file_short_is_refused() -> None:
    message = "```md README.md\n# Demo\n```bash\nnpm install\n```\nMore text\n```\n"
    error = refused(message)
    assert "cuts short" in error.message and "README.md" in error.message
    assert error.hint is not None and "````" in error.hint


def test_inline_triple_backticks_are_not_a_fence() -> None:
    message = "Use ```js file=x.js``` inline.\n```js file=a.js\nok\n```\n"
    assert texts(run(message)) == {"a.js": "ok\n"}


def test_crlf_messages_keep_their_line_ends() -> None:
    message = "```js file=a.js\r\nx\r\n```\r\n"
    assert texts(run(message)) == {"a.js": "x\r\n"}


def test_an_unterminated_fence_naming_a_file_is_an_error() -> None:
    error = refused("Here:\n```ts file=src/app.ts\nconst a = 1;\n")
    assert "block 1 (fence for 'src/app.ts', line 2)" in error.message
    assert "never closed" in error.message


def test_an_unterminated_fence_named_by_its_comment_is_an_error() -> None:
    assert "never closed" in refused("```\n// src/app.ts\nconst a = 1;\n").message


def test_an_unterminated_prose_fence_is_prose() -> None:
    assert texts(run("```js file=a.js\nx\n```\nThen:\n```bash\nnpm start\n")) == {"a.js": "x\n"}


@pytest.mark.parametrize("bad", HOSTILE)
def test_paths_escaping_the_tree_are_refused(bad: str) -> None:
    for message in (
        f'```js file="{bad}"\nx\n```\n',
        f"```\n// {bad}\nx\n```\n",
    ):
        error = refused(message)
        assert "Invalid path" in error.message, message


def test_placeholder_bodies_are_refused_with_a_hint_to_send_a_diff() -> None:
    error = refused("```ts file=src/app.ts\nimport a from 'a';\n// ... existing code ...\n```\n")
    assert "elides code" in error.message and "// ... existing code ..." in error.message
    assert error.hint is not None and "diff" in error.hint


def test_a_url_fence_is_refused_rather_than_written_empty() -> None:
    error = refused('```png file="public/logo.png" url="https://blob.example/logo.png"\n```\n')
    assert "URL" in error.message
