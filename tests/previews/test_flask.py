"""A real Flask app, built by the Builder (flask pip-installed from PyPI), served as a preview."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from previewd.blobs.local import LocalBlobStore
from previewd.build import ServerBundle
from previewd.previews import Supervisor, SupervisorConfig
from previewd.runtimes.base import MiB, ResourceLimits
from previewd.runtimes.bubblewrap import BubblewrapRuntime
from tests.builds.conftest import FLASK_FILES
from tests.builds.helpers import ROOMY, Log, builder, snapshot
from tests.previews.helpers import get

pytestmark = [pytest.mark.anyio, pytest.mark.sandbox, pytest.mark.network]


@pytest.fixture(scope="module")
def flask_built(bubblewrap: BubblewrapRuntime) -> Iterator[tuple[LocalBlobStore, ServerBundle]]:
    base = Path(tempfile.mkdtemp(prefix="pvf-"))
    blobs = LocalBlobStore(base / "blobs")
    build = builder(bubblewrap, base / "build", blobs, limits=ROOMY, toolchain=None)
    result = asyncio.run(build.build("flask", snapshot(blobs, FLASK_FILES), Log()))
    assert result.server is not None and result.server.deps is not None
    yield blobs, result.server
    shutil.rmtree(base, ignore_errors=True)


async def test_a_built_flask_app_answers_and_wakes_from_zero(
    flask_built: tuple[LocalBlobStore, ServerBundle], bubblewrap: BubblewrapRuntime, root: Path
) -> None:
    blobs, bundle = flask_built
    limits = ResourceLimits(memory_bytes=256 * MiB, pids=64, timeout_s=None)
    config = SupervisorConfig(root=root, limits=limits, start_timeout_s=20)
    async with Supervisor(runtime=bubblewrap, blobs=blobs, config=config) as sup:
        sup.add("flask", bundle)
        response = await get(await sup.ensure_running("flask"))
        assert response.status_code == 200 and response.text == "hello from flask"
        # the venv is bound read-only from the dependency cache, not copied or linked
        venv = root / "previews" / "flask" / "work" / ".venv"
        assert venv.is_dir() and not list(venv.rglob("flask"))  # only empty mount points
        await sup.stop("flask")
        assert sup.info("flask").state == "asleep" and sup.running() == []
        response = await get(await sup.ensure_running("flask"))
        assert response.text == "hello from flask"
        assert not sup.info("flask").crashes
