"""The whole message: formats together, order, all or nothing, streaming, limits."""

from __future__ import annotations

import pytest

from previewd.edits import Tree, apply, parse
from previewd.edits.message import MAX_MESSAGE_CHARS
from previewd.errors import EditFailed, NoEdits
from tests.edits.trees import refused, run, texts, tree

MIXED = """Three changes, three styles.

<boltArtifact id="a" title="Setup">
<boltAction type="file" filePath="index.html">
<script type="module" src="/src/main.js"></script>
</boltAction>
<boltAction type="shell">npm install</boltAction>
</boltArtifact>

Then the entry point:

```js file="src/main.js"
import { greet } from "./greet.js";
greet();
```

<lov-write file_path="src/greet.js">
export const greet = () => console.log("hi");
</lov-write>

<CodeProject id="p">
```css file="src/style.css"
body { margin: 0; }
```
</CodeProject>

And remove the old one: <lov-delete file_path="old.js" />
"""


def test_formats_mix_in_one_message_and_apply_in_message_order() -> None:
    parsed = parse(MIXED)
    assert [(e.block.index, e.block.format, e.block.path) for e in parsed.edits] == [
        (1, "bolt", "index.html"),
        (2, "bolt", None),
        (3, "fence", "src/main.js"),
        (4, "lovable", "src/greet.js"),
        (5, "v0", "src/style.css"),
        (6, "lovable", "old.js"),
    ]
    result = apply(parsed.edits, tree({"old.js": "x"}))
    assert sorted(result.written) == ["index.html", "src/greet.js", "src/main.js", "src/style.css"]
    assert result.deleted == {"old.js"} and [c.command for c in result.commands] == ["npm install"]


def test_later_edits_see_earlier_ones() -> None:
    message = (
        '<lov-rename original_file_path="a.ts" new_file_path="b.ts" />\n'
        '<lov-delete file_path="b.ts" />\n'
        "```ts file=a.ts\nnew\n```\n"
    )
    result = run(message, {"a.ts": "old"})
    assert texts(result) == {"a.ts": "new\n"} and result.deleted == set()


def test_a_failing_block_fails_the_whole_message_and_names_itself() -> None:
    message = MIXED.replace('file_path="src/greet.js"', 'file_path="../greet.js"')
    error = refused(message, {"old.js": "x"})
    assert error.message.startswith("block 4 (lovable for '../greet.js', line 17): Invalid path")
    assert error.hint == "Send a relative path like 'src/app.js'."


def test_the_earliest_failing_block_is_the_one_named() -> None:
    message = '```js file=/abs.js\nx\n```\n<boltArtifact id="a"><boltAction type="file" filePath="../b.js">x</boltAction></boltArtifact>'
    assert refused(message).message.startswith("block 1 (fence for '/abs.js', line 1)")


def test_an_edit_that_cannot_apply_fails_the_message_after_earlier_ones_ran() -> None:
    files = {"keep.js": "k"}
    base = tree(files)
    message = '```js file=new.js\nx\n```\n<DeleteFile file="missing.js" />\n'
    with pytest.raises(EditFailed) as caught:
        apply(parse(message).edits, base)
    assert caught.value.message.startswith("block 2 (v0 for 'missing.js', line 4): cannot delete")
    # The tree is a scratch copy: the base files were never touched.
    assert base.base == frozenset(files) and base.read("keep.js") == b"k"


@pytest.mark.parametrize(
    "message",
    ["", "Just an explanation, no code.", "Run it:\n```bash\nnpm start\n```\n"],
)
def test_a_message_without_edits_is_a_clear_no_edits(message: str) -> None:
    with pytest.raises(NoEdits) as caught:
        parse(message)
    assert caught.value.code == "no_edits" and "no edits found" in caught.value.message
    assert parse(message, final=False).edits == []


def test_every_prefix_of_a_streamed_message_parses_and_edits_only_grow() -> None:
    full = parse(MIXED).edits
    seen = 0
    for end in range(len(MIXED) + 1):
        parsed = parse(MIXED[:end], final=False)
        assert len(parsed.edits) >= seen, MIXED[:end]
        seen = len(parsed.edits)
        for got, want in zip(parsed.edits, full, strict=False):
            assert (got.block.start, got.block.path) == (want.block.start, want.block.path)
    assert seen == len(full)


