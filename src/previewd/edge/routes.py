"""The edge's route table: hostname label → the deployment it serves.

The control plane fills it on publish (``routes.set(label, site)``); the edge
only ever reads it, once per request, from memory. A *label* is the part of
the hostname before ``.<preview_domain>``:

- ``<project>``: the project's alias,
- ``<alias>--<project>``: a named alias (a branch, a conversation),
- ``<deployment-id>--<project>``: the permanent URL of one deployment
  (deployment ids start with a digit, aliases do not).

Swapping a label to a new :class:`Site` is one dict assignment, so a request
sees either the old deployment or the new one, never a mix.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from previewd.edge.content_types import content_type_for, is_fingerprinted


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One file of a deployment, as the edge serves it."""

    digest: str  # sha256 hex of the content; also the ETag
    size: int
    content_type: str  # e.g. "text/html; charset=utf-8"
    immutable: bool  # fingerprinted name: cached for a year


@dataclass(frozen=True, slots=True)
class Site:
    """What one label serves: the static files of one deployment."""

    deployment_id: str
    project: str
    files: Mapping[str, FileEntry]  # "index.html", "assets/a.js": relative, no leading slash
    spa: bool = False  # unknown extension-less paths serve index.html with 200
    # Memo of request path → resolution, filled by the edge as requests arrive
    # (see previewd.edge.paths); it lives and dies with the Site.
    resolved: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def build(
        cls,
        deployment_id: str,
        project: str,
        entries: Iterable[tuple[str, str, int]],
        *,
        spa: bool = False,
    ) -> Site:
        """A Site from ``(path, digest, size)`` triples of a deployment's manifest."""
        files = {
            path: FileEntry(digest, size, content_type_for(path), is_fingerprinted(path))
            for path, digest, size in entries
        }
        return cls(deployment_id, project, MappingProxyType(files), spa=spa)


class RouteTable:
    """Label → Site, in memory. Labels are lowercase; ``set(label, None)`` removes one."""

    def __init__(self) -> None:
        self._sites: dict[str, Site] = {}

    def set(self, label: str, site: Site | None) -> None:
        label = label.lower()
        if site is None:
            self._sites.pop(label, None)
        else:
            self._sites[label] = site

    def get(self, label: str) -> Site | None:
        return self._sites.get(label)

    def labels(self) -> list[str]:
        return sorted(self._sites)

    def __len__(self) -> int:
        return len(self._sites)
