"""Properties: parsing never crashes and never yields a path outside the tree."""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from previewd.edits import apply, parse
from previewd.errors import EditFailed
from tests.edits.trees import HOSTILE, assert_inside, tree

BOUNDED = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BASE = {"a.js": "a\n", "src/app.ts": "app\n", "README.md": "# r\n"}

# Any character, lone surrogates (what undecodable bytes become) included.
CHARACTERS = st.one_of(
    st.characters(categories=["L", "N", "P", "S", "Z", "C"]),
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
)
# The pieces the parsers look for, so random text often forms (broken) blocks.
TOKENS = [
    "```", "````", "~~~", "\n", " ", "file=", '"', "'", "js", "a.js", "src/", "../", "/", "\\",
    "\x00", ".git/", "C:", "./", "//", "# ", "<!-- ", " -->", "/* ", " */", "**", "`", ":",
    "... existing code ...", "<boltArtifact", ' id="a">', "</boltArtifact>",
    '<boltAction type="file" filePath="', '<boltAction type="shell">', "</boltAction>", ">",
    "<", "/>", "<lov-code>", "</lov-code>", '<lov-write file_path="', "</lov-write>",
    '<lov-delete file_path="', '<lov-rename original_file_path="', '" new_file_path="',
    "<lov-add-dependency>", "</lov-add-dependency>", '<CodeProject id="p">', "</CodeProject>",
    '<DeleteFile file="', '<MoveFile from="', '" to="', "<QuickEdit", "&lt;", "\r\n", "\udc80",
]  # fmt: skip
STRUCTURED = st.lists(
    st.one_of(st.sampled_from(TOKENS), st.text(CHARACTERS, max_size=8)), max_size=60
).map("".join)

PATHS = st.one_of(
    st.sampled_from([*HOSTILE, "a.js", "src/app.ts", "SRC/App.ts", "./x.js", ".github/ci.yml"]),
    st.lists(st.sampled_from(["a", "..", ".", "", ".git", "b.js", "\\", "\x00", "C:", " "]), min_size=1, max_size=5).map("/".join),
    st.text(CHARACTERS, min_size=0, max_size=12),
)  # fmt: skip
CONTENT = st.text(CHARACTERS, max_size=40)


@st.composite
def blocks(draw: st.DrawFn) -> str:
    """One block of a whole-file format, with an arbitrary path and body."""
    path, other, body = draw(PATHS), draw(PATHS), draw(CONTENT)
    return draw(
        st.sampled_from(
            [
                f'```js file="{path}"\n{body}\n```',
                f"```js {path}\n{body}\n```",
                f"```\n// {path}\n{body}\n```",
                f"{path}\n```js\n{body}\n```",
                f'<boltArtifact id="a"><boltAction type="file" filePath="{path}">{body}</boltAction></boltArtifact>',
                f'<boltArtifact id="a"><boltAction type="shell">{body}</boltAction></boltArtifact>',
                f'<lov-write file_path="{path}">{body}</lov-write>',
                f'<lov-delete file_path="{path}" />',
                f'<lov-rename original_file_path="{path}" new_file_path="{other}" />',
                f"<lov-add-dependency>{body}</lov-add-dependency>",
                f'<CodeProject id="p">\n```tsx file="{path}"\n{body}\n```\n</CodeProject>',
                f'<DeleteFile file="{path}" />',
                f'<MoveFile from="{path}" to="{other}" />',
            ]
        )
    )


MESSAGES = st.lists(st.one_of(blocks(), st.text(CHARACTERS, max_size=20)), max_size=6).map(
    "\n".join
)


def check(message: str, *, final: bool = True) -> None:
    """Parse and apply ``message``: only EditFailed may escape, and every path stays inside."""
    try:
        parsed = parse(message, final=final)
    except EditFailed as error:
        # The API renders it as JSON: it must be text, whatever bytes the message held.
        assert error.message
        error.message.encode("utf-8")
        (error.hint or "").encode("utf-8")
        return
    for edit in parsed.edits:
        for name in ("path", "source", "target"):
            if isinstance(getattr(edit, name, None), str):
                assert_inside(getattr(edit, name))
        assert edit.block.index >= 1
    result = tree(BASE)
    try:
        apply(parsed.edits, result)
    except EditFailed as error:
        error.message.encode("utf-8")
        return
    for path in [*result.written, *result.deleted]:
        assert_inside(path)
    for data in result.written.values():
        data.decode("utf-8")


@BOUNDED
@given(st.text(CHARACTERS, max_size=300))
def test_arbitrary_text_never_crashes_the_parser(message: str) -> None:
    check(message)
    check(message, final=False)


@BOUNDED
@given(STRUCTURED)
@example('```js file="../x.js"\nx\n```')
@example('<lov-write file_path="a.js">\udc80</lov-write>')
def test_broken_blocks_never_crash_the_parser(message: str) -> None:
    check(message)
    check(message, final=False)


@BOUNDED
@given(MESSAGES)
def test_messages_of_every_format_keep_every_path_inside_the_tree(message: str) -> None:
    check(message)


SAFE_PATHS = st.from_regex(r"[a-z]{1,6}(/[a-z]{1,6}){0,2}\.(js|ts|css)", fullmatch=True)
SAFE_BODIES = st.text(
    st.characters(categories=["L", "N"], max_codepoint=0x7F) | st.just(" "), max_size=30
)


@st.composite
def well_formed(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        path, body = draw(SAFE_PATHS), draw(SAFE_BODIES)
        parts.append(
            draw(
                st.sampled_from(
                    [
                        f'```js file="{path}"\n{body}\n```',
                        f"`{path}`\n```js\n{body}\n```",
                        f'<boltArtifact id="a"><boltAction type="file" filePath="{path}">{body}</boltAction></boltArtifact>',
                        f'<lov-code><lov-write file_path="{path}">{body}</lov-write></lov-code>',
                        f'<CodeProject id="p">\n```tsx file="{path}"\n{body}\n```\n</CodeProject>',
                    ]
                )
            )
        )
        parts.append(draw(SAFE_BODIES))
    return "\n".join(parts)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(well_formed())
def test_every_prefix_of_a_well_formed_message_streams_without_error(message: str) -> None:
    full = parse(message).edits
    count = 0
    for end in range(len(message) + 1):
        edits = parse(message[:end], final=False).edits
        assert count <= len(edits) <= len(full)
        count = len(edits)
    assert count == len(full)