def test_a_streamed_block_is_pending_then_done() -> None:
    partial = "Here:\n```ts file=src/a.ts\nconst a"
    parsed = parse(partial, final=False)
    assert parsed.edits == [] and parsed.pending is not None
    assert (parsed.pending.format, parsed.pending.path, parsed.pending.line) == (
        "fence",
        "src/a.ts",
        2,
    )
    with pytest.raises(EditFailed, match="never closed"):
        parse(partial)
    done = parse(partial + " = 1\n```\n", final=False)
    assert done.pending is None and [e.block.path for e in done.edits] == ["src/a.ts"]


def test_a_bad_block_is_an_error_even_while_streaming() -> None:
    with pytest.raises(EditFailed, match="Invalid path"):
        parse("```js file=../x.js\nx\n```\nmore to come", final=False)


def test_writing_one_file_twice_is_refused_naming_both_blocks() -> None:
    message = '```js file=a.js\none\n```\n<lov-write file_path="a.js">two</lov-write>'
    error = refused(message)
    assert "block 2 (lovable for 'a.js', line 4): 'a.js' is written whole twice" in error.message
    assert "block 1 wrote 'a.js'" in error.message


def test_paths_that_differ_only_in_case_are_one_collision() -> None:
    error = refused("```js file=src/App.js\na\n```\n```js file=src/app.js\nb\n```\n")
    assert "written whole twice" in error.message
    error = refused("```js file=src/App.js\na\n```\n", {"src/app.js": "old"})
    assert "differ only in case" in error.message


def test_paths_equal_after_unicode_normalisation_are_one_file() -> None:
    nfd, nfc = "cafe\u0301.txt", "caf\u00e9.txt"
    error = refused(f"```txt file={nfd}\na\n```\n```txt file={nfc}\nb\n```\n")
    assert "written whole twice" in error.message


def test_a_file_and_a_directory_of_the_same_name_collide() -> None:
    error = refused("```js file=a\nx\n```\n```js file=a/b.js\ny\n```\n")
    assert "needs it to be a directory" in error.message


def test_lone_surrogates_in_content_are_refused_cleanly() -> None:
    # What decoding undecodable bytes with surrogateescape leaves in a str.
    for message in (
        "```bin file=a.bin\n\udcff\udcfe\n```\n",
        '<lov-write file_path="a.txt">ok\udc80</lov-write>',
        '<boltArtifact id="a"><boltAction type="shell">echo \udc80</boltAction></boltArtifact>',
    ):
        error = refused(message)
        assert "not valid UTF-8" in error.message, message


def test_lone_surrogates_in_paths_are_refused_cleanly() -> None:
    assert "not valid UTF-8" in refused("```txt file=a\udc80.txt\nx\n```\n").message


def test_control_characters_and_nul_in_content_are_kept() -> None:
    assert texts(run("```txt file=a.txt\na\x00b\x07\n```\n")) == {"a.txt": "a\x00b\x07\n"}


def test_a_five_megabyte_message_parses() -> None:
    block = "```js file=src/f{i}.js\n" + "console.log('x');\n" * 40 + "```\n\nSome prose.\n\n"
    message = "".join(block.format(i=i) for i in range(6600))
    assert len(message) > 5_000_000
    parsed = parse(message)
    assert len(parsed.edits) == 6600 and parsed.edits[-1].block.index == 6600
    assert parsed.edits[-1].block.line == message.count("\n", 0, message.rindex("```js")) + 1


@pytest.mark.parametrize(
    "unit",
    [
        "```\n",
        "```js file=a.js\n",
        "~~~~\n```\n",
        "\n",
        " \n",
        "<boltArtifact id='a'>",
        "<boltAction type='file'>",
        "<lov-write file_path='a'>",
        "<lov-code>",
        "<CodeProject id='p'>\n",
        "<DeleteFile file='x'",
        "// ... ",
        "`",
        "<",
    ],
)
def test_pathological_five_megabyte_messages_finish(unit: str) -> None:
    # Each is a pattern that would be quadratic in a naive parser; the suite's
    # total run time is the bound, no timer is asserted.
    message = unit * (5_000_000 // len(unit))
    try:
        parse(message)
    except EditFailed as error:
        assert error.message


def test_a_message_over_the_limit_is_refused_before_parsing() -> None:
    with pytest.raises(EditFailed, match="parses at most") as caught:
        parse("x" * (MAX_MESSAGE_CHARS + 1))
    assert caught.value.hint is not None


def test_apply_never_reads_files_no_edit_touches() -> None:
    read: list[str] = []

    def reader(path: str) -> bytes:
        read.append(path)
        return b"x"

    base = Tree(frozenset({"a.js", "b.js", "c.js"}), reader)
    apply(parse('<MoveFile from="a.js" to="d.js" />').edits, base)
    assert read == ["a.js"]
