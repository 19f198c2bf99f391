"""Python tracebacks and pip's errors.

A traceback's last frame in the project says where, its last line says what::

    Traceback (most recent call last):
      File "/work/app.py", line 3, in <module>
        print(y)
              ^
    NameError: name 'y' is not defined

A frame in the standard library or in site-packages is skipped for the last
one of the project's own files, when there is one. Of a chain of exceptions
("During handling of the above exception…"), the last one is kept. A
SyntaxError raised while compiling a script prints its frame without the
``Traceback`` line. Python strips a source line's indentation before printing
it, so the caret's position is not a column: it stays in the excerpt.

pip says ``ERROR: …``; "Could not find a version that satisfies" is followed
by "No matching distribution found", which says the same again.
"""

from __future__ import annotations

import re

from previewd.diagnostics.log import Found, Log, number
from previewd.diagnostics.model import Diagnostic

_TRACEBACK = re.compile(r"^\s*Traceback \(most recent call last\):$")
_FRAME = re.compile(
    r'^(?P<indent>\s+)File "(?P<file>.+)", line (?P<line>\d+)(?:, in (?P<func>.+))?$'
)
_EXCEPTION = re.compile(r"^(?P<name>[A-Za-z_][\w.]*)(?:: ?(?P<msg>.*))?$")
# Without a message, only a name that looks like an exception's ("Killed" is not one).
_BARE_NAME = re.compile(r"(?:\.|Error|Exception|Interrupt|Exit|Warning|Iteration)\w*$")
_SYNTAX = re.compile(r"^(?P<name>SyntaxError|IndentationError|TabError): (?P<msg>.+)$")
_CARET = re.compile(r"^\s*[\^~]+\s*$")
_CHAINED = re.compile(
    r"^(?:During handling of the above exception, another exception occurred:"
    r"|The above exception was the direct cause of the following exception:)$"
)
_LIBRARY = re.compile(r"(?:^<|/site-packages/|/dist-packages/|/lib/python\d[\d.]*/)")
_MAX_TRACEBACK = 2000

_PIP = re.compile(r"^\s*(?:ERROR: )+(?P<msg>.+)$")
_PIP_RICH = re.compile(r"^\s*error: (?P<code>[a-z][a-z-]+)$")
_PIP_RICH_MESSAGE = re.compile(r"^\s*× (?P<msg>.+)$")
_PIP_KNOWN = re.compile(
    r"^(?:Could not find a version|No matching distribution|Could not open requirements file"
    r"|Invalid requirement|Cannot install|Could not build wheels|Failed to build installable"
    r"|Could not install packages|Package .* requires a different Python|Directory .* is not installable"
    r"|Ignored the following|Double requirement|Hashes are required|THESE PACKAGES DO NOT MATCH)"
)
_PIP_SKIP = re.compile(
    r"^(?:ResolutionImpossible|pip's dependency resolver does not currently|Exception:$"
    r"|Failed building wheel for|No matching distribution found for)"
)
_PIP_WHERE = re.compile(
    r"\(from line (?P<line>\d+) of (?P<file>[^)]{1,300})\)|-r (?P<file2>\S+) \(line (?P<line2>\d+)\)"
)
_PIP_MISSING_FILE = re.compile(r"No such file or directory: '(?P<file>[^']+)'")


def traceback(log: Log, index: int) -> Found | None:
    if not _TRACEBACK.match(log.lines[index]):
        return None
    # Output of a subprocess (pip building a package) comes indented as a whole.
    margin = log.lines[index][: len(log.lines[index]) - len(log.lines[index].lstrip())]
    frames: list[tuple[re.Match[str], list[str]]] = []
    end = index + 1
    while (line := log.line(end)) is not None and end - index < _MAX_TRACEBACK:
        if not (line.startswith(margin) and line[len(margin) : len(margin) + 1].isspace()):
            break
        if match := _FRAME.match(line):
            frames.append((match, []))
        elif frames and line.strip() and not line.strip().startswith("[Previous line repeated"):
            frames[-1][1].append(line)  # the source line and its carets
        end += 1
    last = log.line(end) or ""
    exception = _EXCEPTION.match(last[len(margin) :]) if last.startswith(margin) else None
    if exception and exception["msg"] is None and not _BARE_NAME.search(exception["name"]):
        exception = None
    if exception is None or not frames:
        return [], end  # cut short (killed, truncated): nothing sure to say
    end += 1
    if _chained(log, end):
        return [], end
    frame, source = _pick(log, frames)
    return [_exception(log, exception, frame, source)], end


