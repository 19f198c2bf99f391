"""The edge's own HTML pages: small, self-contained, and saying what to do next."""

from __future__ import annotations

from html import escape

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title} · previewd</title>
<style>
body{{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:12vh auto;padding:0 1.5rem;color:#222}}
h1{{font-size:1.4rem}} code{{background:#f2f2f2;padding:.1em .3em;border-radius:3px}}
p.hint{{color:#555}}
@media (prefers-color-scheme:dark){{body{{background:#16161a;color:#ddd}}code{{background:#2a2a30}}p.hint{{color:#aaa}}}}
</style></head>
<body><h1>{title}</h1><p>{message}</p><p class="hint">{hint}</p></body></html>
"""


def page(title: str, message: str, hint: str = "") -> bytes:
    """An HTML page; ``message`` and ``hint`` are HTML (escape what you put in them)."""
    return _PAGE.format(title=escape(title), message=message, hint=hint).encode("utf-8")


def no_preview(host: str, preview_domain: str) -> bytes:
    """404 for a host that no route answers."""
    return page(
        "No preview here",
        f"No preview at <code>{escape(host)}</code>.",
        "Preview URLs look like <code>http://&lt;project&gt;."
        f"{escape(preview_domain)}/</code>. Run <code>previewd ls</code> to list the "
        "previews of this server; a deployment that was removed or never published "
        "has no URL.",
    )


def not_found(path: str, deployment_id: str, project: str) -> bytes:
    """404 for a path the deployment does not hold (and that has no 404.html of its own)."""
    return page(
        "Not found",
        f"<code>/{escape(path)}</code> is not a file of deployment "
        f"<code>{escape(deployment_id)}</code> of project <code>{escape(project)}</code>.",
        "Check the path and the build output directory. Add a <code>404.html</code> to "
        "the deployment to show your own page here, or mark it as a single-page app to "
        "serve <code>index.html</code> for every route.",
    )


def error(status: int, title: str, message: str, hint: str = "") -> bytes:
    """Any other error: ``message`` and ``hint`` are plain text."""
    return page(f"{status} {title}", escape(message), escape(hint))


# the proxy's pages: what happened to the preview's server, and what to do


def starting() -> bytes:
    """503: the server does not listen yet (or could not be woken)."""
    return error(
        503,
        "Starting",
        "The preview's server is starting and does not answer yet.",
        "This page reloads by itself in a moment; if it stays, the server may not "
        "listen where previewd expects it (check the preview's logs).",
    )


def crashed(reason: str) -> bytes:
    """502: refused, reset or garbled: the server is down or broke the connection."""
    return error(
        502,
        "Crashed",
        f"The preview's server is not running or dropped the connection ({reason}).",
        "Check the preview's logs (previewd logs) for a crash; previewd restarts it.",
    )


def timed_out(what: str) -> bytes:
    """504: the server did not connect or answer in time."""
    return error(
        504,
        "Timed out",
        f"The preview's server {what} in time.",
        "It may be busy or stuck in a long request; check the preview's logs.",
    )
