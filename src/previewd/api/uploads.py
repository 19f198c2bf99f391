"""Turns a deployment upload into a changeset, by its content type.

JSON (inline contents or digests of uploaded blobs), multipart form data (one
part per file, the part's filename is the path), or a tar / tar.gz / zip
archive. Parsing hashes and stores bytes, so it runs in a thread.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, BinaryIO

from fastapi import Request
from starlette.datastructures import UploadFile

from previewd import changeset
from previewd.api.deps import spooled_body
from previewd.errors import InvalidContent, UnsupportedMediaType
from previewd.service import Service

ARCHIVES: dict[str, Callable[..., changeset.Changeset]] = {
    "application/x-tar": changeset.from_tar,
    "application/gzip": changeset.from_tar,
    "application/x-gzip": changeset.from_tar,
    "application/x-gtar": changeset.from_tar,
    "application/x-bzip2": changeset.from_tar,
    "application/x-xz": changeset.from_tar,
    "application/zip": changeset.from_zip,
    "application/x-zip-compressed": changeset.from_zip,
}


async def read_changeset(
    request: Request, service: Service, base: str | None
) -> changeset.Changeset:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    limits = service.config
    if kind == "application/json":
        body = _json(await request.body())
        result = await asyncio.to_thread(changeset.from_json, body, service.blobs, limits)
    elif kind == "multipart/form-data":
        result = await _multipart(request, service)
    elif kind in ARCHIVES:
        result = await _archive(request, service, ARCHIVES[kind])
    else:
        raise UnsupportedMediaType(
            f"cannot read a deployment from content type {kind or '(none)'!r}",
            hint="Send application/json, multipart/form-data, a tar (optionally gzip, bz2, xz) "
            "or a zip archive.",
        )
    if base is not None:
        result.base = base
    return result


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidContent(f"the body is not valid JSON: {exc}") from None


async def _multipart(request: Request, service: Service) -> changeset.Changeset:
    limits = service.config
    form = await request.form(max_files=limits.max_files + 1, max_fields=100)
    try:
        parts: list[tuple[str, BinaryIO]] = []
        for key, value in form.multi_items():
            if not isinstance(value, UploadFile):
                raise InvalidContent(
                    f"form field {key!r} is not a file", hint="Pass options as query parameters."
                )
            parts.append((value.filename or key, value.file))
        return await asyncio.to_thread(changeset.from_parts, parts, service.blobs, limits)
    finally:
        await form.close()


async def _archive(
    request: Request, service: Service, parse: Callable[..., changeset.Changeset]
) -> changeset.Changeset:
    async with spooled_body(request) as body:
        return await asyncio.to_thread(parse, body, service.blobs, service.config)
