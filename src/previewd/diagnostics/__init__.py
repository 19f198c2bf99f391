"""Structured errors from build logs: what failed, in which file, at which line.

    diagnostics = parse(log_lines)            # [Diagnostic(tool, message, file, line, …)]
    print(diagnostics[0].summary())           # src/App.tsx:12:5 TS2322: Type 'string' is …

A failed build's log goes through recognisers for the tools previewd builds
with; each reads the shape its tool prints and nothing else, so an
unrecognised log gives ``[]`` rather than a guess.

    model.py       Diagnostic, the one shape every tool's error becomes
    log.py         cleaning lines (colours, control characters) and paths
    parser.py      parse(): every recogniser over the log, deduplicated, capped
    typescript.py  tsc, plain and --pretty
    bundlers.py    esbuild, Vite (Rollup and Rolldown), the Rollup CLI
    node.py        Node's uncaught errors, npm
    python.py      Python tracebacks, pip
    generic.py     file:line:col: error: … from compilers and linters
"""

from previewd.diagnostics.model import TOOLS, Diagnostic
from previewd.diagnostics.parser import MAX_DIAGNOSTICS, parse

__all__ = ["MAX_DIAGNOSTICS", "TOOLS", "Diagnostic", "parse"]