def syntax_error(log: Log, index: int) -> Found | None:
    """``  File "x.py", line 3`` + source + caret + ``SyntaxError: …``, no Traceback line."""
    frame = _FRAME.match(log.lines[index])
    if frame is None or frame["func"] is not None:
        return None
    for end in range(index + 1, index + 5):
        line = log.line(end)
        if line is None or (line and not line[:1].isspace() and not _SYNTAX.match(line)):
            return None
        if line and (error := _SYNTAX.match(line)):
            found = _exception(log, error, frame, log.lines[index + 1 : end])
            return [found], end + 1
    return None


def _chained(log: Log, start: int) -> bool:
    """Whether another exception follows (the message may run on for a few lines)."""
    for k in range(start, start + 30):
        line = log.line(k)
        if line is None or _TRACEBACK.match(line):
            return False
        if _CHAINED.match(line):
            return True
    return False


def _pick(
    log: Log, frames: list[tuple[re.Match[str], list[str]]]
) -> tuple[re.Match[str], list[str]]:
    """The last frame in the project; else the last outside libraries; else the last."""
    for inside_only in (True, False):
        for frame, source in reversed(frames):
            path = log.path(frame["file"])
            if path is None or _LIBRARY.search(path):
                continue
            if not (inside_only and path.startswith("/")):
                return frame, source
    return frames[-1]


def _exception(
    log: Log, exception: re.Match[str], frame: re.Match[str], source: list[str]
) -> Diagnostic:
    name = exception["name"]
    message = exception["msg"] or ""
    return log.diagnostic(
        "python",
        message or name,
        file=frame["file"],
        line=number(frame["line"]),
        excerpt=source,
        code=name if message else None,
    )


def pip(log: Log, index: int) -> Found | None:
    line = log.lines[index]
    if rich := _PIP_RICH.match(line):
        for k in range(index + 1, index + 4):
            if (said := _PIP_RICH_MESSAGE.match(log.line(k) or "")) is not None:
                return [log.diagnostic("pip", said["msg"], code=rich["code"])], k + 1
        return None
    match = _PIP.match(line)
    if match is None:
        return None
    message = match["msg"]
    if _PIP_SKIP.match(message):
        if message.startswith("No matching distribution") and not _follows_could_not_find(
            log, index
        ):
            return [log.diagnostic("pip", message)], index + 1
        return [], index + 1
    if not (_PIP_KNOWN.match(message) or log.from_pip):
        return None
    file: str | None = None
    line_number: int | None = None
    # "(from line 3 of requirements.txt)" ends the message, or the frame under it.
    for nearby in (message, *(log.line(k) or "" for k in (index + 1, index + 2))):
        if where := _PIP_WHERE.search(nearby):
            file = where["file"] or where["file2"]
            line_number = number(where["line"] or where["line2"])
            break
    else:
        if missing := _PIP_MISSING_FILE.search(message):
            file = missing["file"]
    found = log.diagnostic(
        "pip", message, file=file, line=line_number, excerpt=_conflict(log, index + 1)
    )
    return [found], index + 1


def _conflict(log: Log, start: int) -> list[str]:
    """The lines under "The conflict is caused by:", which say who wants what."""
    k = start
    while log.line(k) == "":
        k += 1
    if log.line(k) != "The conflict is caused by:":
        return []
    causes: list[str] = []
    while (line := log.line(k + 1 + len(causes))) and line[:1].isspace():
        causes.append(line)
    return causes


def _follows_could_not_find(log: Log, index: int) -> bool:
    previous = log.line(index - 1) or ""
    return "Could not find a version that satisfies" in previous
