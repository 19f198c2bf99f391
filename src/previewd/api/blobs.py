"""Blob upload: clients ask which contents the server lacks, then send only those."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from previewd.api.deps import service_of, spooled_body
from previewd.schemas import MissingBlobs

router = APIRouter(tags=["blobs"])


class DigestList(BaseModel):
    digests: list[str] = Field(max_length=100_000)


@router.post("/blobs/missing")
async def missing(body: DigestList, request: Request) -> MissingBlobs:
    """Which of these SHA-256 digests the server does not hold yet."""
    return MissingBlobs(missing=service_of(request).missing_blobs(body.digests))


@router.put("/blobs/{digest}", status_code=201)
async def put(digest: str, request: Request) -> dict[str, int | str]:
    """Store one blob; refused unless the bytes hash to ``digest``."""
    service = service_of(request)
    async with spooled_body(request) as body:
        size = await asyncio.to_thread(service.put_blob, digest, body)
    return {"digest": digest, "size": size}
