"""aider SEARCH/REPLACE blocks: replace lines found in a file, or create a file.

As aider prints them::

    src/app.py
    ```python
    <<<<<<< SEARCH
    old lines
    =======
    new lines
    >>>>>>> REPLACE
    ```

The file is named alone on a line before the block, or before its opening
fence (looking back through at most three lines, as aider does); a block that
names none edits the file of the block before it. The path line and the fence
around the block are claimed too, so the whole-file fence parser never sees
them. The SEARCH lines must fit exactly one place in the file (see
``matching``: exact, then ignoring trailing whitespace, then one indentation
shift, applied to the REPLACE lines too). An empty SEARCH creates the file;
unlike aider, which appends to an existing file, previewd refuses an empty
SEARCH on a file that has content (the edit would be a guess).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from previewd.edits.base import (
    Block,
    Found,
    Malformed,
    Rejected,
    Tree,
    Unterminated,
    check_text,
    path_of,
)
from previewd.edits.fences import parse_info
from previewd.edits.matching import (
    EXACT,
    INDENT,
    TRAILING,
    Text,
    describe_places,
    locate,
    not_found_hint,
)

# aider accepts five to nine marker characters; so does previewd.
_HEAD = re.compile(r"^[ \t]*<{5,9} SEARCH>?[ \t]*\r?$", re.MULTILINE)
_DIVIDER = re.compile(r"^[ \t]*={5,9}[ \t]*\r?$")
_UPDATED = re.compile(r"^[ \t]*>{5,9} REPLACE[ \t]*\r?$")
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})([^`\n]*?)[ \t]*\r?$")
_LABEL = re.compile(r"^(?:file|filename|filepath|path)[ \t]*:[ \t]*", re.IGNORECASE)
_BARE_NAMES = frozenset(
    {"Dockerfile", "Containerfile", "Makefile", "Procfile", "Gemfile", "Rakefile", "Caddyfile"}
    | {"Justfile", "Vagrantfile", "LICENSE", "README"}
)


@dataclass
class Replace:
    """Replace the SEARCH lines of ``path`` by the REPLACE lines (an empty SEARCH creates it)."""

    block: Block
    path: str
    search: list[str]
    replace: list[str]

    def apply(self, tree: Tree) -> None:
        if not any(line.strip() for line in self.search):
            self._create(tree)
            return
        text = Text.parse(tree.read_text(self.path))
        fits = locate(text.lines, self.search, (EXACT, TRAILING, INDENT))
        if not fits:
            raise Rejected(
                f"the SEARCH lines are not in {self.path!r}",
                hint=not_found_hint(text.lines, self.search, "SEARCH"),
            )
        if len(fits) > 1:
            raise Rejected(
                f"the SEARCH lines fit {self.path!r} at {len(fits)} places "
                f"({describe_places(fits)}), so the edit would be a guess",
                hint="Add neighbouring lines to SEARCH (and REPLACE) until they fit one place.",
            )
        fit = fits[0]
        lines = fit.shift(self.replace)
        if lines is None:
            raise Rejected(
                f"the SEARCH lines fit {self.path!r} only with their indentation changed, and "
                "the REPLACE lines are indented too little to change the same way",
                hint="Copy the file's indentation exactly into SEARCH and REPLACE.",
            )
        text.lines[fit.start : fit.start + len(self.search)] = lines
        tree.write(self.path, text.render())

    def _create(self, tree: Tree) -> None:
        if tree.exists(self.path) and tree.read_bytes(self.path):
            raise Rejected(
                f"an empty SEARCH creates a file, but {self.path!r} exists and is not empty",
                hint="To change it, SEARCH for the lines to replace; to add lines, SEARCH for "
                "the lines they follow and repeat those in REPLACE.",
            )
        tree.write(self.path, "".join(line + "\n" for line in self.replace))


def find(text: str) -> Iterator[Found]:
    """Every SEARCH/REPLACE block of ``text`` in order; raises ``Malformed`` for a bad one."""
    if not _HEAD.search(text):
        return
    lines = text.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    current: str | None = None  # the file of the block before: aider's current_filename
    open_fence: str | None = None  # an opening fence claimed whose closing one is still ahead
    floor = 0  # the first line no earlier block claimed
    while (head := _next_head(lines, floor)) is not None:
        raw, first, fence = _look_back(lines, head, floor, open_fence)
        if fence is not None:
            open_fence = fence
        block = Block("aider", offsets[first], first + 1, path=raw or current)
        try:
            if raw is None and current is None:
                raise Rejected(
                    "the block names no file",
                    hint="Put the file's path alone on the line before the block "
                    "(or before its opening fence).",
                )
            path = path_of(raw) if raw is not None else current
            assert path is not None
            block.path = path
            search, replace, end = _sections(lines, head)
            check_text("\n".join(search + replace))
        except Rejected as error:
            raise Malformed(block, error) from None
        current = path
        last = end
        if open_fence is not None:
            closing = _closing_line(lines, end + 1, open_fence)
            if closing is not None:
                last, open_fence = closing, None
        stop = min(offsets[last + 1], len(text))
        yield Found(block.start, stop, [Replace(block, path, search, replace)])
        floor = last + 1


def _next_head(lines: list[str], start: int) -> int | None:
    for i in range(start, len(lines)):
        if "SEARCH" in lines[i] and _HEAD.match(lines[i]):
            return i
    return None


def _sections(lines: list[str], head: int) -> tuple[list[str], list[str], int]:
    """The SEARCH and REPLACE lines of the block at ``head``, and its last line's index."""
    search: list[str] = []
    i = head + 1
    while i < len(lines) and not _DIVIDER.match(lines[i]):
        if _HEAD.match(lines[i]):
            raise Rejected(
                f"a new <<<<<<< SEARCH starts (message line {i + 1}) before this block's "
                "======= line",
                hint="Separate SEARCH from REPLACE with a ======= line.",
            )
        search.append(_body(lines[i]))
        i += 1
    if i >= len(lines):
        raise Unterminated(
            "the block has no ======= line", hint="End the SEARCH lines with a ======= line."
        )
    replace: list[str] = []
    i += 1
    while i < len(lines) and not _UPDATED.match(lines[i]):
        if _HEAD.match(lines[i]):
            raise Rejected(
                f"a new <<<<<<< SEARCH starts (message line {i + 1}) before this block's "
                ">>>>>>> REPLACE line",
                hint="End each block with a >>>>>>> REPLACE line.",
            )
        replace.append(_body(lines[i]))
        i += 1
    if i >= len(lines):
        raise Unterminated(
            "the block has no >>>>>>> REPLACE line",
            hint="End the REPLACE lines with a >>>>>>> REPLACE line.",
        )
    return search, replace, i


