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
import json
import re
import secrets
import shlex
import weakref
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from previewd import edits, names
from previewd.changeset import Changeset, FileSpec
from previewd.errors import (
    Conflict,
    ConversationNotFound,
    DeploymentNotFound,
    EditFailed,
    InvalidContent,
    LimitExceeded,
    NoEdits,
    NotFound,
    PreviewdError,
    ProjectNotFound,
)
from previewd.routing import label_topic
from previewd.schemas import (
    BlockView,
    CommandView,
    ConversationView,
    DeploymentView,
    ErrorView,
    MessageReply,
    MessageView,
)
from previewd.service import Service
from previewd.store import Alias, Deployment, Project
from previewd.store.models import Conversation, Message, utcnow

_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
# Plain dependency installs: the build's detected install step does the same, in the sandbox.
_INSTALLS = {
    ("npm", "install"),
    ("npm", "i"),
    ("npm", "ci"),
    ("pnpm", "install"),
    ("pnpm", "i"),
    ("yarn",),
    ("yarn", "install"),
    ("bun", "install"),
    ("bun", "i"),
    ("pip", "install", "-r", "requirements.txt"),
    ("pip3", "install", "-r", "requirements.txt"),
    ("uv", "sync"),
}
_PACKAGE_INSTALL = re.compile(r"^(npm|pnpm|yarn|bun|pip3?)$")


@dataclass
class _Item:
    """One assistant message to apply: its text, and where it sits in a list (if it does)."""

    text: str
    size: int
    digest: str
    position: int | None = None  # 1-based index in a messages list


@dataclass
class _Prepared:
    """A message (or the new messages of a list) applied to the head, not yet recorded."""

    files: dict[str, FileSpec]
    changes: dict[str, str]
    commands: list[CommandView]
    blocks: list[BlockView]
    rows: list[tuple[_Item, dict[str, str], list[CommandView]]] = field(default_factory=list)


