"""The compute pool: how many steps run at once, and how much memory they may hold together.

Every step that runs a sandbox takes a slot and its memory limit from the pool
for as long as it runs (cache hits take nothing). Slots are granted in arrival
order: a step that does not fit waits, and so does everyone behind it, so a
big step is never starved by a stream of small ones. A waiting step learns its
place in the queue, and learns it again each time the queue moves.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from previewd.runtimes.base import GiB

OnQueued = Callable[[int], None]


@dataclass(eq=False)
class _Waiter:
    memory: int
    on_queued: OnQueued | None
    future: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    position: int = 0


class ComputePool:
    def __init__(self, *, concurrency: int = 2, memory_bytes: int = 4 * GiB) -> None:
        if concurrency < 1 or memory_bytes < 1:
            raise ValueError("a compute pool needs at least one slot and some memory")
        self.concurrency = concurrency
        self.memory_bytes = memory_bytes
        self.running = 0
        self.memory_in_use = 0
        self._queue: deque[_Waiter] = deque()

    @property
    def queued(self) -> int:
        return len(self._queue)

    @contextlib.asynccontextmanager
    async def slot(
        self, memory_bytes: int, on_queued: OnQueued | None = None
    ) -> AsyncIterator[None]:
        """Hold a slot and ``memory_bytes`` (at most the whole budget) inside the block.

        ``on_queued(position)`` is called when the step has to wait (1 = next in
        line) and whenever its position changes.
        """
        need = min(memory_bytes, self.memory_bytes)
        if not self._queue and self._fits(need):
            self._take(need)
        else:
            waiter = _Waiter(need, on_queued)
            self._queue.append(waiter)
            self._tell_positions()
            try:
                await waiter.future
            except asyncio.CancelledError:
                if waiter.future.done() and not waiter.future.cancelled():
                    self._give_back(need)  # granted just as we were cancelled
                else:
                    self._queue.remove(waiter)
                    self._grant()
                    self._tell_positions()
                raise
        try:
            yield
        finally:
            self._give_back(need)

    def _fits(self, need: int) -> bool:
        return self.running < self.concurrency and self.memory_in_use + need <= self.memory_bytes

    def _take(self, need: int) -> None:
        self.running += 1
        self.memory_in_use += need

    def _give_back(self, need: int) -> None:
        self.running -= 1
        self.memory_in_use -= need
        self._grant()
        self._tell_positions()

    def _grant(self) -> None:
        while self._queue and self._fits(self._queue[0].memory):
            waiter = self._queue.popleft()
            self._take(waiter.memory)
            waiter.future.set_result(None)

    def _tell_positions(self) -> None:
        for position, waiter in enumerate(self._queue, 1):
            if waiter.position != position:
                waiter.position = position
                if waiter.on_queued is not None:
                    waiter.on_queued(position)
