"""The shapes every edit format shares: where a block sits, what it does, the tree it edits.

A format module turns message text into :class:`Found` regions, each holding
the :class:`Edit` objects of one block. Edits are applied in message order to
one :class:`Tree`; the first that fails stops the whole message (all or
nothing) with an :class:`~previewd.errors.EditFailed` naming its block.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from previewd.errors import EditFailed, InvalidPath
from previewd.paths import check_collisions, clean_path


@dataclass
class Block:
    """Where an edit came from, for messages that must name it."""

    format: str  # "fence", "bolt", "aider", "codex", "diff", "v0", "lovable"
    start: int  # character offset of the block in the message
    line: int  # 1-based line of the block's first line
    path: str | None = None
    index: int = 0  # 1-based position among the message's blocks, set by the dispatcher

    def describe(self) -> str:
        where = f" for {self.path!r}" if self.path else ""
        return f"block {self.index} ({self.format}{where}, line {self.line})"


class Edit(Protocol):
    """One change a block asks for. ``apply`` raises ``Rejected`` when it cannot be made."""

    @property
    def block(self) -> Block: ...

    def apply(self, tree: Tree) -> None: ...


@dataclass(frozen=True)
class Found:
    """A region of the message (``start``..``end`` characters) claimed by one block."""

    start: int
    end: int
    edits: list[Edit]


class Rejected(Exception):
    """Raised by a parser or an edit; the dispatcher adds which block it was."""

    def __init__(self, reason: str, *, hint: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint = hint


class Unterminated(Rejected):
    """A block opened and never closed. With streaming, more text may still close it."""


class Malformed(Exception):
    """What a format's ``find`` raises for a block it cannot parse."""

    def __init__(self, block: Block, error: Rejected) -> None:
        super().__init__(f"{block.describe()}: {error.reason}")
        self.block = block
        self.error = error


# Bodies that elide code: written whole, they would silently cut the file short. One
# line at a time ([ \t], never \s, so a megabyte of blank lines stays linear).
_PLACEHOLDER = re.compile(
    r"^[ \t]*(?://|#|/\*|<!--|\{/\*|--)?[ \t]*(?:\.{3}|\u2026)[ \t]*(?:keep[ \t]+)?(?:the[ \t]+)?"
    r"(?:rest|existing|remaining|other|previous|unchanged)\b"
    r"|^[ \t]*(?://|#|/\*|<!--|--)[ \t]*(?:(?:\.{3}|\u2026)[ \t]*)?"
    r"(?:rest of|the rest|remaining|existing|keep existing) (?:the )?"
    r"(?:code|file|content|implementation|methods|functions|imports|styles)\b[^\n]*?"
    r"(?:unchanged|remains?|stays?|same|as before|here)",
    re.IGNORECASE | re.MULTILINE,
)


def refuse_placeholders(content: str) -> None:
    """Raise ``Rejected`` when a whole-file body says "... existing code ..." instead of code."""
    match = _PLACEHOLDER.search(content)
    if match:
        start = content.rfind("\n", 0, match.start()) + 1
        end = content.find("\n", match.start())
        line = content[start : end if end >= 0 else len(content)].strip()[:80]
        raise Rejected(
            f"the file body elides code ({line!r}), so writing it whole would cut the file short",
            hint="Send the complete file, or a diff (SEARCH/REPLACE, unified diff or patch).",
        )


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def check_text(content: str) -> None:
    """Raise ``Rejected`` for text that cannot be UTF-8 (lone surrogates: undecodable bytes)."""
    bad = _SURROGATE.search(content)
    if bad:
        line = content.count("\n", 0, bad.start()) + 1
        raise Rejected(
            f"the text is not valid UTF-8 (an undecodable byte on its line {line})",
            hint="Send text files as UTF-8; binary files cannot travel in a chat message.",
        )


@dataclass(frozen=True)
class Command:
    """A shell or start command a message asked for; it only ever runs in the build sandbox."""

    kind: str  # "shell" or "start"
    command: str
    block: Block

    def apply(self, tree: Tree) -> None:
        tree.commands.append(self)


