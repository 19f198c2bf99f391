"""Is a preview server answering? One HTTP request through its socket says.

Any status line counts: a server that answers ``500`` is up (its error is the
app's to report); one that accepts and never answers, or refuses, is not.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

_REQUEST = (
    b"GET / HTTP/1.1\r\nHost: preview\r\nUser-Agent: previewd-health\r\nConnection: close\r\n\r\n"
)


async def probe(socket: Path, timeout: float) -> bool:
    """True when a request through ``socket`` gets a status line back within ``timeout`` s."""
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_unix_connection(socket)
            writer.write(_REQUEST)
            return (await reader.readline()).startswith(b"HTTP/")
    except (OSError, TimeoutError):
        return False
    finally:
        if writer is not None:
            writer.close()
