"""The Python SDK: ``previewd.Client`` (blocking) and ``previewd.AsyncClient`` talk
to a previewd API over HTTP. The CLI, the watcher and the MCP server are built on them.

    calls.py         what each method asks and how it reads the answer, written once
    sync.py          Client: drives those operations with httpx.Client
    asynchronous.py  AsyncClient: the same with httpx.AsyncClient
    files.py         a local folder as path → digest, size, mode
"""

from previewd.client.asynchronous import AsyncClient
from previewd.client.calls import Progress, token_for
from previewd.client.files import IGNORED, Entry, scan
from previewd.client.sync import Client

__all__ = ["IGNORED", "AsyncClient", "Client", "Entry", "Progress", "scan", "token_for"]
