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

# Far above any real assistant message (the API caps request bodies too); parsing
# is linear, so this bounds the work of one message.
MAX_MESSAGE_CHARS = 16 * 1024 * 1024


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
    if len(message) > MAX_MESSAGE_CHARS:
        raise EditFailed(
            f"the message is {len(message):,} characters long; previewd parses at most "
            f"{MAX_MESSAGE_CHARS:,}",
            hint="Split the change over several messages.",
        )
    found: list[Found] = []
    problems: list[Malformed] = []
    # A final message's last line is whole: a newline says so to the formats that cannot
    # tell it from a streamed line cut short (a bare diff ends at the end of a line).
    text = message if not final or message.endswith("\n") else message + "\n"
    for fmt in FORMATS:
        claimed: list[Found] = []
        try:
            claimed.extend(fmt.find(text))
        except Malformed as problem:
            problems.append(problem)
        found.extend(claimed)
        text = _blank(text, claimed)
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


def _blank(text: str, regions: list[Found]) -> str:
    """``text`` with every region replaced by spaces (newlines kept, so offsets and lines hold).

    One pass for all of a format's regions: a copy per region would be quadratic.
    """
    if not regions:
        return text
    parts: list[str] = []
    at = 0
    for region in sorted(regions, key=lambda f: f.start):
        start = max(region.start, at)
        parts.append(text[at:start])
        parts.append(_NOT_NEWLINE.sub(" ", text[start : region.end]))
        at = max(at, region.end)
    parts.append(text[at:])
    return "".join(parts)
