"""Chat edit formats: assistant messages turned into file changes.

``parse(message)`` finds every edit block in any supported format;
``apply(edits, tree)`` makes them, in order, all or nothing. See
``docs/edit-formats.md`` for the exact semantics of each format.
"""

from previewd.edits.base import Block, Command, Edit, Tree
from previewd.edits.message import Parsed, apply, parse

__all__ = ["Block", "Command", "Edit", "Parsed", "Tree", "apply", "parse"]
