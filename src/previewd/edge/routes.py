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

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from previewd.edge.content_types import content_type_for, is_fingerprinted
from previewd.edge.upstream import Balancer, Target, Upstream

STATIC: Literal["static"] = "static"


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One file of a deployment, as the edge serves it."""

    digest: str  # sha256 hex of the content; also the ETag
    size: int
    content_type: str  # e.g. "text/html; charset=utf-8"
    immutable: bool  # fingerprinted name: cached for a year


_UNRESERVED_ESCAPE = re.compile(
    rb"%(4[1-9A-Fa-f]|5[0-9Aa]|6[1-9A-Fa-f]|7[0-9Aa]|3[0-9]|2[DEde]|5[Ff]|7[Ee])"
)


def _unescape(match: re.Match[bytes]) -> bytes:
    return bytes([int(match.group(1), 16)])


@dataclass(frozen=True, slots=True)
class Route:
    """A path pattern and what answers it: an :class:`Upstream` (the preview's server) or
    ``"static"`` (the deployment's files).

    ``/api/*`` matches ``/api`` and everything under ``/api/``; ``/*`` matches
    every path; a pattern without ``*`` matches that path only. The query
    string is ignored; percent-encoded unreserved characters are decoded first
    (``/%61pi/x`` is ``/api/x``, as RFC 3986 says they are equivalent), other
    escapes are compared as sent.
    """

    pattern: str
    target: Target | Literal["static"]
    _prefix: bytes = field(init=False, repr=False, compare=False)
    _exact: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.pattern.startswith("/"):
            raise ValueError(f"a route pattern starts with '/': {self.pattern!r}")
        if not isinstance(self.target, Upstream | Balancer) and self.target != STATIC:
            raise ValueError(f"a route goes to an Upstream or 'static', not {self.target!r}")
        pattern = self.pattern.encode("latin-1")
        if pattern.endswith(b"*"):
            prefix = pattern[:-1]
            exact = prefix[:-1] if prefix.endswith(b"/") and len(prefix) > 1 else prefix
        else:
            prefix, exact = b"", pattern
        object.__setattr__(self, "_prefix", prefix)
        object.__setattr__(self, "_exact", exact)

    def matches(self, path: bytes) -> bool:
        prefix = self._prefix
        return (bool(prefix) and path.startswith(prefix)) or path == self._exact


@dataclass(frozen=True, slots=True)
class Site:
    """What one label serves: the static files of one deployment, and its server routes.

    ``routes`` are tried in order, the first match wins; a path no route
    matches is served from ``files``.
    """

    deployment_id: str
    project: str
    files: Mapping[str, FileEntry]  # "index.html", "assets/a.js": relative, no leading slash
    spa: bool = False  # unknown extension-less paths serve index.html with 200
    routes: tuple[Route, ...] = ()
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
        routes: Iterable[Route | tuple[str, Target | Literal["static"]]] = (),
    ) -> Site:
        """A Site from ``(path, digest, size)`` triples of a deployment's manifest,
        and ``(pattern, Upstream | "static")`` routes."""
        files = {
            path: FileEntry(digest, size, content_type_for(path), is_fingerprinted(path))
            for path, digest, size in entries
        }
        built = tuple(r if isinstance(r, Route) else Route(*r) for r in routes)
        return cls(deployment_id, project, MappingProxyType(files), spa=spa, routes=built)

    def upstream_for(self, target: bytes) -> Target | None:
        """The Upstream or Balancer that answers the request target, or None for static files."""
        path = target.partition(b"?")[0]
        if b"%" in path:
            path = _UNRESERVED_ESCAPE.sub(_unescape, path)
        for route in self.routes:
            if route.matches(path):
                found = route.target
                return found if isinstance(found, Upstream | Balancer) else None
        return None


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
