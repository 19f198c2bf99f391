"""Several instances per preview, health checks, graceful stops, per-project caps, warm starts."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from previewd.blobs.local import LocalBlobStore
from previewd.previews import PreviewPoolFull
from previewd.runtimes.bubblewrap import BubblewrapRuntime
from tests.previews.helpers import bundle, client, get, python_app, wait_for
from tests.previews.test_supervisor import make

pytestmark = [pytest.mark.sandbox, pytest.mark.anyio]

#: each start draws a token: which run of which instance answered
IDENTIFIED = python_app(
    "def handle(path):\n"
    "    if path == '/hang':\n"
    "        HUNG.set()  # alive, but no request is ever answered again\n"
    "    while HUNG.is_set():\n"
    "        time.sleep(1)\n"
    "    return TOKEN\n",
    "import os, threading, time\nTOKEN = os.urandom(8).hex()\nHUNG = threading.Event()\n",
)


async def test_every_instance_starts_and_answers_on_its_own_socket(
    bubblewrap: BubblewrapRuntime, blobs: LocalBlobStore, root: Path
) -> None:
    async with make(bubblewrap, blobs, root) as sup:
        sup.add("two", bundle(blobs, {"app.py": IDENTIFIED}), replicas=2)
        await get(await sup.ensure_running("two"))
        await wait_for(lambda: all(sup.serving("two", n) for n in (0, 1)))
        tokens = {(await get(sup.socket("two", n))).text for n in (0, 1)}
        assert len(tokens) == 2  # two processes, not one answering twice
        assert sorted(sup.running()) == ["two"] and len(sup.instances("two")) == 2
        stats = sup.stats("two")
        assert stats is not None and stats.pids >= 4  # bridge + app in each
        await sup.stop("two")
        assert sup.running() == [] and sup.info("two").state == "asleep"


async def test_an_instance_that_stops_answering_leaves_rotation_and_is_restarted(
    bubblewrap: BubblewrapRuntime, blobs: LocalBlobStore, root: Path
) -> None:
    config = {"health_every_s": 0.1, "health_timeout_s": 0.3, "health_failures": 2}
    async with make(bubblewrap, blobs, root, backoff_s=0.05, **config) as sup:
        sup.add("hang", bundle(blobs, {"app.py": IDENTIFIED}), replicas=2)
        await sup.ensure_running("hang")
        await wait_for(lambda: all(sup.serving("hang", n) for n in (0, 1)))
        first = (await get(sup.socket("hang", 0))).text
        # the app stops itself mid-request: a timeout, or a close once it is found hung
        with pytest.raises(httpx.TransportError):
            async with client(sup.socket("hang", 0)) as http:
                await http.get("/hang", timeout=0.3)
        await wait_for(lambda: not sup.serving("hang", 0))
        # the other instance takes the traffic meanwhile
        assert await sup.ensure_running("hang") == sup.socket("hang", 1)
        await wait_for(lambda: sup.serving("hang", 0))  # killed and started again
        crash = sup.instances("hang")[0].crashes[-1]
        assert "health checks" in crash.message and not crash.during_start
        assert (await get(sup.socket("hang", 0))).text != first
        texts = [line.text for line in sup.logs("hang")]
        assert any("failed a health check" in t for t in texts)


async def test_a_stop_asks_the_app_to_finish_before_killing_it(
    bubblewrap: BubblewrapRuntime, blobs: LocalBlobStore, root: Path
) -> None:
    prelude = (
        "import os, signal, sys\n"
        "def bye(*_):\n"
        "    open('/work/said-goodbye', 'w').write('yes')\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
    )
    async with make(bubblewrap, blobs, root) as sup:
        sup.add("polite", bundle(blobs, {"app.py": python_app(prelude=prelude)}))
        await sup.ensure_running("polite")
        await sup.stop("polite")
        work = sup._previews["polite"][0].work
        assert (work / "said-goodbye").read_text() == "yes"
        assert sup.info("polite").state == "asleep" and not sup.info("polite").crashes
    # one that ignores SIGTERM is killed after the grace time
    stubborn = "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nimport os\n"
    async with make(bubblewrap, blobs, root, stop_grace_s=0.2) as sup:
        sup.add("stubborn", bundle(blobs, {"app.py": python_app(prelude=stubborn)}))
        await sup.ensure_running("stubborn")
        await sup.stop("stubborn")
        assert sup.running() == [] and not sup.info("stubborn").crashes


async def test_a_project_cap_evicts_its_own_idle_server_first(
    bubblewrap: BubblewrapRuntime, blobs: LocalBlobStore, root: Path
) -> None:
    async with make(bubblewrap, blobs, root, max_per_project=1) as sup:
        app = bundle(blobs, {"app.py": python_app()})
        sup.add("p1", app, project="p")
        sup.add("p2", app, project="p")
        sup.add("q1", app, project="q")
        await sup.ensure_running("p1")
        await sup.ensure_running("q1")
        await sup.ensure_running("p2")  # p1 makes room; q1 is another project's
        assert sorted(sup.running()) == ["p2", "q1"]
        async with sup.active("p2"):
            with pytest.raises(PreviewPoolFull, match="project 'p'") as caught:
                await sup.ensure_running("p1")
            assert caught.value.retry_after > 0
        assert sorted(sup.running()) == ["p2", "q1"]


async def test_warm_starts_a_server_before_any_request(
    bubblewrap: BubblewrapRuntime, blobs: LocalBlobStore, root: Path
) -> None:
    async with make(bubblewrap, blobs, root) as sup:
        sup.add("warm", bundle(blobs, {"app.py": python_app()}))
        sup.warm("warm")
        await wait_for(lambda: sup.info("warm").state == "running")
        assert (await get(sup.socket("warm"))).status_code == 200


async def test_a_start_runs_unthrottled_then_is_held_to_its_cpu_limit(
    bubblewrap: BubblewrapRuntime, blobs: LocalBlobStore, root: Path
) -> None:
    import dataclasses
    import os

    from tests.previews.test_supervisor import LIMITS

    limits = dataclasses.replace(LIMITS, cpu_cores=0.5)
    slow_boot = "import os, time\ntime.sleep(0.5)\n"
    async with make(bubblewrap, blobs, root, limits=limits) as sup:
        sup.add("cpu", bundle(blobs, {"app.py": python_app(prelude=slow_boot)}))
        sup.warm("cpu")
        instance = sup._previews["cpu"][0]

        def quota() -> int:
            group = getattr(instance.process, "cgroup", None)
            return int((group.dirs["cpu"] / "cpu.cfs_quota_us").read_text()) if group else 0

        await wait_for(lambda: quota() != 0)  # the sandbox exists, the app still boots
        assert instance.state == "starting" and quota() == (os.cpu_count() or 1) * 100_000
        await wait_for(lambda: sup.info("cpu").state == "running")
        assert quota() == 50_000


async def test_dependencies_are_bound_read_only_and_their_top_stays_writable(
    bubblewrap: BubblewrapRuntime, blobs: LocalBlobStore, root: Path
) -> None:
    import dataclasses
    import os

    from previewd.build.result import Deps

    tree = root / "deps-tree"
    (tree / "pkg").mkdir(parents=True)
    (tree / "pkg" / "index.js").write_text("module.exports = 1;\n")
    (tree / "lib64").symlink_to("pkg")
    checks = (
        "def attempt(action):\n"
        "    try:\n"
        "        action()\n"
        "        return 'ok'\n"
        "    except OSError as exc:\n"
        "        return errno.errorcode[exc.errno]\n"
        "def handle(path):\n"
        "    return ' '.join([\n"
        "        open('/work/deps/pkg/index.js').read().strip(),\n"
        "        attempt(lambda: open('/work/deps/pkg/index.js', 'a').write('x')),\n"
        "        attempt(lambda: open('/work/deps/pkg/new.js', 'w').write('x')),\n"
        "        attempt(lambda: open('/work/deps/.cache', 'w').write('x')),\n"
        "        os.readlink('/work/deps/lib64'),\n"
        "    ])\n"
    )
    app = dataclasses.replace(
        bundle(blobs, {"app.py": python_app(checks, "import errno, os\n")}),
        deps=Deps("k", tree, "deps"),
    )
    async with make(bubblewrap, blobs, root) as sup:
        sup.add("deps", app)
        answer = (await get(await sup.ensure_running("deps"))).text
    content, change, create, top, link = answer.rsplit(" ", 4)
    assert content == "module.exports = 1;" and link == "pkg" and top == "ok"
    assert change in ("EROFS", "EACCES") and create in ("EROFS", "EACCES")
    # the cached tree is untouched
    assert (tree / "pkg" / "index.js").read_text() == "module.exports = 1;\n"
    assert sorted(os.listdir(tree)) == ["lib64", "pkg"] and os.listdir(tree / "pkg") == ["index.js"]
