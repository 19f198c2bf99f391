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