@dataclass
class Tree:
    """The conversation's files while a message applies: reads lazily, records changes.

    ``read`` loads the bytes of a path of the base snapshot; only paths an edit
    touches are ever read.
    """

    base: frozenset[str]
    read: Callable[[str], bytes]
    written: dict[str, bytes] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    commands: list[Command] = field(default_factory=list)
    # Files this message wrote whole, by collision key: a second whole write is ambiguous.
    whole: dict[str, Block] = field(default_factory=dict)

    def exists(self, path: str) -> bool:
        return path in self.written or (path in self.base and path not in self.deleted)

    def read_bytes(self, path: str) -> bytes:
        if path in self.written:
            return self.written[path]
        if path in self.base and path not in self.deleted:
            return self.read(path)
        raise Rejected(f"{path!r} does not exist", hint="Create it with a whole-file block first.")

    def read_text(self, path: str) -> str:
        try:
            return self.read_bytes(path).decode("utf-8")
        except UnicodeDecodeError:
            raise Rejected(f"{path!r} is not UTF-8 text, so it cannot be patched") from None

    def write(self, path: str, content: str | bytes) -> None:
        data = content.encode("utf-8") if isinstance(content, str) else content
        self.written[path] = data
        self.deleted.discard(path)

    def delete(self, path: str) -> None:
        if not self.exists(path):
            raise Rejected(f"cannot delete {path!r}: no such file")
        self.written.pop(path, None)
        if path in self.base:
            self.deleted.add(path)

    def move(self, source: str, target: str) -> None:
        content = self.read_bytes(source)
        self.delete(source)
        self.write(target, content)

    def changed(self) -> tuple[dict[str, bytes], set[str]]:
        """Files written and base files deleted, checked as one set of paths."""
        try:
            check_collisions([*self.base - self.deleted - self.written.keys(), *self.written])
        except InvalidPath as error:
            raise Rejected(error.message) from None
        return dict(self.written), set(self.deleted)


@dataclass
class Write:
    """Write ``path`` whole (create or replace)."""

    block: Block
    path: str
    content: str

    def apply(self, tree: Tree) -> None:
        key = _key(self.path)
        earlier = tree.whole.get(key)
        if earlier is not None:
            raise Rejected(
                f"{self.path!r} is written whole twice in this message "
                f"(block {earlier.index} wrote {earlier.path!r})",
                hint="Send each file once, in its final form.",
            )
        tree.whole[key] = self.block
        tree.write(self.path, self.content)


@dataclass
class Delete:
    """Delete ``path``; it must exist."""

    block: Block
    path: str

    def apply(self, tree: Tree) -> None:
        tree.delete(self.path)


@dataclass
class Move:
    """Rename ``source`` to ``target``, which must not exist (a case-only rename is fine)."""

    block: Block
    source: str
    target: str

    def apply(self, tree: Tree) -> None:
        if self.source == self.target:
            raise Rejected(f"cannot move {self.source!r} onto itself")
        if tree.exists(self.target):
            raise Rejected(
                f"cannot move {self.source!r} to {self.target!r}: that file exists",
                hint="Delete the target first, or write the file whole under its new name.",
            )
        tree.move(self.source, self.target)


def _key(path: str) -> str:
    # Paths are NFC already (clean_path); case is what still makes two names one file.
    return path.casefold()


def path_of(raw: str) -> str:
    """A block's file name through the one path gate, as a ``Rejected`` when refused."""
    try:
        return clean_path(raw.strip())
    except InvalidPath as error:
        raise Rejected(error.message, hint=error.hint) from None


_TAG_ATTRIBUTE = re.compile(r"""([A-Za-z_][\w:.-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')""")


def attributes(tag: str) -> dict[str, str]:
    """The quoted ``name="value"`` pairs of an XML-like tag, names lower-cased, first wins."""
    found: dict[str, str] = {}
    for match in _TAG_ATTRIBUTE.finditer(tag):
        value = match.group(2) if match.group(2) is not None else match.group(3)
        found.setdefault(match.group(1).lower(), value)
    return found


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


class Lines:
    """Line numbers of (mostly increasing) offsets, counting each newline once.

    ``line_of`` recounts from the start, which is quadratic over the blocks of a
    megabyte message.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.offset = 0
        self.line = 1

    def at(self, offset: int) -> int:
        if offset < self.offset:
            self.offset, self.line = 0, 1
        self.line += self.text.count("\n", self.offset, offset)
        self.offset = offset
        return self.line


def failed(block: Block, error: Rejected) -> EditFailed:
    return EditFailed(f"{block.describe()}: {error.reason}", hint=error.hint)
