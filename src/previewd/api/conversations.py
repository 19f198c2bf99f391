"""Conversations: a chat's messages in, a preview URL out (see docs/conversations.md)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from previewd.api.deps import conversations_of, service_of
from previewd.errors import InvalidContent, LimitExceeded, UnsupportedMediaType
from previewd.schemas import ConversationView, MessageReply, MessageView

router = APIRouter(tags=["conversations"])

_TEXT_TYPES = ("text/plain", "text/markdown", "text/x-markdown")
_JSON_FIELDS = {"content", "messages", "final", "wait", "timeout"}
_JSON_SLACK = 64 * 1024  # the envelope around a message: field names, a short history


class NewConversation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, description="An alias name; default chat-<6 random>.")
    base: str | None = Field(
        None, description='Where the first message starts: null (empty), "latest" or a deployment.'
    )


@router.post("/projects/{project}/conversations", status_code=201)
async def create_conversation(
    project: str, request: Request, body: NewConversation | None = None
) -> ConversationView:
    body = body or NewConversation()
    return await conversations_of(request).create(project, body.name, base=body.base)


@router.get("/projects/{project}/conversations")
async def list_conversations(project: str, request: Request) -> list[ConversationView]:
    return await conversations_of(request).list(project)


@router.get("/projects/{project}/conversations/{name}")
async def get_conversation(project: str, name: str, request: Request) -> ConversationView:
    return await conversations_of(request).get(project, name)


@router.delete("/projects/{project}/conversations/{name}", status_code=204)
async def delete_conversation(project: str, name: str, request: Request) -> Response:
    await conversations_of(request).delete(project, name)
    return Response(status_code=204)


@router.get("/projects/{project}/conversations/{name}/messages")
async def list_messages(project: str, name: str, request: Request) -> list[MessageView]:
    return await conversations_of(request).messages(project, name)


@router.post("/projects/{project}/conversations/{name}/messages")
async def post_message(
    project: str,
    name: str,
    request: Request,
    final: bool = Query(True, description="false: a streamed piece, held until the final one."),
    wait: bool = Query(False, description="Answer once the preview is served (or failed)."),
    timeout: float = Query(60.0, gt=0, le=600),
) -> MessageReply:
    """Post an assistant message: JSON ``{"content"}`` or ``{"messages": [...]}``, or the
    message itself as ``text/plain`` / ``text/markdown``. The answer says what became of it."""
    cap = service_of(request).config.max_message_bytes
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    conversations = conversations_of(request)
    if kind in _TEXT_TYPES:
        raw = await _body(request, cap)
        return await conversations.post_message(
            project, name, raw, final=final, wait=wait, timeout=timeout
        )
    if kind != "application/json":
        raise UnsupportedMediaType(
            f"a message cannot be sent as {kind or 'a body without a content type'!r}",
            hint="Send application/json, text/plain or text/markdown.",
        )
    body = _json(await _body(request, 4 * cap + _JSON_SLACK))
    return await conversations.post_message(
        project,
        name,
        body.get("content"),
        messages=body.get("messages"),
        final=_flag(body, "final", final),
        wait=_flag(body, "wait", wait),
        timeout=_timeout(body, timeout),
    )


async def _body(request: Request, limit: int) -> bytes:
    """The request body, refused as soon as it passes ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise LimitExceeded(
                f"the message body is larger than {limit} bytes",
                hint="Split the change over several messages, or raise PREVIEWD_MAX_MESSAGE_BYTES.",
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _json(raw: bytes) -> dict[str, Any]:
    hint = (
        'Send {"content": "<the assistant message>"} or {"messages": [{"role": "assistant", '
        '"content": "..."}]}, with "final", "wait" and "timeout" if needed.'
    )
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidContent(f"the body is not valid JSON: {e}", hint=hint) from None
    if not isinstance(body, dict):
        raise InvalidContent("the body must be a JSON object", hint=hint)
    if unknown := sorted(set(body) - _JSON_FIELDS):
        raise InvalidContent(f"the field {unknown[0]!r} is unknown", hint=hint)
    if "content" in body and not isinstance(body["content"], str):
        raise InvalidContent("'content' must be a string (the assistant message)", hint=hint)
    if ("content" in body) == ("messages" in body):
        raise InvalidContent("send exactly one of 'content' and 'messages'", hint=hint)
    return body


def _flag(body: dict[str, Any], key: str, default: bool) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise InvalidContent(f"{key!r} must be true or false, not {value!r}")
    return value


def _timeout(body: dict[str, Any], default: float) -> float:
    value = body.get("timeout", default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 600:
        raise InvalidContent(f"'timeout' must be a number of seconds in (0, 600], not {value!r}")
    return float(value)
