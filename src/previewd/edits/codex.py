"""OpenAI Codex apply_patch envelopes: add, update (with ``@@`` hunks), delete and move files.

::

    *** Begin Patch
    *** Add File: src/new.py
    +print("hi")
    *** Update File: src/app.py
    *** Move to: src/main.py
    @@ def greet():
    -    print("Hi")
    +    print("Hello")
    *** Delete File: old.txt
    *** End Patch

An envelope may stand in the open or alone inside a fence (the fence is
claimed with it). Marker lines may carry surrounding whitespace, as Codex
allows. What previewd decides where Codex is silent or lenient:

- A hunk's removed and context lines must fit exactly one place after the
  previous hunk (Codex takes the first): exact, then ignoring trailing
  whitespace, then ignoring surrounding whitespace, as Codex's own search.
- ``@@ anchor`` lines (several in a row narrow step by step) are matched
  ignoring surrounding whitespace at their first occurrence after the
  previous hunk; the hunk's lines are then searched below the anchor.
- A hunk that only adds lines goes right below its anchor; without an anchor
  it goes at the end of the file (as Codex). Such an anchor must be unique.
- ``*** End of File`` pins the hunk's lines to the end of the file.
- The updated file always ends with a newline (as Codex).
- ``*** Add File`` replaces an existing file and ``*** Move to`` replaces an
  existing target (as Codex); an Update with a Move and no hunk only renames.
- An empty line inside an Add File (a ``+`` forgotten) is kept as an empty line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from previewd.edits.base import (
    Block,
    Delete,
    Edit,
    Found,
    Lines,
    Malformed,
    Rejected,
    Tree,
    Unterminated,
    Write,
    check_text,
    path_of,
    refuse_placeholders,
)
from previewd.edits.matching import (
    EXACT,
    STRIP,
    TRAILING,
    Fit,
    Text,
    describe_places,
    locate,
    not_found_hint,
)

_BEGIN = re.compile(r"^[ \t]*\*\*\* Begin Patch[ \t]*\r?$", re.MULTILINE)
_END = "*** End Patch"
_OPERATION = re.compile(r"^\*\*\* (Add|Delete|Update) File:[ \t]*(.*)$")
_MOVE = re.compile(r"^\*\*\* Move to:[ \t]*(.*)$")
_END_OF_FILE = "*** End of File"
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})([^`\n]*?)[ \t]*\r?$")


@dataclass
class Chunk:
    """One ``@@`` hunk of an Update: anchors, then its lines as (' ' | '-' | '+', text)."""

    anchors: list[str]
    lines: list[tuple[str, str]] = field(default_factory=list)
    end_of_file: bool = False

    @property
    def old(self) -> list[str]:
        return [text for kind, text in self.lines if kind != "+"]

    @property
    def new(self) -> list[str]:
        return [text for kind, text in self.lines if kind != "-"]


@dataclass
class Update:
    """Patch ``path`` hunk by hunk, then move it to ``target`` if one is given."""

    block: Block
    path: str
    chunks: list[Chunk]
    target: str | None = None

    def apply(self, tree: Tree) -> None:
        text = Text.parse(tree.read_text(self.path))
        cursor = 0
        for number, chunk in enumerate(self.chunks, 1):
            cursor = self._apply_chunk(text.lines, chunk, cursor, number)
        text.final_newline = True
        content = text.render()
        if self.target is None or self.target == self.path:
            tree.write(self.path, content)
            return
        tree.delete(self.path)
        tree.write(self.target, content)

    def _apply_chunk(self, lines: list[str], chunk: Chunk, cursor: int, number: int) -> int:
        where = f"hunk {number} of {self.path!r}"
        for k, anchor in enumerate(chunk.anchors, 1):
            fits = locate(lines, [anchor], (STRIP,), start=cursor)
            if not fits:
                after = " after the previous hunk" if cursor else ""
                raise Rejected(
                    f"{where}: the @@ line {anchor.strip()!r} is not in the file{after}",
                    hint="An @@ line repeats a line of the file (a class or function header).",
                )
            if not chunk.old and k == len(chunk.anchors) and len(fits) > 1:
                raise Rejected(
                    f"{where} only adds lines below the @@ line {anchor.strip()!r}, which is at "
                    f"{len(fits)} places ({describe_places(fits)})",
                    hint="Add context lines (' ' lines) so the new lines have one place.",
                )
            cursor = fits[0].start + 1
        if not chunk.old:
            at = cursor if chunk.anchors and not chunk.end_of_file else len(lines)
            lines[at:at] = chunk.new
            return at + len(chunk.new)
        ops = chunk.lines
        fits = _fits(lines, _old(ops), cursor, chunk.end_of_file)
        # Blank lines before the next hunk read as empty context lines; Codex retries
        # without them (they may also stand for the file's final newline).
        while not fits and len(ops) > 1 and ops[-1] == (" ", ""):
            ops = ops[:-1]
            fits = _fits(lines, _old(ops), cursor, chunk.end_of_file)
        if not fits:
            eof = " at the end of the file" if chunk.end_of_file else ""
            raise Rejected(
                f"{where}: its context and removed lines are not in the file{eof}",
                hint=not_found_hint(lines, chunk.old, "A hunk's ' ' and '-' lines"),
            )
        if len(fits) > 1:
            raise Rejected(
                f"{where}: its context and removed lines fit {len(fits)} places "
                f"({describe_places(fits)}), so the change would be a guess",
                hint="Add context lines, or an @@ line naming the enclosing class or function.",
            )
        start = fits[0].start
        size = len(_old(ops))
        # Context lines stay as the file has them (they matched, maybe but for whitespace).
        new: list[str] = []
        at = start
        for kind, text in ops:
            if kind == " ":
                new.append(lines[at])
            elif kind == "+":
                new.append(text)
            at += kind != "+"
        lines[start : start + size] = new
        return start + len(new)


def _old(ops: list[tuple[str, str]]) -> list[str]:
    return [text for kind, text in ops if kind != "+"]


def _fits(lines: list[str], old: list[str], cursor: int, end_of_file: bool) -> list[Fit]:
    at = len(lines) - len(old) if end_of_file else None
    return locate(lines, old, (EXACT, TRAILING, STRIP), start=cursor, at=at)


def find(text: str) -> Iterator[Found]:
    """Every ``*** Begin Patch`` envelope of ``text`` in order; raises ``Malformed``."""
    if "*** Begin Patch" not in text:
        return
    numbers = Lines(text)
    at = 0
    while (begin := _BEGIN.search(text, at)) is not None:
        envelope = Block("codex", begin.start(), numbers.at(begin.start()))
        body_start = min(begin.end() + 1, len(text))
        end = _end_line(text, body_start, envelope)
        if end is None:
            raise Malformed(
                envelope,
                Unterminated(
                    "the patch has no *** End Patch line",
                    hint="End the patch with a *** End Patch line.",
                ),
            )
        edits = _operations(text[body_start : end[0]], body_start, numbers, envelope)
        if not edits:
            raise Malformed(envelope, Rejected("the patch changes no file"))
        start, stop = _with_fence(text, begin.start(), end[1])
        yield Found(start, stop, edits)
        at = end[1]


def _end_line(text: str, start: int, envelope: Block) -> tuple[int, int] | None:
    """(start, end) offsets of the ``*** End Patch`` line (end past its newline), or None."""
    at = start
    while at < len(text):
        stop = text.find("\n", at)
        stop = len(text) if stop < 0 else stop
        line = text[at:stop].strip()
        if line == _END:
            return at, min(stop + 1, len(text))
        if line == "*** Begin Patch":
            raise Malformed(
                envelope,
                Rejected(
                    "a new *** Begin Patch starts before this patch's *** End Patch line",
                    hint="End each patch with a *** End Patch line.",
                ),
            )
        at = stop + 1
    return None


def _operations(body: str, offset: int, numbers: Lines, envelope: Block) -> list[Edit]:
    """The edits of an envelope's body (which starts at ``offset`` in the message)."""
    lines = body.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    starts = [offset]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
    edits: list[Edit] = []
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if not line:
            i += 1
            continue
        operation = _OPERATION.match(line)
        if operation is None:
            raise Malformed(
                envelope,
                Rejected(
                    f"{line[:80]!r} (message line {numbers.at(starts[i])}) is not a patch "
                    "operation",
                    hint="Start each file with '*** Add File: path', '*** Update File: path' "
                    "or '*** Delete File: path'.",
                ),
            )
        kind, raw = operation.group(1), operation.group(2)
        block = Block("codex", starts[i], numbers.at(starts[i]), path=raw.strip())
        try:
            path = block.path = path_of(raw)
            if kind == "Delete":
                edits.append(Delete(block, path))
                i += 1
            elif kind == "Add":
                content, i = _added(lines, i + 1)
                check_text(content)
                refuse_placeholders(content)
                edits.append(Write(block, path, content))
            else:
                update, i = _update(lines, i + 1, block, path)
                edits.append(update)
        except Rejected as error:
            raise Malformed(block, error) from None
    return edits


