"""bolt.new artifacts: ``<boltArtifact>`` holding ``<boltAction>`` file, shell and start actions.

As in bolt's own parser, actions count only inside an artifact, a file action's
content is the text between its tags trimmed plus one newline, and attribute
values are taken verbatim. Like bolt.diy, a markdown fence wrapped around the
content is dropped. bolt.diy also turns every ``&lt;``/``&gt;`` back into
``<``/``>``, which corrupts a JSX file that writes ``&lt;`` on purpose; previewd
unescapes only a body escaped as a whole (it holds ``&lt;`` and no raw ``<``).
Shell and start actions become :class:`Command` s, run only in the build sandbox.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from previewd.edits.base import (
    Block,
    Command,
    Edit,
    Found,
    Lines,
    Malformed,
    Rejected,
    Unterminated,
    Write,
    attributes,
    check_text,
    path_of,
    refuse_placeholders,
)
from previewd.edits.fences import unwrap

# ``[^<>]*`` keeps every attempt short: no other tag can start inside a tag.
_ARTIFACT = re.compile(r"<boltArtifact(?=[\s>/]|$)([^<>]*)(>?)")
_ACTION = re.compile(r"<boltAction(?=[\s>/]|$)([^<>]*)(>?)")
_ARTIFACT_CLOSE = "</boltArtifact>"
_ACTION_CLOSE = "</boltAction>"
_ENTITIES = {"&lt;": "<", "&gt;": ">", "&quot;": '"', "&apos;": "'", "&#39;": "'", "&amp;": "&"}
_ENTITY = re.compile("|".join(_ENTITIES))


def find(text: str) -> Iterator[Found]:
    lines = Lines(text)
    at = 0
    while (artifact := _ARTIFACT.search(text, at)) is not None:
        start = artifact.start()
        if not artifact.group(2):
            raise _unterminated(Block("bolt", start, lines.at(start)), "boltArtifact tag")
        edits: list[Edit] = []
        at = artifact.end()
        # Both searches are kept until passed: redoing them per action would be quadratic.
        action = _ACTION.search(text, at)
        close = text.find(_ARTIFACT_CLOSE, at)
        while True:
            if action is not None and action.start() < at:
                action = _ACTION.search(text, at)
            if 0 <= close < at:
                close = text.find(_ARTIFACT_CLOSE, at)
            if action is not None and (close < 0 or action.start() < close):
                try:
                    edit, at = _action(text, action, lines)
                except Malformed:
                    if edits:  # the actions before it still count (block numbers, streaming)
                        yield Found(start, action.start(), edits)
                    raise
                edits.append(edit)
            elif close >= 0:
                at = close + len(_ARTIFACT_CLOSE)
                break
            else:
                if edits:
                    yield Found(start, at, edits)
                # Placed after the last whole action: while streaming, those still apply.
                raise Malformed(
                    Block("bolt", at, lines.at(at)),
                    Unterminated(
                        f"the boltArtifact opened on line {lines.at(start)} is never closed",
                        hint="Close it with </boltArtifact>.",
                    ),
                )
        yield Found(start, at, edits)


def _action(text: str, action: re.Match[str], lines: Lines) -> tuple[Edit, int]:
    """The edit of one ``<boltAction>`` and the offset just past its closing tag."""
    attrs = attributes(action.group(1))
    kind = attrs.get("type", "")
    block = Block("bolt", action.start(), lines.at(action.start()))
    if kind == "file":
        block.path = attrs.get("filepath")
    if not action.group(2):
        raise _unterminated(block, "boltAction tag")
    if action.group(1).rstrip().endswith("/"):  # <boltAction ... />: no content
        body, end = "", action.end()
    else:
        close = text.find(_ACTION_CLOSE, action.end())
        if close < 0:
            raise _unterminated(block, "boltAction")
        body, end = text[action.end() : close], close + len(_ACTION_CLOSE)
    try:
        return _edit(block, kind, attrs, body), end
    except Rejected as error:
        raise Malformed(block, error) from None


def _edit(block: Block, kind: str, attrs: dict[str, str], body: str) -> Edit:
    check_text(body)
    if kind == "file":
        raw = attrs.get("filepath")
        if raw is None:
            raise Rejected(
                "the file action has no filePath",
                hint='Name the file: <boltAction type="file" filePath="src/app.js">.',
            )
        path = path_of(raw)
        block.path = path
        content = unwrap(body)
        if "&lt;" in content and "<" not in content:  # escaped as a whole
            content = _ENTITY.sub(lambda m: _ENTITIES[m.group(0)], content)
        refuse_placeholders(content)
        return Write(block, path, content)
    if kind in ("shell", "start"):
        command = body.strip()
        if not command:
            raise Rejected(f"the {kind} action has no command")
        return Command(kind, command, block)
    raise Rejected(
        f"unknown boltAction type {kind!r}" if kind else "the boltAction has no type",
        hint='previewd runs boltAction types "file", "shell" and "start".',
    )


def _unterminated(block: Block, what: str) -> Malformed:
    return Malformed(
        block,
        Unterminated(
            f"the {what} is never closed",
            hint=f"Close it with {'>' if what.endswith('tag') else '</' + what + '>'}.",
        ),
    )
