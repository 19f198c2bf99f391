"""Fenced code blocks that name a file: the body is the file, written whole.

The name comes from, in order: the info string (``file=``, ``path=``,
``filename=``, ``filepath=``, a path-like ``title=``, ``lang:path`` or a bare
path after the language), a first-line comment (``// path``, ``# path``,
``<!-- path -->``, ``/* path */``, removed from the body), or a line holding
only the path just above the fence. Fences that name no file are prose and
ignored; ``diff``/``patch`` fences belong to the diff formats. Fences follow
CommonMark: backticks or tildes, a closing fence at least as long as the
opening one, so a longer outer fence may hold shorter ones.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

from previewd.edits.base import (
    Block,
    Found,
    Lines,
    Malformed,
    Rejected,
    Unterminated,
    Write,
    check_text,
    path_of,
    refuse_placeholders,
)

_OPENING = re.compile(r"^([ \t]*)(`{3,}|~{3,})([^\n]*)$", re.MULTILINE)
_ATTRIBUTE = re.compile(r"""([A-Za-z_][\w-]*)[ \t]*=[ \t]*(?:"([^"]*)"?|'([^']*)'?|([^\s"'{}]+))""")
_NAME_KEYS = ("file", "path", "filename", "filepath", "title")
_DIFF_LANGUAGES = frozenset({"diff", "patch", "udiff"})
# Names without an extension that are still plainly files.
_BARE_NAMES = frozenset(
    {
        "Dockerfile",
        "Containerfile",
        "Makefile",
        "GNUmakefile",
        "Procfile",
        "Gemfile",
        "Rakefile",
        "Caddyfile",
        "Justfile",
        "justfile",
        "Vagrantfile",
        "Brewfile",
        "LICENSE",
        "README",
    }
)
_EXTENSION = re.compile(r"\.[A-Za-z][A-Za-z0-9_+-]*$")
_LANG_PATH = re.compile(r"^([A-Za-z][\w+#-]*):(\S+)$")
_COMMENT = re.compile(r"^[ \t]*(?://(.*)|#[ \t](.*)|<!--(.*?)-->|/\*(.*?)\*/)[ \t]*\r?$")
_CITATION = re.compile(r"^\d+:\d+:")  # Cursor's ```12:15:app/x.tsx quotes code, it is no edit
_LABEL = re.compile(r"^(?:file|filename|path)[ \t]*:[ \t]*", re.IGNORECASE)
# A line above the fence that holds only a path: bare, `quoted`, **bold**, a heading.
_ABOVE = re.compile(
    r"^[ \t]*(?P<heading>#{1,6}[ \t]+|(?:[-+]|\*(?!\*)|\d+[.)])[ \t]+)?(?P<bold>\*\*|__)?(?P<label>(?:file|filename|path)[ \t]*:"
    r"[ \t]*(?:\*\*|__)?[ \t]*)?(?P<tick>`?)(?P<path>[^`*\s]+)(?P=tick)(?P=bold)?[ \t]*:?[ \t]*\r?$",
    re.IGNORECASE,
)


@dataclass(slots=True)  # not frozen: a frozen __init__ is slow, and there are many fences
class Fence:
    """One fenced block of a message."""

    start: int  # offset of the opening line
    end: int  # offset just past the closing line (the text's end if unterminated)
    line: int
    info: str
    marker: str  # the opening run of backticks or tildes
    body: str  # the text between the fence lines
    indent: int  # the opening line's indentation, taken off every body line
    closed: bool
    incomplete: bool  # the opening line itself is still being written (no newline yet)

    @property
    def lines(self) -> list[str]:
        """The body's lines (split only when asked: most fences in a message are prose)."""
        return _dedent(self.body, self.indent)


def scan(text: str, start: int = 0, stop: int | None = None) -> Iterator[Fence]:
    """Every fence of ``text[start:stop]`` in order; an unclosed one runs to ``stop``."""
    stop = len(text) if stop is None else stop
    lines = Lines(text)
    at = start
    while True:
        opening = _OPENING.search(text, at, stop)
        if opening is None:
            return
        indent, marker, info = opening.group(1), opening.group(2), opening.group(3)
        if marker[0] == "`" and "`" in info:  # inline code such as ```a```, not a fence
            at = opening.end()
            continue
        body_start = opening.end() + 1
        closing = _closing(marker).search(text, min(body_start, stop), stop)
        body_end = closing.start() if closing else stop
        body = text[body_start:body_end] if body_start <= body_end else ""
        end = min(closing.end() + 1, stop) if closing else stop
        yield Fence(
            start=opening.start(),
            end=end,
            line=lines.at(opening.start()),
            info=info.strip(),
            marker=marker,
            body=body,
            indent=len(indent),
            closed=closing is not None,
            incomplete=opening.end() >= stop,
        )
        if closing is None:
            return
        at = end


@cache
def _closing(marker: str) -> re.Pattern[str]:
    char = re.escape(marker[0])
    return re.compile(rf"^[ \t]*{char}{{{len(marker)},}}[ \t]*\r?$", re.MULTILINE)


def _dedent(body: str, indent: int) -> list[str]:
    if not body:
        return []
    lines = body.split("\n")
    if lines[-1] == "":  # the newline before the closing fence ends the last line
        lines.pop()
    if indent:
        lines = [_strip_indent(line, indent) for line in lines]
    return lines


def _strip_indent(line: str, indent: int) -> str:
    taken = 0
    while taken < indent and taken < len(line) and line[taken] in " \t":
        taken += 1
    return line[taken:]


@dataclass(frozen=True)
class Info:
    """What an info string says: the language, a named path, other attributes."""

    language: str
    path: str | None
    attributes: dict[str, str]


