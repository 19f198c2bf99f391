"""Finding a run of lines inside a file, the way the diff formats need it.

A diff edit names lines it expects in the file (a SEARCH block, a hunk's
context and removed lines). :func:`locate` returns *every* place they fit, at
the strictest tolerance that finds any, so the caller can refuse zero or
several places rather than guess. The tolerances, strictest first:

- ``EXACT``: every line equal;
- ``TRAILING``: equal once trailing whitespace is dropped;
- ``INDENT``: equal but for one indentation shift shared by every non-blank
  line (the replacement is shifted the same way, :meth:`Fit.shift`);
- ``STRIP``: equal once surrounding whitespace is dropped, line by line.

Lines are compared without their line ends; :class:`Text` splits a file so
and puts it back together with the ends it had.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

EXACT = "exact"
TRAILING = "trailing whitespace"
INDENT = "indentation"
STRIP = "surrounding whitespace"


@dataclass
class Text:
    """A text file as lines without line ends, and how to put it back together.

    A file whose every line ends in CRLF is read with the CRs removed and
    written back with them, so a diff written with LF lines still fits it.
    """

    lines: list[str]
    eol: str = "\n"
    final_newline: bool = True  # the last line ends with ``eol`` (true of an empty file)

    @classmethod
    def parse(cls, text: str) -> Text:
        if not text:
            return cls([])
        lines = text.split("\n")
        final_newline = lines[-1] == ""
        if final_newline:
            lines.pop()
        ended = len(lines) if final_newline else len(lines) - 1
        if ended and all(line.endswith("\r") for line in lines[:ended]):
            lines[:ended] = [line[:-1] for line in lines[:ended]]
            return cls(lines, "\r\n", final_newline)
        return cls(lines, "\n", final_newline)

    def render(self) -> str:
        if not self.lines:
            return ""
        body = self.eol.join(self.lines)
        return body + self.eol if self.final_newline else body


@dataclass(frozen=True)
class Fit:
    """One place the lines fit: where, at which tolerance, and the indentation shift."""

    start: int
    tier: str
    removed: str = ""  # INDENT: the indentation the searched lines had ...
    added: str = ""  # ... and what the file has in its place

    def shift(self, lines: Sequence[str]) -> list[str] | None:
        """``lines`` moved by this fit's indentation shift; None if a line cannot move so far."""
        if self.tier != INDENT or self.removed == self.added:
            return list(lines)
        extra = self.added[: len(self.added) - len(self.removed)]
        moved: list[str] = []
        for line in lines:
            if not line.strip():
                moved.append(line)
            elif self.added.endswith(self.removed):  # shifted right: prepend the difference
                moved.append(extra + line)
            elif line.startswith(self.removed):
                moved.append(self.added + line[len(self.removed) :])
            else:
                return None
        return moved


def locate(
    lines: Sequence[str],
    needle: Sequence[str],
    tiers: Sequence[str] = (EXACT,),
    *,
    start: int = 0,
    at: int | None = None,
) -> list[Fit]:
    """Every fit of ``needle`` in ``lines[start:]`` at the first tier that has any.

    ``at`` restricts the search to one position (``*** End of File``: the end).
    An empty needle fits nowhere: where to insert is the caller's decision.
    """
    if not needle:
        return []
    for tier in tiers:
        found = _fits(lines, needle, tier, start, at)
        if found:
            return found
    return []


def _fits(
    lines: Sequence[str], needle: Sequence[str], tier: str, start: int, at: int | None
) -> list[Fit]:
    size = len(needle)
    last = len(lines) - size
    if at is not None:
        positions: range = range(at, at + 1) if start <= at <= last else range(0)
    else:
        positions = range(max(start, 0), last + 1)
    if tier == INDENT:
        return _indent_fits(lines, needle, positions)
    norm = _NORMALISE[tier]
    want = [norm(line) for line in needle]
    first = want[0]
    found = []
    for i in positions:
        # The first line rules out most positions cheaply.
        if norm(lines[i]) == first and all(norm(lines[i + j]) == want[j] for j in range(1, size)):
            found.append(Fit(i, tier))
    return found


