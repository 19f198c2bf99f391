"""Build scripts from a chat that try to escape, exhaust or trick the builder, in real sandboxes.

Each project is a ``build.sh`` that previewd.toml names as the client build:
no package.json, so no install and no network, just the hostile step.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import pytest

from previewd.blobs.local import LocalBlobStore
from previewd.build import BuildFailed, BuildResult
from previewd.runtimes.base import ResourceLimits
from previewd.runtimes.bubblewrap import BubblewrapRuntime
from tests.builds.helpers import FAST, Log, builder, read, snapshot, tree_state

pytestmark = [pytest.mark.anyio, pytest.mark.sandbox]

TOML = '[client]\nbuild = "sh build.sh"\noutput = "dist"\n'
PAGE = "mkdir -p dist && echo '<h1>built</h1>' > dist/index.html\n"


class Project:
    def __init__(self, runtime: BubblewrapRuntime, tmp_path: Path) -> None:
        self.root = tmp_path / "data" / "build"
        self.blobs = LocalBlobStore(tmp_path / "data" / "blobs")
        self.runtime = runtime
        self.log = Log()

    async def build(
        self, script: str, *, limits: ResourceLimits = FAST, extra: dict[str, str] | None = None
    ) -> BuildResult:
        files = {"previewd.toml": TOML, "build.sh": script, **(extra or {})}
        build = builder(self.runtime, self.root, self.blobs, limits=limits)
        try:
            return await build.build("hostile", snapshot(self.blobs, files), self.log)
        finally:
            assert list((self.root / "work").iterdir()) == []  # the work folder is gone

    async def fails(self, script: str, **kwargs: object) -> BuildFailed:
        with pytest.raises(BuildFailed) as caught:
            await self.build(script, **kwargs)  # type: ignore[arg-type]
        return caught.value


@pytest.fixture
def project(bubblewrap: BubblewrapRuntime, tmp_path: Path) -> Project:
    return Project(bubblewrap, tmp_path)


async def test_a_build_cannot_read_the_host_the_data_dir_or_other_projects(
    project: Project, tmp_path: Path
) -> None:
    token = secrets.token_hex(8)
    secret = tmp_path / "secret.txt"
    secret.write_text(f"HOST-SECRET-{token}")
    other = project.blobs.put(f"OTHER-PROJECT-{token}".encode())
    others_work = project.root / "work" / "other-project"
    paths = [
        "/root/.bashrc",
        "/root",
        str(secret),
        str(project.blobs.path(other)),
        str(project.blobs.root),
        str(project.root / "cache"),
        "/etc/shadow",
        "/proc/1/root/etc/hostname",
    ]
    script = "".join(f"cat '{p}' 2>&1; ls -a '{p}' 2>&1; " for p in paths) + "ls -a /work/..\n"
    result = await project.build(script + PAGE)
    assert token not in project.log.text
    assert "No such file or directory" in project.log.text
    assert not others_work.exists()
    assert all(token not in read(project.blobs, result.output, p) for p in result.output.files)


async def test_a_build_cannot_write_outside_or_change_its_source_blobs(
    project: Project, tmp_path: Path
) -> None:
    outside = tmp_path / "escaped"
    script = (
        f"echo x > '{outside}'; touch /usr/escaped /etc/escaped /escaped; "
        "echo tampered >> build.sh; chmod 777 build.sh; "
        f"mkdir -p dist; ln -s '{outside}' dist/link; echo x > dist/link; " + PAGE
    )
    blobs_before = tree_state(project.blobs.root)
    await project.build(script)
    assert not outside.exists()
    assert not any(Path(p).exists() for p in ("/usr/escaped", "/etc/escaped", "/escaped"))
    # blobs never change: build.sh's blob is intact, read-only, root's
    after = tree_state(project.blobs.root)
    assert {k: v for k, v in after.items() if k in blobs_before} == blobs_before
    assert "Permission denied" in project.log.text


async def test_a_build_cannot_reach_the_api_on_loopback(project: Project) -> None:
    connections = 0

    def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    connect = f"import socket; socket.create_connection(('127.0.0.1', {port}), 2)"
    try:
        failed = await project.fails(f'set -e; python3 -c "{connect}"\n' + PAGE)
    finally:
        server.close()
        await server.wait_closed()
    assert failed.message == "step client:build failed with exit status 1"
    assert any("Connection refused" in line for line in failed.tail)
    assert connections == 0


async def test_a_fork_bomb_is_stopped_by_the_process_limit(project: Project) -> None:
    failed = await project.fails("bomb() { bomb | bomb; }; bomb\n")
    assert failed.message == (
        "client:build: killed: process limit of 64 reached (forking without bound?)"
    )
    assert failed.step == "client:build"


async def test_unbounded_allocation_is_stopped_by_the_memory_limit(project: Project) -> None:
    grow = "b = []\nwhile True: b.append(b'x' * 10_000_000)\n"
    failed = await project.fails("python3 grow.py\n", extra={"grow.py": grow})
    assert failed.message == "client:build: killed: memory limit of 128 MiB exceeded"


@pytest.mark.parametrize(
    ("where", "limit"), [("big", "/work 16 MiB"), ("/tmp/big", "/tmp 8 MiB")], ids=["work", "tmp"]
)
async def test_filling_the_disk_is_stopped_by_the_disk_limit(
    project: Project, where: str, limit: str
) -> None:
    failed = await project.fails(f"set -e; head -c 64000000 /dev/zero > {where}\n" + PAGE)
    assert failed.message.startswith("client:build: failed: disk limit exceeded")
    assert limit in failed.message


async def test_a_build_that_never_ends_is_stopped_by_the_time_limit(project: Project) -> None:
    limits = ResourceLimits(memory_bytes=FAST.memory_bytes, pids=64, timeout_s=1.5)
    failed = await project.fails("echo waiting; sleep 600\n", limits=limits)
    assert failed.message == "client:build: killed: time limit of 1.5 s exceeded"
    assert failed.tail == ["waiting"]


async def test_links_out_of_the_output_are_not_followed(project: Project) -> None:
    script = PAGE + (
        "ln -s /etc/passwd dist/passwd; ln -s ../../../../../.. dist/up; "
        "ln -s /work/build.sh dist/source; ln -s index.html dist/alias.html; "
        "mkfifo dist/pipe\n"
    )
    result = await project.build(script)
    assert set(result.output.files) == {"index.html", "alias.html"}
    assert read(project.blobs, result.output, "alias.html") == "<h1>built</h1>\n"
    notes = [text for _, stream, text in project.log.lines if stream == "previewd"]
    assert sum("left out" in note for note in notes) == 4


async def test_an_output_folder_that_is_a_link_out_fails_the_build(project: Project) -> None:
    failed = await project.fails("ln -s /root dist\n")
    assert "its output folder dist/ is a symbolic link" in failed.message


async def test_a_failing_build_says_its_exit_status_and_keeps_its_last_lines(
    project: Project,
) -> None:
    failed = await project.fails("for i in $(seq 1 100); do echo line $i; done; exit 3\n")
    assert failed.message == "step client:build failed with exit status 3"
    assert failed.tail == [f"line {i}" for i in range(61, 101)]
    assert project.log.statuses("client:build") == ["started", "failed"]
