"""The ``previewd`` command. Each command is a thin call into the SDK or the server.

Exit status: 0 success, 1 an error previewd explained (one red line), 2 a
usage error (click's own message).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from previewd import __version__
from previewd.config import Config
from previewd.errors import PreviewdError

out = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def explained(fn: F) -> F:
    """Print a previewd error as one red line (and its hint) and exit 1."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except PreviewdError as exc:
            click.echo(click.style("error: ", fg="red") + exc.message, err=True)
            if exc.hint:
                click.echo(click.style(f"hint: {exc.hint}", dim=True), err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def _client() -> Any:
    from previewd.client import Client

    return Client()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="previewd")
def main() -> None:
    """previewd: instant, self-hosted previews of code from a conversation."""


@main.command()
@click.option(
    "--data-dir", type=click.Path(path_type=Path), help="Where data lives [PREVIEWD_DATA_DIR]."
)
@click.option("--api-host", help="API listen address [PREVIEWD_API_HOST].")
@click.option("--api-port", type=int, help="API port, 0 for any [PREVIEWD_API_PORT].")
@click.option("--edge-host", help="Edge listen address [PREVIEWD_EDGE_HOST].")
@click.option("--edge-port", type=int, help="Edge port, 0 for any [PREVIEWD_EDGE_PORT].")
@click.option(
    "--preview-domain", help="Previews live at <name>.<domain> [PREVIEWD_PREVIEW_DOMAIN]."
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    help="[PREVIEWD_LOG_LEVEL]",
)
@click.option(
    "--runtime",
    type=click.Choice(["auto", "bubblewrap", "unsafe-local"]),
    help="Where builds run; unsafe-local has NO isolation [PREVIEWD_RUNTIME].",
)
@explained
def up(**options: Any) -> None:
    """Run the API, the edge and the workers until Ctrl-C."""
    import logging

    import uvloop

    from previewd.server import serve

    config = Config(**{k: v for k, v in options.items() if v is not None})
    logging.basicConfig(level=config.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    try:
        uvloop.run(serve(config))
    except OSError as exc:
        raise PreviewdError(
            f"cannot start: {exc}", hint="Is another previewd running? Pick other ports."
        ) from None


@main.command()
@click.argument(
    "directory", type=click.Path(exists=True, file_okay=False, path_type=Path), default="."
)
@click.option("--project", "-p", help="Project name (default: the folder's name).")
@click.option("--alias", help="Also move the alias <alias>--<project> to this deployment.")
@click.option("--spa", is_flag=True, help="Serve index.html for unknown paths (single-page apps).")
@explained
def deploy(directory: Path, project: str | None, alias: str | None, spa: bool) -> None:
    """Deploy DIRECTORY and print its URL (uploads only what the server lacks)."""
    name = project or _project_name(directory)
    with _client() as client:
        with _upload_progress() as progress:
            deployment = client.deploy_dir(
                name, directory, alias=alias, spa=spa, progress=progress, wait=False
            )
        if deployment.status in ("queued", "building"):
            _print_logs(client.logs(deployment.id, follow=True))
        deployment = client.deployment(deployment.id, wait=True, timeout=600)
    if deployment.status == "failed":
        raise PreviewdError(f"deployment {deployment.id} failed: {deployment.error}")
    files = f"{deployment.files} file{'s' if deployment.files != 1 else ''}"
    out.print(f"[green]✓[/] {files}, deployment {deployment.id}")
    out.print(deployment.url, highlight=False)
    for alias_view in deployment.aliases:
        out.print(alias_view.url, highlight=False)


@contextmanager
def _upload_progress() -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on a terminal; nothing when output goes to a file or a pipe."""
    if not err.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    columns = ("{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("uploading", total=None)
        yield lambda sent, total: bar.update(task, completed=sent, total=total)


def _project_name(directory: Path) -> str:
    import re

    name = re.sub(r"[^a-z0-9-]+", "-", directory.resolve().name.lower()).strip("-")
    name = re.sub(r"-{2,}", "-", name)[:40].strip("-")
    return name if name[:1].isalpha() else f"site-{name}".strip("-")


@main.command(name="ls")
@click.option("--project", "-p", help="List this project's deployments.")
@explained
def list_(project: str | None) -> None:
    """List projects, or one project's deployments."""
    with _client() as client:
        if project is None:
            table = Table("project", "url", "serving", "deployments")
            for p in client.projects():
                table.add_row(p.name, p.url, p.current or "-", str(p.deployments))
        else:
            table = Table("deployment", "status", "created", "files", "aliases", "url")
            for d in client.deployments(project):
                aliases = " ".join(a.name or "(project)" for a in d.aliases)
                table.add_row(
                    d.id,
                    d.status,
                    f"{d.created_at:%Y-%m-%d %H:%M:%S}",
                    str(d.files),
                    aliases,
                    d.url,
                )
    out.print(table)


@main.command()
@explained
def ps() -> None:
    """List app servers: state, CPU, memory, idle time, restarts and the last crash."""
    with _client() as client:
        table = Table(
            "deployment", "state", "healthy", "cpu s", "memory", "idle", "restarts", "last crash"
        )
        for p in client.previews():
            memory = f"{p.memory_bytes / 2**20:.1f} MiB" if p.memory_bytes is not None else "-"
            cpu = f"{p.cpu_seconds:.2f}" if p.cpu_seconds is not None else "-"
            crash = p.crashes[-1].message if p.crashes else ""
            healthy = f"{p.healthy}/{p.instances}"
            idle = f"{p.idle_s:.0f}s"
            table.add_row(p.deployment, p.state, healthy, cpu, memory, idle, str(p.restarts), crash)
    out.print(table)


@main.command()
@click.argument("deployment")
@click.option(
    "--follow",
    "-f",
    is_flag=True,
    help="Keep printing (until the build ends; with --runtime until Ctrl-C).",
)
@click.option("--runtime", is_flag=True, help="What the app server printed, not the build.")
@explained
def logs(deployment: str, follow: bool, runtime: bool) -> None:
    """Print a deployment's build log (or with --runtime its app server's output)."""
    with _client() as client:
        if runtime:
            lines = (
                client.follow_runtime_logs(deployment)
                if follow
                else client.runtime_logs(deployment)
            )
            for line in lines:
                style = "red" if line["stream"] == "stderr" else ""
                out.print(f"{line['at'][11:23]} ", end="", style="dim", highlight=False)
                out.print(line["text"], style=style, highlight=False, markup=False)
            return
        _print_logs(client.logs(deployment, follow=follow))


def _print_logs(records: Iterator[dict[str, Any]]) -> None:
    """One line per record: time, step, text (stderr in red, step events in bold)."""
    from rich.text import Text

    for r in records:
        line = Text(f"{r.get('t', 0):7.2f}s ", style="dim") + Text(f"{r.get('step', ''):>8} │ ")
        if "text" in r:
            line += Text(r["text"], style="red" if r["stream"] == "stderr" else "")
        elif "status" in r:
            line += Text(f"{r['status']} {r.get('detail', '')}".rstrip(), style="bold")
        else:
            continue
        out.print(line, highlight=False)


@main.command()
@click.argument("project")
@click.option("--alias", default="", help="Named alias to move (default: the project's own URL).")
@click.option("--to", "to", help="Deployment id to point at (default: the one before).")
@explained
def rollback(project: str, alias: str, to: str | None) -> None:
    """Point a project's URL (or an alias) back at an earlier deployment, without rebuilding."""
    with _client() as client:
        moved = client.rollback(project, alias=alias, to=to)
    out.print(f"[green]✓[/] {moved.url} now serves {moved.deployment}", highlight=False)


@main.command()
@click.argument("target")
@click.option(
    "--project", "whole_project", is_flag=True, help="TARGET names a project: remove it all."
)
@click.option("--yes", is_flag=True, help="Do not ask before removing a whole project.")
@explained
def rm(target: str, whole_project: bool, yes: bool) -> None:
    """Remove a deployment (aliases fall back to the one before), or with --project a whole project."""
    with _client() as client:
        if whole_project:
            if not yes:
                click.confirm(f"Remove project {target} and all its deployments?", abort=True)
            client.delete_project(target)
        else:
            client.delete_deployment(target)
    out.print(f"[green]✓[/] removed {target}", highlight=False)


@main.command()
@click.argument(
    "directory", type=click.Path(exists=True, file_okay=False, path_type=Path), default="."
)
@click.option("--json", "as_json", is_flag=True, help="Print the detection as JSON.")
@explained
def detect(directory: Path, as_json: bool) -> None:
    """Say what DIRECTORY is, how previewd would build and run it, and why."""
    import json

    from previewd.detection import DirectoryTree, detect, explain

    found = detect(DirectoryTree(directory))
    if as_json:
        click.echo(json.dumps(found.to_dict(), indent=2))
    else:
        click.echo(explain(found))


@main.command()
@click.argument(
    "directory", type=click.Path(exists=True, file_okay=False, path_type=Path), default="."
)
@click.option("--project", "-p", help="Project name (default: the folder's name).")
@click.option("--alias", help="Also move the alias <alias>--<project> with every change.")
@click.option("--spa", is_flag=True, help="Serve index.html for unknown paths (single-page apps).")
@click.option(
    "--debounce",
    type=click.IntRange(10, 10_000),
    default=150,
    show_default=True,
    help="Milliseconds without changes before a deploy starts.",
)
@explained
def watch(
    directory: Path, project: str | None, alias: str | None, spa: bool, debounce: int
) -> None:
    """Deploy DIRECTORY, then again after every change (only what changed), until Ctrl-C."""
    import anyio

    from previewd.client import AsyncClient
    from previewd.watch import Watcher

    name = project or _project_name(directory)

    async def run() -> None:
        async with AsyncClient() as client:
            watcher = Watcher(client, directory, name, alias=alias, spa=spa, debounce_ms=debounce)
            watcher.reporter = _WatchReport(alias or "")
            await watcher.run()

    try:
        anyio.run(run)
    except KeyboardInterrupt:
        err.print("stopped watching", style="dim")


class _WatchReport:
    """How ``previewd watch`` shows each round: what changed, the build log, the outcome."""

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self.rounds = 0

    def deploying(self, written: Any, deleted: Any) -> None:
        names = [*written, *(f"-{p}" for p in deleted)]
        shown = " ".join(names[:6]) + (f" (+{len(names) - 6})" if len(names) > 6 else "")
        label = "deploying" if self.rounds else f"deploying {len(written)} files"
        out.print(f"[bold]→[/] {label}  [dim]{shown if self.rounds else ''}[/]", highlight=False)

    def log(self, record: dict[str, Any]) -> None:
        _print_logs(iter([record]))

    def deployed(self, round: Any) -> None:
        d = round.deployment
        first, self.rounds = self.rounds == 0, self.rounds + 1
        if d.status == "failed":
            out.print(f"[red]✗ build failed[/] ({d.id}): {d.error}", highlight=False)
            for e in d.errors:
                where = ":".join(str(e[k]) for k in ("file", "line") if e.get(k))
                out.print(
                    f"  {where} {e.get('message', '')}".rstrip(), style="red", highlight=False
                )
            out.print("  the last good deployment stays live; watching…", style="dim")
            return
        sent = f"{round.uploaded} upload{'s' if round.uploaded != 1 else ''}"
        out.print(f"[green]✓[/] {d.id} live, {sent}", highlight=False)
        urls = [a.url for a in d.aliases if first or a.name == self.alias]
        for url in urls or [d.url]:
            out.print(url, highlight=False)
        if first:
            out.print("watching for changes (Ctrl-C to stop)", style="dim")

    def error(self, error: PreviewdError) -> None:
        click.echo(click.style("error: ", fg="red") + error.message, err=True)
        if error.hint:
            click.echo(click.style(f"hint: {error.hint}", dim=True), err=True)


@main.command()
@click.argument("project")
@click.option(
    "--conversation", "-c", help="Conversation to send to (created if new; default: a new one)."
)
@click.option(
    "--file",
    "message_file",
    type=click.File("r", encoding="utf-8"),
    help="Read the message from this file (default: standard input).",
)
@click.option("--no-wait", is_flag=True, help="Answer once the build is queued, not served.")
@explained
def chat(project: str, conversation: str | None, message_file: Any, no_wait: bool) -> None:
    """Apply an assistant message (code in any common edit format) to a conversation and
    print the files it changed, the build status and the URL."""
    source = message_file or sys.stdin
    if message_file is None and source.isatty():
        raise click.UsageError("give the message with --file MSG.md or on standard input")
    content = source.read()
    from previewd.errors import ApiError

    with _client() as client:
        if conversation is None:
            conversation = client.create_conversation(project)["name"]
            err.print(f"new conversation {conversation}", style="dim", highlight=False)
        try:
            reply = client.send_message(project, conversation, content, wait=not no_wait)
        except ApiError as exc:
            if exc.code != "conversation_not_found":
                raise
            client.create_conversation(project, conversation)
            reply = client.send_message(project, conversation, content, wait=not no_wait)
    _print_reply(reply)


def _print_reply(reply: dict[str, Any]) -> None:
    """The answer to a chat message (docs/conversations.md): changes, commands, status,
    URL; a refusal or a failed build exits 1 with what went wrong."""
    status = reply.get("status") or ""
    if status in ("no_edits", "refused"):
        error = reply.get("error") or {}
        raise PreviewdError(error.get("message") or status, hint=error.get("hint"))
    for path, change in sorted((reply.get("changes") or {}).items()):
        mark = {"written": "[green]+[/]", "deleted": "[red]-[/]"}.get(change, "~")
        out.print(f"{mark} {path}", highlight=False)
    for command in reply.get("commands") or []:
        note = f"  [dim]({command.get('handled', '')}: {command.get('note', '')})[/]"
        out.print(f"[dim]$[/] {command.get('command', '')}{note}", highlight=False)
    deployment = reply.get("deployment") or {}
    style = {"ready": "green", "failed": "red"}.get(status, "yellow")
    out.print(f"[{style}]{status}[/] {deployment.get('id', '')}".rstrip(), highlight=False)
    if url := reply.get("url"):
        out.print(url, highlight=False)
    if status == "failed":
        for e in reply.get("errors") or deployment.get("errors") or []:
            where = ":".join(str(e[k]) for k in ("file", "line") if e.get(k))
            out.print(f"  {where} {e.get('message', '')}".rstrip(), style="red", highlight=False)
        raise PreviewdError(
            f"the build failed: {deployment.get('error') or 'see the errors above'}",
            hint="The last good version stays live; send a fix to the same conversation.",
        )


@main.command()
@click.argument("project")
@click.option("--conversation", "-c", help="Only this conversation's problems.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing problems as they change.")
@explained
def feedback(project: str, conversation: str | None, follow: bool) -> None:
    """Print a project's problems (build errors, crashes, 5xx, browser errors), each as the
    short message a chat can take as-is."""
    with _client() as client:
        # following starts before the list is read, so no problem falls in between
        live = client.follow_feedback(project, conversation) if follow else None
        problems = client.feedback(project, conversation)
        for problem in reversed(problems):
            _print_problem("", problem)
        if live is None:
            if not problems:
                out.print("no problems", style="dim")
            return
        with live:
            for event, problem in live:
                _print_problem(event, problem)


def _print_problem(event: str, problem: Any) -> None:
    seen = f"×{problem.count}" if problem.count > 1 else ""
    head = f"{event} {problem.kind} #{problem.id} {seen} {problem.deployment}"
    out.print(" ".join(head.split()), style="bold", highlight=False)
    out.print(problem.text, markup=False, highlight=False)
    out.print()


@main.command()
@click.option("--http", "http_", is_flag=True, help="Serve streamable HTTP instead of stdio.")
@click.option("--host", default="127.0.0.1", show_default=True, help="HTTP listen address.")
@click.option("--port", type=int, default=7702, show_default=True, help="HTTP port (0: any).")
@explained
def mcp(http_: bool, host: str, port: int) -> None:
    """Run an MCP server for AI agents (stdio by default) that drives this previewd."""
    from previewd.mcp import serve

    serve(http=http_, host=host, port=port)
