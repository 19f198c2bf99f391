"""The FeedbackBook: every problem of every project, deduplicated, counted, resolved.

Sightings arrive from four places: failed builds (the broker's ``deployments``
topic), crashes (the supervisor's ``on_crash``), 5xx answers (the edge proxy's
``on_answer``) and the browser (the edge's ``/__previewd/report``). The
callbacks only condense and queue, so the edge and the build never wait on
the database; one task writes the queue to the store in batches.

A sighting whose fingerprint the project knows adds to that row's count,
moves ``last_seen`` and the newest deployment, and reopens it if resolved.

Resolution rule: when a deployment goes live, the unresolved problems of the
same alias last seen on an *older* deployment are marked resolved (they were
not seen on the newer one yet; a new sighting reopens them). When a build
fails, the same happens to the older build errors this failure did not repeat.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from previewd import names
from previewd.errors import ProjectNotFound
from previewd.events import Broker, Event
from previewd.feedback.condense import (
    Problem,
    build_problems,
    console_problem,
    crash_problem,
    http_problem,
)
from previewd.feedback.webhooks import Webhooks
from previewd.schemas import FeedbackView
from previewd.service import DEPLOYMENTS
from previewd.store import Database, Deployment, Project
from previewd.store.models import Conversation, Feedback, utcnow

log = logging.getLogger("previewd.feedback")

BATCH = 64
NOTIFIED = frozenset({"new", "reopened", "resolved"})  # what webhooks hear (not every sighting)


def feedback_topic(project: str) -> str:
    return f"feedback:{project}"


@dataclass(frozen=True)
class _Resolve:
    """A deployment went live (``kinds`` None) or failed its build (``kinds`` = build)."""

    deployment_id: str
    kinds: tuple[str, ...] | None = None


class FeedbackBook:
    def __init__(
        self,
        db: Database,
        broker: Broker,
        *,
        webhooks: Webhooks | None = None,
        queue_size: int = 2000,
    ) -> None:
        self.db = db
        self.broker = broker
        self.hooks = webhooks or Webhooks(db)
        self._queue: asyncio.Queue[Problem | _Resolve] = asyncio.Queue(queue_size)
        self.dropped = 0  # sightings refused because the queue was full
        self.written = 0  # sightings and resolutions written
        self._progress = asyncio.Condition()
        self.listening = asyncio.Event()  # set once the deployments topic is followed
        self._events: asyncio.Queue[Event] = asyncio.Queue()  # that topic's queue, once followed
        self._reading = False  # a deployment event is being turned into sightings
        self._inflight = 0  # sightings taken from the queue, not written yet

    # -- sources: called from the edge, the supervisor, the broker; never wait ------------

    def add(self, problem: Problem | _Resolve) -> None:
        try:
            self._queue.put_nowait(problem)
        except asyncio.QueueFull:
            self.dropped += 1

    def crash(self, deployment_id: str, crash: Any) -> None:
        """``Supervisor.on_crash``: an app server ended on its own (a ``previews.Crash``)."""
        self.add(
            crash_problem(
                deployment_id,
                exit_code=crash.exit_code,
                limit_hit=crash.limit_hit,
                message=crash.message,
                stderr_tail=list(crash.stderr_tail),
                during_start=crash.during_start,
            )
        )

    def http_error(
        self, deployment_id: str, method: str, path: str, status: int, body_start: bytes
    ) -> None:
        self.add(
            http_problem(
                deployment_id, method=method, path=path, status=status, body_start=body_start
            )
        )

    def console(self, deployment_id: str, reports: Iterable[Mapping[str, Any]]) -> None:
        for report in reports:
            self.add(console_problem(deployment_id, report))

    # -- the task ---------------------------------------------------------------------

    async def run(self) -> None:
        """Follow failed and live deployments and write sightings, until cancelled."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._follow())
            group.create_task(self._write())
            group.create_task(self.hooks.run())

    async def _follow(self) -> None:
        async with self.broker.subscribe(DEPLOYMENTS) as events:
            self._events = events
            self.listening.set()
            while True:
                event = await events.get()
                self._reading = True
                try:
                    if event["status"] == "failed":
                        deployment_id = event["deployment"]
                        found = await self.db.run(partial(_failure, deployment_id=deployment_id))
                        for problem in build_problems(deployment_id, *found):
                            self.add(problem)
                        self.add(_Resolve(event["deployment"], ("build",)))
                    elif event["status"] == "ready":
                        self.add(_Resolve(event["deployment"]))
                except Exception:  # one odd deployment must not stop the others
                    log.exception("feedback: could not read deployment %s", event)
                finally:
                    self._reading = False
                async with self._progress:
                    self._progress.notify_all()

    async def _write(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            self._inflight = len(batch)
            try:
                changes = await self.db.run(partial(_apply_all, items=batch))
            except Exception:
                log.exception("feedback: could not record %d sightings", len(batch))
                changes = []
            for event, view in changes:
                self._announce(event, view)
            async with self._progress:
                self.written += len(batch)
                self._inflight = 0
                self._progress.notify_all()

    def _announce(self, event: str, view: FeedbackView) -> None:
        document = view.model_dump(mode="json")
        self.broker.publish(feedback_topic(view.project), {"event": event, "feedback": document})
        if event in NOTIFIED:
            self.hooks.notify(view.project, f"feedback.{event}", {"feedback": document})

    async def settled(self, timeout: float = 10.0) -> None:
        """Wait until the deployment events and sightings so far are written (tests)."""
        async with asyncio.timeout(timeout), self._progress:
            await self._progress.wait_for(lambda: self._events.empty() and not self._reading)
            target = self.written + self._inflight + self._queue.qsize()
            await self._progress.wait_for(lambda: self.written >= target)

    # -- reading ------------------------------------------------------------------------

    async def list(
        self,
        project: str,
        *,
        conversation: str | None = None,
        kind: str | None = None,
        since: datetime | None = None,
        include_resolved: bool = False,
        limit: int = 100,
    ) -> list[FeedbackView]:
        """A project's problems, the most recently seen first."""
        if conversation is not None:
            names.check_alias(conversation)

        def query(s: Session) -> list[FeedbackView]:
            project_id = _project_id(s, project)
            q = select(Feedback).where(Feedback.project_id == project_id)
            if conversation is not None:
                q = q.where(Feedback.alias == conversation)
            if kind is not None:
                q = q.where(Feedback.kind == kind)
            if since is not None:
                q = q.where(Feedback.last_seen >= since)
            if not include_resolved:
                q = q.where(Feedback.resolved_at.is_(None))
            rows = s.scalars(q.order_by(Feedback.last_seen.desc(), Feedback.id.desc()).limit(limit))
            return [_view(r, project) for r in rows.all()]

        return await self.db.run(query)

    async def follow(self, project: str, *, conversation: str | None = None) -> Subscription:
        """Changes to the project's problems from now on (a 404 first if it is unknown)."""
        if conversation is not None:
            names.check_alias(conversation)
        await self.db.run(lambda s: _project_id(s, project))
        stack = AsyncExitStack()
        queue = await stack.enter_async_context(self.broker.subscribe(feedback_topic(project)))
        return Subscription(queue, stack, conversation)


class Subscription:
    """What :meth:`FeedbackBook.follow` gives: (event, problem) pairs, where event is
    ``new``, ``seen``, ``reopened`` or ``resolved``. Close it with :meth:`aclose`."""

    def __init__(
        self, queue: asyncio.Queue[Event], stack: AsyncExitStack, conversation: str | None
    ) -> None:
        self._queue = queue
        self._stack = stack
        self._conversation = conversation

    async def next(self, timeout: float) -> tuple[str, FeedbackView] | None:
        """The next change, or None when ``timeout`` seconds pass without one."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                change = await asyncio.wait_for(self._queue.get(), deadline - loop.time())
            except TimeoutError:
                return None
            view = FeedbackView.model_validate(change["feedback"])
            if self._conversation is None or view.alias == self._conversation:
                return change["event"], view

    async def aclose(self) -> None:
        await self._stack.aclose()


# -- one transaction's work ---------------------------------------------------------------


def _failure(s: Session, deployment_id: str) -> tuple[str | None, Sequence[Mapping[str, Any]]]:
    d = s.scalar(select(Deployment).where(Deployment.id == deployment_id))
    if d is None:
        return None, []
    return d.error, json.loads(d.diagnostics) if d.diagnostics else []


def _apply_all(s: Session, items: list[Problem | _Resolve]) -> list[tuple[str, FeedbackView]]:
    return [change for item in items for change in _apply(s, item)]


def _apply(s: Session, item: Problem | _Resolve) -> list[tuple[str, FeedbackView]]:
    found = s.execute(
        select(Deployment, Project)
        .join(Project, Project.id == Deployment.project_id)
        .where(Deployment.id == item.deployment_id)
    ).first()
    if found is None:
        return []  # the deployment was removed meanwhile
    deployment, project = found
    if isinstance(item, _Resolve):
        return _resolve(s, deployment, project, item.kinds)
    return [_sighting(s, deployment, project, item)]


def _sighting(
    s: Session, deployment: Deployment, project: Project, problem: Problem
) -> tuple[str, FeedbackView]:
    alias = deployment.alias or ""
    conversation = None
    if alias:
        conversation = s.scalar(
            select(Conversation.id).where(
                Conversation.project_id == project.id, Conversation.name == alias
            )
        )
    row = s.scalar(
        select(Feedback).where(
            Feedback.project_id == project.id, Feedback.fingerprint == problem.fingerprint
        )
    )
    now = utcnow()
    detail = json.dumps(problem.detail, default=str)
    if row is None:
        event = "new"
        row = Feedback(
            project_id=project.id,
            conversation_id=conversation,
            deployment_id=deployment.id,
            alias=alias,
            kind=problem.kind,
            fingerprint=problem.fingerprint,
            text=problem.text,
            detail=detail,
            count=1,
            first_seen=now,
            last_seen=now,
        )
        s.add(row)
    else:
        event = "reopened" if row.resolved_at is not None else "seen"
        row.count += 1
        row.last_seen, row.resolved_at = now, None
        row.deployment_id, row.alias, row.conversation_id = deployment.id, alias, conversation
        row.text, row.detail = problem.text, detail
    s.flush()
    return event, _view(row, project.name)


def _resolve(
    s: Session, deployment: Deployment, project: Project, kinds: tuple[str, ...] | None
) -> list[tuple[str, FeedbackView]]:
    older = select(Deployment.id).where(
        Deployment.project_id == project.id, Deployment.seq < deployment.seq
    )
    q = select(Feedback).where(
        Feedback.project_id == project.id,
        Feedback.alias == (deployment.alias or ""),
        Feedback.resolved_at.is_(None),
        Feedback.deployment_id.in_(older),
    )
    if kinds is not None:
        q = q.where(Feedback.kind.in_(kinds))
    now = utcnow()
    changed = []
    for row in s.scalars(q).all():
        row.resolved_at = now
        changed.append(("resolved", _view(row, project.name)))
    return changed


def _view(row: Feedback, project: str) -> FeedbackView:
    return FeedbackView(
        id=row.id,
        project=project,
        conversation=row.alias if row.conversation_id is not None else None,
        alias=row.alias,
        deployment=row.deployment_id,
        kind=row.kind,
        fingerprint=row.fingerprint,
        text=row.text,
        detail=json.loads(row.detail),
        count=row.count,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        resolved_at=row.resolved_at,
    )


def _project_id(s: Session, name: str) -> int:
    found = s.scalar(select(Project.id).where(Project.name == name))
    if found is None:
        raise ProjectNotFound(
            f"no project named {name!r}", hint="List projects with `previewd ls`."
        )
    return found
