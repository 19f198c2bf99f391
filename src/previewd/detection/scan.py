"""One pass of detection over a tree: its paths, the files read, and the problems met.

Everything detection learns from a file goes through :class:`Scan`, which
reads each file at most once and turns what cannot be read (too large, not
UTF-8, malformed JSON or TOML) into a sentence instead of a traceback.
"""

from __future__ import annotations

import json
import posixpath
import re
import tomllib
from typing import Any

from previewd.detection.trees import READ_LIMIT, SourceTree
from previewd.errors import LimitExceeded


class Scan:
    def __init__(self, tree: SourceTree) -> None:
        self.tree = tree
        self.files = frozenset(tree.paths())
        dirs = {"."}
        for path in self.files:
            parts = path.split("/")
            dirs.update("/".join(parts[:end]) for end in range(1, len(parts)))
        self.dirs = frozenset(dirs)
        self.problems: list[str] = []  # shown with every detection, whatever was chosen
        self._texts: dict[str, str | None] = {}

    def has(self, path: str) -> bool:
        return path in self.files

    def note(self, problem: str) -> None:
        if problem not in self.problems:
            self.problems.append(problem)

    def text(self, path: str) -> str | None:
        """The content of ``path`` as text, or None (absent, too large, not UTF-8)."""
        if path not in self._texts:
            self._texts[path] = self._read(path)
        return self._texts[path]

    def _read(self, path: str) -> str | None:
        if path not in self.files:
            return None
        try:
            data = self.tree.read(path)
        except LimitExceeded:
            self.note(f"{path} is larger than {READ_LIMIT // 1024} KiB, so it was not read.")
            return None
        if data is None:
            return None
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError:
            self.note(f"{path} is not UTF-8 text, so it was ignored.")
            return None

    def json_object(self, path: str) -> dict[str, Any] | None:
        text = self.text(path)
        if text is None:
            return None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            self.note(
                f"{path} could not be parsed as JSON (line {e.lineno}, column {e.colno}: "
                f"{e.msg}), so it was ignored."
            )
            return None
        if not isinstance(data, dict):
            self.note(f"{path} is not a JSON object, so it was ignored.")
            return None
        return data

    def toml(self, path: str) -> dict[str, Any] | None:
        text = self.text(path)
        if text is None:
            return None
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            self.note(f"{path} could not be parsed as TOML ({e}), so it was ignored.")
            return None

    def literal(self, paths: tuple[str, ...], key: str) -> tuple[str, str] | None:
        """The first ``key: "value"`` string literal in one of ``paths``: (path, value).

        Configuration in JavaScript is code; only a value written out literally
        on a line that is not a comment is believed.
        """
        pattern = re.compile(rf"""\b{key}\s*:\s*(["'`])([^"'`$\n]+)\1""")
        for path in paths:
            text = self.text(path)
            if text is None:
                continue
            for line in text.splitlines():
                if line.lstrip().startswith(("//", "*", "/*")):
                    continue
                if match := pattern.search(line):
                    return path, match.group(2)
        return None


def join(folder: str, *names: str) -> str:
    """``folder/names…`` normalised; ``"."`` is the root."""
    return posixpath.normpath(posixpath.join(folder, *names))


def inside(folder: str, relative: str) -> str | None:
    """``relative`` (as written in a config file in ``folder``) from the root, if it stays in the tree."""
    if posixpath.isabs(relative):
        return None
    path = join(folder, relative)
    if path == ".." or path.startswith("../"):
        return None
    return path


def shown(folder: str) -> str:
    """A folder as reasons print it: ``web/``, or ``the root``."""
    return "the root" if folder == "." else f"{folder}/"
