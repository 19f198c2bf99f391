"""Hostile and ordinary code in real bubblewrap sandboxes with real cgroup limits."""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace
from pathlib import Path

import anyio
import pytest

from previewd.errors import BadRequest, Unavailable
from previewd.runtimes.base import MiB, Mount, SandboxSpec
from previewd.runtimes.bubblewrap import BubblewrapRuntime
from previewd.runtimes.cgroups import Cgroup
from tests.runtimes.helpers import FAST, Lines, alive

pytestmark = [pytest.mark.anyio, pytest.mark.sandbox]


def sh(script: str, workdir: Path, **kwargs: object) -> SandboxSpec:
    return SandboxSpec(["sh", "-c", script], workdir, limits=FAST, **kwargs)  # type: ignore[arg-type]


# -- ordinary code -------------------------------------------------------------------


async def test_lines_are_streamed_in_order_with_their_stream(
    bubblewrap: BubblewrapRuntime, workdir: Path, lines: Lines
) -> None:
    script = "for i in $(seq 1 200); do echo out$i; echo err$i >&2; done; printf tail"
    result = await bubblewrap.run(sh(script, workdir), lines)
    assert result.exit_code == 0 and result.ok and result.limit_hit is None
    assert lines.of("stdout") == [f"out{i}" for i in range(1, 201)] + ["tail"]
    assert lines.of("stderr") == [f"err{i}" for i in range(1, 201)]
    assert result.message() == "exited with status 0"


async def test_exit_status_is_the_commands(bubblewrap: BubblewrapRuntime, workdir: Path) -> None:
    result = await bubblewrap.run(sh("exit 7", workdir))
    assert (result.exit_code, result.limit_hit, result.ok) == (7, None, False)
    assert result.message() == "exited with status 7"


