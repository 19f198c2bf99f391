"""The store queries of conversations: find them, read their state, record messages.

Each takes an open :class:`~sqlalchemy.orm.Session` and runs inside the caller's
transaction (through ``Database.run``).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from previewd.errors import ConversationNotFound, DeploymentNotFound, ProjectNotFound
from previewd.schemas import CommandView, ErrorView
from previewd.store import Alias, Deployment, Project
from previewd.store.models import Conversation, Message, utcnow

_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


@dataclass
class Item:
    """One assistant message to apply: its text, and where it sits in a list (if it does)."""

    text: str
    size: int
    digest: str
    position: int | None = None  # 1-based index in a messages list


@dataclass(frozen=True)
class State:
    id: int
    head: str | None
    pending: bytes


def add_message(
    s: Session,
    conversation_id: int,
    item: Item,
    status: str,
    changes: dict[str, str],
    commands: list[CommandView],
    *,
    deployment_seq: int | None = None,
    error: ErrorView | None = None,
) -> int:
    message = Message(
        conversation_id=conversation_id,
        deployment_seq=deployment_seq,
        status=status,
        error=error.model_dump_json() if error else None,
        changes=json.dumps(dict(sorted(changes.items()))),
        commands=json.dumps([c.model_dump() for c in commands]),
        bytes=item.size,
        digest=item.digest,
    )
    s.add(message)
    s.flush()
    return message.id


def find_project(s: Session, name: str) -> Project | None:
    return s.scalar(select(Project).where(Project.name == name))


def project(s: Session, name: str) -> Project:
    row = find_project(s, name)
    if row is None:
        raise ProjectNotFound(
            f"no project named {name!r}",
            hint="Create a conversation (which makes the project) with "
            "POST /api/v1/projects/<project>/conversations.",
        )
    return row


def find(s: Session, project: Project, name: str) -> Conversation | None:
    return s.scalar(
        select(Conversation).where(Conversation.project_id == project.id, Conversation.name == name)
    )


def conversation(s: Session, project_name: str, name: str) -> tuple[Project, Conversation]:
    row = find_project(s, project_name)
    found = find(s, row, name) if row else None
    if row is None or found is None:
        raise ConversationNotFound(
            f"project {project_name!r} has no conversation named {name!r}",
            hint=f"List them with GET /api/v1/projects/{project_name}/conversations.",
        )
    return row, found


def state(s: Session, project: str, name: str) -> State:
    _, row = conversation(s, project, name)
    return State(row.id, row.head, row.pending)


def set_pending(s: Session, conversation_id: int, pending: bytes) -> None:
    row = s.get_one(Conversation, conversation_id)
    row.pending, row.updated_at = pending, utcnow()


def applied_digests(s: Session, conversation_id: int) -> list[str]:
    return list(
        s.scalars(
            select(Message.digest).where(
                Message.conversation_id == conversation_id, Message.status == "applied"
            )
        ).all()
    )


def alias_target(s: Session, project: str, name: str) -> str | None:
    return s.scalar(
        select(Deployment.id)
        .join(Alias, Alias.deployment_seq == Deployment.seq)
        .join(Project, Project.id == Alias.project_id)
        .where(Project.name == project, Alias.name == name)
    )


def free_name(s: Session, project: Project) -> str:
    while True:  # 36**6 names: a collision is rare, two in a row rarer still
        name = "chat-" + "".join(secrets.choice(_ALPHABET) for _ in range(6))
        if find(s, project, name) is None:
            return name


def base_head(s: Session, project: Project, base: str | None) -> str | None:
    """The snapshot a new conversation starts from: none, the latest source, or a deployment's."""
    if base is None:
        return None
    if base == "latest":
        return s.scalar(
            select(Deployment.source)
            .where(Deployment.project_id == project.id)
            .order_by(Deployment.seq.desc())
            .limit(1)
        )
    deployment = s.scalar(select(Deployment).where(Deployment.id == base))
    if deployment is None or deployment.project_id != project.id:
        raise DeploymentNotFound(
            f"project {project.name!r} has no deployment {base!r} to start from",
            hint="Use 'latest', or a deployment id from GET /api/v1/projects/<project>/deployments.",
        )
    return deployment.source
