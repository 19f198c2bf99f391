"""What a run's result says, and the seccomp filter's shape."""

from __future__ import annotations

import struct

import pytest

from previewd.runtimes import seccomp
from previewd.runtimes.base import GiB, MiB, ResourceLimits, RunResult


@pytest.mark.parametrize(
    ("exit_code", "limit_hit", "message"),
    [
        (0, None, "exited with status 0"),
        (2, None, "exited with status 2"),
        (137, None, "killed by SIGKILL"),
        (143, None, "killed by SIGTERM"),
        (137, "memory", "killed: memory limit of 512 MiB exceeded"),
        (137, "pids", "killed: process limit of 50 reached (forking without bound?)"),
        (137, "timeout", "killed: time limit of 2.5 s exceeded"),
        (
            1,
            "disk",
            "failed: disk limit exceeded (/tmp 1 GiB, /work 3 GiB): no space left on device",
        ),
    ],
)
def test_messages_name_the_limit_and_its_value(
    exit_code: int, limit_hit: str | None, message: str
) -> None:
    limits = ResourceLimits(
        memory_bytes=512 * MiB, pids=50, timeout_s=2.5, tmpfs_bytes=GiB, work_bytes=3 * GiB
    )
    result = RunResult(exit_code, 0.1, limit_hit, limits)  # type: ignore[arg-type]
    assert result.message() == message
    assert result.ok is (exit_code == 0 and limit_hit is None)


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_seccomp_program_is_whole_instructions_ending_in_allow(machine: str) -> None:
    program = seccomp.program(machine)
    assert len(program) % 8 == 0 and len(program) // 8 < 4096  # the kernel's BPF_MAXINSNS
    assert struct.unpack("=HBBI", program[-8:]) == (0x06, 0, 0, 0x7FFF0000)
    assert seccomp.supported(machine) and not seccomp.supported("sparc")
