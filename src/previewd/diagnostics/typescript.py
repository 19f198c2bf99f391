"""TypeScript's ``tsc`` (and ``vue-tsc``, ``ts-node``), plain and ``--pretty``.

    src/a.ts(3,7): error TS2322: Type 'string' is not assignable to type 'number'.
    src/a.ts:3:7 - error TS2322: Type 'string' is not assignable to type 'number'.

    3 const a: number = "x";
            ~
    error TS5058: The specified path does not exist: 'tsconfig.json'.

An indented line after an error continues its message (the elaboration of a
type mismatch); the first line is the essential part and the one kept.
"""

from __future__ import annotations

import re

from previewd.diagnostics.log import Found, Log, number

_PLAIN = re.compile(
    r"^(?P<file>\S.*?)\((?P<line>\d+),(?P<col>\d+)\): error (?P<code>TS\d+): (?P<msg>.+)$"
)
_PRETTY = re.compile(
    r"^(?P<file>\S.*?):(?P<line>\d+):(?P<col>\d+) - error (?P<code>TS\d+): (?P<msg>.+)$"
)
_GLOBAL = re.compile(r"^error (?P<code>TS\d+): (?P<msg>.+)$")
_FRAME_START = re.compile(r"^\d+ ")


def plain(log: Log, index: int) -> Found | None:
    match = _PLAIN.match(log.lines[index]) or _GLOBAL.match(log.lines[index])
    if match is None:
        return None
    groups = match.groupdict()
    found = log.diagnostic(
        "typescript",
        match["msg"],
        file=groups.get("file"),
        line=number(groups.get("line")),
        column=number(groups.get("col")),
        code=match["code"],
    )
    return [found], index + 1


def pretty(log: Log, index: int) -> Found | None:
    match = _PRETTY.match(log.lines[index])
    if match is None:
        return None
    end = index + 1
    if log.line(end) == "":
        end += 1
    excerpt: list[str] = []
    if _FRAME_START.match(log.line(end) or ""):
        # The frame runs to the next blank line: numbered source lines and "~~~".
        while (line := log.line(end)) and not _PRETTY.match(line) and len(excerpt) < 20:
            excerpt.append(line)
            end += 1
    found = log.diagnostic(
        "typescript",
        match["msg"],
        file=match["file"],
        line=number(match["line"]),
        column=number(match["col"]),
        excerpt=excerpt,
        code=match["code"],
    )
    return [found], end if excerpt else index + 1
