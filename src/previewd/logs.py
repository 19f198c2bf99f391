"""Build logs: every line of every step, kept per deployment and streamed live.

Records are small dicts, one JSON line each in ``<data>/logs/<deployment>.jsonl``:
``{"step", "stream", "text"}`` for output lines, ``{"step", "status", "detail"}``
for step events, and a last ``{"end": status}``; each also has its number
``n`` and seconds since the build started ``t``. Followers
subscribe to the broker before reading the file, so they miss nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TextIO

from previewd.events import Broker
from previewd.names import is_deployment_id

Record = dict[str, Any]


def topic(deployment_id: str) -> str:
    return f"logs:{deployment_id}"


class BuildLog:
    """The log of one build, written by the builder (``line`` and ``event``)."""

    def __init__(self, path: Path, broker: Broker, deployment_id: str) -> None:
        self._file: TextIO = path.open("w", buffering=1, encoding="utf-8")  # a retry starts afresh
        self._broker = broker
        self._topic = topic(deployment_id)
        self._start = time.monotonic()
        self._count = 0

    def line(self, step: str, stream: str, text: str) -> None:
        self._write({"step": step, "stream": stream, "text": text})

    def event(self, step: str, status: str, detail: str = "") -> None:
        self._write({"step": step, "status": status, "detail": detail})

    def end(self, status: str) -> None:
        self._write({"end": status})
        self._file.close()

    def _write(self, record: Record) -> None:
        record["n"], record["t"] = self._count, round(time.monotonic() - self._start, 3)
        self._count += 1
        self._file.write(json.dumps(record) + "\n")
        self._broker.publish(self._topic, record)


class LogBook:
    """Where build logs live, and how they are read back or followed."""

    def __init__(self, root: Path, broker: Broker) -> None:
        self.root = root
        self.broker = broker
        root.mkdir(parents=True, exist_ok=True)

    def open(self, deployment_id: str) -> BuildLog:
        return BuildLog(self._path(deployment_id), self.broker, deployment_id)

    def read(self, deployment_id: str) -> list[Record]:
        try:
            text = self._path(deployment_id).read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.endswith("}")]

    async def follow(self, deployment_id: str, *, ended: bool) -> AsyncIterator[Record]:
        """Every record so far, then new ones until the build ends.

        ``ended`` says the deployment is already settled, in which case a log
        with no end record (a static deploy has none) is complete as it is.
        """
        async with self.broker.subscribe(topic(deployment_id)) as queue:
            seen = self.read(deployment_id)
            for record in seen:
                yield record
            if ended or (seen and "end" in seen[-1]):
                return
            while True:
                record = await queue.get()
                if record["n"] < len(seen):  # published between subscribing and reading
                    continue
                yield record
                if "end" in record:
                    return

    def remove(self, deployment_id: str) -> None:
        self._path(deployment_id).unlink(missing_ok=True)

    def _path(self, deployment_id: str) -> Path:
        if not is_deployment_id(deployment_id):
            raise ValueError(f"not a deployment id: {deployment_id!r}")
        return self.root / f"{deployment_id}.jsonl"
