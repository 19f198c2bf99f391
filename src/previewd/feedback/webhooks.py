"""Webhooks: a project's feedback events POSTed to URLs, signed, retried, never blocking.

A delivery is a JSON body signed with HMAC-SHA256 over its raw bytes::

    X-Previewd-Signature: sha256=<hex of HMAC(secret, body)>
    X-Previewd-Timestamp: <unix seconds>   (also in the body, so it is signed too)

:meth:`Webhooks.notify` only queues (bounded: past ``queue_size`` waiting
deliveries, new ones are dropped and counted); a task sends them with up to
``concurrency`` at once, retrying network errors, 408, 429 and 5xx answers
with exponential backoff, ``attempts`` times at most.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from previewd import __version__
from previewd.errors import InvalidUrl, NotFound, ProjectNotFound
from previewd.schemas import WebhookCreated, WebhookView
from previewd.store import Database, Project
from previewd.store.models import Webhook

log = logging.getLogger("previewd.webhooks")

SIGNATURE = "X-Previewd-Signature"
TIMESTAMP = "X-Previewd-Timestamp"
MAX_URL = 2048
_RETRY_STATUS = frozenset({408, 425, 429})


def sign(secret: str, body: bytes) -> str:
    """The ``X-Previewd-Signature`` value of ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    """True when ``signature`` is the header previewd sends for ``body`` (constant time)."""
    return hmac.compare_digest(sign(secret, body), signature)


def check_url(url: str) -> str:
    """``url`` if it is an absolute http(s) URL with a host; :class:`InvalidUrl` if not."""
    hint = "Give an absolute http:// or https:// URL, e.g. https://example.com/hooks/previewd."
    if not isinstance(url, str) or len(url) > MAX_URL:
        raise InvalidUrl(f"a webhook URL is a string of at most {MAX_URL} characters", hint=hint)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        raise InvalidUrl(f"{url!r} is not a valid URL: {exc}", hint=hint) from None
    if parts.scheme not in ("http", "https"):
        raise InvalidUrl(
            f"webhook URLs must use http or https, not {parts.scheme or 'no scheme'!r}", hint=hint
        )
    if not parts.hostname or any(c.isspace() for c in url):
        raise InvalidUrl(f"{url!r} has no host name (or holds spaces)", hint=hint)
    return url


@dataclass(frozen=True)
class Delivery:
    url: str
    secret: str
    event: str
    body: bytes
    timestamp: int


