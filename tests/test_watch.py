"""Watch mode against a real node: files written into a folder end up served at the URL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from previewd import AsyncClient
from previewd.errors import PreviewdError
from previewd.watch import Round, Watcher, ignore_rule
from previewd.worker import Built
from tests.support import TOKEN, EdgeClient

pytestmark = pytest.mark.anyio
ROUND_TIMEOUT = 30  # a bound, not a measurement: a round normally takes milliseconds


class Counting(httpx.AsyncHTTPTransport):
    """A real transport that also counts what goes over the wire, by method and route."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.method, request.url.path))
        return await super().handle_async_request(request)

    def uploads(self) -> int:
        return sum(1 for m, p in self.seen if m == "PUT" and "/blobs/" in p)


class Recorder:
    """The watcher's reporter: rounds and errors go into a stream the test reads."""

    def __init__(self) -> None:
        self.send, self.receive = anyio.create_memory_object_stream[Round | PreviewdError](100)
        self.announced: list[tuple[Sequence[str], Sequence[str]]] = []
        self.logs: list[dict[str, Any]] = []

    def deploying(self, written: Sequence[str], deleted: Sequence[str]) -> None:
        self.announced.append((written, deleted))

    def log(self, record: dict[str, Any]) -> None:
        self.logs.append(record)

    def deployed(self, round: Round) -> None:
        self.send.send_nowait(round)

    def error(self, error: PreviewdError) -> None:
        self.send.send_nowait(error)

    async def next(self) -> Round:
        with anyio.fail_after(ROUND_TIMEOUT):
            event = await self.receive.receive()
        assert isinstance(event, Round), event
        return event


@asynccontextmanager
async def watching(
    node: Any, folder: Path, **options: Any
) -> AsyncIterator[tuple[Recorder, Counting]]:
    recorder, transport = Recorder(), Counting()
    stop = anyio.Event()
    async with (
        AsyncClient(node.api_url, TOKEN, transport=transport) as client,
        anyio.create_task_group() as tasks,
    ):
        watcher = Watcher(client, folder, "live", reporter=recorder, **options)
        tasks.start_soon(watcher.run, stop)
        try:
            yield recorder, transport
        finally:
            stop.set()
    recorder.send.close()
    recorder.receive.close()


def site(folder: Path) -> Path:
    (folder / "assets").mkdir(parents=True)
    (folder / "index.html").write_text("<h1>one</h1>")
    (folder / "style.css").write_text("h1 { color: teal }")
    (folder / "assets" / "big.js").write_text("x" * 40_000)
    return folder


async def test_changes_deploy_only_what_changed_and_deletes_propagate(
    node, edge: EdgeClient, tmp_path: Path
) -> None:
    folder = site(tmp_path / "site")
    async with watching(node, folder) as (recorder, transport):
        first = await recorder.next()
        assert first.deployment.status == "ready"
        assert first.written == ["assets/big.js", "index.html", "style.css"]
        assert transport.uploads() == 3
        assert (await edge.get("live")).text == "<h1>one</h1>"

        transport.seen.clear()
        (folder / "index.html").write_text("<h1>two</h1>")
        second = await recorder.next()
        assert (second.written, second.deleted, second.uploaded) == (["index.html"], [], 1)
        assert transport.uploads() == 1  # the 40 kB script did not go over again
        assert (await edge.get("live")).text == "<h1>two</h1>"
        # the changeset was applied to the previous deployment: the rest is still there
        kept = await edge.get(f"{second.deployment.id}--live", "/assets/big.js")
        assert kept.text == "x" * 40_000

        transport.seen.clear()
        (folder / "style.css").unlink()
        third = await recorder.next()
        assert (third.written, third.deleted) == ([], ["style.css"])
        assert transport.uploads() == 0
        assert (await edge.get("live", "/style.css")).status_code == 404
        assert (await edge.get("live")).text == "<h1>two</h1>"


async def test_a_burst_of_writes_becomes_one_deployment(
    node, edge: EdgeClient, tmp_path: Path
) -> None:
    folder = site(tmp_path / "site")
    async with watching(node, folder, debounce_ms=300) as (recorder, _):
        await recorder.next()
        for n in range(5):
            (folder / f"page{n}.html").write_text(f"page {n}")
        burst = await recorder.next()
        assert burst.written == [f"page{n}.html" for n in range(5)]
        # touching a file without changing its bytes deploys nothing
        (folder / "index.html").write_text("<h1>one</h1>")
        (folder / "last.html").write_text("last")
        last = await recorder.next()
        assert last.written == ["last.html"]
    async with AsyncClient(node.api_url, TOKEN) as client:
        assert len(await client.deployments("live")) == 3
    assert (await edge.get("live", "/page4.html")).text == "page 4"


