"""A build log made ready for the recognisers: clean lines, and paths made relative.

Every recogniser is a function ``(log, index) -> Found | None``: it looks at
``log.lines[index]`` (and, if that line starts something it knows, at the lines
after it) and returns the diagnostics it read and the index of the first line
it did not consume. Building diagnostics through :meth:`Log.diagnostic` is what
keeps every tool's output in one shape: paths relative to the project, one-line
messages, short code frames.
"""

from __future__ import annotations

import os
import re
import textwrap
from collections.abc import Callable, Iterable, Sequence
from functools import cached_property

from previewd.diagnostics.model import Diagnostic

#: Where the sandbox mounts the project (see ``runtimes/bubblewrap.py``).
SANDBOX_ROOT = "/work"
#: Longer lines are cut before matching: minified bundles end up in logs.
MAX_LINE = 4000
MAX_MESSAGE = 1000
MAX_EXCERPT_LINES = 10

Found = tuple[list[Diagnostic], int]
Recogniser = Callable[["Log", int], Found | None]

_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_PIP_CONTEXT = re.compile(
    r"^(?:Collecting |Looking in indexes|Requirement already satisfied|Installing collected"
    r"|Obtaining |Processing |Downloading |Using cached |Building wheels? for )"
)
_STACK = re.compile(r"^\s+at \S")


def clean(raw: Iterable[str]) -> list[str]:
    """One string per line, without colours, control characters or trailing space."""
    lines: list[str] = []
    for item in raw:
        for line in str(item).splitlines() or [""]:
            line = _CONTROL.sub("", _ANSI.sub("", line[: MAX_LINE * 2]))
            lines.append(line[:MAX_LINE].rstrip())
    return lines


def number(text: str | None, *, offset: int = 0) -> int | None:
    """An int from a matched line or column, ``None`` for nonsense."""
    if text is None or not (text.isascii() and text.isdigit()) or len(text) > 9:
        return None
    return int(text) + offset


def is_stack(line: str) -> bool:
    """A JavaScript stack frame (``    at f (file.js:1:2)``)."""
    return _STACK.match(line) is not None


class Log:
    """The cleaned lines of one build log and the roots its paths are relative to."""

    def __init__(self, lines: Iterable[str], root: str | os.PathLike[str] | None = None) -> None:
        self.lines = clean(lines)
        roots = [SANDBOX_ROOT]
        if root is not None:
            roots.insert(0, os.fspath(root).rstrip("/") or "/")
        self.roots = tuple(r for r in roots if r not in ("", "/"))
        # A root inside a message ("from "/work/src/main.js"") goes, as it does in paths.
        alternatives = "|".join(re.escape(r) for r in self.roots)
        self._root_in_text = re.compile(rf"(?:^|(?<=[\s\"'(\[]))(?:file://)?(?:{alternatives})/")

    def line(self, index: int) -> str | None:
        return self.lines[index] if 0 <= index < len(self.lines) else None

    @cached_property
    def from_pip(self) -> bool:
        """Whether pip ran in this log, so a bare ``ERROR:`` line is most likely its."""
        return any(_PIP_CONTEXT.match(line) for line in self.lines)

    def path(self, raw: str | None) -> str | None:
        """A printed path made relative to the project; ``None`` for pseudo-files."""
        if raw is None:
            return None
        path = raw.strip().strip("\"'")
        path = path.removeprefix("file://")
        if not path or path[0] in "<[" or path.startswith(("node:", "internal/")):
            return None  # <string>, <stdin>, [eval], node's own modules
        for root in self.roots:
            if path == root:
                return None
            if path.startswith(root + "/"):
                path = path[len(root) + 1 :]
                break
        while path.startswith("./"):
            path = path[2:]
        return path or None

    def text(self, raw: str) -> str:
        """A message: one line, without the project root, not too long."""
        text = self._root_in_text.sub("", " ".join(raw.split("\n")).strip())
        if len(text) > MAX_MESSAGE:
            text = text[: MAX_MESSAGE - 1].rstrip() + "…"
        return text

    def diagnostic(
        self,
        tool: str,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        excerpt: Sequence[str] = (),
        code: str | None = None,
    ) -> Diagnostic:
        path = self.path(file)
        return Diagnostic(
            tool=tool,
            message=self.text(message) or "error",
            file=path,
            line=line if path is not None else None,
            column=column if path is not None and line is not None else None,
            excerpt=frame(excerpt),
            code=code or None,
        )


def frame(lines: Sequence[str]) -> str | None:
    """A code frame: at most :data:`MAX_EXCERPT_LINES` lines, dedented."""
    kept = list(lines)
    while kept and not kept[-1].strip():
        kept.pop()
    while kept and not kept[0].strip():
        kept.pop(0)
    if not kept:
        return None
    return textwrap.dedent("\n".join(kept[:MAX_EXCERPT_LINES])).rstrip()
