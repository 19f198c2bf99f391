"""Unified diffs, bare or in a ```diff / ```patch fence: git's, GNU diff's, or a model's.

Several files per diff; ``a/`` and ``b/`` prefixes dropped; ``/dev/null``
creates or deletes a file; git's ``rename from``/``rename to`` and
``copy from``/``copy to`` headers rename and copy; ``\\ No newline at end of
file`` decides whether the result ends with a newline. What previewd decides:

- ``@@`` line numbers are hints. A hunk's context and removed lines must match
  the file exactly (CRLF files aside) after the previous hunk. At the hinted
  line (shifted by what earlier hunks added, removed and moved) the hunk
  applies; elsewhere only if it fits exactly one place. Several places and
  none at the hint is refused: the nearest would be a guess.
- A hunk's line counts are hints too (models miscount): a hunk ends at the
  next ``@@``, file header, a line that cannot be a hunk line, or the fence's
  end. In a bare diff, where prose may follow, the counts end the hunk, and a
  diff that stops before its counts are met is unterminated (streaming).
- A hunk with no context and no removed lines needs its line numbers.
- A new file must not exist (or be empty); a deleted file must hold exactly
  the lines the diff removes (a git deletion with no hunk deletes it as is).
- Mode changes are ignored; binary patches are refused.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field

from previewd.edits.base import (
    Block,
    Edit,
    Found,
    Malformed,
    Rejected,
    Tree,
    Unterminated,
    check_text,
    path_of,
)
from previewd.edits.fences import Fence, parse_info, scan
from previewd.edits.matching import EXACT, Text, describe_places, locate, not_found_hint

_DIFF_LANGUAGES = frozenset({"diff", "patch", "udiff"})
_RANGE = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_GIT = "diff --git "
_EXTENDED = (
    "old mode ",
    "new mode ",
    "deleted file mode ",
    "new file mode ",
    "similarity index ",
    "dissimilarity index ",
    "rename from ",
    "rename to ",
    "copy from ",
    "copy to ",
    "index ",
)
_NULL = "/dev/null"
_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


@dataclass
class Hunk:
    """One ``@@`` hunk: the lines it expects and the lines it leaves, and where it says."""

    old_start: int | None  # None for a bare "@@" (no line numbers)
    old_count: int
    old: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    old_no_newline: bool = False  # "\ No newline at end of file" after an old line
    new_no_newline: bool = False


@dataclass
class Patch:
    """The diff of one file: ``source`` or ``target`` is None for a created or deleted file."""

    block: Block
    source: str | None
    target: str | None
    hunks: list[Hunk]
    copy: bool = False

    def apply(self, tree: Tree) -> None:
        if self.source is None:
            assert self.target is not None
            self._create(tree, self.target)
            return
        if self.target is None:
            self._delete(tree, self.source)
            return
        if self.source != self.target and tree.exists(self.target):
            raise Rejected(
                f"cannot {'copy' if self.copy else 'rename'} {self.source!r} to "
                f"{self.target!r}: that file exists",
                hint="Delete the target first, or send the file whole under its new name.",
            )
        if not self.hunks:  # a pure rename or copy, which need not be text
            content: str | bytes = tree.read_bytes(self.source)
        else:
            text = Text.parse(tree.read_text(self.source))
            _patch(text, self.hunks, self.source)
            content = text.render()
        if self.source != self.target and not self.copy:
            tree.delete(self.source)
        tree.write(self.target, content)

    def _create(self, tree: Tree, path: str) -> None:
        if tree.exists(path) and tree.read_bytes(path):
            raise Rejected(
                f"the diff creates {path!r} (from /dev/null), but it exists and is not empty",
                hint="Diff against the file's current lines instead.",
            )
        text = Text([])
        for hunk in self.hunks:
            if hunk.old:
                raise Rejected(
                    f"the diff creates {path!r}, but a hunk of it removes lines",
                    hint="A new file's hunks only add lines ('+').",
                )
            text.lines.extend(hunk.new)
            text.final_newline = not hunk.new_no_newline
        tree.write(path, text.render())

    def _delete(self, tree: Tree, path: str) -> None:
        if self.hunks:
            text = Text.parse(tree.read_text(path))
            _patch(text, self.hunks, path)
            if text.lines:
                raise Rejected(
                    f"the diff deletes {path!r}, but the file has {len(text.lines)} more "
                    "lines than the diff removes",
                    hint="Diff against the file's current lines.",
                )
        tree.delete(path)


def _patch(text: Text, hunks: list[Hunk], path: str) -> None:
    """Apply ``hunks`` in order to ``text`` (see the module's docstring for where each goes)."""
    lines = text.lines
    drift = 0  # how far the previous hunk landed from its hint, plus what hunks added
    cursor = 0
    for number, hunk in enumerate(hunks, 1):
        where = f"hunk {number} of {path!r}"
        hint = None
        if hunk.old_start is not None:
            hint = (hunk.old_start if hunk.old_count == 0 else hunk.old_start - 1) + drift
        size = len(hunk.old)
        if not hunk.old:
            if hint is None:
                raise Rejected(
                    f"{where} only adds lines and has no line numbers to say where",
                    hint="Give the hunk context lines, or an @@ -l,s +l,s @@ header.",
                )
            if not cursor <= hint <= len(lines):
                raise Rejected(
                    f"{where} adds lines at line {hint + 1}, but the file has {len(lines)} lines",
                    hint="Give the hunk context lines so it can be placed.",
                )
            at = hint
        else:
            end = len(lines) - size if hunk.old_no_newline else None
            fits = locate(lines, hunk.old, (EXACT,), start=cursor, at=end)
            places = [fit.start for fit in fits]
            if hint in places:
                at = hint
            elif len(places) == 1:
                at = places[0]
            elif not places:
                after = " after the previous hunk" if cursor else ""
                raise Rejected(
                    f"{where}: its context and removed lines are not in the file{after}",
                    hint=not_found_hint(lines, hunk.old, "A hunk's ' ' and '-' lines"),
                )
            else:
                said = f", none at its line {hint + 1}" if hint is not None else ""
                raise Rejected(
                    f"{where}: its context and removed lines fit {len(places)} places "
                    f"({describe_places(fits)}){said}, so the change would be a guess",
                    hint="Add context lines, or correct the @@ line numbers.",
                )
        reaches_end = at + size == len(lines)
        if hunk.new_no_newline and not reaches_end:
            raise Rejected(
                f"{where} says its last line ends the file without a newline, but lines follow it",
                hint="Only the hunk that ends the file may say '\\ No newline at end of file'.",
            )
        lines[at : at + size] = hunk.new
        if reaches_end:
            text.final_newline = not hunk.new_no_newline
        if hint is not None:
            drift += at - hint
        drift += len(hunk.new) - size
        cursor = at + len(hunk.new)


def find(text: str) -> Iterator[Found]:
    """Every unified diff of ``text`` in order: in diff fences, and bare between fences."""
    if "@@" not in text and "--- " not in text and _GIT not in text:
        return
    raw = text.split("\n")
    lines = [line[:-1] if line.endswith("\r") else line for line in raw]
    offsets = [0]
    for line in raw:
        offsets.append(offsets[-1] + len(line) + 1)
    at = 0
    for fence in scan(text):
        first = fence.line - 1
        yield from _bare(text, lines, offsets, at, first)
        found = _fenced(offsets, fence)
        if found is not None:
            yield found
        at = bisect_left(offsets, fence.end)  # the line after the fence
    # After a final newline, split leaves an empty string that is no line.
    whole = len(lines) - 1 if text.endswith("\n") else len(lines)
    yield from _bare(text, lines, offsets, at, whole, open_end=True)


def _bare(
    text: str,
    lines: list[str],
    offsets: list[int],
    start: int,
    stop: int,
    *,
    open_end: bool = False,
) -> Iterator[Found]:
    """The diffs standing in the open in ``lines[start:stop]``.

    ``open_end``: the region ends the message, so a diff cut short may still grow;
    without a final newline its last line may be cut short too.
    """
    cut = open_end and not text.endswith("\n")
    i = start
    while i < stop:
        if not _starts_file(lines, i, stop):
            i += 1
            continue
        reader = _Reader(lines, offsets, i, stop, bare=True, open_end=open_end, cut=cut)
        try:
            edits = reader.files()
        except Malformed as problem:
            # Streaming: a problem in the lines still being written may go away.
            rest = range(reader.i + 1, stop - 1 if cut else stop)
            if (
                open_end
                and all(not lines[k].strip() for k in rest)
                and not isinstance(problem.error, Unterminated)
            ):
                raise Malformed(problem.block, Unterminated(problem.error.reason)) from None
            raise
        if cut and reader.i >= stop - 1:
            # The last line may be cut short (a final message always ends with a newline).
            raise Malformed(
                edits[-1].block, Unterminated("the diff's last line is still being written")
            )
        yield Found(offsets[i], min(offsets[reader.i], len(text)), edits)
        i = reader.i


def _fenced(offsets: list[int], fence: Fence) -> Found | None:
    info = parse_info(fence.info)
    body = [line[:-1] if line.endswith("\r") else line for line in fence.lines]
    first = next((k for k, line in enumerate(body) if line.strip()), None)
    diffy = info.language in _DIFF_LANGUAGES
    if not diffy and (first is None or not _starts_file(body, first, len(body))):
        return None
    block = Block("diff", fence.start, fence.line, path=info.path)
    if not fence.closed:
        raise Malformed(
            block,
            Unterminated(
                "the diff's fence is never closed",
                hint="End the diff with a closing fence line like the opening one.",
            ),
        )
    base = fence.line  # index in ``lines`` of the body's first line
    reader = _Reader(
        body,
        offsets[base : base + len(body) + 1],
        0,
        len(body),
        bare=False,
        open_end=False,
        numbering=base,
        default=info.path,
    )
    edits = reader.files(skip_junk=True)
    if not edits:
        if diffy and any(line.startswith("@@") for line in body):
            raise Malformed(
                block,
                Rejected(
                    "the diff names no file",
                    hint="Start it with '--- a/path' and '+++ b/path' lines.",
                ),
            )
        return None
    return Found(fence.start, fence.end, edits)


def _starts_file(lines: list[str], i: int, stop: int) -> bool:
    line = lines[i]
    if line.startswith(_GIT):
        return True
    return line.startswith("--- ") and i + 1 < stop and lines[i + 1].startswith("+++ ")


class _Reader:
    """Reads consecutive file diffs from ``lines[i:stop]``; ``i`` ends past what it read."""

    def __init__(
        self,
        lines: list[str],
        offsets: list[int],
        i: int,
        stop: int,
        *,
        bare: bool,
        open_end: bool,
        cut: bool = False,
        numbering: int = 0,
        default: str | None = None,
    ) -> None:
        self.lines = lines
        self.offsets = offsets  # offsets[k]: message offset of lines[k]
        self.i = i
        self.stop = stop
        self.bare = bare
        self.open_end = open_end  # the text may still grow past ``stop``
        self.cut = cut  # ... and its last line may be cut short
        self.numbering = numbering  # lines[0] is message line numbering + 1
        self.default = default  # a path the fence's info string names

    def files(self, *, skip_junk: bool = False) -> list[Edit]:
        edits: list[Edit] = []
        while self.i < self.stop:
            if _starts_file(self.lines, self.i, self.stop):
                edits.append(self._file())
            elif skip_junk and self.lines[self.i].startswith("@@"):
                if self.default is None and not edits:
                    return edits  # the fence's caller says "names no file"
                if self.default is None:
                    raise Malformed(
                        self._block(self.i, None),
                        Rejected(
                            "a hunk follows something that is not a file header or a hunk",
                            hint="Keep each file's hunks together below its '+++' line.",
                        ),
                    )
                edits.append(self._file())
            elif skip_junk or (
                not self.lines[self.i].strip() and self._file_follows(self.i + 1) and edits
            ):
                self.i += 1  # "Index:" lines, prose or a blank line between files
            else:
                break
        return edits

    def _at_open_end(self) -> bool:
        """Whether only the line still being written (if any) follows, in a streamed text."""
        rest = self.lines[self.i : self.stop - 1 if self.cut else self.stop]
        return self.open_end and all(not line.strip() for line in rest)

    def _file_follows(self, k: int) -> bool:
        return k < self.stop and _starts_file(self.lines, k, self.stop)

    def _block(self, k: int, path: str | None) -> Block:
        return Block("diff", self.offsets[k], self.numbering + k + 1, path=path)

    def _unterminated(self, block: Block, reason: str) -> Malformed:
        if self.bare and self.open_end:
            return Malformed(block, Unterminated(reason))
        return Malformed(block, Rejected(reason, hint="Send the whole diff."))

    def _file(self) -> Patch:
        start = self.i
        lines = self.lines
        block = self._block(start, None)
        headers: dict[str, str] = {}
        git_paths: tuple[str, str] | None = None
        git = lines[self.i].startswith(_GIT)
        if git:
            git_paths = _git_paths(lines[self.i][len(_GIT) :])
            self.i += 1
            while self.i < self.stop and lines[self.i].startswith(_EXTENDED):
                for prefix in _EXTENDED:
                    if lines[self.i].startswith(prefix):
                        value = lines[self.i][len(prefix) :].strip()
                        headers[prefix.strip()] = _unquote(value)[0] if value[:1] == '"' else value
                        break
                self.i += 1
            if self.i < self.stop and lines[self.i].startswith(
                ("Binary files ", "GIT binary patch")
            ):
                raise Malformed(
                    block,
                    Rejected(
                        "binary patches are not supported",
                        hint="Send binary files through the upload API, not in a chat message.",
                    ),
                )
        source = target = None
        named = False
        if self.i < self.stop and lines[self.i].startswith("--- "):
            if self.i + 1 >= self.stop:
                raise self._unterminated(block, "the diff stops after its '---' line")
            if not lines[self.i + 1].startswith("+++ "):
                raise Malformed(block, Rejected("a '---' line is not followed by a '+++' line"))
            source = _name(lines[self.i][4:], "a/")
            target = _name(lines[self.i + 1][4:], "b/")
            named = True
            self.i += 2
        elif git_paths is not None:
            source, target = git_paths
            if "new file mode" in headers:
                source = None
            if "deleted file mode" in headers:
                target = None
        elif self.default is not None:
            source = target = self.default
            named = True
        for kind in ("rename", "copy"):
            if f"{kind} from" in headers or f"{kind} to" in headers:
                source, target = headers.get(f"{kind} from"), headers.get(f"{kind} to")
                if source is None or target is None:
                    raise self._unterminated(
                        block,
                        f"the diff's '{kind} from' and '{kind} to' lines do not come in a pair",
                    )
        block.path = target or source
        try:
            if source is None and target is None:
                if git_paths is None and not named:
                    raise Rejected("the 'diff --git' line names two files and no rename")
                raise Rejected("the diff's file is /dev/null on both sides")
            source = path_of(source) if source is not None else None
            target = path_of(target) if target is not None else None
            block.path = target or source
            hunks: list[Hunk] = []
            while self.i < self.stop and lines[self.i].startswith("@@"):
                hunks.append(self._hunk(block))
            check_text("\n".join(line for hunk in hunks for line in hunk.old + hunk.new))
        except Rejected as error:
            raise Malformed(block, error) from None
        renamed = "rename from" in headers or "copy from" in headers
        if source and target and source != target and not renamed:
            raise Malformed(
                block,
                Rejected(
                    f"the diff's '---' and '+++' lines name different files "
                    f"({source!r} and {target!r})",
                    hint="To rename a file, use git's 'rename from' and 'rename to' lines.",
                ),
            )
        if not hunks and named and self._at_open_end():
            raise Malformed(block, Unterminated("the diff has no hunk yet"))
        if not hunks and named and source is not None and target is not None:
            raise Malformed(
                block, Rejected("the diff has no hunk", hint="Follow '+++' with @@ hunks.")
            )
        if git and not named and not headers:
            raise self._unterminated(block, "the 'diff --git' line is followed by nothing")
        if git and not named and "new file mode" in headers and self._at_open_end():
            # Streaming: a new file's '---', '+++' and hunks usually follow.
            raise Malformed(block, Unterminated("the new file's diff may continue"))
        return Patch(block, source, target, hunks, copy="copy from" in headers)

    def _hunk(self, block: Block) -> Hunk:
        lines, stop = self.lines, self.stop
        header = lines[self.i]
        numbers = _RANGE.match(header)
        if numbers is None and not re.match(r"^@@(?:\s.*)?$", header):
            raise Rejected(f"{header[:80]!r} is not a hunk header")
        if numbers:
            old_start = int(numbers.group(1))
            old_left = 1 if numbers.group(2) is None else int(numbers.group(2))
            new_left = 1 if numbers.group(4) is None else int(numbers.group(4))
            hunk = Hunk(old_start, old_left)
        else:
            old_left = new_left = 0
            hunk = Hunk(None, 0)
        counted = numbers is not None
        self.i += 1
        last = ""
        blanks_until = self.i  # blank lines before this index are known to be context
        while self.i < stop:
            line = lines[self.i]
            owed = counted and (old_left > 0 or new_left > 0)
            if line.startswith("\\"):  # "\ No newline at end of file" (in any language)
                hunk.old_no_newline |= last in (" ", "-")
                hunk.new_no_newline |= last in (" ", "+")
                self.i += 1
                continue
            if not owed:
                if counted and self.bare:
                    break
                if line.startswith("@@") or _starts_file(lines, self.i, stop):
                    break
                if line.startswith(_GIT):
                    break
                if not line and self.i >= blanks_until:
                    blanks_until = self._blanks_end(self.i)
                    if not self._is_hunk_line(blanks_until):
                        break
            elif line.startswith(("@@", _GIT)):
                break  # counts overstated: a new hunk or file begins
            kind = line[:1] or " "
            if kind not in " -+":
                break
            content = line[1:]
            if kind in " -":
                hunk.old.append(content)
                old_left -= 1
            if kind in " +":
                hunk.new.append(content)
                new_left -= 1
            last = kind
            self.i += 1
        if counted and (old_left > 0 or new_left > 0) and self.i >= stop and self.open_end:
            raise Unterminated(
                f"the diff stops inside a hunk ({header[:40]!r} promises more lines)"
            )
        if not hunk.old and not hunk.new:
            raise Rejected(f"the hunk {header[:40]!r} has no lines")
        return hunk

    def _blanks_end(self, k: int) -> int:
        while k < self.stop and not self.lines[k]:
            k += 1
        return k

    def _is_hunk_line(self, k: int) -> bool:
        """Whether line ``k`` continues a hunk (so the blank lines before it are context)."""
        if k >= self.stop:
            return False
        line = self.lines[k]
        return line[:1] in (" ", "-", "+", "\\") and not _starts_file(self.lines, k, self.stop)


def _name(raw: str, prefix: str) -> str | None:
    """The path of a '---' or '+++' line: unquoted, timestamp cut, git's prefix dropped."""
    raw = raw.strip()
    if raw.startswith('"'):
        name, _ = _unquote(raw)
    else:
        name = raw.split("\t", 1)[0].rstrip()
    return None if name == _NULL else _drop(name, prefix)


def _git_paths(rest: str) -> tuple[str, str] | None:
    """The two paths of 'diff --git a/x b/y' when they can be told apart (quoted, or equal)."""
    rest = rest.strip()
    if rest.startswith('"'):
        first, tail = _unquote(rest)
        tail = tail.strip()
        second = _unquote(tail)[0] if tail.startswith('"') else tail
        return _drop(first, "a/"), _drop(second, "b/")
    half = (len(rest) - 1) // 2
    first, second = _drop(rest[:half], "a/"), _drop(rest[half + 1 :], "b/")
    if rest[half : half + 1] != " " or first != second:
        return None  # a rename: its 'rename from' and 'rename to' lines name the files
    return first, second


def _drop(name: str, prefix: str) -> str:
    return name[len(prefix) :] if name.startswith(prefix) else name


def _unquote(raw: str) -> tuple[str, str]:
    """git's C-style quoted path at the start of ``raw``, and what follows it."""
    out = bytearray()
    i = 1
    while i < len(raw) and raw[i] != '"':
        char = raw[i]
        if char == "\\" and i + 1 < len(raw):
            following = raw[i + 1]
            if following in "01234567" and re.match(r"[0-7]{3}", raw[i + 1 : i + 4]):
                out.append(int(raw[i + 1 : i + 4], 8) & 0xFF)
                i += 4
                continue
            if following in _ESCAPES:
                out.append(_ESCAPES[following])
                i += 2
                continue
        out.extend(char.encode("utf-8", "surrogatepass"))
        i += 1
    return out.decode("utf-8", "surrogateescape"), raw[i + 1 :]
