"""What route handlers take from the request."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import BinaryIO, cast

from fastapi import Request

from previewd.conversations import Conversations
from previewd.service import Service


def service_of(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def conversations_of(request: Request) -> Conversations:
    conversations: Conversations = request.app.state.conversations
    return conversations


@asynccontextmanager
async def spooled_body(request: Request) -> AsyncIterator[BinaryIO]:
    """The request body in a temporary file (in memory while small), rewound."""
    tmp = service_of(request).blobs.root / "tmp"
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024, dir=str(tmp)) as f:
        async for chunk in request.stream():
            f.write(chunk)
        f.seek(0)
        yield cast(BinaryIO, f)
