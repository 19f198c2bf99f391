"""Real tools for the tests that check the parser against what they print today."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def js_tools(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with TypeScript 5 and Vite 5 (Rollup, esbuild) installed from npm."""
    root = tmp_path_factory.mktemp("js-tools")
    (root / "package.json").write_text('{"name": "diagnostics-tools", "private": true}')
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", "typescript@5", "vite@5"],
        cwd=root,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return root / "node_modules" / ".bin"