async def test_only_the_specs_environment_is_visible(
    bubblewrap: BubblewrapRuntime,
    workdir: Path,
    lines: Lines,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PREVIEWD_HOST_SECRET", "hunter2")
    spec = sh("env", workdir, env={"NODE_ENV": "production"})
    assert (await bubblewrap.run(spec, lines)).ok
    env = dict(line.split("=", 1) for line in lines.of("stdout"))
    assert env["NODE_ENV"] == "production"
    assert env["HOME"] == "/tmp" and env["PATH"] == "/usr/local/bin:/usr/bin:/bin"
    assert "hunter2" not in lines.text
    assert set(env) <= {"NODE_ENV", "HOME", "PATH", "LANG", "PWD", "SHLVL", "_"}


async def test_node_and_system_python_run_inside(
    bubblewrap: BubblewrapRuntime, workdir: Path, lines: Lines
) -> None:
    script = (
        "node -e 'console.log(\"node\", process.version)' && "
        "python3 -c 'import sys; print(\"python\", sys.executable, sys.prefix)' && "
        "python3 -m venv --without-pip /work/venv && /work/venv/bin/python -c 'print(\"venv ok\")' && "
        "python3 -m pip --version && ls /root/.pyenv"
    )
    result = await bubblewrap.run(sh(script, workdir), lines)
    out = lines.of("stdout")
    assert out[0].startswith("node v")
    assert out[1] == "python /usr/bin/python3 /usr"
    assert "venv ok" in out and any(line.startswith("pip ") for line in out)
    assert result.exit_code != 0  # from the last command: no pyenv (nor /root) inside
    assert (workdir / "venv" / "bin" / "python").exists()


async def test_runs_unprivileged_without_capabilities_under_seccomp(
    bubblewrap: BubblewrapRuntime, workdir: Path, lines: Lines
) -> None:
    script = (
        "id -u; id -g; grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status; "
        "unshare --user --map-root-user true && echo NESTED-USERNS; "
        "unshare --net true && echo NESTED-NETNS; true"
    )
    assert (await bubblewrap.run(sh(script, workdir), lines)).ok
    out = lines.of("stdout")
    assert out[:2] == ["65534", "65534"]
    assert "CapEff:\t0000000000000000" in out and "CapBnd:\t0000000000000000" in out
    assert "NoNewPrivs:\t1" in out and "Seccomp:\t2" in out
    assert "NESTED-USERNS" not in out and "NESTED-NETNS" not in out
    assert "Operation not permitted" in "\n".join(lines.of("stderr"))


async def test_the_specs_env_cannot_steer_the_privileged_steps(
    bubblewrap: BubblewrapRuntime, workdir: Path, lines: Lines
) -> None:
    # setpriv runs with CAP_SETUID before it drops to the sandbox uid: the spec's
    # PATH must not choose it, nor loader variables reach it
    (workdir / "bin").mkdir()
    for tool in ("setpriv", "nsenter", "bwrap"):
        (workdir / "bin" / tool).write_text("#!/bin/sh\ntouch /work/HIJACKED; exec id -u\n")
        (workdir / "bin" / tool).chmod(0o755)
    spec = sh("id -u", workdir, env={"PATH": "/work/bin:/usr/bin:/bin"})
    assert (await bubblewrap.run(spec, lines)).ok
    assert lines.of("stdout") == ["65534"] and not (workdir / "HIJACKED").exists()
    for name in ("LD_PRELOAD", "LD_LIBRARY_PATH", "GCONV_PATH", "GLIBC_TUNABLES", "A=B", ""):
        with pytest.raises(BadRequest):
            await bubblewrap.run(sh("true", workdir, env={name: "/work/evil.so"}))


# -- reading and writing outside --------------------------------------------------------


async def test_cannot_read_outside_the_sandbox(
    bubblewrap: BubblewrapRuntime, workdir: Path, tmp_path: Path, lines: Lines
) -> None:
    outside = tmp_path / "other-project" / "secret.txt"
    outside.parent.mkdir()
    outside.write_text("OTHER-PROJECT-SECRET")
    data = tmp_path / "data"  # a previewd data directory, token and all
    data.mkdir()
    (data / "api-token").write_text("API-TOKEN-SECRET")
    targets = [outside, data / "api-token", Path("/root"), Path("/home"), Path("/etc/shadow")]
    script = "; ".join(f"cat {t} || ls {t}" for t in targets) + "; ls /; cat /proc/1/comm"
    result = await bubblewrap.run(sh(script, workdir), lines)
    assert result.exit_code == 0  # from the last command; every read before it failed
    assert "SECRET" not in lines.text
    assert lines.text.count("No such file or directory") == 2 * len(targets)
    listing = set(lines.of("stdout")[: lines.of("stdout").index("work") + 1])
    assert listing == {"bin", "dev", "etc", "lib", "lib64", "proc", "sbin", "tmp", "usr", "work"}
    assert lines.of("stdout")[-1] == "bwrap"  # pid 1 is the sandbox's, not the host's


async def test_cannot_write_outside_the_sandbox(
    bubblewrap: BubblewrapRuntime, workdir: Path, tmp_path: Path, lines: Lines
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("original")
    absent = tmp_path / "absent.txt"
    script = (
        f"echo pwned > {victim}; echo pwned > {absent}; echo pwned > /usr/pwned; "
        "echo pwned >> /etc/passwd; echo pwned > /etc/pwned; mkdir /pwned; "
        "echo fine > /tmp/scratch && echo fine > /work/out && cat /tmp/scratch"
    )
    result = await bubblewrap.run(sh(script, workdir), lines)
    assert result.ok and lines.of("stdout") == ["fine"]
    assert victim.read_text() == "original" and not absent.exists()
    assert not Path("/usr/pwned").exists() and "pwned" not in Path("/etc/passwd").read_text()
    assert not Path("/pwned").exists()
    assert (workdir / "out").read_text() == "fine\n"
    assert len(lines.of("stderr")) == 6


async def test_root_owned_files_in_workdir_stay_read_only(
    bubblewrap: BubblewrapRuntime, workdir: Path, lines: Lines
) -> None:
    # as a blob hard-linked from the store into /work would be
    blob = workdir / "index.html"
    blob.write_text("<h1>shared blob</h1>")
    os.chmod(blob, 0o644)
    script = (
        "echo pwned >> index.html; chmod 666 index.html; "
        "cp /usr/bin/true suid && chmod 4755 suid; stat -c '%u %a' suid"
    )
    result = await bubblewrap.run(sh(script, workdir), lines)
    assert result.ok
    assert blob.read_text() == "<h1>shared blob</h1>" and blob.stat().st_mode & 0o777 == 0o644
    # whatever set-uid program the sandbox makes belongs to the unprivileged uid
    assert (workdir / "suid").stat().st_uid == 65534
    assert lines.of("stdout") == ["65534 4755"]


async def test_mounts_are_read_only_unless_writable(
    bubblewrap: BubblewrapRuntime, workdir: Path, tmp_path: Path, lines: Lines
) -> None:
    deps, cache = tmp_path / "deps", tmp_path / "cache"
    deps.mkdir()
    cache.mkdir()
    (deps / "lib.js").write_text("module.exports = 42\n")
    mounts = [Mount(deps, "/work/node_modules"), Mount(cache, "/cache/npm", writable=True)]
    script = (
        "cat node_modules/lib.js; echo x > node_modules/evil.js; "
        "echo cached > /cache/npm/entry && ls -ld /cache | cut -c1-10"
    )
    result = await bubblewrap.run(sh(script, workdir, mounts=mounts), lines)
    assert result.ok
    assert lines.of("stdout") == ["module.exports = 42", "drwxr-xr-x"]
    assert "Read-only file system" in lines.text and not (deps / "evil.js").exists()
    assert (cache / "entry").read_text() == "cached\n"


async def test_mounts_may_not_cover_system_directories(
    bubblewrap: BubblewrapRuntime, workdir: Path, tmp_path: Path
) -> None:
    for target in ("/usr/lib", "/etc", "relative", "/a/../etc"):
        spec = sh("true", workdir, mounts=[Mount(tmp_path, target)])
        with pytest.raises(BadRequest):
            await bubblewrap.run(spec)


async def test_a_sandbox_that_cannot_be_made_fails_cleanly(
    bubblewrap: BubblewrapRuntime, workdir: Path, tmp_path: Path, lines: Lines
) -> None:
    (workdir / "node_modules").write_text("a file where a directory is bound")
    spec = sh("echo RAN", workdir, mounts=[Mount(tmp_path, "/work/node_modules")])
    # bwrap may give up before its first process joins the cgroups (an error) or
    # after (a failed run): either way it says why, runs nothing and leaves nothing
    try:
        result = await bubblewrap.run(spec, lines)
    except Unavailable as exc:
        said = exc.message.removeprefix("bubblewrap failed to start the sandbox: ")
    else:
        assert result.exit_code == 1 and not result.ok
        said = lines.text
    assert said.startswith("bwrap: ") and "RAN" not in lines.text


# -- the network -----------------------------------------------------------------------


async def test_no_network_not_even_host_loopback(
    bubblewrap: BubblewrapRuntime, workdir: Path, lines: Lines
) -> None:
    accepted: list[object] = []
    server = await asyncio.start_server(lambda r, w: accepted.append(w), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    probe = (
        "import socket\n"
        "for host in ('127.0.0.1', '1.1.1.1'):\n"
        "    try:\n"
        f"        socket.create_connection((host, {port}), timeout=2); print('CONNECTED', host)\n"
        "    except OSError as e: print('refused', host, e.errno)\n"
    )
    async with server:
        result = await bubblewrap.run(SandboxSpec(["python3", "-c", probe], workdir), lines)
    assert result.ok
    assert not any("CONNECTED" in line for line in lines.of("stdout"))
    assert len(lines.of("stdout")) == 2 and not accepted


async def test_a_server_inside_is_reached_through_a_unix_socket(
    bubblewrap: BubblewrapRuntime, workdir: Path, tmp_path: Path
) -> None:
    sockets = tmp_path / "sock"
    sockets.mkdir()
    app = (
        "import socket, os\n"
        "s = socket.socket(socket.AF_UNIX); s.bind('/run/previewd/app.sock'); s.listen()\n"
        "c, _ = s.accept(); c.sendall(b'hello from ' + str(os.getuid()).encode()); c.close()\n"
        "import time; time.sleep(60)\n"
    )
    spec = SandboxSpec(["python3", "-c", app], workdir, limits=FAST, unix_socket_dir=sockets)
    process = await bubblewrap.start(spec)
    try:
        with anyio.fail_after(10):
            while True:  # bound, then listening: retry until both
                try:
                    stream = await anyio.connect_unix(sockets / "app.sock")
                    break
                except OSError:
                    await anyio.sleep(0.01)
            assert await stream.receive() == b"hello from 65534"
            await stream.aclose()
        stats = process.stats()
        assert stats.memory_bytes > 0 and stats.pids >= 1
    finally:
        result = await process.kill()
    assert result.exit_code == 137 and result.limit_hit is None
    assert result.message() == "killed by SIGKILL"


# -- limits ----------------------------------------------------------------------------


async def test_limits_are_set_on_the_sandboxs_cgroups(
    bubblewrap: BubblewrapRuntime, workdir: Path
) -> None:
    limits = replace(FAST, memory_bytes=96 * MiB, cpu_cores=0.5, pids=40)
    busy = SandboxSpec(["sh", "-c", "while :; do :; done"], workdir, limits=limits)
    process = await bubblewrap.start(busy)
    group = process.cgroup
    assert group is not None
    try:
        assert (group.dirs["memory"] / "memory.limit_in_bytes").read_text() == f"{96 * MiB}\n"
        assert (group.dirs["cpu"] / "cpu.cfs_quota_us").read_text() == "50000\n"
        assert (group.dirs["pids"] / "pids.max").read_text() == "40\n"
        with anyio.fail_after(5):
            while len(group.procs()) < 2:  # the sandbox's pid 1, then the loop
                await anyio.sleep(0.01)
        before = process.stats().cpu_seconds
        await anyio.sleep(1)
        used = process.stats().cpu_seconds - before
        assert 0.3 < used < 0.7  # half a CPU, however hard it spins
    finally:
        await process.kill()
    assert not group.dirs["memory"].exists()


async def test_sandboxes_run_side_by_side(bubblewrap: BubblewrapRuntime, tmp_path: Path) -> None:
    seen = [Lines() for _ in range(8)]

    async def one(i: int) -> None:
        work = tmp_path / f"w{i}"
        work.mkdir()
        result = await bubblewrap.run(
            sh(f"echo {i} > out; cat out; cat /proc/1/comm", work), seen[i]
        )
        assert result.ok

    async with anyio.create_task_group() as tg:
        for i in range(8):
            tg.start_soon(one, i)
    assert [lines.of("stdout") for lines in seen] == [[str(i), "bwrap"] for i in range(8)]


async def test_fork_bomb_hits_the_process_limit(
    bubblewrap: BubblewrapRuntime, workdir: Path
) -> None:
    spec = sh("bomb() { bomb | bomb & }; bomb; sleep 60", workdir)
    spec = replace(spec, limits=replace(FAST, pids=32))
    result = await bubblewrap.run(spec)
    assert result.limit_hit == "pids" and not result.ok
    assert result.message() == "killed: process limit of 32 reached (forking without bound?)"
    assert result.duration_s < 10


async def test_unbounded_allocation_is_killed_at_the_memory_limit(
    bubblewrap: BubblewrapRuntime, workdir: Path
) -> None:
    hog = "chunks = []\nwhile True: chunks.append(b'x' * (1 << 20))"
    limits = replace(FAST, memory_bytes=64 * MiB)
    result = await bubblewrap.run(SandboxSpec(["python3", "-c", hog], workdir, limits=limits))
    assert (result.exit_code, result.limit_hit) == (137, "memory")
    assert result.message() == "killed: memory limit of 64 MiB exceeded"


async def test_filling_tmp_fails_with_a_disk_limit(
    bubblewrap: BubblewrapRuntime, workdir: Path, lines: Lines
) -> None:
    result = await bubblewrap.run(sh("dd if=/dev/zero of=/tmp/fill bs=1M count=64", workdir), lines)
    assert result.exit_code != 0 and result.limit_hit == "disk"
    assert "No space left on device" in lines.text
    assert result.message().startswith("failed: disk limit exceeded (/tmp 8 MiB, /work 4 GiB)")


async def test_filling_work_fails_with_a_disk_limit(
    bubblewrap: BubblewrapRuntime, workdir: Path
) -> None:
    spec = sh("head -c 20000000 /dev/zero > /work/big", workdir)
    spec = replace(spec, limits=replace(FAST, work_bytes=4 * MiB))
    result = await bubblewrap.run(spec)
    assert result.limit_hit == "disk" and not result.ok
    assert "/work 4 MiB" in result.message()


async def test_never_ending_code_is_killed_at_the_time_limit_tree_and_all(
    bubblewrap: BubblewrapRuntime, workdir: Path
) -> None:
    script = (
        "setsid sh -c 'sleep 1000' & "
        "( sh -c 'sleep 1000 & echo $! > /work/orphan' & ) ; "
        "trap '' TERM HUP; while :; do :; done"
    )
    spec = replace(sh(script, workdir), limits=replace(FAST, timeout_s=1.5))
    process = await bubblewrap.start(spec)
    group = process.cgroup
    assert group is not None
    with anyio.fail_after(5):
        # pid 1, the loop, the setsid'd and the orphaned sleep
        while len(group.procs()) < 4 or not (workdir / "orphan").exists():
            await anyio.sleep(0.02)
    pids = group.procs()
    result = await process.wait()
    assert result.limit_hit == "timeout" and result.exit_code == 137
    assert result.message() == "killed: time limit of 1.5 s exceeded"
    assert 1.4 < result.duration_s < 5
    assert not any(alive(pid) for pid in pids)
    assert not any(path.exists() for path in group.dirs.values())


async def test_daemons_left_behind_die_with_the_main_process(
    bubblewrap: BubblewrapRuntime, workdir: Path
) -> None:
    script = "( setsid sleep 1000 & ) ; ( sleep 1000 & ) ; sleep 0.5; echo done"
    process = await bubblewrap.start(sh(script, workdir))
    group = process.cgroup
    assert group is not None
    with anyio.fail_after(5):
        while len(group.procs()) < 4:
            await anyio.sleep(0.02)
    pids = group.procs()
    with anyio.fail_after(5):  # the daemons hold stdout open: the run must end anyway
        result = await process.wait()
    assert result.ok
    assert not any(alive(pid) for pid in pids)


async def test_cancelling_a_run_kills_it_and_cleans_up(
    bubblewrap: BubblewrapRuntime, workdir: Path, groups_removed: list[Cgroup]
) -> None:
    async with anyio.create_task_group() as tg:
        tg.start_soon(bubblewrap.run, sh("sleep 1000", workdir))
        with anyio.fail_after(5):
            while not (groups_removed and len(groups_removed[0].procs()) >= 2):
                await anyio.sleep(0.01)
        pids = groups_removed[0].procs()
        tg.cancel_scope.cancel()
    assert not any(alive(pid) for pid in pids)
    assert not groups_removed[0].dirs["pids"].exists()


def running_with(token: str) -> list[int]:
    """Pids of processes whose command line holds ``token``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if token.encode() in f.read():
                        found.append(int(entry))
            except OSError:
                pass
    return found


async def test_a_start_abandoned_at_any_point_leaves_nothing_running(
    bubblewrap: BubblewrapRuntime, workdir: Path
) -> None:
    token = f"abandoned-{os.getpid()}"
    spec = sh(f"exec sleep 600 # {token}", workdir)
    for delay in [0, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.008, 0.012, 0.02, 0.05]:
        starting = asyncio.ensure_future(bubblewrap.start(spec))
        await asyncio.sleep(delay)
        if starting.done():
            await (await starting).kill()
        else:
            starting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await starting
        # the cgroups are gone (the autouse check) and so is every process of the sandbox
        deadline = asyncio.get_running_loop().time() + 5
        while running_with(token):
            assert asyncio.get_running_loop().time() < deadline, f"left running ({delay} s)"
            await asyncio.sleep(0.01)
