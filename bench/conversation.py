"""Chat message → preview served, and how long parsing a message takes per KB.

1. A real previewd node runs in this process (API and edge on free loopback
   ports). N assistant messages are posted to one conversation of a small
   static app, each rewriting index.html (a fenced block naming the file, or
   an aider SEARCH/REPLACE block), with ``wait=true``; the time runs until the
   edge serves the new bytes at the conversation URL. The reference, in the
   same process and node: the same change sent as a plain deployment
   (``base=latest``, ``wait=true``), so the ratio is what conversations add.
2. ``previewd.edits.parse`` on messages of 10 KB to 1 MB in each format,
   against ``str.splitlines`` of the same text (a floor: one pass over it).

    .venv/bin/python bench/conversation.py [--messages 100]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import uvloop

from previewd import edits
from previewd.config import Config
from previewd.server import Previewd

SITE = {
    "style.css": "body { font-family: sans-serif; }\n" * 20,
    "app.js": "console.log('bench');\n" * 50,
    **{f"pages/p{i}.html": f"<p>page {i}</p>\n" * 10 for i in range(12)},
}


def page(i: int) -> str:
    return f"<!doctype html><title>bench</title>\n<h1>update {i}</h1>\n" + "<p>x</p>\n" * 40


def fenced(i: int) -> str:
    return f"Here is the new page.\n\n```html file=index.html\n{page(i)}```\n\nReload to see it."


def search_replace(i: int) -> str:
    return (
        "index.html\n```html\n<<<<<<< SEARCH\n"
        f"<h1>update {i - 1}</h1>\n=======\n<h1>update {i}</h1>\n>>>>>>> REPLACE\n```\n"
    )


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.95) - 1)]


async def loop_run(messages: int, warmup: int) -> dict[str, list[float]]:
    """Samples per way of changing index.html: fenced message, SEARCH/REPLACE, plain deploy."""
    with tempfile.TemporaryDirectory() as data:
        config = Config(
            data_dir=Path(data), api_port=0, edge_port=0, token="bench", log_level="warning"
        )
        node = Previewd(config)
        await node.start()
        try:
            api = httpx.AsyncClient(
                base_url=node.api_url + "/api/v1",
                headers={"authorization": "Bearer bench"},
                timeout=60,
            )
            edge = httpx.AsyncClient(base_url=f"http://127.0.0.1:{node.edge_address[1]}")
            async with api, edge:
                files = {**SITE, "index.html": page(0)}
                await api.post("/projects/site/deployments", json={"files": files, "base": None})
                chat = "/projects/site/conversations"
                (await api.post(chat, json={"name": "chat", "base": "latest"})).raise_for_status()
                samples: dict[str, list[float]] = {"fence": [], "aider": [], "deploy": []}
                n = 0
                for i in range(warmup + messages):
                    for way in samples:
                        n += 1
                        body = page(n)
                        start = time.perf_counter()
                        if way == "deploy":
                            host = "plain--site.localhost"
                            response = await api.post(
                                "/projects/site/deployments",
                                json={"files": {"index.html": body}, "base": "latest"},
                                params={"wait": True, "alias": "plain"},
                            )
                        else:
                            host = "chat--site.localhost"
                            content = fenced(n) if way == "fence" else search_replace(n)
                            response = await api.post(
                                f"{chat}/chat/messages", json={"content": content, "wait": True}
                            )
                        response.raise_for_status()
                        while (await edge.get("/", headers={"host": host})).text != body:
                            pass  # wait=true answers once served: this should not turn
                        if i >= warmup:
                            samples[way].append(time.perf_counter() - start)
                return samples
        finally:
            await node.stop()


MESSAGES: dict[str, Callable[[int], str]] = {
    "fence": lambda i: f"```js file=src/m{i}.js\n" + "export const x = 1;\n" * 20 + "```\n",
    "bolt": lambda i: (
        f'<boltArtifact id="a{i}" title="t"><boltAction type="file" filePath="src/b{i}.js">\n'
        + "export const x = 1;\n" * 20
        + "</boltAction></boltArtifact>\n"
    ),
    "aider": lambda i: (
        f"src/a{i}.js\n```js\n<<<<<<< SEARCH\n=======\n"
        + "export const x = 1;\n" * 20
        + ">>>>>>> REPLACE\n```\n"
    ),
    "codex": lambda i: (
        f"*** Begin Patch\n*** Add File: src/c{i}.js\n"
        + "+export const x = 1;\n" * 20
        + "*** End Patch\n"
    ),
    "unified": lambda i: (
        f"```diff\n--- /dev/null\n+++ b/src/u{i}.js\n@@ -0,0 +1,20 @@\n"
        + "+export const x = 1;\n" * 20
        + "```\n"
    ),
}


def message_of(kind: str, size: int) -> str:
    parts, total, i = [], 0, 0
    while total < size:
        part = f"Block {i} follows.\n\n" + MESSAGES[kind](i) + "\n"
        parts.append(part)
        total += len(part)
        i += 1
    return "".join(parts)


def best_of(rounds: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def parse_table(rounds: int) -> None:
    print("\nparse time per KB of message (µs/KB, best of rounds)")
    print(f"  {'format':<8} {'size':>8} {'parse':>9} {'splitlines':>11} {'ratio':>8}")
    for kind in MESSAGES:
        for size in (10_000, 100_000, 1_000_000):
            text = message_of(kind, size)
            kb = len(text.encode()) / 1024
            parsed = edits.parse(text)
            assert len(parsed.edits) > 0
            ours = best_of(rounds, lambda t=text: edits.parse(t)) / kb * 1e6
            floor = best_of(rounds, lambda t=text: t.splitlines()) / kb * 1e6
            print(
                f"  {kind:<8} {size // 1000:>6}KB {ours:>9.1f} {floor:>11.2f} {ours / floor:>7.0f}×"
            )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    samples = await loop_run(args.messages, args.warmup)
    deploy = summary(samples["deploy"])
    print(f"message → preview served, {args.messages} messages each (ms)   p50      p95")
    for way, label in (
        ("fence", "fenced block (whole file)"),
        ("aider", "SEARCH/REPLACE"),
        ("deploy", "reference: plain deploy of the file"),
    ):
        p50, p95 = summary(samples[way])
        print(f"  {label:<40} {p50 * 1e3:7.2f}  {p95 * 1e3:7.2f}", end="")
        if way != "deploy":
            print(f"   {p50 / deploy[0]:.2f}× / {p95 / deploy[1]:.2f}× the reference", end="")
        print()
    parse_table(args.rounds)


if __name__ == "__main__":
    uvloop.run(main())
