"""Webhooks: registered over the API, deliveries signed (HMAC-SHA256) and retried, bounded."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest

from previewd.feedback import Webhooks, sign, verify
from previewd.feedback.webhooks import SIGNATURE, TIMESTAMP
from previewd.server import Previewd

pytestmark = pytest.mark.anyio


@dataclass
class Receiver:
    """A real HTTP server on port 0 answering the statuses in ``script`` (then 200)."""

    script: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")[1:]
        headers = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines if x)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.received.append((headers, body))
        self.arrived.set()
        status = self.script.pop(0) if self.script else 200
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        writer.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    got = Receiver()
    server = await asyncio.start_server(got.handle, "127.0.0.1", 0)
    got.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook"
    yield got
    server.close()
    await server.wait_closed()


def test_signatures_verify_and_tampering_does_not() -> None:
    body = b'{"event":"feedback.new"}'
    signature = sign("s3cret-s3cret-s3cret", body)
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert verify("s3cret-s3cret-s3cret", body, signature)
    assert not verify("s3cret-s3cret-s3cret", body + b" ", signature)
    assert not verify("another-secret-value", body, signature)


async def test_webhooks_over_the_api(api: httpx.AsyncClient) -> None:
    await api.post("/projects", json={"name": "shop"})
    made = await api.post("/projects/shop/webhooks", json={"url": "https://example.com/h"})
    assert made.status_code == 201
    hook = made.json()
    assert len(hook["secret"]) == 64 and hook["url"] == "https://example.com/h"
    listed = (await api.get("/projects/shop/webhooks")).json()
    assert [h["id"] for h in listed] == [hook["id"]] and "secret" not in listed[0]
    assert (await api.delete(f"/projects/shop/webhooks/{hook['id']}")).status_code == 204
    gone = await api.delete(f"/projects/shop/webhooks/{hook['id']}")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://example.com/x", "http or https"),
        ("example.com/hook", "http or https"),
        ("http:///nohost", "no host"),
        ("http://example.com:port/", "not a valid URL"),
        ("https://" + "a" * 3000, "at most 2048"),
    ],
)
async def test_bad_webhook_urls_are_refused(api: httpx.AsyncClient, url: str, words: str) -> None:
    await api.post("/projects", json={"name": "shop"})
    answer = await api.post("/projects/shop/webhooks", json={"url": url})
    assert answer.status_code == 400
    assert (
        answer.json()["error"]["code"] == "invalid_url"
        and words in answer.json()["error"]["message"]
    )
    assert (await api.get("/projects/shop/webhooks")).json() == []


async def test_unknown_project_and_short_secret(api: httpx.AsyncClient) -> None:
    answer = await api.post("/projects/nope/webhooks", json={"url": "https://example.com/h"})
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "project_not_found"
    await api.post("/projects", json={"name": "shop"})
    short = await api.post("/projects/shop/webhooks", json={"url": "https://e.com/", "secret": "x"})
    assert short.status_code == 400 and "16 to 128" in short.json()["error"]["message"]


async def test_a_new_problem_is_delivered_signed(
    node: Previewd, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    page = {"files": {"index.html": "<html><head></head><body>x</body></html>"}}
    deployment = (await api.post("/projects/shop/deployments?wait=true", json=page)).json()
    hook = (await api.post("/projects/shop/webhooks", json={"url": receiver.url})).json()
    node.feedback.console(deployment["id"], [{"kind": "console", "message": "boom", "page": "/"}])
    await asyncio.wait_for(receiver.arrived.wait(), 10)
    [(headers, body)] = receiver.received
    assert verify(hook["secret"], body, headers[SIGNATURE.lower()])
    document = json.loads(body)
    assert document["event"] == "feedback.new" == headers["x-previewd-event"]
    assert str(document["timestamp"]) == headers[TIMESTAMP.lower()]  # signed, with the body
    assert document["feedback"]["kind"] == "console" and document["project"] == "shop"


async def run_hooks(node: Previewd, receiver: Receiver, script: list[int]) -> Webhooks:
    receiver.script = script
    hooks = Webhooks(node.db, attempts=3, backoff_s=0.01)
    await hooks.create("shop", receiver.url)
    task = asyncio.create_task(hooks.run())
    try:
        hooks.notify("shop", "feedback.new", {"feedback": {"id": 1}})
        await hooks.wait_settled(1, timeout=10)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return hooks


@pytest.mark.parametrize(
    ("script", "requests", "delivered"),
    [
        ([500, 503], 3, 1),  # retried until it worked
        ([500, 500, 500, 500], 3, 0),  # bounded: given up after 3 attempts
        ([429], 2, 1),  # slow down, then fine
        ([410], 1, 0),  # the receiver said no: not asked again
    ],
)
async def test_retries_are_bounded(
    node: Previewd,
    api: httpx.AsyncClient,
    receiver: Receiver,
    script: list[int],
    requests: int,
    delivered: int,
) -> None:
    await api.post("/projects", json={"name": "shop"})
    hooks = await run_hooks(node, receiver, script)
    assert len(receiver.received) == requests
    assert (hooks.delivered, hooks.failed) == (delivered, 1 - delivered)
    assert len({h["x-previewd-delivery"] for h, _ in receiver.received}) == 1  # one delivery


async def test_a_full_queue_drops_and_never_blocks(node: Previewd) -> None:
    hooks = Webhooks(node.db, queue_size=2)
    for _ in range(5):
        hooks.notify("shop", "feedback.new", {})
    assert hooks.dropped == 3
