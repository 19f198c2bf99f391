"""Run a plan's steps as a DAG: each as soon as the steps it needs are done.

Steps with nothing between them (a client chain and a server chain) run at
the same time; how many sandboxes run at once across all builds is the
compute pool's business, inside ``run``. The first failure cancels every
other step of the build (a cancelled step kills its sandbox) and is raised
as it is, not wrapped in an exception group.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

R = TypeVar("R")


class Node(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def after(self) -> tuple[str, ...]: ...


N = TypeVar("N", bound=Node)


async def execute(steps: Sequence[N], run: Callable[[N], Awaitable[R]]) -> list[R]:
    """``run`` every step once its ``after`` steps are done; the results in ``steps`` order."""
    names = {step.name for step in steps}
    for step in steps:
        if unknown := set(step.after) - names:
            raise ValueError(f"step {step.name} waits for unknown steps {sorted(unknown)}")
    _check_acyclic(steps)
    tasks: dict[str, asyncio.Task[R]] = {}

    async def one(step: N) -> R:
        for name in step.after:
            await tasks[name]
        return await run(step)

    try:
        async with asyncio.TaskGroup() as group:
            for step in steps:
                tasks[step.name] = group.create_task(one(step), name=step.name)
    except BaseExceptionGroup as failed:
        raise _first(failed) from None
    return [tasks[step.name].result() for step in steps]


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The exception that started it all: the first that is not a cancellation."""
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            exc = _first(exc)
        if not isinstance(exc, asyncio.CancelledError):
            return exc
    return group.exceptions[0]


def _check_acyclic(steps: Sequence[Node]) -> None:
    after = {step.name: step.after for step in steps}
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            raise ValueError(f"steps wait for each other: {' → '.join((*path, name))}")
        if name not in done:
            for dep in after[name]:
                visit(dep, (*path, name))
            done.add(name)

    for step in steps:
        visit(step.name, ())
