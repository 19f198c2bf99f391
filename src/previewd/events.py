"""In-process publish/subscribe between the API, the workers and the edge.

The seam a multi-node setup replaces with PostgreSQL ``LISTEN/NOTIFY``: every
payload is a small JSON-able dict, and a subscriber never assumes it saw every
event (it re-reads the store when it must be sure).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

Event = dict[str, Any]


class Broker:
    def __init__(self, queue_size: int = 1024) -> None:
        self._queues: dict[str, set[asyncio.Queue[Event]]] = defaultdict(set)
        self._queue_size = queue_size

    def publish(self, topic: str, event: Event) -> None:
        for queue in self._queues.get(topic, ()):
            if queue.full():  # a slow subscriber loses its oldest events, never blocks others
                queue.get_nowait()
            queue.put_nowait(event)

    @asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[asyncio.Queue[Event]]:
        """A queue receiving every event on ``topic`` published while the block runs."""
        queue: asyncio.Queue[Event] = asyncio.Queue(self._queue_size)
        self._queues[topic].add(queue)
        try:
            yield queue
        finally:
            self._queues[topic].discard(queue)
            if not self._queues[topic]:
                del self._queues[topic]
