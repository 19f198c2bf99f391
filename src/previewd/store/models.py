"""The tables. Migrations in ``migrations/versions`` must match these."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no zone, so we add it back)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.astimezone(UTC).replace(tzinfo=None) if value else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.replace(tzinfo=UTC) if value else None


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime}


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Snapshot(Base):
    """An immutable file tree: path -> [digest, size, mode], stored as canonical JSON."""

    __tablename__ = "snapshots"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    manifest: Mapped[str] = mapped_column(Text)
    file_count: Mapped[int]
    total_bytes: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Deployment(Base):
    """One immutable version of a project. ``seq`` orders deployments; ``id`` names them."""

    __tablename__ = "deployments"
    __table_args__ = (Index("ix_deployments_project_seq", "project_id", "seq"),)

    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(12), unique=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    source: Mapped[str] = mapped_column(ForeignKey("snapshots.digest"))
    output: Mapped[str | None] = mapped_column(ForeignKey("snapshots.digest"))
    alias: Mapped[str | None] = mapped_column(String(40))
    spa: Mapped[bool] = mapped_column(default=False)
    error: Mapped[str | None] = mapped_column(Text)
    diagnostics: Mapped[str | None] = mapped_column(Text)  # JSON list, see previewd.diagnostics
    server: Mapped[str | None] = mapped_column(Text)  # JSON, see previewd.previews.bundles
    routes: Mapped[str | None] = mapped_column(Text)  # JSON {pattern: "server" | "static"}
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ready_at: Mapped[datetime | None]


class Alias(Base):
    """A moving name: ``name == ""`` is the project's own hostname."""

    __tablename__ = "aliases"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(40))
    deployment_seq: Mapped[int] = mapped_column(ForeignKey("deployments.seq", ondelete="CASCADE"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Job(Base):
    """Work for the workers, claimed atomically (``FOR UPDATE SKIP LOCKED`` on PostgreSQL)."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    deployment_seq: Mapped[int] = mapped_column(ForeignKey("deployments.seq", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class Conversation(Base):
    """A chat's line of work in a project. Its deployments carry ``alias=name``, so its URL
    ``<name>--<project>`` shows the newest successful build of the chat."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(40))
    # The files after the last applied message, built or not: the next message edits these.
    head: Mapped[str | None] = mapped_column(ForeignKey("snapshots.digest"))
    # A streamed message so far, as the bytes that came (a piece may end mid-character).
    pending: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Message(Base):
    """One assistant message applied (or refused) in a conversation."""

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_conversation", "conversation_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    deployment_seq: Mapped[int | None] = mapped_column(
        ForeignKey("deployments.seq", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(16))  # "applied", "refused", "no_edits"
    error: Mapped[str | None] = mapped_column(Text)  # JSON {code, message, hint}
    changes: Mapped[str] = mapped_column(Text, default="{}")  # JSON {path: "written"|"deleted"}
    commands: Mapped[str] = mapped_column(Text, default="[]")  # JSON, see previewd.conversations
    bytes: Mapped[int] = mapped_column(default=0)
    digest: Mapped[str] = mapped_column(String(64), default="")  # SHA-256 of the text
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Feedback(Base):
    """One distinct problem of a project (a build error, a crash, a 5xx, a console error),
    deduplicated across rebuilds by ``fingerprint`` and condensed into a chat-ready ``text``."""

    __tablename__ = "feedback"
    __table_args__ = (
        UniqueConstraint("project_id", "fingerprint"),
        Index("ix_feedback_project_seen", "project_id", "last_seen"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL")
    )
    deployment_id: Mapped[str] = mapped_column(String(12))  # the newest one it was seen on
    alias: Mapped[str] = mapped_column(String(40), default="")  # of that deployment; "" = none
    kind: Mapped[str] = mapped_column(String(16))  # "build", "crash", "http", "console"
    fingerprint: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)  # the message a chat can paste back, <= 1 KB
    detail: Mapped[str] = mapped_column(Text, default="{}")  # JSON, the structured facts
    count: Mapped[int] = mapped_column(default=1)
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]


class Webhook(Base):
    """An URL that receives a project's feedback and deployment events, signed with HMAC."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