def _added(lines: list[str], i: int) -> tuple[str, int]:
    """The content of an Add File (its ``+`` lines), and the index of the line after them."""
    content: list[str] = []
    while i < len(lines):
        line = _body(lines[i])
        if line.startswith("+"):
            content.append(line[1:])
            i += 1
            continue
        # Blank lines are content only when a "+" line follows them.
        after = i
        while after < len(lines) and not lines[after].strip():
            after += 1
        if after == i or after >= len(lines) or not lines[after].startswith("+"):
            break
        content.extend("" for _ in range(after - i))
        i = after
    return "".join(line + "\n" for line in content), i


def _update(lines: list[str], i: int, block: Block, path: str) -> tuple[Update, int]:
    target = None
    if i < len(lines) and (move := _MOVE.match(lines[i].strip())):
        target = path_of(move.group(1))
        i += 1
    chunks: list[Chunk] = []
    while i < len(lines):
        line = _body(lines[i])
        if not line.strip():
            i += 1
            continue
        if line.lstrip().startswith("***") and line.strip() != _END_OF_FILE:
            break
        chunk, i = _chunk(lines, i, first=not chunks)
        chunks.append(chunk)
    if not chunks and target is None:
        raise Rejected(
            "the Update File has no hunk",
            hint="Follow it with @@ hunks of ' ', '-' and '+' lines, or a *** Move to: line.",
        )
    return Update(block, path, chunks, target), i


