"""Node's uncaught errors, and npm's own errors.

Node prints where an uncaught error was thrown, the source line and a caret,
then the error and its stack::

    /work/server.js:5
      return y + 1;
      ^

    ReferenceError: y is not defined
        at f (/work/server.js:5:3)

When the throw happened inside Node (``node:internal/…``, a missing module),
the place that matters is the first stack frame in the project, the first
entry of a ``Require stack:``, or the file named by "imported from".

npm prints a block of ``npm ERR!`` (npm ≤ 9) or ``npm error`` lines whose
``code`` says what went wrong. A failed script (``ELIFECYCLE``, ``code 1``) is
not an error of its own: the script printed the real one above it.
"""

from __future__ import annotations

import re

from previewd.diagnostics.log import Found, Log, is_stack, number

_THROWN_AT = re.compile(r"^(?P<file>\S+):(?P<line>\d+)$")
_CARET = re.compile(r"^(?P<indent>\s*)\^+$")
_ERROR = re.compile(
    r"^(?P<name>[A-Z][\w$]*(?:Error|Exception)|Error)(?: \[(?P<code>[A-Z0-9_]+)\])?: (?P<msg>.+)$"
)
_FRAME = re.compile(r"^\s+at (?:.*?\()?(?P<file>[^\s()]+?):(?P<line>\d+):(?P<col>\d+)\)?$")
_REQUIRED_BY = re.compile(r"^- (?P<file>/\S+)$")
_IMPORTED_FROM = re.compile(r"imported from (?P<file>\S+)$")

_NPM = re.compile(r"^npm (?:ERR!|error)(?: (?P<rest>.*))?$")
_NPM_CODE = re.compile(r"^code (?P<code>\S+)$")
_NPM_PATH = re.compile(r"^path (?P<path>\S+)$")
_NPM_NOISE = re.compile(
    r"^(?:errno |syscall |path |A complete log of this run|For a full report see|Log files"
    r"|/\S+\.(?:log|txt)$|\s*/\S+/_logs/|This is probably not a problem with npm"
    r"|404$|$)"
)
_NPM_SCRIPT_FAILED = re.compile(
    r"^(?:Lifecycle script .* failed|command failed|Failed at the |Exit status )"
)
_NPM_HEADINGS = {"notarget", "enoent", "404"}
_NPM_CONFLICT = re.compile(r"^(?:Could not resolve dependency:|Conflicting peer dependency:)\s*")


def node_error(log: Log, index: int) -> Found | None:
    thrown = _THROWN_AT.match(log.lines[index])
    if thrown is None:
        return None
    caret_at = index + 2
    caret = _CARET.match(log.line(caret_at) or "")
    if caret is None:
        return None
    error_at = caret_at + 1
    while log.line(error_at) == "" and error_at < caret_at + 3:
        error_at += 1
    error = _ERROR.match(log.line(error_at) or "")
    if error is None:
        return None
    end = error_at + 1
    frames: list[re.Match[str]] = []
    required_by: str | None = None
    while (line := log.line(end)) is not None and end - error_at < 200:
        if is_stack(line):
            if match := _FRAME.match(line):
                frames.append(match)
        elif match := _REQUIRED_BY.match(line):
            required_by = required_by or match["file"]
        elif not (line == "Require stack:" or line[:1] == " " or line in ("{", "}")):
            break
        end += 1

    if error["msg"].startswith("Command failed:"):
        return [], end  # execSync's wrapper: the command printed its own error above
    code = error["code"] or error["name"]
    thrown_in = log.path(thrown["file"])  # None inside Node itself
    frame = next((f for f in frames if _in_project(log.path(f["file"]))), None)
    if thrown_in is not None and (_in_project(thrown_in) or frame is None):
        found = log.diagnostic(
            "node",
            error["msg"],
            file=thrown["file"],
            line=number(thrown["line"]),
            column=len(caret["indent"]) + 1,
            excerpt=log.lines[index + 1 : caret_at + 1],
            code=code,
        )
    elif frame is not None:
        found = log.diagnostic(
            "node",
            error["msg"],
            file=frame["file"],
            line=number(frame["line"]),
            column=number(frame["col"]),
            code=code,
        )
    else:
        imported = _IMPORTED_FROM.search(error["msg"])
        origin = required_by or (imported["file"] if imported else None)
        found = log.diagnostic("node", error["msg"], file=origin, code=code)
    return [found], end


def _in_project(path: str | None) -> bool:
    """Relative to the project root, and not a dependency's file."""
    return path is not None and not path.startswith("/") and "node_modules/" not in path


def npm(log: Log, index: int) -> Found | None:
    if not _NPM.match(log.lines[index]):
        return None
    end = index
    block: list[str] = []
    while (line := log.line(end)) is not None and (match := _NPM.match(line)):
        rest = (match["rest"] or "").strip()
        if block and _NPM_CODE.match(rest):
            break  # the next error's block
        block.append(rest)
        end += 1

    code: str | None = None
    file: str | None = None
    lines: list[str] = []
    for rest in block:
        if match := _NPM_CODE.match(rest):
            code = match["code"]
            continue
        path = _NPM_PATH.match(rest)
        if path and _in_project(log.path(path["path"])):
            file = path["path"]  # ENOENT: the package.json or file that is missing
        if not _NPM_NOISE.match(rest):
            lines.append(rest)
    script_failed = code == "ELIFECYCLE" or (code or "").isdigit()
    if script_failed or not lines or any(_NPM_SCRIPT_FAILED.match(line) for line in lines):
        return [], end
    message = lines[0]
    heading, _, after = message.partition(" ")
    if after and heading.lower() in {*_NPM_HEADINGS, (code or "").lower()}:
        message = after
    for k, line in enumerate(lines[:-1]):
        if conflict := _NPM_CONFLICT.match(line):
            detail = line[conflict.end() :] or lines[k + 1]
            message = f"{message}: {detail}"
            break
    return [log.diagnostic("npm", message, file=file, code=code)], end
