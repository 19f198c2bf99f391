"""Running a real tool the way a build step does."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path


def output(argv: Sequence[str | Path], cwd: Path) -> list[str]:
    """What a failing command printed, stdout and stderr interleaved as in a build log."""
    env = {**os.environ, "NO_UPDATE_NOTIFIER": "1", "npm_config_fund": "false"}
    result = subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode != 0, result.stdout
    return result.stdout.splitlines()