def _body(line: str) -> str:
    return line[:-1] if line.endswith("\r") else line


def _look_back(
    lines: list[str], head: int, floor: int, open_fence: str | None
) -> tuple[str | None, int, str | None]:
    """The path named for the SEARCH line at ``head``, the first line the block claims, and
    the opening fence it claims (None for each it does not have).

    Fences are paired from ``floor`` (the end of the block before, ``open_fence`` still
    open there) so that a fence closing a shell example above is never taken for the
    block's own opening fence.
    """
    inside, opener, closers = _fences(lines, floor, head, open_fence)
    if inside is not None and opener is not None:
        between = [k for k in range(opener + 1, head) if lines[k].strip()]
        if len(between) <= 1:  # the fence holds the block (and maybe its path), nothing else
            info = _info(lines[opener])
            named = parse_info(info).path if info else None
            if named is None and between:
                named = _name(lines[between[0]])
            if named is not None:
                return named, opener, inside
            raw, first = _above(lines, opener, floor, closers)
            return raw, min(first, opener), inside
    if head - 1 >= floor:
        raw = _name(lines[head - 1])
        if raw is not None:
            return raw, head - 1, None
    return None, head, None


def _above(
    lines: list[str], opener: int, floor: int, closers: dict[int, int]
) -> tuple[str | None, int]:
    """The path on the line above a block's opening fence (aider looks back through fences)."""
    k = opener - 1
    if k < floor:
        return None, opener
    name = _name(lines[k])
    if name is not None:
        return name, k
    # Deepseek Coder: "```python / path / ```" just above the block's own fence.
    start = closers.get(k)
    if start is not None and start >= floor:
        inner = [i for i in range(start + 1, k) if lines[i].strip()]
        if len(inner) == 1 and (name := _name(lines[inner[0]])) is not None:
            return name, start
    return None, opener


def _fences(
    lines: list[str], start: int, stop: int, open_fence: str | None
) -> tuple[str | None, int | None, dict[int, int]]:
    """Pair the fence lines of ``lines[start:stop]``: the fence still open at ``stop`` (its
    marker and opening line, None if it opened before ``start``), and each closing line's
    opening line."""
    current, opener = open_fence, None
    closers: dict[int, int] = {}
    for i in range(start, stop):
        line = lines[i]
        if "``" not in line and "~~" not in line:
            continue
        fence = _FENCE.match(line)
        if fence is None:
            continue
        marker, info = fence.group(1), fence.group(2).strip()
        if current is None:
            current, opener = marker, i
        elif not info and marker[0] == current[0] and len(marker) >= len(current):
            if opener is not None:
                closers[i] = opener
            current, opener = None, None
    return current, opener, closers


def _info(line: str) -> str:
    fence = _FENCE.match(line)
    return fence.group(2).strip() if fence else ""


def _name(line: str) -> str | None:
    """aider's strip_filename, and previewd's test that what is left names a file."""
    name = line.strip()
    if name == "...":
        return None
    name = name.rstrip(":").lstrip("#").strip().strip("`").strip("*").replace("\\_", "_")
    name = _LABEL.sub("", name).strip().strip("`*")
    if not name or any(c.isspace() for c in name):
        return None
    # A word like "Changes:" is prose; a file has a directory, an extension or a known name.
    if "/" in name or "." in name.lstrip(".") or name in _BARE_NAMES or name.startswith("."):
        return name
    return None


def _closing_line(lines: list[str], start: int, fence: str) -> int | None:
    """The index of the line closing ``fence`` if only blank lines come before it."""
    for i in range(start, len(lines)):
        if lines[i].strip():
            closing = _FENCE.match(lines[i])
            if (
                closing
                and not closing.group(2)
                and closing.group(1)[0] == fence[0]
                and len(closing.group(1)) >= len(fence)
            ):
                return i
            return None
    return None
