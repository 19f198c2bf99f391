"""Steps as a DAG: order, parallel chains, and the first failure ending the build."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from previewd.build import BuildFailed
from previewd.build.executor import execute

pytestmark = pytest.mark.anyio


@dataclass(frozen=True)
class Node:
    name: str
    after: tuple[str, ...] = ()


CHAINS = [
    Node("client:install"),
    Node("client:build", ("client:install",)),
    Node("server:install"),
    Node("server:build", ("server:install",)),
]


async def test_a_step_starts_only_when_the_steps_it_needs_are_done() -> None:
    done: list[str] = []

    async def run(node: Node) -> str:
        assert all(name in done for name in node.after), f"{node.name} started too early"
        await asyncio.sleep(0.01 if node.name.endswith("install") else 0)
        done.append(node.name)
        return node.name.upper()

    assert await execute(CHAINS, run) == [n.name.upper() for n in CHAINS]
    assert done.index("client:install") < done.index("client:build")
    assert done.index("server:install") < done.index("server:build")


async def test_independent_chains_run_at_the_same_time() -> None:
    started = {name: asyncio.Event() for name in ("client:install", "server:install")}

    async def run(node: Node) -> None:
        if node.name in started:
            started[node.name].set()
            # each install waits for the other to have started: run one after the
            # other, they would wait forever
            other = next(e for n, e in started.items() if n != node.name)
            await asyncio.wait_for(other.wait(), 2)

    await execute(CHAINS, run)


async def test_the_first_failure_cancels_the_rest_and_is_raised_as_it_is() -> None:
    cancelled: list[str] = []
    ran: list[str] = []

    async def run(node: Node) -> None:
        ran.append(node.name)
        if node.name == "client:install":
            await asyncio.sleep(0.01)
            raise BuildFailed("step client:install failed with exit status 1", step=node.name)
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(node.name)
            raise

    with pytest.raises(BuildFailed) as caught:
        await asyncio.wait_for(execute(CHAINS, run), 5)
    assert caught.value.step == "client:install"
    assert "client:build" not in ran  # what needed the failed step never started
    assert cancelled == ["server:install"]


def test_a_plan_with_a_cycle_or_an_unknown_step_is_refused() -> None:
    async def run(node: Node) -> None:
        raise AssertionError("nothing may run")

    with pytest.raises(ValueError, match="wait for each other"):
        asyncio.run(execute([Node("a", ("b",)), Node("b", ("a",))], run))
    with pytest.raises(ValueError, match="unknown steps"):
        asyncio.run(execute([Node("a", ("nope",))], run))
