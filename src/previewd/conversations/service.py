"""Conversations: a chat's assistant messages in, previews at one URL out.

A conversation belongs to a project and is named like an alias; its URL is
``<name>--<project>``, which shows its newest successful build. Its ``head``
is the snapshot after its last applied message: the next message edits those
files. A message is parsed (:mod:`previewd.edits`), applied all or nothing to
the head, and deployed with ``alias=<name>``; the head moves in the same
transaction as the deployment is recorded. See ``docs/conversations.md``.
"""

from __future__ import annotations

import asyncio
import builtins
import hashlib
import weakref
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from previewd import edits, names
from previewd.changeset import Changeset, FileSpec
from previewd.conversations import queries, replies
from previewd.conversations.changes import prepare
from previewd.conversations.queries import Item, State
from previewd.errors import (
    Conflict,
    ConversationNotFound,
    EditFailed,
    InvalidContent,
    NoEdits,
    NotFound,
    PreviewdError,
)
from previewd.routing import label_topic
from previewd.schemas import (
    BlockView,
    ConversationView,
    DeploymentView,
    MessageReply,
    MessageView,
)
from previewd.service import Service
from previewd.store import Deployment, Project
from previewd.store.models import Conversation, Message, utcnow


class Conversations:
    """Create, list and delete conversations; apply the messages posted to them."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.db = service.db
        self.blobs = service.blobs
        self._locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        # Set by the process that runs an edge: the deployment a hostname label serves now.
        self.route_of: Callable[[str], str | None] | None = None

    # -- conversations ------------------------------------------------------------

    async def create(
        self, project: str, name: str | None = None, *, base: str | None = None
    ) -> ConversationView:
        """A new conversation; the project is made if new. ``base``: "latest" or a deployment."""
        names.check_project(project)
        if name is not None:
            names.check_alias(name)
        if base is not None and (not isinstance(base, str) or not base):
            raise InvalidContent("base must be 'latest', a deployment id, or null")

        def create(s: Session) -> ConversationView:
            row = queries.find_project(s, project)
            if row is None:
                row = Project(name=project)
                s.add(row)
                s.flush()
            chosen = name or queries.free_name(s, row)
            if queries.find(s, row, chosen) is not None:
                raise Conflict(
                    f"project {project!r} has a conversation named {chosen!r} already",
                    hint="Pick another name, or leave it out for a generated one.",
                )
            conversation = Conversation(
                project_id=row.id, name=chosen, head=queries.base_head(s, row, base), pending=b""
            )
            s.add(conversation)
            s.flush()
            return self._view(s, row, conversation)

        return await self.db.run(create)

    async def get(self, project: str, name: str) -> ConversationView:
        def get(s: Session) -> ConversationView:
            row, conversation = queries.conversation(s, project, name)
            return self._view(s, row, conversation)

        return await self.db.run(get)

    async def list(self, project: str) -> builtins.list[ConversationView]:
        def list_(s: Session) -> builtins.list[ConversationView]:
            row = queries.project(s, project)
            rows = s.scalars(
                select(Conversation)
                .where(Conversation.project_id == row.id)
                .order_by(Conversation.id)
            )
            return [self._view(s, row, c) for c in rows.all()]

        return await self.db.run(list_)

    async def delete(self, project: str, name: str) -> None:
        """Remove a conversation, its messages and its URL; its deployments stay."""
        async with self._lock(project, name):

            def remove(s: Session) -> None:
                s.delete(queries.conversation(s, project, name)[1])

            await self.db.run(remove)
            await self.service.drop_alias(project, name)

    async def messages(self, project: str, name: str) -> builtins.list[MessageView]:
        def list_(s: Session) -> builtins.list[MessageView]:
            _, conversation = queries.conversation(s, project, name)
            rows = s.execute(
                select(Message, Deployment.id)
                .outerjoin(Deployment, Deployment.seq == Message.deployment_seq)
                .where(Message.conversation_id == conversation.id)
                .order_by(Message.id)
            )
            return [replies.message_view(m, d) for m, d in rows.all()]

        return await self.db.run(list_)

    # -- messages ---------------------------------------------------------------

    async def post_message(
        self,
        project: str,
        name: str,
        content: str | bytes | None = None,
        *,
        messages: Sequence[Any] | None = None,
        final: bool = True,
        wait: bool = False,
        timeout: float = 60.0,
    ) -> MessageReply:
        """Apply an assistant message (``content``), or the new assistant messages of an
        OpenAI-style ``messages`` list; ``final=False`` holds a streamed piece."""
        if (content is None) == (messages is None):
            raise InvalidContent("send either 'content' or 'messages'", hint=replies.BODY_HINT)
        if messages is not None and not final:
            raise InvalidContent("a messages list cannot be streamed (final=false)")
        async with self._lock(project, name):
            state = await self.db.run(lambda s: queries.state(s, project, name))
            if messages is not None:
                items = await self._new_items(state, messages)
                return await self._apply(
                    project, name, state, items, listed=True, wait=wait, timeout=timeout
                )
            assert content is not None  # one of the two, checked above
            piece = (
                content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content
            )
            whole = state.pending + piece
            if len(whole) > self.service.config.max_message_bytes:
                if state.pending:
                    await self.db.run(lambda s: queries.set_pending(s, state.id, b""))
                raise replies.too_large(len(whole), self.service.config.max_message_bytes)
            # Invalid UTF-8 stays visible (as lone surrogates) so the parser names its block.
            text = whole.decode("utf-8", "surrogateescape")
            if not final:
                return await self._hold(project, name, state, whole, text)
            item = Item(text, len(whole), hashlib.sha256(whole).hexdigest())
            return await self._apply(
                project, name, state, [item], listed=False, wait=wait, timeout=timeout
            )

    def _lock(self, project: str, name: str) -> asyncio.Lock:
        key = (project, name)
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    async def _hold(
        self, project: str, name: str, state: State, whole: bytes, text: str
    ) -> MessageReply:
        """Keep a streamed piece; say which blocks are complete so far and which is open."""
        error = None
        blocks: builtins.list[BlockView] = []
        open_block = None
        try:
            parsed = await asyncio.to_thread(edits.parse, text, final=False)
            blocks = replies.blocks(parsed.edits)
            open_block = replies.block_view(parsed.pending) if parsed.pending else None
        except EditFailed as exc:
            error = replies.error_view(exc)
        await self.db.run(lambda s: queries.set_pending(s, state.id, whole))
        return replies.reply(
            self._url(project, name),
            project,
            name,
            None,
            "pending",
            head=state.head,
            error=error,
            blocks=blocks,
            pending=open_block,
        )

    async def _new_items(self, state: State, messages: Sequence[Any]) -> builtins.list[Item]:
        """The assistant messages of a list not applied before (by content digest), in order."""
        texts = replies.assistant_texts(messages)
        applied = Counter(await self.db.run(lambda s: queries.applied_digests(s, state.id)))
        cap = self.service.config.max_message_bytes
        items = []
        for position, text in texts:
            data = text.encode("utf-8", "surrogatepass")
            digest = hashlib.sha256(data).hexdigest()
            if applied[digest]:
                applied[digest] -= 1
                continue
            if len(data) > cap:
                raise replies.too_large(len(data), cap, f"message {position} of the list")
            items.append(Item(text, len(data), digest, position))
        return items

    async def _apply(
        self,
        project: str,
        name: str,
        state: State,
        items: builtins.list[Item],
        *,
        listed: bool,
        wait: bool,
        timeout: float,
    ) -> MessageReply:
        head = await self.service.snapshot(state.head) if state.head else None
        head_files: Mapping[str, FileSpec] = head.files if head else {}
        last = items[-1] if items else Item("", 0, "")
        try:
            prepared = await asyncio.to_thread(prepare, self.blobs, head_files, items, listed)
        except NoEdits as exc:
            error = exc
            if listed and not items:
                error = NoEdits(
                    "no new assistant message in the list: nothing was changed or built",
                    hint="Every assistant message of the list was applied before; send the "
                    "next one.",
                )
            return await self._refuse(project, name, state, last, "no_edits", error)
        except EditFailed as exc:
            return await self._refuse(project, name, state, last, "refused", exc)

        ids: builtins.list[int] = []

        def during(s: Session, deployment: Deployment) -> None:
            conversation = s.get(Conversation, state.id)
            if conversation is None:
                raise ConversationNotFound(f"conversation {name!r} was deleted")
            if conversation.head != state.head:  # only another process could have moved it
                raise Conflict(f"conversation {name!r} moved on; send the message again")
            conversation.head, conversation.pending = deployment.source, b""
            conversation.updated_at = utcnow()
            for item, changes, commands in prepared.rows:
                ids.append(
                    queries.add_message(
                        s,
                        state.id,
                        item,
                        "applied",
                        changes,
                        commands,
                        deployment_seq=deployment.seq,
                    )
                )

        changeset = Changeset(files=prepared.files)
        try:
            deployment_id = await self.service.deploy(project, changeset, alias=name, during=during)
        except NotFound:
            raise
        except PreviewdError as exc:  # the result cannot deploy: too big, bad previewd.toml
            return await self._refuse(project, name, state, last, "refused", exc)
        view = await self._settle(project, name, deployment_id, wait, timeout)
        status = {"ready": "ready", "failed": "failed"}.get(view.status, "building")
        return replies.reply(
            self._url(project, name),
            project,
            name,
            ids[-1],
            status,
            head=view.source,
            changes=prepared.changes,
            commands=prepared.commands,
            deployment=view,
            applied=len(prepared.rows),
            errors=view.errors if view.status == "failed" else [],
            blocks=prepared.blocks,
        )

    async def _refuse(
        self,
        project: str,
        name: str,
        state: State,
        item: Item,
        status: str,
        exc: PreviewdError,
    ) -> MessageReply:
        """Record a message that changed nothing (and end a streamed one)."""

        def record(s: Session) -> int:
            conversation = s.get(Conversation, state.id)
            if conversation is None:
                raise ConversationNotFound(f"conversation {name!r} was deleted")
            conversation.pending = b""
            return queries.add_message(
                s, state.id, item, status, {}, [], error=replies.error_view(exc)
            )

        message_id = await self.db.run(record)
        return replies.reply(
            self._url(project, name),
            project,
            name,
            message_id,
            status,
            head=state.head,
            error=replies.error_view(exc),
        )

    async def _settle(
        self, project: str, name: str, deployment_id: str, wait: bool, timeout: float
    ) -> DeploymentView:
        """The deployment; with ``wait``, once the conversation's URL serves it (or it failed)."""
        if not wait:
            return await self.service.get_deployment(deployment_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        view = await self.service.wait(deployment_id, timeout)
        if view.status == "ready":
            await self._until_routed(project, name, deadline)
            view = await self.service.get_deployment(deployment_id)
        return view

    async def _until_routed(self, project: str, name: str, deadline: float) -> None:
        """Until the edge serves, at the conversation's URL, what its alias points at.

        The deployment's own URL can be live a moment before its aliases are.
        """
        route_of = self.route_of
        if route_of is None:
            return
        label = names.label(project, name)
        loop = asyncio.get_running_loop()
        async with self.service.broker.subscribe(label_topic(label)) as changes:
            while route_of(label) != await self.db.run(
                lambda s: queries.alias_target(s, project, name)
            ):
                try:
                    await asyncio.wait_for(changes.get(), deadline - loop.time())
                except TimeoutError:
                    return

    # -- views --------------------------------------------------------------------

    def _url(self, project: str, name: str) -> str:
        return self.service.config.preview_url(names.label(project, name))

    def _view(self, s: Session, project: Project, c: Conversation) -> ConversationView:
        return replies.conversation_view(s, project, c, self._url(project.name, c.name))
