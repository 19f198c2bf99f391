"""``previewd.AsyncClient``: the SDK for asyncio and trio programs, the same surface as ``Client``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import httpx

from previewd.client import calls
from previewd.client.calls import Call, EventStream, Op, Progress, T, api_error, decode
from previewd.client.files import Entry, scan
from previewd.schemas import AliasView, DeploymentView, FeedbackView, PreviewView, ProjectView


class AsyncClient:
    """A previewd API over HTTP, awaited: every method of ``Client``, as a coroutine
    (streams as async iterators).  ``url`` and ``token`` default to the settings
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
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url, headers = calls.connection(url, token)
        self._http = httpx.AsyncClient(
            base_url=self.url + "/api/v1", headers=headers, timeout=timeout, transport=transport
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- projects and deployments -------------------------------------------

    async def projects(self) -> list[ProjectView]:
        return await self._run(calls.projects())

    async def create_project(self, name: str) -> ProjectView:
        """An empty project (deploying creates one too)."""
        data = await self._run(calls.one(Call("POST", "/projects", json={"name": name})))
        return ProjectView.model_validate(data)

    async def deployments(self, project: str) -> list[DeploymentView]:
        """A project's deployments, newest first."""
        return await self._run(calls.deployments(project))

    async def deployment(
        self, deployment_id: str, *, wait: bool = False, timeout: float = 60
    ) -> DeploymentView:
        """One deployment; with ``wait``, once it is served or failed (up to ``timeout`` s)."""
        return await self._run(calls.deployment(deployment_id, wait, timeout))

    async def deployment_files(self, deployment_id: str) -> dict[str, dict[str, Any]]:
        """A deployment's source files: path → digest, size, mode."""
        return await self._run(calls.one(Call("GET", f"/deployments/{deployment_id}/files")))

    async def runtime_logs(self, deployment_id: str) -> list[dict[str, str]]:
        """What a deployment's app server printed: ``at``, ``stream``, ``text``."""
        return await self._run(calls.one(Call("GET", f"/deployments/{deployment_id}/runtime-logs")))

    async def previews(self) -> list[PreviewView]:
        return await self._run(calls.previews())

    def follow_runtime_logs(self, deployment_id: str) -> AsyncIterator[dict[str, Any]]:
        """What a deployment's app server printed so far, then each new line (until closed)."""
        return self._data(
            self._stream(f"/deployments/{deployment_id}/runtime-logs", {"follow": True})
        )

    def logs(self, deployment_id: str, *, follow: bool = False) -> AsyncIterator[dict[str, Any]]:
        """Build log records; with ``follow``, live until the build ends."""
        path = f"/deployments/{deployment_id}/logs"
        if follow:
            return self._data(self._stream(path, {"follow": True}))
        return self._listed(Call("GET", path))

    async def deploy_files(
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
        return await self._run(op)

    async def deploy_dir(
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
        # hashing reads every file: a thread keeps the event loop free
        entries = await anyio.to_thread.run_sync(lambda: dict(scan(root)))
        await self.upload_missing(entries, progress=progress)
        return await self.deploy_files(project, entries, alias=alias, spa=spa, wait=wait)

    async def upload_missing(
        self, entries: Mapping[str, Entry], *, progress: Progress | None = None
    ) -> list[Entry]:
        """Upload the contents the server lacks, each once; the entries that went over."""
        return await self._run(calls.upload_missing(entries, progress))

    async def rollback(self, project: str, *, alias: str = "", to: str | None = None) -> AliasView:
        """Point the project URL (or ``alias``) at the deployment before, or at ``to``."""
        return await self._run(calls.rollback(project, alias, to))

    async def delete_deployment(self, deployment_id: str) -> None:
        await self._run(calls.one(Call("DELETE", f"/deployments/{deployment_id}")))

    async def delete_project(self, project: str) -> None:
        await self._run(calls.one(Call("DELETE", f"/projects/{project}")))

    # -- conversations ------------------------------------------------------

    async def create_conversation(
        self, project: str, name: str | None = None, *, base: str | None = None
    ) -> dict[str, Any]:
        """A new conversation (named by the server when ``name`` is None); ``base``
        starts it from a deployment's files."""
        return await self._run(calls.create_conversation(project, name, base))

    async def conversations(self, project: str) -> list[dict[str, Any]]:
        return await self._run(calls.one(Call("GET", f"/projects/{project}/conversations")))

    async def conversation(self, project: str, name: str) -> dict[str, Any]:
        return await self._run(calls.one(Call("GET", f"/projects/{project}/conversations/{name}")))

    async def delete_conversation(self, project: str, name: str) -> None:
        await self._run(calls.one(Call("DELETE", f"/projects/{project}/conversations/{name}")))

    async def send_message(
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
        return await self._run(op)

    async def messages(self, project: str, name: str) -> list[dict[str, Any]]:
        path = f"/projects/{project}/conversations/{name}/messages"
        return await self._run(calls.one(Call("GET", path)))

    # -- feedback -----------------------------------------------------------

    async def feedback(
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
        return await self._run(
            calls.feedback(project, conversation, kind, since, include_resolved, limit)
        )

    def follow_feedback(
        self, project: str, conversation: str | None = None
    ) -> AsyncIterator[tuple[str, FeedbackView]]:
        """Problems as they change, until the caller stops: (event, problem) where
        event is ``new``, ``seen``, ``reopened`` or ``resolved`` (server-sent events)."""
        path = f"/projects/{project}/feedback/stream"
        return self._typed(self._stream(path, calls.feedback_params(conversation)))

    # -- the driver ---------------------------------------------------------

    async def _run(self, op: Op[T]) -> T:
        try:
            call = next(op)
            while True:
                call = op.send(await self._send(call))
        except StopIteration as done:
            return done.value

    async def _send(self, call: Call) -> Any:
        try:
            if call.upload is None:
                response = await self._http.request(call.method, call.path, **call.options())
            else:
                content = await anyio.Path(call.upload).read_bytes()
                response = await self._http.request(
                    call.method, call.path, content=content, **call.options()
                )
        except httpx.TransportError as exc:
            raise calls.unreachable(self.url, exc) from None
        return decode(response)

    async def _listed(self, call: Call) -> AsyncIterator[Any]:
        for item in await self._run(calls.one(call)):
            yield item

    @staticmethod
    async def _data(events: AsyncIterator[tuple[str, Any]]) -> AsyncIterator[Any]:
        async for _, data in events:
            yield data

    @staticmethod
    async def _typed(
        events: AsyncIterator[tuple[str, Any]],
    ) -> AsyncIterator[tuple[str, FeedbackView]]:
        async for name, data in events:
            yield name, FeedbackView.model_validate(data)

    async def _stream(self, path: str, params: Mapping[str, Any]) -> AsyncIterator[tuple[str, Any]]:
        query = Call("GET", path, params).options()["params"]
        events = EventStream()
        try:
            async with self._http.stream("GET", path, params=query, timeout=None) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise api_error(response)
                async for line in response.aiter_lines():
                    if (event := events.feed(line)) is not None:
                        yield event
                    if events.end:
                        return
        except httpx.TransportError as exc:
            raise calls.unreachable(self.url, exc) from None
