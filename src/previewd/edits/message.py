"""One assistant message in, its edits out: every format, in message order, all or nothing.

Formats run from the most specific (tags and envelopes) to the most general
(a fenced block that names a file). Each region a format claims is blanked
before the next format looks, so a fence inside a bolt artifact or a diff
fence is read once, by the format it belongs to.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType

from previewd.edits import aider, bolt, codex, fences, lovable, unified, v0
from previewd.edits.base import Block, Edit, Found, Malformed, Rejected, Tree, Unterminated
from previewd.errors import EditFailed, NoEdits

# Each module has ``find(text: str) -> Iterator[Found]`` and raises ``Malformed``.
FORMATS: tuple[ModuleType, ...] = (bolt, v0, lovable, codex, aider, unified, fences)

_NOT_NEWLINE = re.compile(r"[^\n]")


@dataclass(frozen=True)
class Parsed:
    """The edits of a message; ``pending`` is the block still open when more text may follow."""

    edits: list[Edit]
    pending: Block | None = None


def parse(message: str, *, final: bool = True) -> Parsed:
    """Every edit of ``message`` in order, or raise EditFailed naming the failing block.

    With ``final=False`` (a streamed message so far) a block left open at the
    end is not an error: the edits before it are returned and it is ``pending``.
    """
    found: list[Found] = []
    problems: list[Malformed] = []
    text = message
    for fmt in FORMATS:
        try:
            for region in fmt.find(text):
                found.append(region)
                text = _blank(text, region.start, region.end)
        except Malformed as problem:
            problems.append(problem)
    edits = [edit for region in sorted(found, key=lambda f: f.start) for edit in region.edits]
    _number(edits, problems)
    if problems:
        first = min(problems, key=lambda p: p.block.start)
        if not final and isinstance(first.error, Unterminated):
            before = [e for e in edits if e.block.start < first.block.start]
            return Parsed(before, pending=first.block)
        raise EditFailed(f"{first.block.describe()}: {first.error.reason}", hint=first.error.hint)
    if final and not edits:
        raise NoEdits(
            "no edits found in the message: nothing was changed or built",
            hint="Name each file: a fence like ```js file=src/app.js, a SEARCH/REPLACE block, "
            "a unified diff or a *** Begin Patch envelope.",
        )
    return Parsed(edits)


def apply(edits: list[Edit], tree: Tree) -> Tree:
    """Apply ``edits`` in order to ``tree``; the first that fails raises EditFailed."""
    for edit in edits:
        try:
            edit.apply(tree)
        except Rejected as error:
            raise EditFailed(f"{edit.block.describe()}: {error.reason}", hint=error.hint) from None
    try:
        tree.changed()
    except Rejected as error:
        raise EditFailed(f"the message's files collide: {error.reason}") from None
    return tree


def _blocks(edits: list[Edit], problems: list[Malformed]) -> Iterator[Block]:
    yield from (edit.block for edit in edits)
    yield from (problem.block for problem in problems)


def _number(edits: list[Edit], problems: list[Malformed]) -> None:
    """Give each block its 1-based position in the message (edits of one block share it)."""
    starts = sorted({block.start for block in _blocks(edits, problems)})
    index = {start: i for i, start in enumerate(starts, 1)}
    for block in _blocks(edits, problems):
        block.index = index[block.start]


def _blank(text: str, start: int, end: int) -> str:
    """``text`` with ``start..end`` replaced by spaces (newlines kept, so offsets and lines hold)."""
    return text[:start] + _NOT_NEWLINE.sub(" ", text[start:end]) + text[end:]
