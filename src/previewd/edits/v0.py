"""v0 code projects: ``<CodeProject>`` blocks of ```` ```lang file="path" ```` fences, and file tags.

A fence inside a CodeProject names its file as any fence does (v0 always writes
``file="..."``); ``<DeleteFile file="..." />`` and ``<MoveFile from="..."
to="..." />`` delete and move. Tags count only outside fences, so a React
component that happens to be called ``DeleteFile`` inside a file is code, not
an instruction. v0's ``QuickEdit`` (prose that v0's own model merges) and
``ImportReadOnlyFile`` (files from v0's read-only library) cannot be applied
here and are refused, as is a fence whose content is a ``url=`` to fetch.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator

from previewd.edits.base import (
    Block,
    Delete,
    Edit,
    Found,
    Lines,
    Malformed,
    Move,
    Rejected,
    Unterminated,
    attributes,
    path_of,
)
from previewd.edits.fences import Fence, scan, whole_file

# ``[^<>]*`` keeps every attempt short: no other tag can start inside a tag.
_TAG = re.compile(
    r"<(/?)(CodeProject|DeleteFile|MoveFile|QuickEdit|ImportReadOnlyFile)(?=[\s>/]|$)([^<>]*)(>?)"
)
_REFUSED = {
    "QuickEdit": "v0's QuickEdit describes a change for v0's own model to merge",
    "ImportReadOnlyFile": "v0's ImportReadOnlyFile copies from v0's read-only library",
}


def find(text: str) -> Iterator[Found]:
    if _TAG.search(text) is None:  # most messages: no need to map their fences
        return
    fences = list(scan(text))
    starts = [fence.start for fence in fences]
    lines = Lines(text)
    events: list[tuple[int, Fence | re.Match[str] | tuple[int, int]]] = []
    project: re.Match[str] | None = None
    for tag in _TAG.finditer(text):
        if _inside(fences, starts, tag.start()):
            continue
        closing, name = tag.group(1), tag.group(2)
        if name == "CodeProject":
            if not tag.group(4):
                events.append((tag.start(), tag))  # an open tag cut short
            elif not closing and project is None:
                project = tag
            elif closing and project is not None:
                inner = bisect.bisect_left(starts, project.end())
                while inner < len(fences) and fences[inner].start < tag.start():
                    events.append((fences[inner].start, fences[inner]))
                    inner += 1
                project = None
        elif not closing:
            events.append((tag.start(), tag))
    if project is not None:
        # Its whole fences still apply while streaming; the open end is what waits.
        at = project.end()
        for fence in fences[bisect.bisect_left(starts, project.end()) :]:
            if fence.closed:
                events.append((fence.start, fence))
                at = fence.end
        tags = [e for s, e in events if isinstance(e, re.Match) and s > project.start()]
        at = max([at, *(tag.end() for tag in tags)])
        if all(tag.group(4) for tag in tags):  # else the tag cut short is what waits
            events.append((at, (project.start(), at)))
    for _, event in sorted(events, key=lambda e: e[0]):
        if isinstance(event, tuple):
            opened, at = event
            raise Malformed(
                Block("v0", at, lines.at(at)),
                Unterminated(
                    f"the CodeProject opened on line {lines.at(opened)} is never closed",
                    hint="End the project with </CodeProject>.",
                ),
            )
        if isinstance(event, Fence):
            write = whole_file(text, event, "v0")
            if write is not None:
                yield Found(event.start, event.end, [write])
            continue
        block = Block("v0", event.start(), lines.at(event.start()))
        try:
            edit = _tag(block, event)
        except Rejected as error:
            raise Malformed(block, error) from None
        if edit is not None:
            yield Found(event.start(), event.end(), [edit])


def _inside(fences: list[Fence], starts: list[int], offset: int) -> bool:
    index = bisect.bisect_right(starts, offset) - 1
    return index >= 0 and fences[index].start <= offset < fences[index].end


def _tag(block: Block, tag: re.Match[str]) -> Edit | None:
    name = tag.group(2)
    if not tag.group(4):
        raise Unterminated(f"the {name} tag is never closed", hint="Close it with >.")
    attrs = attributes(tag.group(3))
    if name in _REFUSED:
        block.path = attrs.get("file") or attrs.get("to")
        raise Rejected(
            f"{_REFUSED[name]}; previewd cannot apply it",
            hint='Send the whole file in a ```tsx file="..." fence, or a diff.',
        )
    if not attrs:  # "the <DeleteFile /> component" in prose names nothing
        return None
    if name == "DeleteFile":
        path = _path(block, attrs, "file", '<DeleteFile file="app/old.tsx" />')
        return Delete(block, path)
    source = _path(block, attrs, "from", '<MoveFile from="app/a.tsx" to="app/b.tsx" />')
    target = _path(block, attrs, "to", '<MoveFile from="app/a.tsx" to="app/b.tsx" />')
    return Move(block, source, target)


def _path(block: Block, attrs: dict[str, str], key: str, example: str) -> str:
    raw = attrs.get(key)
    if raw is None:
        raise Rejected(f"the tag has no {key}=", hint=f"Write it like {example}.")
    block.path = raw
    path = path_of(raw)
    block.path = path
    return path