def _same(line: str) -> str:
    return line


def _rstrip(line: str) -> str:
    return line.rstrip()


def _strip(line: str) -> str:
    return line.strip()


_NORMALISE = {EXACT: _same, TRAILING: _rstrip, STRIP: _strip}


def _indent_fits(lines: Sequence[str], needle: Sequence[str], positions: range) -> list[Fit]:
    wanted = [line.rstrip() for line in needle]
    solid = [line for line in wanted if line]
    if not solid:
        return []
    removed = _common_indent(solid)
    bodies = [line[len(removed) :] for line in wanted]
    found = []
    for i in positions:
        added: str | None = None
        for j, body in enumerate(bodies):
            line = lines[i + j].rstrip()
            if not body:
                if line:
                    break
                continue
            prefix = line[: len(line) - len(body)]
            if not line.endswith(body) or prefix.strip() or (added is not None and prefix != added):
                break
            added = prefix
        else:
            if added is not None and added != removed:
                found.append(Fit(i, INDENT, removed, added))
    return found


def _common_indent(lines: Sequence[str]) -> str:
    indents = [line[: len(line) - len(line.lstrip())] for line in lines]
    common = indents[0]
    for indent in indents[1:]:
        while not indent.startswith(common):
            common = common[:-1]
    return common


def closest(lines: Sequence[str], needle: Sequence[str]) -> tuple[int, int] | None:
    """Where the file looks most like ``needle`` (start, length), for an error's excerpt.

    Each needle line found in the file (ignoring surrounding whitespace) votes
    for the start it implies; a start needs votes from half the needle's
    non-blank lines. Linear in the file, unlike a similarity search.
    """
    wanted = [(j, line.strip()) for j, line in enumerate(needle) if line.strip()]
    if not wanted or not lines:
        return None
    where: dict[str, list[int]] = {}
    for i, line in enumerate(lines):
        key = line.strip()
        if key:
            where.setdefault(key, []).append(i)
    votes: Counter[int] = Counter()
    for j, key in wanted:
        hits = where.get(key, ())
        if len(hits) > 50:  # a line like "}" says nothing about where
            continue
        for i in hits:
            votes[i - j] += 1
    if not votes:
        return None
    best, count = max(votes.items(), key=lambda item: (item[1], -item[0]))
    if count * 2 < len(wanted):
        return None
    first = max(best, 0)
    return first, min(best + len(needle), len(lines)) - first


def excerpt(lines: Sequence[str], start: int, length: int, *, limit: int = 8) -> str:
    """Numbered lines ``start``.. of the file, at most ``limit`` of them."""
    shown = lines[start : start + min(length, limit)]
    width = len(str(start + len(shown)))
    text = "\n".join(f"{start + k + 1:>{width}} | {line}" for k, line in enumerate(shown))
    return text + ("\n..." if length > limit else "")


def not_found_hint(lines: Sequence[str], needle: Sequence[str], what: str) -> str:
    """A hint for lines that fit nowhere: the closest lines of the file, if any look close."""
    near = closest(lines, needle)
    advice = f"{what} must repeat the file's lines exactly (indentation included)."
    if near is None:
        return advice
    return f"{advice} The closest lines in the file are:\n{excerpt(lines, *near)}"


def describe_places(fits: Sequence[Fit], *, limit: int = 5) -> str:
    """'lines 3, 17 and 40' for an ambiguity error (1-based)."""
    numbers = [str(fit.start + 1) for fit in fits[:limit]]
    more = f" and {len(fits) - limit} more" if len(fits) > limit else ""
    if len(numbers) == 1:
        return f"line {numbers[0]}{more}"
    if more:
        return f"lines {', '.join(numbers)}{more}"
    return f"lines {', '.join(numbers[:-1])} and {numbers[-1]}"
