"""Facts about a problem → one chat-ready message (at most 1 KB) and its fingerprint.

Every message has the same three parts, so a chat (or a person) can paste it
back as-is: what failed (first line), where (``file:line`` when known), and
the shortest excerpt that shows it (a source line, the last lines of stderr,
the start of an error page). Builders here are pure functions of the facts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from previewd.diagnostics import Diagnostic, parse
from previewd.feedback.fingerprint import fingerprint, path_template, source_file

Kind = Literal["build", "crash", "http", "console"]
KINDS: tuple[Kind, ...] = ("build", "crash", "http", "console")
MAX_TEXT = 1024  # bytes of UTF-8
MAX_BUILD_PROBLEMS = 5  # past the first few, more errors of one build only repeat the story
_MESSAGE = 400  # characters of a tool's or the browser's message kept
_EXCERPT_LINES = 4
_EXCERPT_LINE = 160
_SCRIPT = re.compile(r"(?is)<(script|style)\b.*?</\1>")
_TAG = re.compile(r"<[^>]+>")
_FRAME = re.compile(r"at |[\w$.<>]*@\S+:\d+")
_URL_ORIGIN = re.compile(r"\b(?:https?|wss?)://[^/\s'\"()<>]+", re.IGNORECASE)


@dataclass(frozen=True)
class Problem:
    """One sighting of a problem on a deployment, condensed."""

    kind: Kind
    deployment_id: str
    fingerprint: str
    text: str
    detail: dict[str, Any] = field(default_factory=dict)


def build_problems(
    deployment_id: str, error: str | None, diagnostics: Sequence[Mapping[str, Any]]
) -> list[Problem]:
    """One problem per structured error of a failed build (the first few), or one for
    the failure itself when no tool's error was recognised."""
    problems = []
    for raw in diagnostics[:MAX_BUILD_PROBLEMS]:
        d = Diagnostic(
            tool=str(raw.get("tool") or "generic"),
            message=str(raw.get("message") or ""),
            file=raw.get("file"),
            line=raw.get("line"),
            column=raw.get("column"),
            excerpt=raw.get("excerpt"),
            code=raw.get("code"),
        )
        first = f"Build failed: {d.tool} reports an error"
        if d.location():
            first += f" in {d.location()}"
        body = [f"{d.code}: {d.message}" if d.code else d.message]
        text = _compose(first + ":", body, d.excerpt, deployment_id)
        detail = {**d.to_dict(), "error": error}
        facts = (d.tool, d.code, d.file, d.message)
        problems.append(Problem("build", deployment_id, fingerprint("build", *facts), text, detail))
    if not problems:
        message = error or "the build failed without a message"
        text = _compose("Build failed:", [message], None, deployment_id)
        problems.append(
            Problem("build", deployment_id, fingerprint("build", message), text, {"error": error})
        )
    return problems


def crash_problem(
    deployment_id: str,
    *,
    exit_code: int,
    limit_hit: str | None,
    message: str,
    stderr_tail: Sequence[str],
    during_start: bool = False,
) -> Problem:
    """An app server that ended on its own (or was killed by a limit)."""
    when = "while starting" if during_start else "while running"
    first = f"The app server crashed {when}: {message}"
    found = [d for d in parse(stderr_tail) if d.file or d.code]
    cause = found[-1] if found else None  # the last error printed is the one that ended it
    body: list[str] = []
    key: tuple[str | None, ...]
    if cause is not None:
        where = cause.location()
        what = f"{cause.code}: {cause.message}" if cause.code else cause.message
        body.append(f"{where}: {what}" if where else what)
        excerpt = cause.excerpt
        key = (cause.code, cause.file, cause.message)
    else:
        tail = [line for line in stderr_tail if line.strip()]
        excerpt = "\n".join(tail[-_EXCERPT_LINES:]) or None
        key = (None, None, tail[-1] if tail else None)
    if limit_hit:
        body.append(f"It hit its {limit_hit} limit.")
    text = _compose(first, body, excerpt, deployment_id, excerpt_label="stderr")
    detail = {
        "exit_code": exit_code,
        "limit_hit": limit_hit,
        "message": message,
        "during_start": during_start,
        "stderr_tail": list(stderr_tail[-20:]),
        **({"file": cause.file, "line": cause.line} if cause else {}),
    }
    code = limit_hit or exit_code
    return Problem("crash", deployment_id, fingerprint("crash", code, *key), text, detail)