class Webhooks:
    """Registration (store) and delivery (a task) of a project's webhooks."""

    def __init__(
        self,
        db: Database,
        *,
        attempts: int = 6,
        backoff_s: float = 1.0,
        max_backoff_s: float = 300.0,
        timeout_s: float = 10.0,
        concurrency: int = 4,
        queue_size: int = 1000,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.db = db
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.timeout_s = timeout_s
        self.concurrency = concurrency
        self.queue: asyncio.Queue[tuple[str, str, dict[str, Any]]] = asyncio.Queue(queue_size)
        self.dropped = 0  # events refused because the queue was full
        self.delivered = 0
        self.failed = 0  # deliveries given up after their last attempt
        self._transport = transport
        self._settled = asyncio.Condition()

    # -- registration -----------------------------------------------------------

    async def create(self, project: str, url: str, secret: str | None = None) -> WebhookCreated:
        check_url(url)
        if secret is not None and not 16 <= len(secret) <= 128:
            raise InvalidUrl(
                "a webhook secret has 16 to 128 characters",
                hint="Leave it out and previewd makes one.",
            )
        key = secret or secrets.token_hex(32)

        def add(s: Session) -> WebhookCreated:
            row = Webhook(project_id=_project_id(s, project), url=url, secret=key)
            s.add(row)
            s.flush()
            return WebhookCreated(
                id=row.id, project=project, url=url, created_at=row.created_at, secret=key
            )

        return await self.db.run(add)

    async def find(self, project: str) -> list[WebhookView]:
        def find(s: Session) -> list[WebhookView]:
            rows = s.scalars(
                select(Webhook)
                .where(Webhook.project_id == _project_id(s, project))
                .order_by(Webhook.id)
            )
            return [
                WebhookView(id=r.id, project=project, url=r.url, created_at=r.created_at)
                for r in rows.all()
            ]

        return await self.db.run(find)

    async def delete(self, project: str, webhook_id: int) -> None:
        def remove(s: Session) -> None:
            row = s.get(Webhook, webhook_id)
            if row is None or row.project_id != _project_id(s, project):
                raise NotFound(
                    f"project {project!r} has no webhook {webhook_id}",
                    hint=f"List them with GET /api/v1/projects/{project}/webhooks.",
                )
            s.delete(row)

        await self.db.run(remove)

    # -- delivery ---------------------------------------------------------------

    def notify(self, project: str, event: str, payload: dict[str, Any]) -> None:
        """Queue ``event`` for every webhook of ``project``; never waits."""
        try:
            self.queue.put_nowait((project, event, payload))
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("webhook queue full: %s for %s dropped", event, project)

    async def run(self) -> None:
        """Send queued events until cancelled."""
        limit = asyncio.Semaphore(self.concurrency)
        running: set[asyncio.Task[None]] = set()
        timeout = httpx.Timeout(self.timeout_s)
        headers = {"user-agent": f"previewd/{__version__}"}
        async with httpx.AsyncClient(
            transport=self._transport, timeout=timeout, headers=headers
        ) as http:
            try:
                while True:
                    project, event, payload = await self.queue.get()
                    for delivery in await self._deliveries(project, event, payload):
                        await limit.acquire()
                        task = asyncio.create_task(self._send(http, delivery))
                        running.add(task)
                        task.add_done_callback(running.discard)
                        task.add_done_callback(lambda _: limit.release())
            finally:
                for task in running:
                    task.cancel()
                await asyncio.gather(*running, return_exceptions=True)

    async def _deliveries(
        self, project: str, event: str, payload: dict[str, Any]
    ) -> list[Delivery]:
        def hooks(s: Session) -> list[tuple[str, str]]:
            rows = s.execute(
                select(Webhook.url, Webhook.secret).join(Project).where(Project.name == project)
            )
            return [(url, secret) for url, secret in rows.all()]

        timestamp = int(time.time())
        document = {"event": event, "project": project, "timestamp": timestamp, **payload}
        body = json.dumps(document, separators=(",", ":"), default=str).encode()
        return [Delivery(u, key, event, body, timestamp) for u, key in await self.db.run(hooks)]

    async def _send(self, http: httpx.AsyncClient, delivery: Delivery) -> None:
        headers = {
            "content-type": "application/json",
            SIGNATURE: sign(delivery.secret, delivery.body),
            TIMESTAMP: str(delivery.timestamp),
            "X-Previewd-Event": delivery.event,
            "X-Previewd-Delivery": uuid.uuid4().hex,
        }
        for attempt in range(1, self.attempts + 1):
            try:
                answer = await http.post(delivery.url, content=delivery.body, headers=headers)
                status = answer.status_code
                if status < 300:
                    await self._settle(ok=True)
                    return
                if status < 500 and status not in _RETRY_STATUS:
                    log.warning("webhook %s refused %s: %s", delivery.url, delivery.event, status)
                    break  # the receiver says no: asking again will not change its mind
                why = f"status {status}"
            except httpx.HTTPError as exc:
                why = f"{type(exc).__name__}: {exc}"
            if attempt < self.attempts:
                delay = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
                log.info("webhook %s failed (%s); retry in %gs", delivery.url, why, delay)
                await asyncio.sleep(delay)  # the backoff itself, not a wait for a condition
        else:
            log.warning(
                "webhook %s: %s given up after %d attempts",
                delivery.url,
                delivery.event,
                self.attempts,
            )
        await self._settle(ok=False)

    async def _settle(self, *, ok: bool) -> None:
        async with self._settled:
            if ok:
                self.delivered += 1
            else:
                self.failed += 1
            self._settled.notify_all()

    async def wait_settled(self, count: int, timeout: float) -> None:
        """Wait until ``count`` deliveries ended (delivered or given up), for tests and shutdown."""
        async with asyncio.timeout(timeout), self._settled:
            await self._settled.wait_for(lambda: self.delivered + self.failed >= count)


def _project_id(s: Session, name: str) -> int:
    found = s.scalar(select(Project.id).where(Project.name == name))
    if found is None:
        raise ProjectNotFound(
            f"no project named {name!r}", hint="List projects with `previewd ls`."
        )
    return found
