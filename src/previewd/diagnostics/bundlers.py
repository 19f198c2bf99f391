"""esbuild, Vite and Rollup (and Rolldown, which Vite 8 builds with).

esbuild prints each error as a header, a location and a frame, with 0-based
columns::

    ✘ [ERROR] Expected ";" but found "x"

        src/main.ts:2:10:
          2 │ let b = a x
            ╵           ^

Vite wraps whatever its bundler threw in an ``error during build:`` block that
ends with a JavaScript stack. With Rollup (Vite ≤ 7) the block holds one
error, its ``file:`` line (0-based column) and a frame; with Rolldown it says
``Build failed with N errors:`` and holds ``[CODE] message`` entries, each with
a ``╭─[ file:line:col ]`` frame (1-based). The Rollup CLI prints the same
errors after ``[!]``.
"""

from __future__ import annotations

import re

from previewd.diagnostics.log import Found, Log, is_stack, number
from previewd.diagnostics.model import Diagnostic

_ESBUILD = re.compile(r"^\s*(?:✘|×|X) \[ERROR\] (?P<msg>.+)$")
_ESBUILD_AT = re.compile(r"^\s+(?P<file>\S.*?):(?P<line>\d+):(?P<col>\d+):$")
_ESBUILD_FRAME = re.compile(r"^\s+(?:\d+\s+)?[│╵╷|]")
_ESBUILD_API = re.compile(r"^(?P<file>\S.*?):(?P<line>\d+):(?P<col>\d+): ERROR: (?P<msg>.+)$")
_ESBUILD_OLD = re.compile(r"^\s*> (?P<file>\S.*?):(?P<line>\d+):(?P<col>\d+): error: (?P<msg>.+)$")
_PLUGIN = re.compile(r"^\[plugin (?P<plugin>[^\]]+)\] ")

_VITE = re.compile(r"(?:^|\s)error during build:$")
_ROLLUP = re.compile(r"^\[!\] (?P<msg>.+)$")
_BUILD_FAILED = re.compile(r"^Build failed with \d+ errors?:?$")
_TRANSFORM_FAILED = re.compile(r"Transform failed with \d+ errors?:?$")
_ROLLDOWN = re.compile(r"^\[(?P<code>[A-Z][A-Z0-9_]+)\] (?P<msg>.+)$")
_ROLLDOWN_AT = re.compile(r"╭─\[\s*(?P<file>.+?):(?P<line>\d+):(?P<col>\d+)\s*\]")
_ROLLDOWN_END = re.compile(r"^\s*─*╯$")
_ROLLDOWN_RULE = re.compile(r"^\s*│$")
_PREFIX = re.compile(
    r"^(?:(?:Rollup|Rolldown)?Error:\s+|\[vite\]:\s+"
    r"|\[(?:plugin )?(?P<plugin>[^\]]+)\]\s+|\((?:plugin )?(?P<paren>[^)]+)\)\s+)"
)
_LOC_IN_MESSAGE = re.compile(r"^(?P<file>\S+) \((?P<line>\d+):(?P<col>\d+)\): (?P<msg>.+)$")
# PostCSS, Vue and others put their own 1-based position before the message.
_POSITION_IN_MESSAGE = re.compile(r"^(?P<file>\S+?):(?P<line>\d+):(?P<col>\d+): (?P<msg>.+)$")
_LOC = re.compile(r"^(?:file: )?(?P<file>\S+) \((?P<line>\d+):(?P<col>\d+)\)$")
_FILE = re.compile(r"^file: (?P<file>.+?)(?::(?P<line>\d+)(?::(?P<col>\d+))?)?$")
_BARE_PATH = re.compile(r"^(?P<file>[\w./@~-][^\s:]*\.[A-Za-z0-9]+)$")
_FROM = re.compile(r'(?:failed to resolve import|Could not resolve) "[^"]+" from "(?P<file>[^"]+)"')
_ROLLUP_FRAME = re.compile(r"^\s*\d+\s*[:|]|^\s*\|?\s*\^+$|^\s+\|")
_BLOCK_STARTS = re.compile(r"^(?:\[!\] |npm (?:ERR!|error)|Traceback \(|\s*(?:✘|×) \[ERROR\])")
_MAX_BLOCK = 80


def esbuild(log: Log, index: int) -> Found | None:
    match = _ESBUILD.match(log.lines[index])
    if match is None:
        return None
    message, plugin = _plugin(match["msg"])
    end = index + 1
    while log.line(end) == "" and end < index + 3:
        end += 1
    at = _ESBUILD_AT.match(log.line(end) or "")
    if at is None:
        return [log.diagnostic("esbuild", message, code=plugin)], index + 1
    end, excerpt = _esbuild_frame(log, end + 1)
    found = log.diagnostic(
        "esbuild",
        message,
        file=at["file"],
        line=number(at["line"]),
        column=number(at["col"], offset=1),
        excerpt=excerpt,
        code=plugin,
    )
    return [found], end


def esbuild_plain(log: Log, index: int) -> Found | None:
    """``src/a.ts:2:10: ERROR: …`` (esbuild's API) or ``> src/a.ts:2:10: error: …`` (old CLI)."""
    match = _esbuild_plain_match(log.lines[index])
    if match is None:
        return None
    end, excerpt = _esbuild_frame(log, index + 1)
    return [_esbuild_plain_diagnostic(log, match, excerpt)], end


