"""A small seccomp filter for sandboxed code, as the raw BPF that ``bwrap --seccomp`` loads.

The sandbox already runs as an unprivileged uid with no capabilities, so most
dangerous system calls fail anyway. This filter closes what is left open to
any user and has been the way into the kernel for many exploits: new user
namespaces (and so nf_tables, mounts and the rest inside them), keyrings,
eBPF, perf events, userfaultfd, io_uring, and foreign syscall ABIs. Denied
calls fail with ``EPERM`` (``clone3`` with ``ENOSYS``, so libc falls back to
``clone``, whose flags the filter can read).
"""

from __future__ import annotations

import errno
import platform
import struct

_LD_W_ABS = 0x20
_JEQ = 0x15
_JGE = 0x35
_JSET = 0x45
_RET = 0x06
_ALLOW = 0x7FFF0000
_ERRNO = 0x00050000
_KILL_PROCESS = 0x80000000
_X32_BIT = 0x40000000

# every CLONE_NEW* flag: NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME
_CLONE_NEW_ANY = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000
_CLONE_NEW_ANY |= 0x10000000 | 0x20000000 | 0x40000000 | 0x00000080


# (audit arch, syscall numbers) of the architectures we know: every call named is
# denied, but for clone (denied only with a CLONE_NEW* flag) and clone3 (ENOSYS)
_ARCHES: dict[str, tuple[int, dict[str, int]]] = {
    "x86_64": (
        0xC000003E,
        {
            "clone": 56, "clone3": 435, "unshare": 272, "setns": 308, "keyctl": 250,
            "add_key": 248, "request_key": 249, "bpf": 321, "perf_event_open": 298,
            "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426,
            "io_uring_register": 427, "kexec_load": 246, "kexec_file_load": 320,
            "init_module": 175, "finit_module": 313, "delete_module": 176, "mount": 165,
            "umount2": 166, "pivot_root": 155, "fsopen": 430, "fsconfig": 431,
            "fsmount": 432, "fspick": 433, "move_mount": 429, "open_tree": 428,
            "mount_setattr": 442, "swapon": 167, "swapoff": 168, "reboot": 169, "acct": 163,
            "quotactl": 179, "syslog": 103, "open_by_handle_at": 304,
            "name_to_handle_at": 303, "lookup_dcookie": 212,
        },
    ),
    "aarch64": (
        0xC00000B7,
        {
            "clone": 220, "clone3": 435, "unshare": 97, "setns": 268, "keyctl": 219,
            "add_key": 217, "request_key": 218, "bpf": 280, "perf_event_open": 241,
            "userfaultfd": 282, "io_uring_setup": 425, "io_uring_enter": 426,
            "io_uring_register": 427, "kexec_load": 104, "kexec_file_load": 294,
            "init_module": 105, "finit_module": 273, "delete_module": 106, "mount": 40,
            "umount2": 39, "pivot_root": 41, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
            "fspick": 433, "move_mount": 429, "open_tree": 428, "mount_setattr": 442,
            "swapon": 224, "swapoff": 225, "reboot": 142, "acct": 89, "quotactl": 60,
            "syslog": 116, "open_by_handle_at": 265, "name_to_handle_at": 264,
            "lookup_dcookie": 18,
        },
    ),
}  # fmt: skip


def supported(machine: str | None = None) -> bool:
    return (machine or platform.machine()) in _ARCHES


def program(machine: str | None = None) -> bytes:
    """The filter for ``machine`` (default: this one) as ``struct sock_filter[]``."""
    arch, numbers = _ARCHES[machine or platform.machine()]
    deny = _ERRNO | errno.EPERM
    code: list[tuple[int, int, int, int]] = [
        (_LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
        (_JEQ, 1, 0, arch),
        (_RET, 0, 0, _KILL_PROCESS),
        (_LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
    ]
    if machine == "x86_64" or (machine is None and platform.machine() == "x86_64"):
        code += [(_JGE, 0, 1, _X32_BIT), (_RET, 0, 0, _KILL_PROCESS)]
    code += [(_JEQ, 0, 1, numbers["clone3"]), (_RET, 0, 0, _ERRNO | errno.ENOSYS)]
    for name, number in numbers.items():
        if name not in ("clone", "clone3"):  # handled on their own
            code += [(_JEQ, 0, 1, number), (_RET, 0, 0, deny)]
    code += [
        (_JEQ, 0, 3, numbers["clone"]),
        (_LD_W_ABS, 0, 0, 16),  # low half of args[0]: the clone flags
        (_JSET, 0, 1, _CLONE_NEW_ANY),
        (_RET, 0, 0, deny),
        (_RET, 0, 0, _ALLOW),
    ]
    return b"".join(struct.pack("=HBBI", *insn) for insn in code)
