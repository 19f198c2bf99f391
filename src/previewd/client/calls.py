"""What each SDK method asks the API and how it reads the answer, written once.

An operation is a generator: it yields the ``Call``s it needs, receives each
decoded answer, and returns the result. ``Client`` drives it with a blocking
httpx client and ``AsyncClient`` with an async one, so the two clients share
every path, parameter, body and error (httpx's own split of models and
transports, one level up).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from previewd.client.files import Entry
from previewd.config import Config
from previewd.errors import ApiError, InvalidContent, Unavailable
from previewd.schemas import AliasView, DeploymentView, FeedbackView, PreviewView, ProjectView

T = TypeVar("T")
Progress = Callable[[int, int], None]  # (bytes sent, bytes to send)


@dataclass(frozen=True)
class Call:
    """One request of an operation. ``upload`` names a local file sent as the body."""

    method: str
    path: str
    params: Mapping[str, Any] = field(default_factory=dict)
    json: Any = None
    upload: str | None = None
    timeout: float | None = None  # seconds for this request; None: the client's timeout

    def options(self) -> dict[str, Any]:
        """Keyword arguments of ``httpx.Client.request`` (all but the body of an upload)."""
        options: dict[str, Any] = {
            "params": {k: v for k, v in self.params.items() if v is not None}
        }
        if self.json is not None:
            options["json"] = self.json
        if self.timeout is not None:
            options["timeout"] = self.timeout
        return options


Op = Generator[Call, Any, T]


def connection(url: str | None, token: str | None) -> tuple[str, dict[str, str]]:
    """The API's root URL and the request headers, from the arguments or the settings."""
    config = Config()
    root = (url or config.api_url).rstrip("/")
    return root, {"authorization": f"Bearer {token or token_for(config) or ''}"}


def token_for(config: Config) -> str | None:
    """The token from the settings, else the one a local server wrote into its data dir."""
    if config.token:
        return config.token
    try:
        return config.token_file.read_text().strip()
    except OSError:
        return None


def unreachable(url: str, exc: Exception) -> Unavailable:
    return Unavailable(
        f"cannot reach the previewd API at {url} ({exc})",
        hint="Start it with `previewd up`, or point PREVIEWD_API_URL at it.",
    )


def decode(response: httpx.Response) -> Any:
    """The JSON of a successful answer, or the API's error as ``ApiError``."""
    if response.status_code >= 400:
        raise api_error(response)
    return response.json() if response.content else None


def api_error(response: httpx.Response) -> ApiError:
    try:
        error = response.json()["error"]
        return ApiError(response.status_code, error["code"], error["message"], error.get("hint"))
    except (ValueError, KeyError, TypeError):
        return ApiError(
            response.status_code,
            "http_error",
            f"HTTP {response.status_code}: {response.text[:200]}",
        )


class EventStream:
    """Server-sent events, fed one line at a time: ``feed`` returns each complete
    event as (name, decoded data); the name is ``"message"`` when none was sent.

    Comments (keep-alives) and events without data are skipped; ``end`` is
    true once the server sent ``event: end`` (how previewd closes a stream).
    """

    def __init__(self) -> None:
        self.end = False
        self._event = ""
        self._data: list[str] = []

    def feed(self, line: str) -> tuple[str, Any] | None:
        if line.startswith(":"):
            return None
        if line:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                self._event = value
            elif name == "data":
                self._data.append(value)
            return None
        event, data = self._event or "message", "\n".join(self._data)
        self._event, self._data = "", []
        if event == "end":
            self.end = True
            return None
        if not data or data == "{}":
            return None
        try:
            return event, json.loads(data)
        except json.JSONDecodeError:
            raise InvalidContent(
                f"the API sent an event that is not JSON: {data[:200]!r}"
            ) from None


# -- operations ---------------------------------------------------------------


def one(call: Call) -> Op[Any]:
    """An operation of a single request whose JSON is the result."""
    return (yield call)


def projects() -> Op[list[ProjectView]]:
    return [ProjectView.model_validate(p) for p in (yield Call("GET", "/projects"))]


def deployments(project: str) -> Op[list[DeploymentView]]:
    data = yield Call("GET", f"/projects/{project}/deployments")
    return [DeploymentView.model_validate(d) for d in data]