def vite(log: Log, index: int) -> Found | None:
    if not _VITE.search(log.lines[index]):
        return None
    stop, end = _block(log, index + 1)
    first = next((k for k in range(index + 1, stop) if log.lines[k]), None)
    if first is None:
        return [], end
    message = log.lines[first]
    if _BUILD_FAILED.match(message):
        return _rolldown(log, first + 1, stop), end
    if _TRANSFORM_FAILED.search(message):
        body = log.lines[first + 1 : stop]
        errors = [match for line in body if (match := _esbuild_plain_match(line))]
        # Vite prints one frame for the block: it belongs to the error when there is one.
        excerpt = [line for line in body if _ROLLUP_FRAME.match(line)] if len(errors) == 1 else []
        if errors:
            return [_esbuild_plain_diagnostic(log, match, excerpt) for match in errors], end
    return [_rollup_like(log, "vite", message, first + 1, stop)], end


def rollup(log: Log, index: int) -> Found | None:
    match = _ROLLUP.match(log.lines[index])
    if match is None:
        return None
    stop, end = _block(log, index + 1)
    return [_rollup_like(log, "rollup", match["msg"], index + 1, stop)], end


def _esbuild_plain_match(line: str) -> re.Match[str] | None:
    return _ESBUILD_API.match(line) or _ESBUILD_OLD.match(line)


def _esbuild_plain_diagnostic(log: Log, match: re.Match[str], excerpt: list[str]) -> Diagnostic:
    message, plugin = _plugin(match["msg"])
    return log.diagnostic(
        "esbuild",
        message,
        file=match["file"],
        line=number(match["line"]),
        column=number(match["col"], offset=1),
        excerpt=excerpt,
        code=plugin,
    )


def _esbuild_frame(log: Log, start: int) -> tuple[int, list[str]]:
    end = start
    while (line := log.line(end)) is not None and _ESBUILD_FRAME.match(line) and end - start < 20:
        end += 1
    return end, log.lines[start:end]


def _plugin(message: str) -> tuple[str, str | None]:
    match = _PLUGIN.match(message)
    if match is None:
        return message, None
    return message[match.end() :], match["plugin"]


def _block(log: Log, start: int) -> tuple[int, int]:
    """Where the body of an error block stops (its stack, usually), and where it ends."""
    stop = start
    blanks = 0
    while (line := log.line(stop)) is not None and stop - start < _MAX_BLOCK:
        blanks = blanks + 1 if not line else 0
        if is_stack(line) or blanks == 2 or (stop > start and _BLOCK_STARTS.match(line)):
            break
        stop += 1
    end = stop
    if (line := log.line(stop)) is not None and is_stack(line):
        # The stack, a [cause] and its stack, and the "{ code: … }" node prints after them.
        while (line := log.line(end)) is not None and (line[:1] == " " or line == "}"):
            end += 1
    return stop, end


def _rolldown(log: Log, start: int, stop: int) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    k = start
    while k < stop:
        line = log.lines[k]
        header = _ROLLDOWN.match(line)
        if header is None:
            if _FROM.search(line):
                found.append(_rollup_like(log, "vite", line, k + 1, stop))
            k += 1
            continue
        at: re.Match[str] | None = None
        excerpt: list[str] = []
        framed = False
        k += 1
        while k < stop and not _ROLLDOWN.match(log.lines[k]) and not _FROM.search(log.lines[k]):
            line = log.lines[k]
            k += 1
            if _ROLLDOWN_END.match(line):
                break
            if at is None:
                at = _ROLLDOWN_AT.search(line)
            elif _ROLLDOWN_RULE.match(line):
                # A bare rule opens the frame and closes its code part; help text follows.
                framed = framed or bool(excerpt)
            elif not framed:
                excerpt.append(line)
        found.append(
            log.diagnostic(
                "vite",
                header["msg"],
                file=at["file"] if at else None,
                line=number(at["line"]) if at else None,
                column=number(at["col"]) if at else None,
                excerpt=excerpt,
                code=header["code"],
            )
        )
    return found


def _rollup_like(log: Log, tool: str, text: str, start: int, stop: int) -> Diagnostic:
    """One Rollup error: its message line, then where it is and a frame (0-based columns)."""
    message, plugin = _strip_prefixes(text)
    file: str | None = None
    line: str | None = None
    column: str | None = None
    if match := _POSITION_IN_MESSAGE.match(message):
        return log.diagnostic(
            tool,
            match["msg"],
            file=match["file"],
            line=number(match["line"]),
            column=number(match["col"]),
            excerpt=[text for text in log.lines[start:stop] if _ROLLUP_FRAME.match(text)],
            code=plugin,
        )
    if match := _LOC_IN_MESSAGE.match(message):
        file, line, column, message = match["file"], match["line"], match["col"], match["msg"]
    elif match := _FROM.search(message):
        file = match["file"]
    excerpt: list[str] = []
    for k in range(start, stop):
        current = log.lines[k]
        located = _LOC.match(current) or _FILE.match(current)
        if located and (file is None or line is None):
            file, line, column = located["file"], located["line"], located["col"]
        elif _ROLLUP_FRAME.match(current):
            excerpt.append(current)
        elif file is None and (bare := _BARE_PATH.match(current)):
            file = bare["file"]
    return log.diagnostic(
        tool,
        message,
        file=file,
        line=number(line),
        column=number(column, offset=1),
        excerpt=excerpt,
        code=plugin,
    )


def _strip_prefixes(text: str) -> tuple[str, str | None]:
    """``[vite:css] [plugin vite:css] Error: msg`` → (``msg``, ``vite:css``)."""
    plugin: str | None = None
    for _ in range(5):
        match = _PREFIX.match(text)
        if match is None:
            break
        plugin = plugin or match["plugin"] or match["paren"]
        text = text[match.end() :]
    return text, plugin
