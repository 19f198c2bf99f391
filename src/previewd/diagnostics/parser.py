"""Reading a whole log: every recogniser at every line, first match wins."""

from __future__ import annotations

import os
from collections.abc import Iterable

from previewd.diagnostics import bundlers, generic, node, python, typescript
from previewd.diagnostics.log import Log, Recogniser
from previewd.diagnostics.model import Diagnostic

#: Past this many, more errors only repeat the story (and bloat the API answer).
MAX_DIAGNOSTICS = 50

# Blocks before single lines: a block swallows the lines a line recogniser would
# report a second time (the esbuild error inside a Vite block, a Node stack).
RECOGNISERS: tuple[Recogniser, ...] = (
    bundlers.vite,
    bundlers.rollup,
    bundlers.esbuild,
    python.traceback,
    python.syntax_error,
    node.node_error,
    node.npm,
    typescript.plain,
    typescript.pretty,
    bundlers.esbuild_plain,
    python.pip,
    generic.compiler,
)


def parse(lines: Iterable[str], *, root: str | os.PathLike[str] | None = None) -> list[Diagnostic]:
    """The errors a build log reports, in order, without repeats, at most 50.

    ``lines`` are the log's lines (stdout and stderr, colours and all; a string
    holding several lines is split). Paths under the sandbox's ``/work``, or
    under ``root`` when the build ran elsewhere, come out relative. When no
    tool's error is recognised the answer is ``[]``, and the log's tail is the
    best report.
    """
    log = Log(lines, root)
    found: dict[tuple[str | None, int | None, int | None, str], Diagnostic] = {}
    index = 0
    while index < len(log.lines) and len(found) < MAX_DIAGNOSTICS:
        for recognise in RECOGNISERS:
            result = recognise(log, index)
            if result is not None:
                diagnostics, after = result
                for diagnostic in diagnostics:
                    key = (diagnostic.file, diagnostic.line, diagnostic.column, diagnostic.message)
                    found.setdefault(key, diagnostic)
                index = max(after, index + 1)  # always move on, whatever a recogniser says
                break
        else:
            index += 1
    return list(found.values())[:MAX_DIAGNOSTICS]
