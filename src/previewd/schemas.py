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
