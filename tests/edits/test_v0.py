"""v0 code projects and file tags."""

from __future__ import annotations

import pytest

from previewd.edits import parse
from previewd.errors import NoEdits
from tests.edits.trees import HOSTILE, refused, run, texts

PROJECT = """I've added a login form.

<CodeProject id="sports-site">

```tsx file="app/login/page.tsx"
import { LoginForm } from "@/components/login-form"

export default function Page() {
  return <LoginForm />
}
```

```tsx file="components/login-form.tsx" type="react"
export function LoginForm() {
  return <form><DeleteFile file="not-a-tag.tsx" /></form>
}
```

<DeleteFile file="app/old-login.tsx" />

<MoveFile from="lib/auth.ts" to="lib/session.ts" />

</CodeProject>

The form posts to the session route."""

FILES = {"app/old-login.tsx": "old\n", "lib/auth.ts": "export {}\n"}


def test_a_project_writes_deletes_and_moves_in_order() -> None:
    result = run(PROJECT, FILES)
    assert texts(result) == {
        "app/login/page.tsx": (
            'import { LoginForm } from "@/components/login-form"\n\n'
            "export default function Page() {\n  return <LoginForm />\n}\n"
        ),
        "components/login-form.tsx": (
            'export function LoginForm() {\n  return <form><DeleteFile file="not-a-tag.tsx" /></form>\n}\n'
        ),
        "lib/session.ts": "export {}\n",
    }
    assert result.deleted == {"app/old-login.tsx", "lib/auth.ts"}


def test_blocks_are_numbered_and_named_by_format() -> None:
    parsed = parse(PROJECT)
    assert [(e.block.index, e.block.format, e.block.path) for e in parsed.edits] == [
        (1, "v0", "app/login/page.tsx"),
        (2, "v0", "components/login-form.tsx"),
        (3, "v0", "app/old-login.tsx"),
        (4, "v0", "lib/session.ts"),
    ]


def test_tags_outside_a_project_count_and_prose_mentions_do_not() -> None:
    message = (
        'Removing it: <DeleteFile file="a.tsx" />. You could also use the <DeleteFile /> component.'
    )
    result = run(message, {"a.tsx": "x"})
    assert result.deleted == {"a.tsx"}


def test_a_fence_inside_a_project_without_a_file_is_prose() -> None:
    with pytest.raises(NoEdits):
        parse('<CodeProject id="p">\n```bash\nnpm run dev\n```\n</CodeProject>')


def test_deleting_a_missing_file_fails_the_message() -> None:
    error = refused('<DeleteFile file="nope.tsx" />')
    assert "block 1 (v0 for 'nope.tsx', line 1): cannot delete 'nope.tsx'" in error.message


def test_moving_onto_an_existing_file_is_refused_but_a_case_only_rename_works() -> None:
    error = refused('<MoveFile from="a.ts" to="b.ts" />', {"a.ts": "a", "b.ts": "b"})
    assert "that file exists" in error.message
    result = run('<MoveFile from="button.tsx" to="Button.tsx" />', {"button.tsx": "x"})
    assert texts(result) == {"Button.tsx": "x"} and result.deleted == {"button.tsx"}


def test_an_unterminated_project_is_an_error() -> None:
    error = refused('<CodeProject id="p">\n```tsx file="a.tsx"\nx\n```\n')
    assert "the CodeProject opened on line 1 is never closed" in error.message


def test_an_unterminated_fence_in_a_project_is_an_error() -> None:
    error = refused('<CodeProject id="p">\n```tsx file="a.tsx"\nx\n</CodeProject>\n')
    assert "never closed" in error.message


def test_while_streaming_whole_fences_apply_and_the_rest_waits() -> None:
    partial = PROJECT[: PROJECT.index('<DeleteFile file="app/old')]
    parsed = parse(partial, final=False)
    assert [e.block.path for e in parsed.edits] == [
        "app/login/page.tsx",
        "components/login-form.tsx",
    ]
    assert parsed.pending is not None and parsed.pending.format == "v0"
    cut = parse(PROJECT[: PROJECT.index("to=")], final=False)
    assert cut.pending is not None and cut.pending.line == 21
    assert len(cut.edits) == 3


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ('<QuickEdit file="app/page.tsx">Make the header blue</QuickEdit>', "QuickEdit"),
        ('<ImportReadOnlyFile from="user_read_only_context/x.tsx" to="x.tsx" />', "read-only"),
        (
            '<CodeProject id="p">\n```png file="public/a.png" url="https://x.io/a.png"\n```\n</CodeProject>',
            "URL",
        ),
        ('<MoveFile from="a.tsx" />', "no to="),
        ('<DeleteFile path="a.tsx" />', "no file="),
    ],
)
def test_what_previewd_cannot_apply_is_refused(message: str, reason: str) -> None:
    assert reason in refused(message).message


def test_quick_edit_placeholders_are_refused_with_a_hint_to_send_a_diff() -> None:
    message = '<CodeProject id="p">\n```tsx file="app/page.tsx"\n// ... existing code ...\n<h1>Hi</h1>\n// ... existing code ...\n```\n</CodeProject>'
    error = refused(message)
    assert "elides code" in error.message and error.hint is not None and "diff" in error.hint


@pytest.mark.parametrize("bad", HOSTILE)
def test_paths_escaping_the_tree_are_refused(bad: str) -> None:
    for message in (
        f'<CodeProject id="p">\n```tsx file="{bad}"\nx\n```\n</CodeProject>',
        f'<DeleteFile file="{bad}" />',
        f'<MoveFile from="a.tsx" to="{bad}" />',
        f'<MoveFile from="{bad}" to="a.tsx" />',
    ):
        assert "Invalid path" in refused(message, {"a.tsx": "x"}).message, message
