"""bolt.new artifacts."""

from __future__ import annotations

import pytest

from previewd.edits import Command, parse
from previewd.errors import NoEdits
from tests.edits.trees import HOSTILE, refused, run, texts

ARTIFACT = """I'll create a small Vite app.

<boltArtifact id="counter" title="Counter app">
  <boltAction type="file" filePath="package.json">
{"name": "counter", "scripts": {"dev": "vite"}}
  </boltAction>
  <boltAction type="file" filePath="src/main.js">
```js
document.body.textContent = "hi";
```
  </boltAction>
  <boltAction type="shell">npm install</boltAction>
  <boltAction type="start">npm run dev</boltAction>
</boltArtifact>

Open the preview to see it."""


def test_files_are_written_and_commands_recorded_in_order() -> None:
    result = run(ARTIFACT)
    assert texts(result) == {
        "package.json": '{"name": "counter", "scripts": {"dev": "vite"}}\n',
        "src/main.js": 'document.body.textContent = "hi";\n',
    }
    assert [(c.kind, c.command) for c in result.commands] == [
        ("shell", "npm install"),
        ("start", "npm run dev"),
    ]
    assert all(isinstance(c, Command) for c in result.commands)
    assert [c.block.index for c in result.commands] == [3, 4]


def test_each_action_is_a_block_named_in_errors() -> None:
    message = ARTIFACT.replace('filePath="src/main.js"', 'filePath="../main.js"')
    error = refused(message)
    assert error.message.startswith("block 2 (bolt for '../main.js', line 7):")


def test_a_fence_inside_an_action_is_the_action_s_not_another_block() -> None:
    message = '<boltArtifact id="a"><boltAction type="file" filePath="a.md">\n```md b.md\nx\n```\n</boltAction></boltArtifact>'
    assert texts(run(message)) == {"a.md": "x\n"}


def test_content_is_trimmed_plus_one_newline_and_empty_is_empty() -> None:
    message = (
        '<boltArtifact id="a">'
        '<boltAction type="file" filePath="a.txt">\n\n  two spaces trimmed\n\n</boltAction>'
        '<boltAction type="file" filePath="empty.txt">  \n </boltAction>'
        '<boltAction type="file" filePath="self.txt" />'
        "</boltArtifact>"
    )
    assert texts(run(message)) == {"a.txt": "two spaces trimmed\n", "empty.txt": "", "self.txt": ""}


def test_a_body_escaped_as_a_whole_is_unescaped() -> None:
    message = (
        '<boltArtifact id="a"><boltAction type="file" filePath="a.jsx">'
        "&lt;p title=&quot;x&quot;&gt;a &amp;amp; b&lt;/p&gt;"
        "</boltAction></boltArtifact>"
    )
    assert texts(run(message)) == {"a.jsx": '<p title="x">a &amp; b</p>\n'}


def test_entities_in_a_body_with_real_tags_are_kept_verbatim() -> None:
    jsx = "<p>1 &lt; 2 &amp;&amp; 3 &gt; 2</p>"
    message = f'<boltArtifact id="a"><boltAction type="file" filePath="a.jsx">{jsx}</boltAction></boltArtifact>'
    assert texts(run(message)) == {"a.jsx": jsx + "\n"}


def test_attribute_names_are_case_insensitive_as_in_bolt() -> None:
    message = (
        '<boltArtifact id="a"><boltAction TYPE="file" filepath="a.js">x</boltAction></boltArtifact>'
    )
    assert texts(run(message)) == {"a.js": "x\n"}


def test_actions_outside_an_artifact_are_prose_as_in_bolt() -> None:
    with pytest.raises(NoEdits):
        parse('<boltAction type="file" filePath="a.js">x</boltAction>')


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (
            '<boltArtifact id="a">\n<boltAction type="file" filePath="a.js">x</boltAction>\n',
            "boltArtifact opened on line 1 is never closed",
        ),
        (
            '<boltArtifact id="a"><boltAction type="file" filePath="a.js">x</boltArtifact>',
            "boltAction is never closed",
        ),
        (
            '<boltArtifact id="a"><boltAction type="file" filePath="a.js"',
            "boltAction tag is never closed",
        ),
        ('<boltArtifact id="a"', "boltArtifact tag is never closed"),
    ],
)
def test_unterminated_artifacts_actions_and_tags_are_errors(message: str, reason: str) -> None:
    assert reason in refused(message).message


def test_while_streaming_whole_actions_apply_and_the_open_one_waits() -> None:
    partial = ARTIFACT[: ARTIFACT.index("npm run dev")]
    parsed = parse(partial, final=False)
    assert [e.block.path for e in parsed.edits] == ["package.json", "src/main.js", None]
    assert parsed.pending is not None and parsed.pending.format == "bolt"
    assert (
        parsed.pending.line
        == ARTIFACT[: ARTIFACT.index('<boltAction type="start"')].count("\n") + 1
    )


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        (
            '<boltAction type="supabase" operation="query">select 1</boltAction>',
            "unknown boltAction type 'supabase'",
        ),
        ("<boltAction>x</boltAction>", "no type"),
        ('<boltAction type="file">x</boltAction>', "no filePath"),
        ('<boltAction type="shell">  </boltAction>', "no command"),
    ],
)
def test_actions_previewd_cannot_run_are_refused(action: str, reason: str) -> None:
    assert reason in refused(f'<boltArtifact id="a">{action}</boltArtifact>').message


@pytest.mark.parametrize("bad", HOSTILE)
def test_paths_escaping_the_tree_are_refused(bad: str) -> None:
    message = f'<boltArtifact id="a"><boltAction type="file" filePath="{bad}">x</boltAction></boltArtifact>'
    assert "Invalid path" in refused(message).message


def test_placeholder_bodies_are_refused() -> None:
    message = '<boltArtifact id="a"><boltAction type="file" filePath="a.js">\nimport x;\n// ... rest of the code remains the same\n</boltAction></boltArtifact>'
    assert "elides code" in refused(message).message


def test_commands_are_recorded_not_run() -> None:
    message = '<boltArtifact id="a"><boltAction type="shell">touch /tmp/previewd-bolt-test-ran</boltAction></boltArtifact>'
    result = run(message)
    assert result.commands[0].command == "touch /tmp/previewd-bolt-test-ran"
    assert result.written == {}
