"""The app servers of a node as interfaces show them: their state, and what they print.

Functions over the :class:`~previewd.previews.supervisor.Supervisor` (``None``
on a node that runs no app servers) and the event :class:`~previewd.events.Broker`,
which carries each printed line to the callers that follow a runtime log.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from previewd.errors import NotFound
from previewd.events import Broker
from previewd.previews.supervisor import Supervisor
from previewd.schemas import CrashView, PreviewView


def runtime_topic(deployment_id: str) -> str:
    return f"runtime:{deployment_id}"


def previews(supervisor: Supervisor | None) -> list[PreviewView]:
    """Every app server this node knows, with live CPU and memory from its cgroup."""
    if supervisor is None:
        return []
    now = time.monotonic()
    views = []
    for deployment_id in supervisor.known():
        info, stats = supervisor.info(deployment_id), supervisor.stats(deployment_id)
        instances = supervisor.instances(deployment_id)
        views.append(
            PreviewView(
                deployment=deployment_id,
                state=info.state,
                cpu_seconds=stats.cpu_seconds if stats else None,
                memory_bytes=stats.memory_bytes if stats else None,
                idle_s=round(now - info.last_used, 3),
                restarts=info.restarts,
                crashes=[
                    CrashView(
                        at=datetime.fromtimestamp(c.at, UTC),
                        exit_code=c.exit_code,
                        limit_hit=c.limit_hit,
                        message=c.message,
                        stderr_tail=list(c.stderr_tail),
                        during_start=c.during_start,
                    )
                    for c in info.crashes
                ],
                instances=len(instances),
                healthy=sum(i.state == "running" and i.healthy for i in instances),
            )
        )
    return views


def runtime_logs(supervisor: Supervisor | None, deployment_id: str) -> list[dict[str, Any]]:
    """What a deployment's app server printed (the last lines kept, over restarts)."""
    if supervisor is None or deployment_id not in supervisor.known():
        raise NotFound(
            f"deployment {deployment_id!r} has no app server on this node",
            hint="Only deployments with a server part have runtime logs; see `previewd ps`.",
        )
    return [
        _line(line.at, line.stream, line.text, line.replica)
        for line in supervisor.logs(deployment_id)
    ]


async def follow_runtime_logs(
    supervisor: Supervisor | None, broker: Broker, deployment_id: str
) -> AsyncIterator[dict[str, Any]]:
    """The runtime log so far, then every new line as the app server prints it."""
    async with broker.subscribe(runtime_topic(deployment_id)) as queue:
        # no await between subscribing and reading what is kept: no line lost or doubled
        for line in runtime_logs(supervisor, deployment_id):
            yield line
        while True:
            yield await queue.get()


def runtime_line(
    broker: Broker, deployment_id: str, stream: str, text: str, replica: int = 0
) -> None:
    """Publish a line an app server printed: the supervisor's ``on_line``, ``broker`` bound."""
    broker.publish(runtime_topic(deployment_id), _line(time.time(), stream, text, replica))


def _line(at: float, stream: str, text: str, replica: int) -> dict[str, Any]:
    return {
        "at": datetime.fromtimestamp(at, UTC).isoformat(),
        "stream": stream,
        "text": text,
        "instance": replica,
    }