def parse_info(info: str) -> Info:
    if not info:
        return _NO_INFO
    attributes: dict[str, str] = {}
    for match in _ATTRIBUTE.finditer(info):
        value = next(g for g in match.groups()[1:] if g is not None)
        attributes.setdefault(match.group(1).lower(), value)
    words = _ATTRIBUTE.sub(" ", info).split()
    language = ""
    path = None
    for key in _NAME_KEYS:
        value = attributes.get(key)
        if value and (key != "title" or _looks_like_path(value)):
            path = value
            break
    if words and _CITATION.match(words[0]):
        return Info(language="", path=None, attributes=attributes)
    if words and words[0].startswith("{"):  # pandoc style: ```{.python}
        language = words[0].strip("{}.")
    elif words:
        first = words[0]
        lang_path = _LANG_PATH.match(first)
        if lang_path and path is None and "://" not in first:
            language, path = lang_path.group(1), lang_path.group(2)
        elif path is None and _looks_like_path(first):
            path = first
        else:
            language = first
        if path is None and len(words) > 1:
            second = words[1].strip("\"'")
            if _looks_like_path(second):
                path = second
    return Info(language=language.lower(), path=path, attributes=attributes)


_NO_INFO = Info(language="", path=None, attributes={})


def _looks_like_path(word: str) -> bool:
    """A word a person would read as a file name (URLs and version numbers are not)."""
    if not word or "://" in word:
        return False
    if "/" in word or "\\" in word:
        return True
    return bool(_EXTENSION.search(word)) or word in _BARE_NAMES


def _comment_path(line: str) -> str | None:
    match = _COMMENT.match(line)
    if not match:
        return None
    word = _LABEL.sub("", next(g for g in match.groups() if g is not None).strip())
    if not word or any(c in word for c in " \t"):
        return None
    return word if _looks_like_path(word) else None


def _path_above(text: str, start: int) -> str | None:
    """The path on the line just above ``start`` (one blank line may sit between)."""
    end = start - 1
    for _ in range(2):
        if end < 0:
            return None
        begin = text.rfind("\n", 0, end) + 1
        line = text[begin:end]
        if line.strip():
            break
        end = begin - 1
    else:
        return None
    match = _ABOVE.match(line)
    if not match:
        return None
    path = match.group("path")
    decorated = match.group("tick") or match.group("label")
    # "### Next.js" is a title, not a file: decorated lines need `ticks` or a slash.
    if (match.group("heading") or match.group("bold")) and not (decorated or "/" in path):
        return None
    path = path.rstrip(":")
    return path if _looks_like_path(path) else None


def whole_file(text: str, fence: Fence, fmt: str, *, above: bool = True) -> Write | None:
    """The write a fence asks for, None for prose; raises ``Malformed`` when it cannot be made."""
    info = parse_info(fence.info)
    if info.language in _DIFF_LANGUAGES:
        return None
    raw = info.path
    lines: list[str] | None = None
    if raw is None and fence.body and fence.body.lstrip(" \t")[:1] in ("/", "#", "<"):
        lines = fence.lines
        raw = _comment_path(lines[0])
        if raw is not None:
            lines = lines[1:]
    if raw is None and above:
        raw = _path_above(text, fence.start)
    if raw is None:
        if fence.incomplete and fence.info:  # "```ts fi" while streaming: cannot tell yet
            raise Malformed(
                Block(fmt, fence.start, fence.line), Unterminated("the fence is still open")
            )
        return None
    block = Block(fmt, fence.start, fence.line, path=raw.strip())
    try:
        if not fence.closed:  # first: while streaming, "src/" may yet become "src/app.ts"
            raise Unterminated(
                "the fence is never closed",
                hint="End the file with a closing fence line like the opening one.",
            )
        path = path_of(raw)
        block.path = path
        if "url" in info.attributes:
            raise Rejected(
                "the file's content is at a URL, which previewd does not fetch",
                hint="Send the file's content in the fence.",
            )
        if lines is None:
            lines = fence.lines
        _refuse_cut_short(lines, fence.marker)
        content = "".join(line + "\n" for line in lines)
        check_text(content)
        refuse_placeholders(content)
    except Rejected as error:
        raise Malformed(block, error) from None
    return Write(block, path, content)


def _refuse_cut_short(lines: list[str], marker: str) -> None:
    """Refuse a body that opens a fence it never closes: the outer fence was closed too soon.

    With equal fences, a README's inner ```bash block ends the outer block at its own
    closing line, and the file would silently lose its second half.
    """
    if not any(marker[0] * 3 in line for line in lines):
        return
    body = "\n".join(lines) + "\n"
    for inner in scan(body):
        if not inner.closed and inner.marker[0] == marker[0] and len(inner.marker) >= len(marker):
            raise Rejected(
                f"the file opens an inner {inner.marker} fence (its line {inner.line}) that the "
                "outer fence's end cuts short",
                hint=f"Wrap a file that holds fences in a longer fence: {marker[0] * (len(inner.marker) + 1)}.",
            )


def find(text: str) -> Iterator[Found]:
    for fence in scan(text):
        write = whole_file(text, fence, "fence")
        if write is not None:
            yield Found(fence.start, fence.end, [write])


def unwrap(content: str) -> str:
    """Tag content as bolt and Lovable keep it: trimmed, one markdown fence around it dropped."""
    content = content.strip()
    if content[:3] in ("```", "~~~"):
        fence = next(scan(content), None)
        if fence and fence.closed and fence.start == 0 and not content[fence.end :].strip():
            content = "\n".join(fence.lines).strip("\n")
    return content + "\n" if content else ""
