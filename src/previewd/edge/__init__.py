"""The edge: serves previews by Host header, on uvloop + httptools, from memory.

``EdgeServer`` listens; ``RouteTable`` maps hostname labels to ``Site``s (the
static files of one deployment, and ``Route``s of paths to its server, an
``Upstream`` the edge proxies to), filled by the control plane on publish.
"""

from previewd.edge.files import BlobReader
from previewd.edge.proxy import ProxyLimits
from previewd.edge.routes import FileEntry, Route, RouteTable, Site
from previewd.edge.server import EdgeServer
from previewd.edge.upstream import Balancer, Upstream

__all__ = [
    "Balancer",
    "BlobReader",
    "EdgeServer",
    "FileEntry",
    "ProxyLimits",
    "Route",
    "RouteTable",
    "Site",
    "Upstream",
]