async def test_ignored_files_neither_deploy_nor_trigger(
    node, edge: EdgeClient, tmp_path: Path
) -> None:
    folder = site(tmp_path / "site")
    (folder / ".git").mkdir()
    (folder / ".git" / "HEAD").write_text("ref: main")
    async with watching(node, folder) as (recorder, _):
        first = await recorder.next()
        assert ".git/HEAD" not in first.written
        (folder / ".git" / "HEAD").write_text("ref: other")
        (folder / "node_modules").mkdir()
        (folder / "node_modules" / "x.js").write_text("x")
        (folder / ".index.html.swp").write_text("swap")
        (folder / "index.html").write_text("<h1>after</h1>")
        after = await recorder.next()
        assert after.written == ["index.html"]


def test_the_build_output_detection_names_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text(
        '{"scripts": {"build": "vite build"}, "devDependencies": {"vite": "5.0.0"}}'
    )
    skip = ignore_rule(tmp_path)
    assert skip("dist") and skip("dist/index.html")
    assert not skip("src/main.js") and not skip("distant.txt")
    assert skip("node_modules/vite/index.js") and skip("a/.b.swp")


async def test_a_broken_build_is_shown_and_the_watcher_keeps_going(
    node, edge: EdgeClient, tmp_path: Path
) -> None:
    async def build(deployment_id, source, log):
        if "broken.js" in source.files:
            log.line("build", "stderr", "broken.js:1:1: error: Unexpected token")
            raise PreviewdError("step build failed with exit status 1")
        return Built(source)

    node.service.prebuild = None
    node.worker.build = build
    folder = site(tmp_path / "site")
    async with watching(node, folder) as (recorder, _):
        assert (await recorder.next()).deployment.status == "ready"
        (folder / "broken.js").write_text("}")
        failed = await recorder.next()
        assert failed.deployment.status == "failed"
        assert "exit status 1" in (failed.deployment.error or "")
        assert any("Unexpected token" in r.get("text", "") for r in recorder.logs)
        assert (await edge.get("live")).text == "<h1>one</h1>"  # the last good one stays

        (folder / "broken.js").unlink()
        (folder / "index.html").write_text("<h1>fixed</h1>")
        fixed = await recorder.next()
        assert fixed.deployment.status == "ready"
        assert fixed.deleted == ["broken.js"]
        assert (await edge.get("live")).text == "<h1>fixed</h1>"


async def test_an_alias_moves_with_each_round_and_a_removed_base_redeploys_all(
    node, edge: EdgeClient, tmp_path: Path
) -> None:
    folder = site(tmp_path / "site")
    async with watching(node, folder, alias="dev") as (recorder, _):
        first = await recorder.next()
        async with AsyncClient(node.api_url, TOKEN) as client:
            await client.delete_deployment(first.deployment.id)
        (folder / "index.html").write_text("<h1>again</h1>")
        again = await recorder.next()
        assert again.written == ["assets/big.js", "index.html", "style.css"]
        assert (await edge.get("dev--live")).text == "<h1>again</h1>"


async def test_a_refused_file_is_reported_and_the_next_change_deploys(
    node, edge: EdgeClient, tmp_path: Path
) -> None:
    folder = site(tmp_path / "site")
    secret = tmp_path / "secret.txt"
    secret.write_text("do not publish")
    async with watching(node, folder) as (recorder, _):
        await recorder.next()
        (folder / "leak.txt").symlink_to(secret)
        with anyio.fail_after(ROUND_TIMEOUT):
            error = await recorder.receive.receive()
        assert isinstance(error, PreviewdError) and "outside" in error.message
        (folder / "leak.txt").unlink()
        (folder / "index.html").write_text("<h1>safe</h1>")
        safe = await recorder.next()
        assert safe.written == ["index.html"]
        assert (await edge.get("live")).text == "<h1>safe</h1>"


def test_a_file_removed_while_the_folder_is_scanned_is_left_out(tmp_path: Path) -> None:
    from previewd.client.files import scan

    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "b.txt").write_text("b")

    def skip(rel: str) -> bool:
        if rel == "a.txt":  # listed already: b.txt goes between the listing and its read
            (tmp_path / "b.txt").unlink()
        return False

    assert [rel for rel, _ in scan(tmp_path, skip=skip)] == ["a.txt"]
