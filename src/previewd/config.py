"""The one place previewd reads its environment.

Every setting has a default that works on one machine with nothing else
installed, a ``PREVIEWD_<NAME>`` environment variable, and (for the server) a
``previewd up --<name>`` option. ``docs/settings.md`` lists them all; a test
keeps that list complete.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

KiB = 1024
MiB = 1024 * KiB


class Limits(BaseSettings):
    """What one upload may hold. Shared by the API and the changeset parser."""

    model_config = SettingsConfigDict(env_prefix="PREVIEWD_", extra="ignore")

    max_files: int = Field(10_000, description="Most files one deployment may hold.")
    max_file_bytes: int = Field(50 * MiB, description="Largest single file, in bytes.")
    max_deployment_bytes: int = Field(
        500 * MiB, description="Largest total size of one deployment's files, in bytes."
    )
    max_request_bytes: int = Field(
        600 * MiB,
        description="Largest API request body, in bytes (archives are also held to "
        "max_deployment_bytes once unpacked, which stops archive bombs).",
    )
    max_message_bytes: int = Field(
        2 * MiB,
        description="Largest chat message posted to a conversation, in bytes (a streamed "
        "message's pieces together; a JSON body may be four times that).",
    )


class Config(Limits):
    """Settings of the server (``previewd up``) and the client (every other command)."""

    data_dir: Path = Field(
        Path("~/.local/share/previewd"),
        description="Where the database, blobs and the API token live.",
    )
    api_host: str = Field("127.0.0.1", description="Address the HTTP API listens on.")
    api_port: int = Field(7700, description="Port of the HTTP API (0 picks a free one).")
    edge_host: str = Field("127.0.0.1", description="Address the edge (preview server) listens on.")
    edge_port: int = Field(7701, description="Port of the edge (0 picks a free one).")
    preview_domain: str = Field(
        "localhost",
        description="Previews live at <name>.<preview_domain>; browsers resolve *.localhost "
        "to this machine.",
    )
    public_scheme: str = Field("http", description="Scheme used in the preview URLs printed.")
    public_port: int | None = Field(
        None,
        description="Port used in printed preview URLs; defaults to edge_port. Set it to 80 "
        "or 443 when a proxy in front of the edge owns those ports.",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the metadata store; defaults to SQLite in data_dir.",
    )
    token: str | None = Field(
        None,
        description="API bearer token. The server generates one into data_dir/api-token "
        "when unset; the CLI reads that file when it runs on the same machine.",
    )
    api_url: str = Field("http://127.0.0.1:7700", description="Where the CLI finds the API.")
    edge_cache_bytes: int = Field(
        256 * MiB,
        description="Memory the edge may use to hold hot files and their compressed forms.",
    )
    log_level: str = Field("info", description="debug, info, warning or error.")
    runtime: str = Field(
        "auto",
        description="Where builds run: auto or bubblewrap (sandboxed; needs bubblewrap and "
        "root for cgroups), or unsafe-local (NO isolation: only for code you trust).",
    )
    build_concurrency: int = Field(2, description="Build steps that may run at once.")
    build_memory_bytes: int = Field(
        4 * 1024 * MiB, description="Memory all running build steps may reserve together."
    )
    step_memory_bytes: int = Field(1024 * MiB, description="Memory limit of one build step.")
    step_timeout_s: float = Field(
        600, description="Wall-clock limit of one build step, in seconds."
    )
    step_pids: int = Field(512, description="Most processes one build step may run at once.")
    step_cpu_cores: float = Field(2.0, description="CPU cores one build step may use (a quota).")
    preview_idle_s: float = Field(
        300, description="An app server with no traffic for this long is stopped (scale to zero)."
    )
    preview_start_timeout_s: float = Field(
        30, description="How long a starting app server may take to answer before a 504 page."
    )
    preview_max_running: int = Field(
        16,
        ge=1,
        description="App servers running at once on this node; the least recently used idle "
        "one is stopped to make room, and a request gets 503 + Retry-After when all are busy.",
    )
    preview_max_per_project: int | None = Field(
        None,
        description="App servers one project may run at once (default: no cap below "
        "preview_max_running).",
    )
    preview_instances: int = Field(
        1,
        ge=1,
        description="Instances of each app server; the edge balances requests across the "
        "healthy ones (least outstanding requests).",
    )
    preview_memory_bytes: int = Field(512 * MiB, description="Memory limit of one app server.")
    preview_cpu_cores: float = Field(1.0, description="CPU cores one app server may use.")
    preview_pids: int = Field(128, description="Most processes one app server may run at once.")
    feedback_script: bool = Field(
        True,
        description="Put previewd's page script (browser errors to feedback, live reload) "
        "into the HTML pages of previews; false serves them untouched.",
    )

    @model_validator(mode="after")
    def _instances_fit(self) -> Config:
        if self.preview_instances > self.preview_max_running:
            raise ValueError(
                f"preview_instances ({self.preview_instances}) cannot exceed "
                f"preview_max_running ({self.preview_max_running})"
            )
        return self

    @property
    def data_path(self) -> Path:
        return self.data_dir.expanduser()

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_path / 'previewd.db'}"

    @property
    def token_file(self) -> Path:
        return self.data_path / "api-token"

    def preview_url(self, label: str) -> str:
        """The URL a browser opens for the hostname label ``label``."""
        port = self.public_port if self.public_port is not None else self.edge_port
        default = {"http": 80, "https": 443}.get(self.public_scheme)
        suffix = "" if port == default else f":{port}"
        return f"{self.public_scheme}://{label}.{self.preview_domain}{suffix}/"
