"""The compute pool: concurrency, the memory budget, arrival order and queue positions."""

from __future__ import annotations

import asyncio

import pytest

from previewd.build import ComputePool
from previewd.runtimes.base import GiB, MiB

pytestmark = pytest.mark.anyio


async def until(condition, timeout: float = 2.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0)


class Jobs:
    """Jobs that hold their slot until released, recording when they got it."""

    def __init__(self, pool: ComputePool) -> None:
        self.pool = pool
        self.order: list[str] = []
        self.positions: dict[str, list[int]] = {}
        self.gates: dict[str, asyncio.Event] = {}

    def start(self, name: str, memory: int = MiB) -> asyncio.Task[None]:
        self.positions[name] = []
        self.gates[name] = asyncio.Event()

        async def job() -> None:
            async with self.pool.slot(memory, self.positions[name].append):
                self.order.append(name)
                await self.gates[name].wait()

        return asyncio.create_task(job())


async def test_steps_past_the_concurrency_wait_in_order_and_learn_their_position() -> None:
    pool = ComputePool(concurrency=1, memory_bytes=GiB)
    jobs = Jobs(pool)
    tasks = [jobs.start(name) for name in "abc"]
    await until(lambda: pool.queued == 2)
    assert jobs.order == ["a"]
    assert jobs.positions == {"a": [], "b": [1], "c": [2]}
    jobs.gates["a"].set()
    await until(lambda: jobs.order == ["a", "b"])
    assert jobs.positions["c"] == [2, 1]  # told again when the queue moved
    jobs.gates["b"].set()
    jobs.gates["c"].set()
    await asyncio.gather(*tasks)
    assert jobs.order == ["a", "b", "c"]
    assert (pool.running, pool.memory_in_use, pool.queued) == (0, 0, 0)


async def test_the_memory_budget_holds_back_steps_that_do_not_fit() -> None:
    pool = ComputePool(concurrency=4, memory_bytes=GiB)
    jobs = Jobs(pool)
    tasks = [jobs.start("a", 600 * MiB), jobs.start("b", 600 * MiB), jobs.start("c", 100 * MiB)]
    await until(lambda: pool.queued == 2)
    # c would fit beside a, but b came first: nobody overtakes a step that waits
    assert jobs.order == ["a"] and pool.memory_in_use == 600 * MiB
    jobs.gates["a"].set()
    await until(lambda: jobs.order == ["a", "b", "c"])
    assert pool.memory_in_use == 700 * MiB
    for gate in jobs.gates.values():
        gate.set()
    await asyncio.gather(*tasks)


async def test_a_step_larger_than_the_budget_runs_alone_rather_than_never() -> None:
    pool = ComputePool(concurrency=2, memory_bytes=GiB)
    jobs = Jobs(pool)
    task = jobs.start("huge", 8 * GiB)
    await until(lambda: jobs.order == ["huge"])
    assert pool.memory_in_use == GiB
    jobs.gates["huge"].set()
    await task
    assert pool.memory_in_use == 0


async def test_a_cancelled_waiter_leaves_the_queue_and_those_behind_move_up() -> None:
    pool = ComputePool(concurrency=1, memory_bytes=GiB)
    jobs = Jobs(pool)
    a, b, c = (jobs.start(name) for name in "abc")
    await until(lambda: pool.queued == 2)
    b.cancel()
    await until(lambda: jobs.positions["c"] == [2, 1])
    assert pool.queued == 1
    jobs.gates["a"].set()
    jobs.gates["c"].set()
    await asyncio.gather(a, c)
    with pytest.raises(asyncio.CancelledError):
        await b
    assert jobs.order == ["a", "c"] and (pool.running, pool.memory_in_use) == (0, 0)


async def test_a_step_that_fails_gives_its_slot_back() -> None:
    pool = ComputePool(concurrency=1, memory_bytes=GiB)
    with pytest.raises(RuntimeError):
        async with pool.slot(GiB):
            raise RuntimeError("step failed")
    assert (pool.running, pool.memory_in_use) == (0, 0)
    async with pool.slot(GiB):
        assert pool.running == 1


def test_a_pool_needs_a_slot_and_memory() -> None:
    with pytest.raises(ValueError):
        ComputePool(concurrency=0)
