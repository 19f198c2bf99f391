"""A message's edits applied to a conversation's head: the files to deploy, not yet recorded."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from previewd import edits
from previewd.blobs import BlobStore
from previewd.changeset import FileSpec
from previewd.conversations import replies
from previewd.conversations.queries import Item
from previewd.errors import EditFailed, NoEdits
from previewd.schemas import BlockView, CommandView


@dataclass
class Prepared:
    """A message (or the new messages of a list) applied to the head, not yet recorded."""

    files: dict[str, FileSpec]
    changes: dict[str, str]
    commands: list[CommandView]
    blocks: list[BlockView]
    rows: list[tuple[Item, dict[str, str], list[CommandView]]] = field(default_factory=list)


def prepare(
    blobs: BlobStore, head: Mapping[str, FileSpec], items: list[Item], listed: bool
) -> Prepared:
    """Apply ``items`` in order to ``head`` (blocking: blob reads, parsing; in a thread)."""
    current: dict[str, FileSpec | bytes] = dict(head)

    def read(path: str) -> bytes:
        value = current[path]
        return value if isinstance(value, bytes) else blobs.read(value.digest)

    prepared = Prepared({}, {}, [], [])
    for item in items:
        try:
            parsed = edits.parse(item.text, final=True)
            tree = edits.apply(parsed.edits, edits.Tree(base=frozenset(current), read=read))
            written, deleted = tree.changed()
        except NoEdits:
            if listed:
                continue  # a prose turn in a history
            raise
        except EditFailed as exc:
            if item.position is None:
                raise
            raise EditFailed(
                f"message {item.position} of the list: {exc.message}", hint=exc.hint
            ) from None
        for path in deleted:
            del current[path]
        current.update(written)
        commands = [replies.command(c) for c in tree.commands]
        own = {p: "written" for p in written} | {p: "deleted" for p in deleted}
        prepared.rows.append((item, own, commands))
        prepared.commands += commands
        prepared.blocks += replies.blocks(parsed.edits)
    if not prepared.rows:
        raise NoEdits(
            "no edits found in the list's new assistant messages: nothing was changed or built",
            hint="Name each file: a fence like ```js file=src/app.js, a SEARCH/REPLACE "
            "block, a unified diff or a *** Begin Patch envelope.",
        )
    for path, value in current.items():
        if isinstance(value, bytes):
            old = head.get(path)
            mode = old.mode if old else 0o644  # a rewritten script stays executable
            prepared.files[path] = FileSpec(blobs.put(value), len(value), mode)
            prepared.changes[path] = "written"
        else:
            prepared.files[path] = value
    for path in head.keys() - current.keys():
        prepared.changes[path] = "deleted"
    prepared.changes = dict(sorted(prepared.changes.items()))
    return prepared
