"""Lovable tags: ``<lov-write>``, ``<lov-delete/>``, ``<lov-rename/>``, ``<lov-add-dependency>``.

Lovable wraps them in one ``<lov-code>`` block; previewd accepts them with or
without it (an opened ``<lov-code>`` must still be closed). A write's content is
the text between its tags, trimmed, plus one newline, a wrapping markdown fence
dropped. ``<lov-add-dependency>pkg@1.2</lov-add-dependency>`` becomes the shell
command ``npm install pkg@1.2``, which runs only in the build sandbox.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator

from previewd.edits.base import (
    Block,
    Command,
    Delete,
    Edit,
    Found,
    Lines,
    Malformed,
    Move,
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
_TAG = re.compile(r"<(/?)lov-(code|write|delete|rename|add-dependency)(?=[\s>/]|$)([^<>]*)(>?)")
# npm package specs: an optionally scoped name, then a version, range or tag of safe characters.
_PACKAGE = re.compile(r"^(?:@[a-z0-9][\w.-]*/)?[a-z0-9][\w.-]*(?:@[\w.^~<>=*|+-]+)?$", re.I)


def find(text: str) -> Iterator[Found]:
    lines = Lines(text)
    code: int | None = None  # where the open <lov-code> started
    at = 0
    while (tag := _TAG.search(text, at)) is not None:
        closing, name, inside, complete = tag.groups()
        block = Block("lovable", tag.start(), lines.at(tag.start()))
        if not complete:
            raise _unterminated(block, f"lov-{name} tag", ">")
        at = tag.end()
        if name == "code":
            if closing:
                code = None
            elif code is None:
                code = tag.start()
            continue
        if closing:  # a stray closing tag: prose
            continue
        attrs = attributes(inside)
        self_closing = inside.rstrip().endswith("/")
        if name in ("write", "add-dependency"):
            if self_closing:
                body = ""
            else:
                end_tag = f"</lov-{name}>"
                close = text.find(end_tag, at)
                if close < 0:
                    block.path = attrs.get("file_path")
                    raise _unterminated(block, f"lov-{name}", end_tag)
                body, at = text[at:close], close + len(end_tag)
        else:
            body = ""
            if not self_closing:  # <lov-delete file_path="x"></lov-delete>
                after = re.match(rf"\s*</lov-{name}>", text[at : at + 64])
                if after:
                    at += after.end()
        try:
            edits = _edits(block, name, attrs, body)
        except Rejected as error:
            raise Malformed(block, error) from None
        yield Found(tag.start(), at, edits)
    if code is not None:
        # Placed after the last whole tag: while streaming, those still apply.
        at = max(at, code)
        raise Malformed(
            Block("lovable", at, lines.at(at)),
            Unterminated(
                f"the lov-code opened on line {lines.at(code)} is never closed",
                hint="Close it with </lov-code>.",
            ),
        )


def _edits(block: Block, name: str, attrs: dict[str, str], body: str) -> list[Edit]:
    if name == "rename":
        source = _path(block, attrs, "original_file_path", name)
        target = _path(block, attrs, "new_file_path", name)
        block.path = target
        return [Move(block, source, target)]
    if name == "add-dependency":
        check_text(body)
        specs = body.split()
        if not specs:
            raise Rejected("lov-add-dependency names no package")
        for spec in specs:
            if not _PACKAGE.match(spec):
                raise Rejected(
                    f"{spec[:80]!r} is not an npm package name",
                    hint="Name packages like <lov-add-dependency>lodash@4.17.21</lov-add-dependency>.",
                )
        return [Command("shell", "npm install " + shlex.join(specs), block)]
    path = _path(block, attrs, "file_path", name)
    if name == "delete":
        return [Delete(block, path)]
    check_text(body)
    content = unwrap(body)
    refuse_placeholders(content)
    return [Write(block, path, content)]


def _path(block: Block, attrs: dict[str, str], key: str, name: str) -> str:
    raw = attrs.get(key)
    if raw is None and key == "file_path":  # clones of the format say path= or file=
        raw = attrs.get("path", attrs.get("file"))
    if raw is None:
        raise Rejected(
            f"lov-{name} has no {key}",
            hint=f'Name the file: <lov-{name} {key}="src/App.tsx">.',
        )
    block.path = raw
    path = path_of(raw)
    block.path = path
    return path


def _unterminated(block: Block, what: str, close: str) -> Malformed:
    return Malformed(
        block, Unterminated(f"the {what} is never closed", hint=f"Close it with {close}.")
    )
