"""One error found in a build log, in a shape the API, the CLI and the UI share."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

#: The values :attr:`Diagnostic.tool` takes.
TOOLS = frozenset(
    {"typescript", "vite", "esbuild", "rollup", "npm", "pip", "python", "node", "generic"}
)


@dataclass(frozen=True)
class Diagnostic:
    """An error a build tool printed, with where it points when the tool said so.

    ``file`` is relative to the project root when the path lies inside it (the
    sandbox's ``/work`` or the root given to :func:`~previewd.diagnostics.parse`),
    and as printed otherwise. ``line`` and ``column`` are 1-based, as editors
    count; the 0-based columns of esbuild and Rollup are converted. ``code`` is
    the tool's name for the error when it printed one (``TS2322``, ``E404``,
    ``NameError``, a Vite plugin's name).
    """

    tool: str
    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    excerpt: str | None = None
    code: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def location(self) -> str | None:
        """``file:line:column``, as much of it as is known."""
        if self.file is None:
            return None
        parts = [self.file, *(str(n) for n in (self.line, self.column) if n is not None)]
        if self.line is None:
            del parts[1:]  # a column without a line points nowhere
        return ":".join(parts)

    def summary(self) -> str:
        """One line: ``src/App.tsx:12:5 TS2322: Type 'string' is not …``."""
        where = self.location() or self.tool
        if self.code:
            return f"{where} {self.code}: {self.message}"
        return f"{where}: {self.message}"
