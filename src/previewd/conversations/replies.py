"""What conversations answer: replies to a message, views of conversations and messages,
and the reading of what a chat sent (an assistant message list, its commands)."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from previewd import edits
from previewd.conversations import queries
from previewd.errors import InvalidContent, LimitExceeded, PreviewdError
from previewd.schemas import (
    BlockView,
    CommandView,
    ConversationView,
    DeploymentView,
    ErrorView,
    MessageReply,
    MessageView,
)
from previewd.store import Deployment, Project
from previewd.store.models import Conversation, Message

# Plain dependency installs: the build's detected install step does the same, in the sandbox.
_INSTALLS = {
    ("npm", "install"),
    ("npm", "i"),
    ("npm", "ci"),
    ("pnpm", "install"),
    ("pnpm", "i"),
    ("yarn",),
    ("yarn", "install"),
    ("bun", "install"),
    ("bun", "i"),
    ("pip", "install", "-r", "requirements.txt"),
    ("pip3", "install", "-r", "requirements.txt"),
    ("uv", "sync"),
}
_PACKAGE_INSTALL = re.compile(r"^(npm|pnpm|yarn|bun|pip3?)$")

BODY_HINT = (
    'Send {"content": "<the assistant message>"}, {"messages": [{"role": "assistant", '
    '"content": "..."}]}, or the message itself as text/plain.'
)


def reply(
    url: str,
    project: str,
    name: str,
    message_id: int | None,
    status: str,
    *,
    head: str | None,
    changes: dict[str, str] | None = None,
    commands: list[CommandView] | None = None,
    deployment: DeploymentView | None = None,
    applied: int = 0,
    error: ErrorView | None = None,
    errors: list[dict[str, Any]] | None = None,
    blocks: list[BlockView] | None = None,
    pending: BlockView | None = None,
) -> MessageReply:
    """The answer to a posted message; ``url`` is the conversation's."""
    return MessageReply.model_validate(
        {
            "id": message_id,
            "conversation": name,
            "project": project,
            "status": status,
            "changes": changes or {},
            "commands": commands or [],
            "deployment": deployment,
            "url": url,
            "head": head,
            "applied": applied,
            "error": error,
            "errors": errors or [],
            "blocks": blocks or [],
            "pending": pending,
        }
    )


def conversation_view(s: Session, project: Project, c: Conversation, url: str) -> ConversationView:
    count = s.scalar(select(func.count()).where(Message.conversation_id == c.id)) or 0
    latest = s.scalar(
        select(Deployment)
        .join(Message, Message.deployment_seq == Deployment.seq)
        .where(Message.conversation_id == c.id)
        .order_by(Deployment.seq.desc())
        .limit(1)
    )
    return ConversationView.model_validate(
        {
            "name": c.name,
            "project": project.name,
            "url": url,
            "head": c.head,
            "pending_bytes": len(c.pending),
            "messages": count,
            "current": queries.alias_target(s, project.name, c.name),
            "latest": latest.id if latest else None,
            "status": latest.status if latest else None,
            "created_at": c.created_at,
            "updated_at": c.updated_at,
        }
    )


def too_large(size: int, cap: int, what: str = "the message") -> LimitExceeded:
    return LimitExceeded(
        f"{what} is {size} bytes; a message may hold at most {cap} bytes",
        hint="Split the change over several messages, or raise PREVIEWD_MAX_MESSAGE_BYTES.",
    )


def assistant_texts(messages: Sequence[Any]) -> list[tuple[int, str]]:
    """(1-based position, text) of each assistant message of an OpenAI-style list."""
    if not isinstance(messages, list):
        raise InvalidContent("'messages' must be a list of {role, content} objects", hint=BODY_HINT)
    texts = []
    for position, message in enumerate(messages, 1):
        where = f"message {position} of the list"
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise InvalidContent(f"{where} must be an object with a string 'role'", hint=BODY_HINT)
        if message["role"] != "assistant":
            continue
        content = message.get("content")
        if content is None:  # a turn that only calls tools
            continue
        if isinstance(content, list):
            if not all(isinstance(p, dict) for p in content):
                raise InvalidContent(f"the content parts of {where} must be objects")
            parts = [p.get("text") for p in content if p.get("type") == "text"]
            if not all(isinstance(t, str) for t in parts):
                raise InvalidContent(f"a text part of {where} has no string 'text'")
            content = "".join(parts)
        if not isinstance(content, str):
            raise InvalidContent(f"the content of {where} must be a string or a list of parts")
        texts.append((position, content))
    return texts


def command(command: edits.Command) -> CommandView:
    """What previewd does about a shell or start command: never run it outside the build."""
    try:
        words = tuple(shlex.split(command.command))
    except ValueError:
        words = ()
    where = command.block.describe()
    if command.kind == "start":
        note = (
            "not run: previewd serves the production build or the server start command it "
            "detects; to choose the command, set [server] start in previewd.toml"
        )
        return CommandView(
            kind="start", command=command.command, handled="not_run", note=note, block=where
        )
    if words in _INSTALLS:
        note = "covered: the build runs the install step it detects, inside its sandbox"
        return CommandView(
            kind="shell", command=command.command, handled="install", note=note, block=where
        )
    if (
        words
        and _PACKAGE_INSTALL.match(words[0])
        and words[1:2] in (("install",), ("i",), ("add",))
    ):
        note = (
            "not run: list the packages in package.json or requirements.txt; the build "
            "installs what those name"
        )
    else:
        note = "not run: previewd runs no chat commands; write their effect as files"
    return CommandView(
        kind="shell", command=command.command, handled="not_run", note=note, block=where
    )


def block_view(block: edits.Block) -> BlockView:
    return BlockView(index=block.index, format=block.format, path=block.path, line=block.line)


def blocks(found: Sequence[edits.Edit]) -> list[BlockView]:
    unique = {edit.block.index: edit.block for edit in found}
    return [block_view(unique[i]) for i in sorted(unique)]


def error_view(exc: PreviewdError) -> ErrorView:
    return ErrorView(code=exc.code, message=exc.message, hint=exc.hint)


def message_view(m: Message, deployment_id: str | None) -> MessageView:
    return MessageView.model_validate(
        {
            "id": m.id,
            "status": m.status,
            "bytes": m.bytes,
            "digest": m.digest,
            "changes": json.loads(m.changes),
            "commands": json.loads(m.commands),
            "deployment": deployment_id,
            "error": json.loads(m.error) if m.error else None,
            "created_at": m.created_at,
        }
    )
