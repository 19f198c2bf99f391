"""``previewd.Client``: the blocking SDK. The CLI is built on it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

import httpx

from previewd.client import calls
from previewd.client.calls import Call, EventStream, Op, Progress, T, api_error, decode
from previewd.client.files import Entry, scan
from previewd.schemas import AliasView, DeploymentView, FeedbackView, PreviewView, ProjectView

E = TypeVar("E")


def _data(_event: str, data: Any) -> Any:
    return data


def _problem(event: str, data: Any) -> tuple[str, FeedbackView]:
    return event, FeedbackView.model_validate(data)


class Client:
    """A previewd API over HTTP. ``url`` and ``token`` default to the settings
    (``PREVIEWD_API_URL``, ``PREVIEWD_TOKEN`` or the local server's token file).

    Conversations, messages and feedback come back as the API's JSON objects
    (see docs/conversations.md and docs/feedback.md). Errors the API answers
    raise ``previewd.errors.ApiError`` (``status``, ``code``, ``message``,
    ``hint``); an API that cannot be reached raises ``Unavailable``.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 120.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url, headers = calls.connection(url, token)
        self._http = httpx.Client(
            base_url=self.url + "/api/v1", headers=headers, timeout=timeout, transport=transport
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- projects and deployments -------------------------------------------

    def projects(self) -> list[ProjectView]:
        return self._run(calls.projects())

    def create_project(self, name: str) -> ProjectView:
        """An empty project (deploying creates one too)."""
        data = self._run(calls.one(Call("POST", "/projects", json={"name": name})))
        return ProjectView.model_validate(data)

    def deployments(self, project: str) -> list[DeploymentView]:
        """A project's deployments, newest first."""
        return self._run(calls.deployments(project))

    def deployment(
        self, deployment_id: str, *, wait: bool = False, timeout: float = 60
    ) -> DeploymentView:
        """One deployment; with ``wait``, once it is served or failed (up to ``timeout`` s)."""
        return self._run(calls.deployment(deployment_id, wait, timeout))

    def deployment_files(self, deployment_id: str) -> dict[str, dict[str, Any]]:
        """A deployment's source files: path → digest, size, mode."""
        return self._run(calls.one(Call("GET", f"/deployments/{deployment_id}/files")))

    def runtime_logs(self, deployment_id: str) -> list[dict[str, str]]:
        """What a deployment's app server printed: ``at``, ``stream``, ``text``."""
        return self._run(calls.one(Call("GET", f"/deployments/{deployment_id}/runtime-logs")))

    def previews(self) -> list[PreviewView]:
        return self._run(calls.previews())

    def follow_runtime_logs(self, deployment_id: str) -> Events[dict[str, Any]]:
        """What a deployment's app server printed so far, then each new line (until closed)."""
        path = f"/deployments/{deployment_id}/runtime-logs"
        return self._stream(path, {"follow": True}, _data)

    def logs(self, deployment_id: str, *, follow: bool = False) -> Iterator[dict[str, Any]]:
        """Build log records; with ``follow``, live until the build ends."""
        path = f"/deployments/{deployment_id}/logs"
        if follow:
            return self._stream(path, {"follow": True}, _data)
        return iter(self._run(calls.one(Call("GET", path))))

    def deploy_files(
        self,
        project: str,
        files: Mapping[str, str | bytes | Entry],
        *,
        base: str | None = None,
        delete: Sequence[str] = (),
        alias: str | None = None,
        spa: bool = False,
        wait: bool = True,
    ) -> DeploymentView:
        """Deploy contents given in memory (text, or bytes sent as base64), or ``Entry``s
        whose bytes the server has (see ``upload_missing``). With ``base`` (``"latest"``
        or a deployment id) the files and ``delete`` change that deployment's files."""
        op = calls.deploy(project, files, base=base, delete=delete, alias=alias, spa=spa, wait=wait)
        return self._run(op)

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
        entries = dict(scan(root))
        self.upload_missing(entries, progress=progress)
        return self.deploy_files(project, entries, alias=alias, spa=spa, wait=wait)

    def upload_missing(
        self, entries: Mapping[str, Entry], *, progress: Progress | None = None
    ) -> list[Entry]:
        """Upload the contents the server lacks, each once; the entries that went over."""
        return self._run(calls.upload_missing(entries, progress))

    def rollback(self, project: str, *, alias: str = "", to: str | None = None) -> AliasView:
        """Point the project URL (or ``alias``) at the deployment before, or at ``to``."""
        return self._run(calls.rollback(project, alias, to))

    def delete_deployment(self, deployment_id: str) -> None:
        self._run(calls.one(Call("DELETE", f"/deployments/{deployment_id}")))

    def delete_project(self, project: str) -> None:
        self._run(calls.one(Call("DELETE", f"/projects/{project}")))

    # -- conversations ------------------------------------------------------

    def create_conversation(
        self, project: str, name: str | None = None, *, base: str | None = None
    ) -> dict[str, Any]:
        """A new conversation (named by the server when ``name`` is None); ``base``
        starts it from a deployment's files."""
        return self._run(calls.create_conversation(project, name, base))

    def conversations(self, project: str) -> list[dict[str, Any]]:
        return self._run(calls.one(Call("GET", f"/projects/{project}/conversations")))

    def conversation(self, project: str, name: str) -> dict[str, Any]:
        return self._run(calls.one(Call("GET", f"/projects/{project}/conversations/{name}")))

    def delete_conversation(self, project: str, name: str) -> None:
        self._run(calls.one(Call("DELETE", f"/projects/{project}/conversations/{name}")))

    def send_message(
        self,
        project: str,
        name: str,
        content: str | None = None,
        *,
        messages: Sequence[Mapping[str, str]] | None = None,
        final: bool = True,
        wait: bool = True,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Apply an assistant message (or every new assistant turn of an OpenAI-style
        ``messages`` list) to a conversation. The reply (docs/conversations.md) holds
        ``status`` (building, ready, failed, no_edits, refused, pending), ``changes``
        (path → "written" or "deleted"), ``deployment``, ``url`` and, when refused or
        without edits, ``error`` naming the block. ``wait`` answers once the preview
        serves or failed (up to ``timeout`` s); ``final=False`` posts a streamed piece."""
        op = calls.send_message(
            project, name, content, messages, final=final, wait=wait, timeout=timeout
        )
        return self._run(op)

    def messages(self, project: str, name: str) -> list[dict[str, Any]]:
        path = f"/projects/{project}/conversations/{name}/messages"
        return self._run(calls.one(Call("GET", path)))

    # -- feedback -----------------------------------------------------------

    def feedback(
        self,
        project: str,
        conversation: str | None = None,
        *,
        kind: str | None = None,
        since: str | None = None,
        include_resolved: bool = False,
        limit: int | None = None,
    ) -> list[FeedbackView]:
        """Distinct problems of a project (or one conversation), newest first; each
        ``text`` is a chat-ready message of at most 1 KB."""
        return self._run(
            calls.feedback(project, conversation, kind, since, include_resolved, limit)
        )

    def follow_feedback(
        self, project: str, conversation: str | None = None
    ) -> Events[tuple[str, FeedbackView]]:
        """Problems as they change, until the caller stops: (event, problem) where
        event is ``new``, ``seen``, ``reopened`` or ``resolved`` (server-sent events)."""
        path = f"/projects/{project}/feedback/stream"
        return self._stream(path, calls.feedback_params(conversation), _problem)

    # -- the driver ---------------------------------------------------------

    def _run(self, op: Op[T]) -> T:
        try:
            call = next(op)
            while True:
                call = op.send(self._send(call))
        except StopIteration as done:
            return done.value

    def _send(self, call: Call) -> Any:
        try:
            if call.upload is None:
                return decode(self._http.request(call.method, call.path, **call.options()))
            with open(call.upload, "rb") as content:
                options = call.options()
                return decode(
                    self._http.request(call.method, call.path, content=content, **options)
                )
        except httpx.TransportError as exc:
            raise calls.unreachable(self.url, exc) from None

    def _stream(
        self, path: str, params: Mapping[str, Any], convert: Callable[[str, Any], Any]
    ) -> Events[Any]:
        # opened here, not on the first next(): once this returns the server is
        # following, so nothing that happens after the call can be missed
        query = Call("GET", path, params).options()["params"]
        request = self._http.build_request("GET", path, params=query, timeout=None)
        try:
            response = self._http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise calls.unreachable(self.url, exc) from None
        if response.status_code >= 400:
            response.read()
            response.close()
            raise api_error(response)
        return Events(response, convert, self.url)


class Events(Generic[E]):
    """A live stream of server-sent events: iterate it; ``close()`` (or ``with``) ends it."""

    def __init__(
        self, response: httpx.Response, convert: Callable[[str, Any], E], url: str
    ) -> None:
        self._response = response
        self._lines = response.iter_lines()
        self._convert = convert
        self._url = url
        self._events = EventStream()

    def __iter__(self) -> Iterator[E]:
        return self

    def __next__(self) -> E:
        try:
            while not self._events.end:
                if (event := self._events.feed(next(self._lines))) is not None:
                    return self._convert(*event)
        except StopIteration:
            pass
        except httpx.TransportError as exc:
            self.close()
            raise calls.unreachable(self._url, exc) from None
        self.close()
        raise StopIteration

    def close(self) -> None:
        self._response.close()

    def __enter__(self) -> Events[E]:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
