"""The Python SDK: ``previewd.Client`` talks to a previewd API over HTTP.

The CLI is built on it, so everything the CLI does a program can do too.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from previewd.config import Config
from previewd.errors import ApiError, InvalidPath, Unavailable
from previewd.schemas import AliasView, DeploymentView, PreviewView, ProjectView

# Folders a deploy of a working tree leaves out: tool state, never site content.
IGNORED = frozenset({".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", ".DS_Store"})

Progress = Callable[[int, int], None]  # (bytes sent, bytes to send)


def token_for(config: Config) -> str | None:
    """The token from the settings, else the one a local server wrote into its data dir."""
    if config.token:
        return config.token
    try:
        return config.token_file.read_text().strip()
    except OSError:
        return None


class Client:
    def __init__(self, url: str | None = None, token: str | None = None, *, timeout: float = 120.0):
        config = Config()
        self.url = (url or config.api_url).rstrip("/")
        headers = {"authorization": f"Bearer {token or token_for(config) or ''}"}
        self._http = httpx.Client(base_url=self.url + "/api/v1", headers=headers, timeout=timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- reading ------------------------------------------------------------

    def projects(self) -> list[ProjectView]:
        return [ProjectView.model_validate(p) for p in self._call("GET", "/projects")]

    def deployments(self, project: str) -> list[DeploymentView]:
        return [
            DeploymentView.model_validate(d)
            for d in self._call("GET", f"/projects/{project}/deployments")
        ]

    def deployment(
        self, deployment_id: str, *, wait: bool = False, timeout: float = 60
    ) -> DeploymentView:
        params = {"wait": wait, "timeout": timeout}
        return DeploymentView.model_validate(
            self._call("GET", f"/deployments/{deployment_id}", params=params)
        )

    def runtime_logs(self, deployment_id: str) -> list[dict[str, str]]:
        """What a deployment's app server printed."""
        return list(self._call("GET", f"/deployments/{deployment_id}/runtime-logs"))

    def previews(self) -> list[PreviewView]:
        return [PreviewView.model_validate(p) for p in self._call("GET", "/previews")]

    def follow_runtime_logs(self, deployment_id: str) -> Iterator[dict[str, Any]]:
        """What a deployment's app server printed so far, then each new line (until closed)."""
        yield from self._events(f"/deployments/{deployment_id}/runtime-logs")

    def logs(self, deployment_id: str, *, follow: bool = False) -> Iterator[dict[str, Any]]:
        """Build log records; with ``follow``, live until the build ends."""
        if not follow:
            yield from self._call("GET", f"/deployments/{deployment_id}/logs")
            return
        yield from self._events(f"/deployments/{deployment_id}/logs")

    def _events(self, path: str) -> Iterator[dict[str, Any]]:
        """The data of each server-sent event of ``path?follow=true``."""
        with self._http.stream("GET", path, params={"follow": True}, timeout=None) as response:
            if response.status_code >= 400:
                response.read()
                raise _api_error(response)
            for line in response.iter_lines():
                if line.startswith("data: ") and line != "data: {}":
                    yield json.loads(line[6:])

    # -- deploying ------------------------------------------------------------

    def deploy_files(
        self,
        project: str,
        files: Mapping[str, str | bytes],
        *,
        base: str | None = None,
        delete: list[str] | None = None,
        alias: str | None = None,
        spa: bool = False,
        wait: bool = True,
    ) -> DeploymentView:
        """Deploy file contents given in memory (text, or bytes sent as base64)."""
        import base64

        body: dict[str, Any] = {
            "files": {
                path: content
                if isinstance(content, str)
                else {"content": base64.b64encode(content).decode(), "encoding": "base64"}
                for path, content in files.items()
            },
            "delete": delete or [],
            "base": base,
        }
        return self._deploy(project, body, alias=alias, spa=spa, wait=wait)

    def deploy_dir(
        self,
        project: str,
        root: Path,
        *,
        alias: str | None = None,
        spa: bool = False,
        wait: bool = True,
        progress: Progress | None = None,
    ) -> DeploymentView:
        """Deploy a folder, uploading only the contents the server does not have yet."""
        manifest = {path: entry for path, entry in scan(root)}
        digests = sorted({e["digest"] for e in manifest.values()})
        missing = set(self._call("POST", "/blobs/missing", json={"digests": digests})["missing"])
        uploads = {e["digest"]: e for e in manifest.values() if e["digest"] in missing}
        total, sent = sum(e["size"] for e in uploads.values()), 0
        for digest, entry in uploads.items():
            with open(entry["source"], "rb") as content:
                self._call("PUT", f"/blobs/{digest}", content=content)
            sent += entry["size"]
            if progress:
                progress(sent, total)
        files = {p: {"digest": e["digest"], "mode": e["mode"]} for p, e in manifest.items()}
        return self._deploy(project, {"files": files}, alias=alias, spa=spa, wait=wait)

    def _deploy(self, project: str, body: dict[str, Any], **params: Any) -> DeploymentView:
        query = {k: v for k, v in params.items() if v is not None}
        data = self._call("POST", f"/projects/{project}/deployments", json=body, params=query)
        return DeploymentView.model_validate(data)

    # -- changing ---------------------------------------------------------------

    def rollback(self, project: str, *, alias: str = "", to: str | None = None) -> AliasView:
        data = self._call("POST", f"/projects/{project}/rollback", json={"alias": alias, "to": to})
        return AliasView.model_validate(data)

    def delete_deployment(self, deployment_id: str) -> None:
        self._call("DELETE", f"/deployments/{deployment_id}")

    def delete_project(self, project: str) -> None:
        self._call("DELETE", f"/projects/{project}")

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise Unavailable(
                f"cannot reach the previewd API at {self.url} ({exc})",
                hint="Start it with `previewd up`, or point PREVIEWD_API_URL at it.",
            ) from None
        if response.status_code >= 400:
            raise _api_error(response)
        return response.json() if response.content else None


def _api_error(response: httpx.Response) -> ApiError:
    try:
        error = response.json()["error"]
        return ApiError(response.status_code, error["code"], error["message"], error.get("hint"))
    except (ValueError, KeyError, TypeError):
        return ApiError(
            response.status_code,
            "http_error",
            f"HTTP {response.status_code}: {response.text[:200]}",
        )


def scan(root: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, entry) for every file under ``root``; symlinks must stay inside it."""
    root = root.resolve()
    if not root.is_dir():
        raise InvalidPath(f"{root} is not a folder")
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in IGNORED)
        for name in sorted(files):
            if name in IGNORED:
                continue
            source = Path(folder) / name
            rel = source.relative_to(root).as_posix()
            real = source.resolve()
            if not real.is_relative_to(root):
                raise InvalidPath(
                    f"{rel} is a symlink to {real}, outside the folder being deployed"
                )
            info = real.stat()
            if not stat.S_ISREG(info.st_mode):
                raise InvalidPath(f"{rel} is not a regular file")
            yield (
                rel,
                {
                    "digest": _sha256(real),
                    "size": info.st_size,
                    "source": str(real),
                    "mode": 0o755 if info.st_mode & 0o111 else 0o644,
                },
            )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()
