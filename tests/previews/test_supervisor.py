"""The supervisor with real sandboxes and real sockets: start, sleep, wake, crash, limits."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from previewd.blobs.local import LocalBlobStore
from previewd.errors import Unavailable
from previewd.previews import (
    PreviewCrashed,
    PreviewPoolFull,
    PreviewStartTimeout,
    Supervisor,
    SupervisorConfig,
)
from previewd.runtimes.base import MiB, ResourceLimits
from previewd.runtimes.bubblewrap import BubblewrapRuntime
from previewd.runtimes.process import Supervised
from tests.previews.helpers import bundle, get, python_app, wait_for

pytestmark = [pytest.mark.sandbox, pytest.mark.anyio]

LIMITS = ResourceLimits(
    memory_bytes=128 * MiB, cpu_cores=1.0, pids=64, timeout_s=None, tmpfs_bytes=8 * MiB
)


def make(
    runtime: BubblewrapRuntime,
    blobs: LocalBlobStore,
    root: Path,
    hooked: list[tuple[str, str, str]] | None = None,
    **config: Any,
) -> Supervisor:
    settings = {"limits": LIMITS, "start_timeout_s": 10.0, **config}
    return Supervisor(
        runtime=runtime,
        blobs=blobs,
        config=SupervisorConfig(root=root, **settings),
        on_line=None if hooked is None else lambda *line: hooked.append(line),
    )


async def test_python_app_answers_through_the_socket(
    bubblewrap: BubblewrapRuntime, blobs: LocalBlobStore, root: Path
) -> None:
    hooked: list[tuple[str, str, str]] = []
    async with make(bubblewrap, blobs, root, hooked) as sup:
        sup.add("py", bundle(blobs, {"app.py": python_app()}))
        assert sup.info("py").state == "asleep" and sup.stats("py") is None
        # requests arriving together share one start
        sockets = await asyncio.gather(*(sup.ensure_running("py") for _ in range(5)))
        assert len(set(sockets)) == 1
        socket = sockets[0]
        assert [line.text for line in sup.logs("py")].count("listening on 8000") == 1
        assert socket == root / "previews" / "py" / "run" / "http.sock"
        response = await get(socket)
        assert response.status_code == 200
        assert response.text == "hello from python on 8000"
        # keep-alive through the bridge: several requests on one connection
        async with httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(uds=str(socket)), base_url="http://p"
        ) as http:
            for _ in range(5):
                assert (await http.get("/")).status_code == 200
        stats = sup.stats("py")
        assert stats is not None and stats.cpu_seconds > 0 and stats.memory_bytes > 1 * MiB
        assert sup.info("py").state == "running"
        assert ("stdout", "listening on 8000") in [
            (line.stream, line.text) for line in sup.logs("py")
        ]
        assert ("py", "stdout", "listening on 8000") in hooked


async def test_node_app_answers_through_the_socket(
    bubblewrap: BubblewrapRuntime, blobs: LocalBlobStore, root: Path
) -> None:
    server = (
        'require("http").createServer((req, res) => res.end("hello from node " + req.url))'
        ".listen(Number(process.env.PORT), () => console.log('up'));\n"
    )
    async with make(bubblewrap, blobs, root) as sup:
        sup.add("node", bundle(blobs, {"server.js": server}, ("node", "server.js"), "node"))
        response = await get(await sup.ensure_running("node"), "/x?y=1")
        assert response.text == "hello from node /x?y=1"


async def test_idle_instance_sleeps_and_wakes_with_its_files(
    bubblewrap: BubblewrapRuntime, blobs: LocalBlobStore, root: Path
) -> None:
    # each start appends to a file in /work: the count shows the files stayed across sleep
    prelude = (
        "import os\n"
        "with open('/work/starts.txt', 'a') as f:\n    f.write('x')\n"
        "STARTS = len(open('/work/starts.txt').read())\n"
    )
    handler = "def handle(path):\n    return f'starts={STARTS}'\n"
    async with make(bubblewrap, blobs, root, idle_s=0.4, reap_every_s=0.05) as sup:
        sup.add("idle", bundle(blobs, {"app.py": python_app(handler, prelude)}))
        assert (await get(await sup.ensure_running("idle"))).text == "starts=1"
        process = sup._previews["idle"][0].process
        assert isinstance(process, Supervised) and process.cgroup is not None
        group = process.cgroup
        assert all(path.exists() for path in group.dirs.values())
        # activity keeps it up past idle_s
        touched_until = time.monotonic() + 0.6
        while time.monotonic() < touched_until:
            sup.touch("idle")
            await asyncio.sleep(0.05)
            assert sup.info("idle").state == "running"
        await wait_for(lambda: sup.info("idle").state == "asleep", timeout=5)
        assert not any(path.exists() for path in group.dirs.values())
        assert sup.stats("idle") is None and sup.running() == []
        assert (root / "previews" / "idle" / "work" / "app.py").exists()
        woke = time.monotonic()
        assert (await get(await sup.ensure_running("idle"))).text == "starts=2"
        assert time.monotonic() - woke < 3
        assert not sup.info("idle").crashes


async def test_crash_is_recorded_then_restarted_with_backoff_then_failed(
    bubblewrap: BubblewrapRuntime, blobs: LocalBlobStore, root: Path
) -> None:
    handler = (
        "def handle(path):\n"
        "    if path == '/exit':\n"
        "        print('boom: something broke', file=sys.stderr, flush=True)\n"
        "        os._exit(3)\n"
        "    return 'ok'\n"
    )
    app = python_app(handler, "import os, sys\n")
    async with make(bubblewrap, blobs, root, backoff_s=0.4, max_quick_crashes=2) as sup:
        sup.add("crash", bundle(blobs, {"app.py": app}))
        socket = await sup.ensure_running("crash")
        with pytest.raises(httpx.HTTPError):
            await get(socket, "/exit")
        await wait_for(lambda: sup.info("crash").state == "crashed")
        crash = sup.info("crash").crashes[-1]
        assert crash.exit_code == 3 and crash.limit_hit is None
        assert crash.message == "exited with status 3"
        assert "boom: something broke" in crash.stderr_tail
        assert not crash.during_start
        crashed_at = time.monotonic()
        assert (await get(await sup.ensure_running("crash"))).text == "ok"
        assert time.monotonic() - crashed_at >= 0.35  # held back by the backoff
        assert sup.info("crash").restarts == 1
        # a second quick crash in a row: it stays down until a new deployment
        with pytest.raises(httpx.HTTPError):
            await get(socket, "/exit")
        await wait_for(lambda: sup.info("crash").state == "failed")
        with pytest.raises(PreviewCrashed) as caught:
            await sup.ensure_running("crash")
        assert "crashed 2 times in a row" in caught.value.message
        assert caught.value.crash is not None and caught.value.crash.exit_code == 3
        assert sup.running() == []


async def test_app_that_never_binds_times_out_clearly(
    bubblewrap: BubblewrapRuntime, blobs: LocalBlobStore, root: Path
) -> None:
    app = "import time\nprint('thinking', flush=True)\ntime.sleep(600)\n"
    async with make(bubblewrap, blobs, root, start_timeout_s=1.0) as sup:
        sup.add("lazy", bundle(blobs, {"app.py": app}))
        started = time.monotonic()
        with pytest.raises(PreviewStartTimeout) as caught:
            await sup.ensure_running("lazy")
        assert 1.0 <= time.monotonic() - started < 4
        assert caught.value.message == "the preview server did not answer on $PORT within 1 s"
        assert caught.value.status == 504
        info = sup.info("lazy")
        assert info.state == "crashed" and info.crashes[-1].during_start
        assert "did not answer" in info.crashes[-1].message
        assert sup.running() == []


async def test_memory_hog_is_killed_and_recorded(
    bubblewrap: BubblewrapRuntime, blobs: LocalBlobStore, root: Path
) -> None:
    app = "hog = []\nwhile True:\n    hog.append(bytearray(4 * 1024 * 1024))\n"
    limits = dataclasses.replace(LIMITS, memory_bytes=64 * MiB)
    async with make(bubblewrap, blobs, root, limits=limits) as sup:
        sup.add("hog", bundle(blobs, {"app.py": app}))
        with pytest.raises(PreviewCrashed) as caught:
            await sup.ensure_running("hog")
        crash = caught.value.crash
        assert crash is not None and crash.limit_hit == "memory" and crash.exit_code == 137
        assert "memory limit of 64 MiB" in caught.value.message
        assert sup.info("hog").crashes == (crash,)


async def test_fork_bomb_hits_the_pids_limit(
    bubblewrap: BubblewrapRuntime, blobs: LocalBlobStore, root: Path
) -> None:
    app = "import os, time\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        time.sleep(0.01)\n"
    limits = dataclasses.replace(LIMITS, pids=32)
    async with make(bubblewrap, blobs, root, limits=limits) as sup:
        sup.add("bomb", bundle(blobs, {"app.py": app}))
        with pytest.raises(PreviewCrashed) as caught:
            await sup.ensure_running("bomb")
        crash = caught.value.crash
        assert crash is not None and crash.limit_hit == "pids"
        assert "process limit of 32" in caught.value.message


async def test_app_cannot_reach_host_loopback(
    bubblewrap: BubblewrapRuntime, blobs: LocalBlobStore, root: Path
) -> None:
    reached: list[int] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        reached.append(1)
        writer.close()

    host = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = host.sockets[0].getsockname()[1]
    handler = (
        "def handle(path):\n"
        "    try:\n"
        f"        socket.create_connection(('127.0.0.1', {port}), timeout=2).close()\n"
        "        return 'reached'\n"
        "    except OSError as exc:\n"
        "        return f'blocked: {exc}'\n"
    )
    try:
        async with make(bubblewrap, blobs, root) as sup:
            sup.add("probe", bundle(blobs, {"app.py": python_app(handler, "import os, socket\n")}))
            response = await get(await sup.ensure_running("probe"))
            assert response.text.startswith("blocked: "), response.text
            assert reached == []
    finally:
        host.close()
        await host.wait_closed()


async def test_lru_idle_instance_is_evicted_at_the_cap(
    bubblewrap: BubblewrapRuntime, blobs: LocalBlobStore, root: Path
) -> None:
    async with make(bubblewrap, blobs, root, max_running=2) as sup:
        for name in ("a", "b", "c"):
            sup.add(name, bundle(blobs, {"app.py": python_app()}))
        await sup.ensure_running("a")
        await sup.ensure_running("b")
        sup.touch("a")  # b is now the least recently used
        assert (await get(await sup.ensure_running("c"))).status_code == 200
        assert sorted(sup.running()) == ["a", "c"]
        assert sup.info("b").state == "asleep" and not sup.info("b").crashes
        # a busy instance is never evicted: with every slot busy, a clear 503
        async with sup.active("a"), sup.active("c"):
            with pytest.raises(PreviewPoolFull) as caught:
                await sup.ensure_running("b")
            assert caught.value.status == 503 and caught.value.retry_after > 0
        assert sorted(sup.running()) == ["a", "c"]


async def test_close_during_a_start_leaves_no_sandbox(
    bubblewrap: BubblewrapRuntime, blobs: LocalBlobStore, root: Path
) -> None:
    sup = make(bubblewrap, blobs, root)
    await sup.start()
    sup.add("late", bundle(blobs, {"app.py": python_app()}))
    starting = asyncio.create_task(sup.ensure_running("late"))
    await wait_for(lambda: sup.info("late").state == "starting")
    await sup.close()
    assert (await starting).name == "http.sock"  # the start finished, then was stopped
    assert sup.running() == [] and sup.info("late").state == "asleep"
    with pytest.raises(Unavailable, match="shutting down"):
        await sup.ensure_running("late")