def http_problem(
    deployment_id: str, *, method: str, path: str, status: int, body_start: bytes = b""
) -> Problem:
    """A 5xx answer the app server gave."""
    shown = path.partition("?")[0]
    first = f"The app server answered {status} to {method} {shown}"
    excerpt = _page_excerpt(body_start)
    found = [d for d in parse(excerpt.splitlines()) if d.file] if excerpt else []
    body = [f"{found[-1].location()}: {found[-1].summary()}"] if found else []
    text = _compose(first, body, excerpt, deployment_id, excerpt_label="answer", ending=False)
    detail = {"method": method, "path": shown, "status": status, "body": excerpt}
    key = fingerprint("http", status, method, path_template(path))
    return Problem("http", deployment_id, key, text, detail)


def console_problem(deployment_id: str, report: Mapping[str, Any]) -> Problem:
    """An error the browser reported: ``console.error``, an uncaught error or an
    unhandled rejection (``kind`` "console", "error" or "rejection")."""
    what = {"error": "Uncaught error", "rejection": "Unhandled promise rejection"}.get(
        str(report.get("kind")), "Browser console error"
    )
    page = str(report.get("page") or "/")
    message = str(report.get("message") or "(no message)")
    source = source_file(report.get("source"))
    line, column = report.get("line"), report.get("column")
    where = None
    if source:
        where = ":".join([source, *(str(n) for n in (line, column) if isinstance(n, int) and n)])
    first = f"{what} on {page.partition('?')[0]}"
    body = [message]
    if where:
        body.append(f"at {where}")
    stack = _stack_excerpt(str(report.get("stack") or ""), message)
    text = _compose(first + ":", body, stack, deployment_id, excerpt_label="stack")
    detail = {
        "kind": report.get("kind"),
        "message": message,
        "file": source,
        "line": line,
        "column": column,
        "page": page,
        "stack": stack,
    }
    key = fingerprint("console", report.get("kind"), message, source)
    return Problem("console", deployment_id, key, text, detail)


# -- shaping text ------------------------------------------------------------------


def _compose(
    first: str,
    body: Iterable[str],
    excerpt: str | None,
    deployment_id: str,
    *,
    excerpt_label: str | None = None,
    ending: bool = True,
) -> str:
    lines = [_clip(first, _MESSAGE), *(_clip(b, _MESSAGE) for b in body if b)]
    lines.append(f"(deployment {deployment_id})")
    if excerpt:
        shown = [_clip(x, _EXCERPT_LINE) for x in excerpt.splitlines() if x.strip()]
        if shown:
            if excerpt_label:
                lines.append(f"{excerpt_label}:")
            # the end of a traceback or of stderr says most; the start of a page does
            shown = shown[-_EXCERPT_LINES:] if ending else shown[:_EXCERPT_LINES]
            lines += ["  > " + x for x in shown]
    return fit("\n".join(lines))


def fit(text: str, limit: int = MAX_TEXT) -> str:
    """``text`` cut to ``limit`` bytes of UTF-8, whole lines first, never mid-character."""
    if len(text.encode()) <= limit:
        return text
    lines = text.split("\n")
    while len(lines) > 1 and len("\n".join(lines).encode()) > limit - 4:
        lines.pop()
    kept = "\n".join(lines)
    data = kept.encode()[: limit - 4]
    return data.decode(errors="ignore").rstrip() + " …"


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split()) if "\n" in text else text.rstrip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _stack_excerpt(stack: str, message: str) -> str | None:
    """The first frames of a JavaScript stack (the message line itself dropped)."""
    lines = [_URL_ORIGIN.sub("", line.strip()) for line in stack.splitlines() if line.strip()]
    frames = [line for line in lines if _FRAME.match(line)]  # Chromium's "at …", Firefox's "f@…"
    return "\n".join(frames[:3]) or None


def _page_excerpt(body: bytes) -> str | None:
    """The start of an error answer as text: tags dropped, blank lines squeezed."""
    if not body:
        return None
    text = body[:4096].decode(errors="replace")
    if "<" in text:
        text = _TAG.sub("\n", _SCRIPT.sub("", text))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return "\n".join(lines[:12]) or None
