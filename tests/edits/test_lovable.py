"""Lovable tags."""

from __future__ import annotations

import pytest

from previewd.edits import parse
from previewd.errors import NoEdits
from tests.edits.trees import HOSTILE, refused, run, texts

MESSAGE = """Let's move the helper and use lodash.

<lov-code>
First the component:

<lov-write file_path="src/components/Button.tsx">
import { logClick } from '../utils/clicks';

export const Button = () => <button onClick={logClick}>Go</button>;
</lov-write>

<lov-rename original_file_path="src/utils/helper.ts" new_file_path="src/utils/clicks.ts" />

<lov-write file_path="src/utils/clicks.ts">
```ts
import _ from 'lodash';
export const logClick = () => console.log(_.upperFirst('clicked'));
```
</lov-write>

<lov-delete file_path="src/old.ts" />

<lov-add-dependency>lodash@^4.17.21</lov-add-dependency>
</lov-code>

The button now logs through the new helper."""

FILES = {"src/utils/helper.ts": "export {}\n", "src/old.ts": "old\n"}


def test_writes_renames_deletes_and_dependencies_apply_in_order() -> None:
    result = run(MESSAGE, FILES)
    assert texts(result) == {
        "src/components/Button.tsx": (
            "import { logClick } from '../utils/clicks';\n\n"
            "export const Button = () => <button onClick={logClick}>Go</button>;\n"
        ),
        # The rename comes first, so the write replaces the moved file.
        "src/utils/clicks.ts": (
            "import _ from 'lodash';\n"
            "export const logClick = () => console.log(_.upperFirst('clicked'));\n"
        ),
    }
    assert result.deleted == {"src/utils/helper.ts", "src/old.ts"}
    assert [(c.kind, c.command) for c in result.commands] == [
        ("shell", "npm install 'lodash@^4.17.21'")
    ]
    assert [c.block.index for c in result.commands] == [5]


def test_tags_work_without_the_lov_code_wrapper() -> None:
    message = (
        '<lov-write file_path="a.ts">x</lov-write>\n<lov-delete file_path="b.ts"></lov-delete>'
    )
    result = run(message, {"b.ts": "b"})
    assert texts(result) == {"a.ts": "x\n"} and result.deleted == {"b.ts"}


def test_clones_that_say_path_are_understood() -> None:
    assert texts(run('<lov-write path="a.ts">x</lov-write>')) == {"a.ts": "x\n"}


def test_a_stray_closing_tag_is_prose() -> None:
    with pytest.raises(NoEdits):
        parse("The tag ends with </lov-write> and that is all.")


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ('<lov-write file_path="a.ts">\nx\n', "lov-write is never closed"),
        (
            '<lov-code>\n<lov-write file_path="a.ts">x</lov-write>\n',
            "lov-code opened on line 1 is never closed",
        ),
        ('<lov-write file_path="a.ts"', "lov-write tag is never closed"),
        ("<lov-add-dependency>lodash", "lov-add-dependency is never closed"),
    ],
)
def test_unterminated_tags_are_errors(message: str, reason: str) -> None:
    assert reason in refused(message).message


def test_while_streaming_whole_tags_apply_and_the_open_one_waits() -> None:
    partial = MESSAGE[: MESSAGE.index("export const logClick")]
    parsed = parse(partial, final=False)
    assert [e.block.path for e in parsed.edits] == [
        "src/components/Button.tsx",
        "src/utils/clicks.ts",
    ]
    assert parsed.pending is not None and parsed.pending.path == "src/utils/clicks.ts"
    assert parsed.pending.line == 14


@pytest.mark.parametrize(
    ("tag", "reason"),
    [
        (
            "<lov-add-dependency>lodash; rm -rf /</lov-add-dependency>",
            "'lodash;' is not an npm package name",
        ),
        ("<lov-add-dependency>$(curl x)</lov-add-dependency>", "not an npm package name"),
        ("<lov-add-dependency> </lov-add-dependency>", "names no package"),
        ('<lov-rename original_file_path="a.ts" />', "no new_file_path"),
        ("<lov-delete />", "no file_path"),
    ],
)
def test_malformed_tags_are_refused(tag: str, reason: str) -> None:
    assert reason in refused(tag).message


def test_several_and_scoped_dependencies_install_together() -> None:
    result = run("<lov-add-dependency>@tanstack/react-query@5 zod</lov-add-dependency>")
    assert result.commands[0].command == "npm install @tanstack/react-query@5 zod"


def test_keep_existing_code_placeholders_are_refused() -> None:
    message = '<lov-write file_path="src/App.tsx">\nconst App = () => (\n  // ... keep existing code (the header)\n);\n</lov-write>'
    error = refused(message)
    assert "elides code" in error.message and "keep existing code" in error.message


@pytest.mark.parametrize("bad", HOSTILE)
def test_paths_escaping_the_tree_are_refused(bad: str) -> None:
    for message in (
        f'<lov-write file_path="{bad}">x</lov-write>',
        f'<lov-delete file_path="{bad}" />',
        f'<lov-rename original_file_path="a.ts" new_file_path="{bad}" />',
        f'<lov-rename original_file_path="{bad}" new_file_path="b.ts" />',
    ):
        assert "Invalid path" in refused(message, {"a.ts": "x"}).message, message
