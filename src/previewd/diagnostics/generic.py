"""The ``file:line:col: error: message`` shape that compilers share.

gcc and clang (a native module that node-gyp or pip builds), mypy, and many
linters print it; the tool is not always nameable, so it is ``generic``.
"""

from __future__ import annotations

import re

from previewd.diagnostics.log import Found, Log, number

_ERROR = re.compile(
    r"^(?P<file>[^\s:][^:]*):(?P<line>\d+)(?::(?P<col>\d+))?: (?:fatal )?error: (?P<msg>.+)$"
)


def compiler(log: Log, index: int) -> Found | None:
    match = _ERROR.match(log.lines[index])
    if match is None:
        return None
    found = log.diagnostic(
        "generic",
        match["msg"],
        file=match["file"],
        line=number(match["line"]),
        column=number(match["col"]),
    )
    return [found], index + 1