def deployment(deployment_id: str, wait: bool, timeout: float) -> Op[DeploymentView]:
    params = {"wait": wait, "timeout": timeout}
    # the server holds the answer up to ``timeout``: the read may last that long
    read = timeout + 30 if wait else None
    call = Call("GET", f"/deployments/{deployment_id}", params, timeout=read)
    return DeploymentView.model_validate((yield call))


def previews() -> Op[list[PreviewView]]:
    return [PreviewView.model_validate(p) for p in (yield Call("GET", "/previews"))]


def upload_missing(entries: Mapping[str, Entry], progress: Progress | None) -> Op[list[Entry]]:
    """Ask which contents the server lacks, then upload each once; the entries sent."""
    digests = sorted({e.digest for e in entries.values()})
    if not digests:
        return []
    missing = set((yield Call("POST", "/blobs/missing", json={"digests": digests}))["missing"])
    uploads = {e.digest: e for e in entries.values() if e.digest in missing}
    total, sent = sum(e.size for e in uploads.values()), 0
    for digest, entry in uploads.items():
        yield Call("PUT", f"/blobs/{digest}", upload=entry.source)
        sent += entry.size
        if progress:
            progress(sent, total)
    return list(uploads.values())


def deploy(
    project: str,
    files: Mapping[str, str | bytes | Entry],
    *,
    base: str | None,
    delete: Sequence[str],
    alias: str | None,
    spa: bool,
    wait: bool,
) -> Op[DeploymentView]:
    """Create a deployment from contents, or from digests uploaded before (``Entry``)."""
    body = {"files": {p: _file(c) for p, c in files.items()}, "delete": list(delete), "base": base}
    params = {"alias": alias, "spa": spa, "wait": wait}
    data = yield Call("POST", f"/projects/{project}/deployments", params, json=body)
    return DeploymentView.model_validate(data)


def _file(content: str | bytes | Entry) -> str | dict[str, Any]:
    if isinstance(content, Entry):
        return {"digest": content.digest, "mode": content.mode}
    if isinstance(content, bytes):
        return {"content": base64.b64encode(content).decode(), "encoding": "base64"}
    return content


def rollback(project: str, alias: str, to: str | None) -> Op[AliasView]:
    data = yield Call("POST", f"/projects/{project}/rollback", json={"alias": alias, "to": to})
    return AliasView.model_validate(data)


def create_conversation(project: str, name: str | None, base: str | None) -> Op[dict[str, Any]]:
    body = {k: v for k, v in {"name": name, "base": base}.items() if v is not None}
    return (yield Call("POST", f"/projects/{project}/conversations", json=body))


def send_message(
    project: str,
    name: str,
    content: str | None,
    messages: Sequence[Mapping[str, str]] | None,
    *,
    final: bool,
    wait: bool,
    timeout: float | None,
) -> Op[dict[str, Any]]:
    if (content is None) == (messages is None):
        raise InvalidContent(
            "send either content (one assistant message) or messages (a chat), not both",
            hint='Pass content="…" or messages=[{"role": "assistant", "content": "…"}].',
        )
    body: dict[str, Any] = {"wait": wait}
    if timeout is not None:
        body["timeout"] = timeout
    if content is not None:
        body.update(content=content, final=final)
    else:
        body["messages"] = [dict(m) for m in messages or ()]
    path = f"/projects/{project}/conversations/{name}/messages"
    # the HTTP read may last as long as the server waits for the build, and a bit more
    wait_s = (timeout if timeout is not None else 60) + 30 if wait else None
    return (yield Call("POST", path, json=body, timeout=wait_s))


def feedback(
    project: str,
    conversation: str | None,
    kind: str | None,
    since: str | None,
    include_resolved: bool,
    limit: int | None,
) -> Op[list[FeedbackView]]:
    params = feedback_params(conversation, kind, since, include_resolved, limit)
    data = yield Call("GET", f"/projects/{project}/feedback", params)
    return [FeedbackView.model_validate(f) for f in data]


def feedback_params(
    conversation: str | None,
    kind: str | None = None,
    since: str | None = None,
    include_resolved: bool = False,
    limit: int | None = None,
) -> dict[str, Any]:
    return {
        "conversation": conversation,
        "kind": kind,
        "since": since,
        "include_resolved": include_resolved or None,
        "limit": limit,
    }
