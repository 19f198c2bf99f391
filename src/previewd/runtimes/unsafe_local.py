"""Runs commands as plain processes on the host: no isolation at all.

For development on machines without bubblewrap, and only when chosen by name.
The command runs as previewd's own user, in the work directory, with the spec's
environment, and can read and write anything that user can, reach the API on
loopback and the whole network. What it still gets: the time limit, the whole
process tree killed at the end, and the cgroup limits where cgroup v1 is
writable (the process joins its cgroups before it execs the command).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import time

from previewd.errors import BadRequest
from previewd.runtimes.base import DEFAULT_ENV, OnLine, RunResult, SandboxSpec
from previewd.runtimes.cgroups import Cgroup, available
from previewd.runtimes.process import Supervised, run_to_end, spawn

logger = logging.getLogger(__name__)

# writes its own pid into each cgroup.procs given, then becomes the command


class UnsafeLocalRuntime:
    name = "unsafe-local"

    def __init__(self) -> None:
        logger.warning(
            "UNSAFE: the unsafe-local runtime runs build steps and previews WITHOUT ANY "
            "SANDBOX, as %s on this host. Never use it for code you did not write.",
            "root" if os.geteuid() == 0 else "your user",
        )

    async def run(self, spec: SandboxSpec, on_line: OnLine | None = None) -> RunResult:
        return await run_to_end(await self.start(spec, on_line))

    async def start(self, spec: SandboxSpec, on_line: OnLine | None = None) -> Supervised:
        if not spec.argv:
            raise BadRequest("a sandbox needs a command to run")
        if not spec.workdir.is_dir():
            raise BadRequest(f"work directory {spec.workdir} does not exist")
        if spec.mounts or spec.unix_socket_dir is not None:
            logger.warning("unsafe-local ignores mounts: the command sees the host's paths")
        started = time.monotonic()
        group = Cgroup.create(secrets.token_hex(8), spec.limits) if available() else None
        argv = list(spec.argv)
        if group is not None:
            argv = group.joined(argv)
        try:
            proc = await spawn(argv, env={**DEFAULT_ENV, **spec.env}, cwd=spec.workdir)
        except BaseException:
            if group is not None:
                await group.close()
            raise

        def kill_tree() -> None:
            proc.kill()
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            if group is not None:
                group.kill()

        def term_main() -> None:
            os.kill(proc.pid, signal.SIGTERM)

        return Supervised(
            proc,
            spec,
            cgroup=group,
            kill_tree=kill_tree,
            term_main=term_main,
            cleanups=[group.close] if group is not None else [],
            on_line=on_line,
            started=started,
        )
