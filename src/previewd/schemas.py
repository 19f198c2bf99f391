"""What the service layer returns and the API, CLI, SDK and MCP server share."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

Status = Literal["queued", "building", "ready", "failed"]


class AliasView(BaseModel):
    name: str = Field(description='Alias name; "" is the project\'s own hostname.')
    url: str
    deployment: str


class DeploymentView(BaseModel):
    id: str
    project: str
    status: Status
    url: str = Field(description="Permanent URL of this deployment.")
    aliases: list[AliasView] = Field(description="Moving URLs that point at it now.")
    alias: str | None = Field(description="Named alias this deployment was made for.")
    spa: bool
    files: int
    bytes: int
    source: str = Field(description="Digest of the source snapshot.")
    error: str | None
    errors: list[dict[str, Any]] = Field(
        description="Structured errors of a failed build: tool, message, file, line, column, "
        "excerpt, code."
    )
    created_at: datetime
    ready_at: datetime | None


class ProjectView(BaseModel):
    name: str
    url: str
    created_at: datetime
    current: str | None = Field(description="Deployment the project's URL serves.")
    deployments: int


class MissingBlobs(BaseModel):
    missing: list[str]


class CrashView(BaseModel):
    at: datetime
    exit_code: int
    limit_hit: str | None
    message: str
    stderr_tail: list[str]
    during_start: bool


class PreviewView(BaseModel):
    """A deployment's app server: asleep, starting, running, crashed or failed."""

    deployment: str
    state: str
    cpu_seconds: float | None = Field(description="From the sandbox's cgroup; None when asleep.")
    memory_bytes: int | None
    idle_s: float = Field(description="Seconds since the last request.")
    restarts: int
    crashes: list[CrashView]
    instances: int = Field(1, description="Instances the edge balances requests across.")
    healthy: int = Field(0, description="Instances running and passing their health checks.")


class FeedbackView(BaseModel):
    """One distinct problem of a project, condensed for a chat (see docs/feedback.md)."""

    id: int
    project: str
    conversation: str | None = Field(description="The conversation named like the alias.")
    alias: str = Field(description='The alias the deployment was made for ("" for none).')
    deployment: str = Field(description="The newest deployment the problem was seen on.")
    kind: Literal["build", "crash", "http", "console"]
    fingerprint: str
    text: str = Field(description="The chat-ready message, at most 1024 bytes.")
    detail: dict[str, Any]
    count: int
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None


class WebhookView(BaseModel):
    id: int
    project: str
    url: str
    created_at: datetime


class WebhookCreated(WebhookView):
    secret: str = Field(description="The HMAC key of the signatures; shown only once.")


class ErrorView(BaseModel):
    """An error as the API renders it, inside a reply rather than as the answer."""

    code: str
    message: str
    hint: str | None = None


class CommandView(BaseModel):
    """A shell or start command a message asked for, and what previewd did about it."""

    kind: Literal["shell", "start"]
    command: str
    handled: Literal["install", "not_run"] = Field(
        description='"install": the build\'s detected install step covers it; "not_run": '
        "previewd did not run it (see note)."
    )
    note: str
    block: str = Field(description="The block that held it, e.g. 'block 3 (bolt, line 12)'.")


class BlockView(BaseModel):
    index: int = Field(description="1-based position among the message's blocks.")
    format: str
    path: str | None
    line: int


class ConversationView(BaseModel):
    """A chat's line of work in a project (see docs/conversations.md)."""

    name: str
    project: str
    url: str = Field(description="The alias <name>--<project>: its newest successful build.")
    head: str | None = Field(description="Snapshot digest after the last applied message.")
    pending_bytes: int = Field(description="Bytes of a streamed message held so far.")
    messages: int
    current: str | None = Field(description="The deployment the conversation's URL serves.")
    latest: str | None = Field(description="The newest deployment the conversation made.")
    status: Status | None = Field(description="The status of that newest deployment.")
    created_at: datetime
    updated_at: datetime


class MessageView(BaseModel):
    """One message posted to a conversation, as recorded (its text is not kept)."""

    id: int
    status: Literal["applied", "refused", "no_edits"]
    bytes: int
    digest: str = Field(description="SHA-256 of the message's UTF-8 text.")
    changes: dict[str, Literal["written", "deleted"]]
    commands: list[CommandView]
    deployment: str | None
    error: ErrorView | None
    created_at: datetime


class MessageReply(BaseModel):
    """What became of a posted message (see docs/conversations.md)."""

    id: int | None = Field(description="The recorded message; None for a streamed piece.")
    conversation: str
    project: str
    status: Literal["building", "ready", "failed", "no_edits", "refused", "pending"]
    changes: dict[str, Literal["written", "deleted"]]
    commands: list[CommandView]
    deployment: DeploymentView | None
    url: str = Field(description="The conversation's URL.")
    head: str | None
    applied: int = Field(description="Assistant messages applied by this request.")
    error: ErrorView | None
    errors: list[dict[str, Any]] = Field(description="Structured errors of a failed build.")
    blocks: list[BlockView]
    pending: BlockView | None = Field(description="The block a streamed message leaves open.")
