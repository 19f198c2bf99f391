"""The default runtime: bubblewrap namespaces, an unprivileged uid, cgroup v1 limits.

How one sandbox is made:

1. For ``network="registries"``, its network namespace is made
   (:mod:`previewd.runtimes.network`).
2. ``bwrap`` starts as root (so it can bind directories only root may reach,
   such as a data directory under ``/root``) with fresh PID, IPC, UTS, cgroup
   and, unless registries are allowed, network namespaces. The new root holds
   ``/usr`` read-only, a handful of ``/etc`` files (certificates, a made-up
   ``passwd``), ``/proc``, a minimal ``/dev``, sized tmpfs at ``/tmp`` and
   ``/dev/shm``, and the work directory at ``/work``: nothing else of the host.
3. Its cgroups are made with their limits (:mod:`previewd.runtimes.cgroups`)
   first, and a shell joins them before it execs ``bwrap``: everything of the
   sandbox, ``bwrap`` included, is limited from its first instruction, and a
   start abandoned half-way leaves nothing running outside them. ``--info-fd``
   tells us the pid of the sandbox's first process.
4. Inside, ``setpriv`` drops to an unprivileged host uid (65534 by default)
   with no capabilities and ``no_new_privs``, under a seccomp filter
   (:mod:`previewd.runtimes.seccomp`), and runs the command. Files it writes
   belong to that uid: it cannot make set-uid-root programs, and cannot write
   root-owned files it can see (for example blobs hard-linked into ``/work``).

The sandbox dies with its first process (the PID namespace goes with it), with
``previewd`` (``--die-with-parent``), or when a limit kills its cgroup.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from previewd.errors import BadRequest, Unavailable
from previewd.runtimes import seccomp
from previewd.runtimes.base import (
    DEFAULT_ENV,
    SOCKET_DIR,
    OnLine,
    RunResult,
    SandboxSpec,
)
from previewd.runtimes.cgroups import Cgroup, available
from previewd.runtimes.network import RegistryNetwork
from previewd.runtimes.process import Child, Supervised, run_to_end, spawn

INSTALL_HINT = "apt-get install bubblewrap util-linux (and nftables iproute2 for installs)"

# /etc entries a toolchain needs that say nothing about the host or its users
_ETC = "alternatives ld.so.cache localtime os-release protocols services ssl/certs ssl/openssl.cnf"
_ETC_DIRS = ("/etc", "/etc/ssl")
# paths a Mount may not cover, so the sandbox keeps its shape
_RESERVED = ("/", "/usr", "/etc", "/proc", "/dev", "/bin", "/sbin", "/lib", "/lib64", "/tmp")
# Variables the dynamic loader and libc act on before main(). The spec's environment
# reaches setpriv while it still holds CAP_SETUID, so none of these may come from a spec
# (glibc ignores the same list for set-uid programs). Commands may set them for their own
# children inside.
_UNSAFE_ENV = {
    "GCONV_PATH", "GETCONF_DIR", "GLIBC_TUNABLES", "HOSTALIASES", "LOCALDOMAIN", "LOCPATH",
    "MALLOC_TRACE", "NIS_PATH", "NLSPATH", "RESOLV_HOST_CONF", "RES_OPTIONS", "TZDIR",
}  # fmt: skip


class BubblewrapRuntime:
    """Runs each spec in its own bubblewrap sandbox; see the module docstring."""

    name = "bubblewrap"

    def __init__(self, *, uid: int = 65534, gid: int = 65534, bwrap: str = "bwrap") -> None:
        self.uid = uid
        self.gid = gid
        # absolute paths, found on the host's PATH: never the spec's
        self.bwrap = shutil.which(bwrap) or bwrap
        self.nsenter = shutil.which("nsenter") or "/usr/bin/nsenter"
        self.setpriv = shutil.which("setpriv", path="/usr/bin:/bin") or "/usr/bin/setpriv"
        self._system = _system_binds()
        self._filter = seccomp.program() if seccomp.supported() else None

    def check(self) -> None:
        """Raise :class:`Unavailable` (with the fix) unless sandboxes work here."""
        if shutil.which(self.bwrap) is None:
            raise Unavailable(
                "bubblewrap (bwrap) is not installed, so previewd cannot sandbox builds",
                hint=f"{INSTALL_HINT}; or choose the unsafe-local runtime by name",
            )
        if os.geteuid() != 0:
            raise Unavailable(
                "the bubblewrap runtime needs root (to set cgroup limits and drop to "
                f"uid {self.uid} inside the sandbox)",
                hint="run previewd as root, or choose the unsafe-local runtime by name",
            )
        if not available():
            raise Unavailable(
                "cgroup v1 controllers (memory, cpu, cpuacct, pids, freezer) are not "
                "mounted read-write, so sandbox limits cannot be enforced",
                hint="mount cgroup v1 at /sys/fs/cgroup, or choose the unsafe-local runtime",
            )
        argv, fds = self._argv_with(["true"], network_none=True)
        try:
            done = subprocess.run(argv, pass_fds=fds, capture_output=True, timeout=30)
        finally:
            for fd in fds:
                os.close(fd)
        if done.returncode != 0:
            raise Unavailable(
                f"bubblewrap cannot start a sandbox here: {done.stderr.decode().strip()}",
                hint=INSTALL_HINT,
            )

    async def run(self, spec: SandboxSpec, on_line: OnLine | None = None) -> RunResult:
        return await run_to_end(await self.start(spec, on_line))

    async def start(self, spec: SandboxSpec, on_line: OnLine | None = None) -> Supervised:
        _validate(spec)
        started = time.monotonic()
        group: Cgroup | None = None
        net: RegistryNetwork | None = None
        proc: Child | None = None
        ours: list[int] = []
        try:
            if spec.network == "registries":
                net = await RegistryNetwork.create()
            for path in (spec.workdir, spec.unix_socket_dir):
                if path is not None:
                    self._hand_over(path)
            for mount in spec.mounts:
                if mount.writable:
                    self._hand_over(mount.source)
            group = Cgroup.create(secrets.token_hex(8), spec.limits)
            info_r, info_w = os.pipe()
            ours.append(info_r)
            theirs = [info_w]
            try:
                argv, fds = self._argv(spec, net, info_w)
                theirs += fds
                env = {**DEFAULT_ENV, **spec.env}
                proc = await spawn(group.joined(argv), env=env, pass_fds=theirs)
            finally:
                for fd in theirs:
                    os.close(fd)
            ours.remove(info_r)
            child = await _child_pid(info_r, proc)
            try:
                pidfd = os.pidfd_open(child)
            except ProcessLookupError:  # bwrap gave up setting it up
                raise await _failed(proc) from None
            ours.append(pidfd)
        except BaseException:
            if proc is not None:
                proc.kill()
                await proc.wait()
            if group is not None:
                await group.close()
            if net is not None:
                await net.close()
            for fd in ours:
                os.close(fd)
            raise
        sandbox = group

        def kill_tree() -> None:
            # killing pid 1 of the sandbox's PID namespace kills every process in it
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            sandbox.kill()

        def term_main() -> None:
            # the command runs as the child of the sandbox's pid 1 (bwrap's init)
            sandbox.signal_children(child, signal.SIGTERM)

        async def release() -> None:
            # The launcher exits as soon as the command does, while the sandbox's pid 1
            # may still be reaping the rest of its namespace: wait until it is gone too.
            loop = asyncio.get_running_loop()
            gone: asyncio.Future[None] = loop.create_future()

            def readable() -> None:
                if not gone.done():
                    gone.set_result(None)

            loop.add_reader(pidfd, readable)
            try:
                async with asyncio.timeout(10):
                    await gone
            finally:
                loop.remove_reader(pidfd)
                os.close(pidfd)

        cleanups = [release, sandbox.close, *([net.close] if net else [])]
        return Supervised(
            proc,
            spec,
            cgroup=sandbox,
            kill_tree=kill_tree,
            term_main=term_main,
            cleanups=cleanups,
            on_line=on_line,
            started=started,
        )

    def _hand_over(self, path: Path) -> None:
        """Let the sandbox uid write into ``path`` (not into what is already in it)."""
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode):
            raise BadRequest(f"{path} must be a directory (not a symlink) to be bound writable")
        if (st.st_uid, st.st_gid) != (self.uid, self.gid):
            os.chown(path, self.uid, self.gid, follow_symlinks=False)

    def _argv(
        self, spec: SandboxSpec, net: RegistryNetwork | None, info_w: int
    ) -> tuple[list[str], list[int]]:
        binds = ["--bind", str(spec.workdir), "/work"]
        targets = [(m.target, str(m.source), m.writable) for m in spec.mounts]
        if spec.unix_socket_dir is not None:
            targets.append((SOCKET_DIR, str(spec.unix_socket_dir), True))
        made: set[PurePosixPath] = set()
        for target, source, writable in targets:
            # parents bwrap would make on its own come out 0700: unreadable to the uid
            for parent in reversed(PurePosixPath(target).parents[:-1]):
                if parent not in made and not parent.is_relative_to("/work"):
                    made.add(parent)
                    binds += ["--perms", "0755", "--dir", str(parent)]
            binds += ["--bind" if writable else "--ro-bind", source, target]
        argv, fds = self._argv_with(
            list(spec.argv),
            network_none=net is None,
            tmpfs_bytes=spec.limits.tmpfs_bytes,
            extra=[
                *binds,
                "--chdir",
                "/work",
                "--info-fd",
                str(info_w),
            ],
            resolv_conf=net.resolv_conf if net else "",
        )
        if net is not None:
            argv = [self.nsenter, f"--net={net.path}", "--", *argv]
        return argv, fds

    def _argv_with(
        self,
        command: list[str],
        *,
        network_none: bool,
        tmpfs_bytes: int = 16 * 1024 * 1024,
        extra: Sequence[str] = (),
        resolv_conf: str = "",
    ) -> tuple[list[str], list[int]]:
        """The bwrap command line and the fds it must inherit (opened here, for the caller to close)."""
        fds: list[int] = []
        files = {
            "passwd": f"root:x:0:0::/root:/usr/sbin/nologin\nuser:x:{self.uid}:{self.gid}::/tmp:/bin/sh\n",
            "group": f"root:x:0:\nuser:x:{self.gid}:\n",
            "hosts": "127.0.0.1\tlocalhost sandbox\n::1\tlocalhost ip6-localhost\n",
            "hostname": "sandbox\n",
            "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files dns\n",
            "resolv.conf": resolv_conf,
        }
        argv = [
            self.bwrap,
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup",
            *(["--unshare-net"] if network_none else []),
            "--die-with-parent",
            "--new-session",
            "--hostname",
            "sandbox",
            "--cap-add",
            "CAP_SETUID",
            "--cap-add",
            "CAP_SETGID",
            *self._system,
        ]
        for name, content in files.items():
            argv += ["--perms", "0644", "--file", str(_data_fd(content, fds)), f"/etc/{name}"]
        size = str(tmpfs_bytes)
        argv += ["--proc", "/proc", "--dev", "/dev"]
        argv += ["--perms", "1777", "--size", size, "--tmpfs", "/tmp"]
        argv += ["--perms", "1777", "--size", size, "--tmpfs", "/dev/shm"]
        argv += extra
        if self._filter is not None:
            argv += ["--seccomp", str(_data_fd(self._filter, fds))]
        argv += [
            self.setpriv,
            f"--reuid={self.uid}",
            f"--regid={self.gid}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--no-new-privs",
            "--",
            *command,
        ]
        return argv, fds


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for directory in _ETC_DIRS:  # made by hand: directories bwrap makes on its own are 0700
        args += ["--perms", "0755", "--dir", directory]
    tops = [Path("/", top) for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32")]
    for path in tops:
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    for path in (Path("/etc", entry) for entry in _ETC.split()):
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.exists():
            args += ["--ro-bind", str(path), str(path)]
    return args


def _data_fd(content: str | bytes, fds: list[int]) -> int:
    """A pipe holding ``content`` (bwrap reads it to its end), read end returned."""
    data = content.encode() if isinstance(content, str) else content
    r, w = os.pipe()
    fds.append(r)
    try:
        os.write(w, data)  # far below a pipe's 64 KiB buffer
    finally:
        os.close(w)
    return r


async def _child_pid(info_fd: int, proc: Child) -> int:
    """Read the pid of the sandbox's first process from bwrap's ``--info-fd`` (and close it,
    whatever happens: a cancelled start leaves no transport or file behind)."""
    loop = asyncio.get_running_loop()
    readable = asyncio.Event()
    data = b""
    try:
        os.set_blocking(info_fd, False)
        loop.add_reader(info_fd, readable.set)
        async with asyncio.timeout(30):
            while b"}" not in data:
                await readable.wait()
                readable.clear()
                try:
                    chunk = os.read(info_fd, 4096)
                except BlockingIOError:
                    continue
                if not chunk:
                    break
                data += chunk
    finally:
        loop.remove_reader(info_fd)
        os.close(info_fd)
    with contextlib.suppress(ValueError, KeyError, TypeError):
        return int(json.loads(data)["child-pid"])
    raise await _failed(proc)


async def _failed(proc: Child) -> Unavailable:
    """The error for a bwrap that exited before its sandbox was made, with what it said."""
    await proc.wait()
    err = (await proc.stderr.read()).decode(errors="replace").strip()
    return Unavailable(f"bubblewrap failed to start the sandbox: {err}", hint=INSTALL_HINT)


def _validate(spec: SandboxSpec) -> None:
    if not spec.argv:
        raise BadRequest("a sandbox needs a command to run")
    for name in spec.env:
        if not name or "=" in name or "\0" in name:
            raise BadRequest(f"{name!r} is not an environment variable name")
        if name.startswith("LD_") or name in _UNSAFE_ENV:
            raise BadRequest(
                f"environment variable {name} may not be set by a sandbox spec",
                hint="set it inside the command (sh -c 'NAME=value exec ...') instead",
            )
    if not spec.workdir.is_dir():
        raise BadRequest(f"work directory {spec.workdir} does not exist")
    for mount in spec.mounts:
        target = PurePosixPath(mount.target)
        if (
            target == PurePosixPath("/")
            or not target.is_absolute()
            or ".." in target.parts
            or str(target) != mount.target
        ):
            raise BadRequest(f"mount target {mount.target!r} must be a normalised absolute path")
        if target in (PurePosixPath("/work"), PurePosixPath(SOCKET_DIR)) or any(
            target == PurePosixPath(r) or target.is_relative_to(r) for r in _RESERVED[1:]
        ):
            raise BadRequest(f"mount target {mount.target} would cover a system directory")
        if not mount.source.exists():
            raise BadRequest(f"mount source {mount.source} does not exist")
