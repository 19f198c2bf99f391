"""The edge: serves previews by Host header, on uvloop + httptools, from memory.

``EdgeServer`` listens; ``RouteTable`` maps hostname labels to ``Site``s (the
static files of one deployment), filled by the control plane on publish.
"""

from previewd.edge.files import BlobReader
from previewd.edge.routes import FileEntry, RouteTable, Site
from previewd.edge.server import EdgeServer

__all__ = ["BlobReader", "EdgeServer", "FileEntry", "RouteTable", "Site"]