def _chunk(lines: list[str], i: int, *, first: bool) -> tuple[Chunk, int]:
    anchors: list[str] = []
    headed = False
    while i < len(lines) and _body(lines[i]).startswith("@@"):
        headed = True
        anchor = _body(lines[i])[2:].strip()
        if anchor:
            anchors.append(anchor)
        i += 1
    if not first and not headed:
        raise Rejected(
            f"expected an @@ line to start the next hunk, found {_body(lines[i])[:80]!r}",
            hint="Start each hunk with @@ (optionally followed by a line of the file).",
        )
    chunk = Chunk(anchors)
    taken = 0
    while i < len(lines):
        line = _body(lines[i])
        if line.strip() == _END_OF_FILE:
            chunk.end_of_file = True
            i += 1
            break
        marker = line[:1]
        if marker in ("", " ", "-", "+"):
            chunk.lines.append((marker or " ", line[1:]))
        elif taken == 0:
            raise Rejected(
                f"unexpected line in a hunk: {line[:80]!r}",
                hint="Every hunk line starts with ' ' (context), '-' (removed) or '+' (added).",
            )
        else:
            break
        taken += 1
        i += 1
    if taken == 0:
        raise Rejected("a hunk has no lines", hint="Give each @@ hunk its ' ', '-' and '+' lines.")
    check_text("\n".join(chunk.old + chunk.new + anchors))
    return chunk, i


def _body(line: str) -> str:
    return line[:-1] if line.endswith("\r") else line


def _with_fence(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen an envelope's region to the fence around it, when the fence holds only it."""
    above_end = start - 1
    if above_end < 0:
        return start, end
    above_start = text.rfind("\n", 0, above_end) + 1
    opening = _FENCE.match(text[above_start:above_end])
    if opening is None:
        return start, end
    below_end = text.find("\n", end)
    below_end = len(text) if below_end < 0 else below_end
    closing = _FENCE.match(text[end:below_end])
    marker = opening.group(1)
    if (
        closing is None
        or closing.group(2)
        or closing.group(1)[0] != marker[0]
        or len(closing.group(1)) < len(marker)
    ):
        return start, end
    return above_start, min(below_end + 1, len(text))