@dataclass(frozen=True)
class _State:
    id: int
    head: str | None
    pending: bytes


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
            row = _find_project(s, project)
            if row is None:
                row = Project(name=project)
                s.add(row)
                s.flush()
            chosen = name or _free_name(s, row)
            if _find(s, row, chosen) is not None:
                raise Conflict(
                    f"project {project!r} has a conversation named {chosen!r} already",
                    hint="Pick another name, or leave it out for a generated one.",
                )
            conversation = Conversation(
                project_id=row.id, name=chosen, head=_base_head(s, row, base), pending=b""
            )
            s.add(conversation)
            s.flush()
            return self._view(s, row, conversation)

        return await self.db.run(create)

    async def get(self, project: str, name: str) -> ConversationView:
        def get(s: Session) -> ConversationView:
            row, conversation = _conversation(s, project, name)
            return self._view(s, row, conversation)

        return await self.db.run(get)

    async def list(self, project: str) -> builtins.list[ConversationView]:
        def list_(s: Session) -> builtins.list[ConversationView]:
            row = _project(s, project)
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
                s.delete(_conversation(s, project, name)[1])

            await self.db.run(remove)
            await self.service.drop_alias(project, name)

    async def messages(self, project: str, name: str) -> builtins.list[MessageView]:
        def list_(s: Session) -> builtins.list[MessageView]:
            _, conversation = _conversation(s, project, name)
            rows = s.execute(
                select(Message, Deployment.id)
                .outerjoin(Deployment, Deployment.seq == Message.deployment_seq)
                .where(Message.conversation_id == conversation.id)
                .order_by(Message.id)
            )
            return [_message_view(m, d) for m, d in rows.all()]

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
            raise InvalidContent("send either 'content' or 'messages'", hint=_BODY_HINT)
        if messages is not None and not final:
            raise InvalidContent("a messages list cannot be streamed (final=false)")
        async with self._lock(project, name):
            state = await self.db.run(lambda s: _state(s, project, name))
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
                    await self.db.run(lambda s: _set_pending(s, state.id, b""))
                raise _too_large(len(whole), self.service.config.max_message_bytes)
            # Invalid UTF-8 stays visible (as lone surrogates) so the parser names its block.
            text = whole.decode("utf-8", "surrogateescape")
            if not final:
                return await self._hold(project, name, state, whole, text)
            item = _Item(text, len(whole), hashlib.sha256(whole).hexdigest())
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
        self, project: str, name: str, state: _State, whole: bytes, text: str
    ) -> MessageReply:
        """Keep a streamed piece; say which blocks are complete so far and which is open."""
        error = None
        blocks: builtins.list[BlockView] = []
        open_block = None
        try:
            parsed = await asyncio.to_thread(edits.parse, text, final=False)
            blocks = _blocks(parsed.edits)
            open_block = _block_view(parsed.pending) if parsed.pending else None
        except EditFailed as exc:
            error = _error_view(exc)
        await self.db.run(lambda s: _set_pending(s, state.id, whole))
        return self._reply(
            project,
            name,
            None,
            "pending",
            head=state.head,
            error=error,
            blocks=blocks,
            pending=open_block,
        )

    async def _new_items(self, state: _State, messages: Sequence[Any]) -> builtins.list[_Item]:
        """The assistant messages of a list not applied before (by content digest), in order."""
        texts = _assistant_texts(messages)
        applied = Counter(await self.db.run(lambda s: _applied_digests(s, state.id)))
        cap = self.service.config.max_message_bytes
        items = []
        for position, text in texts:
            data = text.encode("utf-8", "surrogatepass")
            digest = hashlib.sha256(data).hexdigest()
            if applied[digest]:
                applied[digest] -= 1
                continue
            if len(data) > cap:
                raise _too_large(len(data), cap, f"message {position} of the list")
            items.append(_Item(text, len(data), digest, position))
        return items

    async def _apply(
        self,
        project: str,
        name: str,
        state: _State,
        items: builtins.list[_Item],
        *,
        listed: bool,
        wait: bool,
        timeout: float,
    ) -> MessageReply:
        head = await self.service.snapshot(state.head) if state.head else None
        head_files: Mapping[str, FileSpec] = head.files if head else {}
        last = items[-1] if items else _Item("", 0, "")
        try:
            prepared = await asyncio.to_thread(self._prepare, head_files, items, listed)
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
                    _add_message(
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
        return self._reply(
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

    def _prepare(
        self, head: Mapping[str, FileSpec], items: builtins.list[_Item], listed: bool
    ) -> _Prepared:
        """Apply ``items`` in order to ``head`` (blocking: blob reads, parsing; in a thread)."""
        current: dict[str, FileSpec | bytes] = dict(head)

        def read(path: str) -> bytes:
            value = current[path]
            return value if isinstance(value, bytes) else self.blobs.read(value.digest)

        prepared = _Prepared({}, {}, [], [])
        for item in items:
            try:
                parsed = edits.parse(item.text, final=True)
                tree = edits.apply(parsed.edits, edits.Tree(base=frozenset(current), read=read))
                written, deleted = tree.changed()
            except NoEdits:
                if listed:
                    continue  # a prose turn in a history
                raise
            except EditFailed as exc:
                if item.position is None:
                    raise
                raise EditFailed(
                    f"message {item.position} of the list: {exc.message}", hint=exc.hint
                ) from None
            for path in deleted:
                del current[path]
            current.update(written)
            commands = [_command(c) for c in tree.commands]
            own = {p: "written" for p in written} | {p: "deleted" for p in deleted}
            prepared.rows.append((item, own, commands))
            prepared.commands += commands
            prepared.blocks += _blocks(parsed.edits)
        if not prepared.rows:
            raise NoEdits(
                "no edits found in the list's new assistant messages: nothing was changed or built",
                hint="Name each file: a fence like ```js file=src/app.js, a SEARCH/REPLACE "
                "block, a unified diff or a *** Begin Patch envelope.",
            )
        for path, value in current.items():
            if isinstance(value, bytes):
                old = head.get(path)
                mode = old.mode if old else 0o644  # a rewritten script stays executable
                prepared.files[path] = FileSpec(self.blobs.put(value), len(value), mode)
                prepared.changes[path] = "written"
            else:
                prepared.files[path] = value
        for path in head.keys() - current.keys():
            prepared.changes[path] = "deleted"
        prepared.changes = dict(sorted(prepared.changes.items()))
        return prepared

    async def _refuse(
        self,
        project: str,
        name: str,
        state: _State,
        item: _Item,
        status: str,
        exc: PreviewdError,
    ) -> MessageReply:
        """Record a message that changed nothing (and end a streamed one)."""

        def record(s: Session) -> int:
            conversation = s.get(Conversation, state.id)
            if conversation is None:
                raise ConversationNotFound(f"conversation {name!r} was deleted")
            conversation.pending = b""
            return _add_message(s, state.id, item, status, {}, [], error=_error_view(exc))

        message_id = await self.db.run(record)
        return self._reply(
            project, name, message_id, status, head=state.head, error=_error_view(exc)
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
            while route_of(label) != await self.db.run(lambda s: _alias_target(s, project, name)):
                try:
                    await asyncio.wait_for(changes.get(), deadline - loop.time())
                except TimeoutError:
                    return

    # -- views --------------------------------------------------------------------

    def _url(self, project: str, name: str) -> str:
        return self.service.config.preview_url(names.label(project, name))

    def _reply(
        self,
        project: str,
        name: str,
        message_id: int | None,
        status: str,
        *,
        head: str | None,
        changes: dict[str, str] | None = None,
        commands: builtins.list[CommandView] | None = None,
        deployment: DeploymentView | None = None,
        applied: int = 0,
        error: ErrorView | None = None,
        errors: builtins.list[dict[str, Any]] | None = None,
        blocks: builtins.list[BlockView] | None = None,
        pending: BlockView | None = None,
    ) -> MessageReply:
        return MessageReply.model_validate(
            {
                "id": message_id,
                "conversation": name,
                "project": project,
                "status": status,
                "changes": changes or {},
                "commands": commands or [],
                "deployment": deployment,
                "url": self._url(project, name),
                "head": head,
                "applied": applied,
                "error": error,
                "errors": errors or [],
                "blocks": blocks or [],
                "pending": pending,
            }
        )

    def _view(self, s: Session, project: Project, c: Conversation) -> ConversationView:
        count = s.scalar(select(func.count()).where(Message.conversation_id == c.id)) or 0
        latest = s.scalar(
            select(Deployment)
            .join(Message, Message.deployment_seq == Deployment.seq)
            .where(Message.conversation_id == c.id)
            .order_by(Deployment.seq.desc())
            .limit(1)
        )
        return ConversationView.model_validate(
            {
                "name": c.name,
                "project": project.name,
                "url": self._url(project.name, c.name),
                "head": c.head,
                "pending_bytes": len(c.pending),
                "messages": count,
                "current": _alias_target(s, project.name, c.name),
                "latest": latest.id if latest else None,
                "status": latest.status if latest else None,
                "created_at": c.created_at,
                "updated_at": c.updated_at,
            }
        )


_BODY_HINT = (
    'Send {"content": "<the assistant message>"}, {"messages": [{"role": "assistant", '
    '"content": "..."}]}, or the message itself as text/plain.'
)


def _too_large(size: int, cap: int, what: str = "the message") -> LimitExceeded:
    return LimitExceeded(
        f"{what} is {size} bytes; a message may hold at most {cap} bytes",
        hint="Split the change over several messages, or raise PREVIEWD_MAX_MESSAGE_BYTES.",
    )


def _assistant_texts(messages: Sequence[Any]) -> list[tuple[int, str]]:
    """(1-based position, text) of each assistant message of an OpenAI-style list."""
    if not isinstance(messages, list):
        raise InvalidContent(
            "'messages' must be a list of {role, content} objects", hint=_BODY_HINT
        )
    texts = []
    for position, message in enumerate(messages, 1):
        where = f"message {position} of the list"
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise InvalidContent(f"{where} must be an object with a string 'role'", hint=_BODY_HINT)
        if message["role"] != "assistant":
            continue
        content = message.get("content")
        if content is None:  # a turn that only calls tools
            continue
        if isinstance(content, list):
            if not all(isinstance(p, dict) for p in content):
                raise InvalidContent(f"the content parts of {where} must be objects")
            parts = [p.get("text") for p in content if p.get("type") == "text"]
            if not all(isinstance(t, str) for t in parts):
                raise InvalidContent(f"a text part of {where} has no string 'text'")
            content = "".join(parts)
        if not isinstance(content, str):
            raise InvalidContent(f"the content of {where} must be a string or a list of parts")
        texts.append((position, content))
    return texts


def _command(command: edits.Command) -> CommandView:
    """What previewd does about a shell or start command: never run it outside the build."""
    try:
        words = tuple(shlex.split(command.command))
    except ValueError:
        words = ()
    where = command.block.describe()
    if command.kind == "start":
        note = (
            "not run: previewd serves the production build or the server start command it "
            "detects; to choose the command, set [server] start in previewd.toml"
        )
        return CommandView(
            kind="start", command=command.command, handled="not_run", note=note, block=where
        )
    if words in _INSTALLS:
        note = "covered: the build runs the install step it detects, inside its sandbox"
        return CommandView(
            kind="shell", command=command.command, handled="install", note=note, block=where
        )
    if (
        words
        and _PACKAGE_INSTALL.match(words[0])
        and words[1:2] in (("install",), ("i",), ("add",))
    ):
        note = (
            "not run: list the packages in package.json or requirements.txt; the build "
            "installs what those name"
        )
    else:
        note = "not run: previewd runs no chat commands; write their effect as files"
    return CommandView(
        kind="shell", command=command.command, handled="not_run", note=note, block=where
    )


def _block_view(block: edits.Block) -> BlockView:
    return BlockView(index=block.index, format=block.format, path=block.path, line=block.line)


def _blocks(found: Sequence[edits.Edit]) -> list[BlockView]:
    unique = {edit.block.index: edit.block for edit in found}
    return [_block_view(unique[i]) for i in sorted(unique)]


def _error_view(exc: PreviewdError) -> ErrorView:
    return ErrorView(code=exc.code, message=exc.message, hint=exc.hint)


def _message_view(m: Message, deployment_id: str | None) -> MessageView:
    return MessageView.model_validate(
        {
            "id": m.id,
            "status": m.status,
            "bytes": m.bytes,
            "digest": m.digest,
            "changes": json.loads(m.changes),
            "commands": json.loads(m.commands),
            "deployment": deployment_id,
            "error": json.loads(m.error) if m.error else None,
            "created_at": m.created_at,
        }
    )


# -- queries ------------------------------------------------------------------------


def _add_message(
    s: Session,
    conversation_id: int,
    item: _Item,
    status: str,
    changes: dict[str, str],
    commands: list[CommandView],
    *,
    deployment_seq: int | None = None,
    error: ErrorView | None = None,
) -> int:
    message = Message(
        conversation_id=conversation_id,
        deployment_seq=deployment_seq,
        status=status,
        error=error.model_dump_json() if error else None,
        changes=json.dumps(dict(sorted(changes.items()))),
        commands=json.dumps([c.model_dump() for c in commands]),
        bytes=item.size,
        digest=item.digest,
    )
    s.add(message)
    s.flush()
    return message.id


def _find_project(s: Session, name: str) -> Project | None:
    return s.scalar(select(Project).where(Project.name == name))


def _project(s: Session, name: str) -> Project:
    project = _find_project(s, name)
    if project is None:
        raise ProjectNotFound(
            f"no project named {name!r}",
            hint="Create a conversation (which makes the project) with "
            "POST /api/v1/projects/<project>/conversations.",
        )
    return project


def _find(s: Session, project: Project, name: str) -> Conversation | None:
    return s.scalar(
        select(Conversation).where(Conversation.project_id == project.id, Conversation.name == name)
    )


def _conversation(s: Session, project_name: str, name: str) -> tuple[Project, Conversation]:
    project = _find_project(s, project_name)
    conversation = _find(s, project, name) if project else None
    if project is None or conversation is None:
        raise ConversationNotFound(
            f"project {project_name!r} has no conversation named {name!r}",
            hint=f"List them with GET /api/v1/projects/{project_name}/conversations.",
        )
    return project, conversation


def _state(s: Session, project: str, name: str) -> _State:
    _, conversation = _conversation(s, project, name)
    return _State(conversation.id, conversation.head, conversation.pending)


def _set_pending(s: Session, conversation_id: int, pending: bytes) -> None:
    conversation = s.get_one(Conversation, conversation_id)
    conversation.pending, conversation.updated_at = pending, utcnow()


def _applied_digests(s: Session, conversation_id: int) -> list[str]:
    return list(
        s.scalars(
            select(Message.digest).where(
                Message.conversation_id == conversation_id, Message.status == "applied"
            )
        ).all()
    )


def _alias_target(s: Session, project: str, name: str) -> str | None:
    return s.scalar(
        select(Deployment.id)
        .join(Alias, Alias.deployment_seq == Deployment.seq)
        .join(Project, Project.id == Alias.project_id)
        .where(Project.name == project, Alias.name == name)
    )


def _free_name(s: Session, project: Project) -> str:
    while True:  # 36**6 names: a collision is rare, two in a row rarer still
        name = "chat-" + "".join(secrets.choice(_ALPHABET) for _ in range(6))
        if _find(s, project, name) is None:
            return name


def _base_head(s: Session, project: Project, base: str | None) -> str | None:
    """The snapshot a new conversation starts from: none, the latest source, or a deployment's."""
    if base is None:
        return None
    if base == "latest":
        return s.scalar(
            select(Deployment.source)
            .where(Deployment.project_id == project.id)
            .order_by(Deployment.seq.desc())
            .limit(1)
        )
    deployment = s.scalar(select(Deployment).where(Deployment.id == base))
    if deployment is None or deployment.project_id != project.id:
        raise DeploymentNotFound(
            f"project {project.name!r} has no deployment {base!r} to start from",
            hint="Use 'latest', or a deployment id from GET /api/v1/projects/<project>/deployments.",
        )
    return deployment.source
