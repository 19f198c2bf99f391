"""The CLI as a user runs it: `previewd up` in a subprocess, the other commands against it."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest

PREVIEWD = [sys.executable, "-m", "previewd"]


class Up:
    def __init__(self, process: subprocess.Popen[str], env: dict[str, str], edge: str) -> None:
        self.process = process
        self.env = env
        self.edge = edge

    def run(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*PREVIEWD, *args], env=self.env, cwd=cwd, capture_output=True, text=True, timeout=60
        )

    def get(self, url: str) -> httpx.Response:
        """Fetch a printed preview URL through the edge (the test has no *.localhost resolver)."""
        match = re.match(r"http://([^/:]+):(\d+)(/.*)", url)
        assert match, url
        return httpx.get(f"http://127.0.0.1:{match[2]}{match[3]}", headers={"host": match[1]})


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    env = {**os.environ, "PREVIEWD_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    env.pop("PREVIEWD_TOKEN", None)
    process = subprocess.Popen(
        [*PREVIEWD, "up", "--api-port", "0", "--edge-port", "0", "--log-level", "warning"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    api = edge = None
    for line in process.stderr:
        if m := re.search(r"API\s+(http://\S+)", line):
            api = m[1]
        if m := re.search(r"previews\s+(http://\S+)", line):
            edge = m[1]
        if api and edge:
            break
    assert api and edge, "previewd up did not announce its addresses"
    # keep reading so a chatty server never blocks on a full pipe
    drain = threading.Thread(target=process.stderr.read, daemon=True)
    drain.start()
    env["PREVIEWD_API_URL"] = api
    try:
        yield Up(process, env, edge)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        drain.join()
        process.stderr.close()


def site(root: Path, text: str) -> Path:
    root.mkdir(exist_ok=True)
    (root / "index.html").write_text(text)
    (root / "style.css").write_text("h1 { color: teal }")
    return root


def test_deploy_ls_rollback_rm_and_clean_shutdown(up: Up, tmp_path: Path) -> None:
    folder = site(tmp_path / "my-site", "<h1>one</h1>")
    first = up.run("deploy", str(folder))
    assert first.returncode == 0, first.stderr
    urls = re.findall(r"http://\S+", first.stdout)
    assert any("--my-site.localhost" in u for u in urls)
    project_url = next(u for u in urls if u.startswith("http://my-site.localhost"))
    assert up.get(project_url).text == "<h1>one</h1>"

    (folder / "index.html").write_text("<h1>two</h1>")
    second = up.run("deploy", str(folder), "--project", "my-site")
    assert second.returncode == 0, second.stderr
    assert up.get(project_url).text == "<h1>two</h1>"

    listing = up.run("ls")
    assert "my-site" in listing.stdout
    deployments = up.run("ls", "--project", "my-site")
    ids = re.findall(r"\b([1-9][a-z0-9]{11})\b", deployments.stdout)
    assert len(set(ids)) == 2

    back = up.run("rollback", "my-site")
    assert back.returncode == 0, back.stderr
    assert up.get(project_url).text == "<h1>one</h1>"

    newest = ids[0]
    removed = up.run("rm", newest)
    assert removed.returncode == 0, removed.stderr
    assert newest not in up.run("ls", "--project", "my-site").stdout

    up.process.send_signal(signal.SIGTERM)
    assert up.process.wait(timeout=20) == 0


def test_errors_are_one_line_and_exit_1(up: Up, tmp_path: Path) -> None:
    folder = site(tmp_path / "x", "hi")
    bad = up.run("deploy", str(folder), "--project", "Bad_Name")
    assert bad.returncode == 1
    assert bad.stderr.splitlines()[0].startswith("error: invalid project name 'Bad_Name'")

    unknown = up.run("rm", "1aaaaaaaaaaa")
    assert unknown.returncode == 1
    assert "no deployment '1aaaaaaaaaaa'" in unknown.stderr

    wrong_token = up.run("ls")
    assert wrong_token.returncode == 0
    up.env["PREVIEWD_TOKEN"] = "wrong"
    refused = up.run("ls")
    assert refused.returncode == 1
    assert "token" in refused.stderr


def test_symlink_out_of_the_folder_is_refused(up: Up, tmp_path: Path) -> None:
    folder = site(tmp_path / "linked", "hi")
    secret = tmp_path / "secret.txt"
    secret.write_text("do not publish")
    (folder / "leak.txt").symlink_to(secret)
    result = up.run("deploy", str(folder), "--project", "linked")
    assert result.returncode == 1
    assert "leak.txt" in result.stderr and "outside" in result.stderr
    assert "linked" not in up.run("ls").stdout


def test_unreachable_api_is_explained(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PREVIEWD_API_URL": "http://127.0.0.1:9",
        "PREVIEWD_DATA_DIR": str(tmp_path),
    }
    result = subprocess.run([*PREVIEWD, "ls"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "cannot reach the previewd API" in result.stderr
    assert "previewd up" in result.stderr


class Lines:
    """A running command's output, line by line, waited on with a bound (never a sleep)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.queue: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert process.stdout is not None
        self.reader = threading.Thread(target=self._read, args=(process.stdout,), daemon=True)
        self.reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.queue.put(line)

    def until(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        while True:
            try:
                line = self.queue.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no line matched {pattern!r} in {self.seen}") from None
            self.seen.append(line)
            if match := re.search(pattern, line):
                return match


def start(up: Up, *args: str) -> tuple[subprocess.Popen[str], Lines]:
    process = subprocess.Popen(
        [*PREVIEWD, *args],
        env={**up.env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, Lines(process)


def stop(process: subprocess.Popen[str], lines: Lines) -> None:
    if process.poll() is None:
        process.kill()
    process.wait()
    lines.reader.join()
    for stream in (process.stdout, process.stderr):
        assert stream is not None
        stream.close()


def test_watch_deploys_changes_and_stops_on_ctrl_c(up: Up, tmp_path: Path) -> None:
    folder = site(tmp_path / "watched", "<h1>one</h1>")
    process, lines = start(up, "watch", str(folder), "--debounce", "50")
    try:
        url = lines.until(r"(http://watched\.\S+)")[1]
        first = lines.seen[-2]
        assert up.get(url).text == "<h1>one</h1>"
        lines.until("watching for changes")
        (folder / "index.html").write_text("<h1>two</h1>")
        done = lines.until(r"✓ (\S+) live, 1 upload\b")
        assert done[1] not in first
        assert up.get(url).text == "<h1>two</h1>"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        assert process.stderr is not None
        assert "stopped watching" in process.stderr.read()
    finally:
        stop(process, lines)


def test_watch_of_a_bad_project_name_fails_at_once(up: Up, tmp_path: Path) -> None:
    folder = site(tmp_path / "w", "hi")
    result = up.run("watch", str(folder), "--project", "Bad_Name")
    assert result.returncode == 1
    assert "invalid project name" in result.stderr


def test_feedback_lists_and_follows_a_browser_error(up: Up, tmp_path: Path) -> None:
    assert up.run("feedback", "nothing").returncode == 1  # an unknown project is explained
    assert up.run("deploy", str(site(tmp_path / "fb", "<h1>page</h1>"))).returncode == 0
    empty = up.run("feedback", "fb")
    assert empty.returncode == 0 and "no problems" in empty.stdout

    process, lines = start(up, "feedback", "fb", "--follow")
    try:
        port = up.edge.rsplit(":", 1)[1].strip("/")
        report = {"reports": [{"kind": "error", "message": "TypeError: boom", "page": "/"}]}
        sent = httpx.post(
            f"http://127.0.0.1:{port}/__previewd/report",
            json=report,
            headers={"host": "fb.localhost"},
        )
        assert sent.status_code < 300, sent.text
        lines.until(r"^(new )?console #\d+")  # listed, or followed if it came later
        lines.until("TypeError: boom")
    finally:
        stop(process, lines)
    listed = up.run("feedback", "fb")
    assert "TypeError: boom" in listed.stdout


def test_chat_applies_a_message_and_explains_a_refusal(up: Up, tmp_path: Path) -> None:
    message = tmp_path / "msg.md"
    message.write_text("Sure:\n\n```html file=index.html\n<h1>chat</h1>\n```\n")
    result = up.run("chat", "talk", "--conversation", "c1", "--file", str(message))
    assert result.returncode == 0, result.stderr
    assert "+ index.html" in result.stdout and "ready" in result.stdout
    url = re.findall(r"http://\S+", result.stdout)[-1]
    assert up.get(url).text == "<h1>chat</h1>\n"

    refused = subprocess.run(
        [*PREVIEWD, "chat", "talk", "-c", "c1"],
        input="no code here",
        env=up.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: ") and "edit" in refused.stderr.lower()

    fresh = up.run("chat", "talk", "--file", str(message))
    assert fresh.returncode == 0, fresh.stderr
    assert "new conversation" in fresh.stderr
