"""End to end with a real headless Chromium: console errors become one feedback message,
and an open tab follows new deployments (a full reload, or stylesheets swapped in place)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, async_playwright

from previewd.feedback.book import feedback_topic
from previewd.server import Previewd

pytestmark = [pytest.mark.anyio, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
WAIT_MS = 15_000

PAGE = """<!doctype html>
<html><head><title>shop</title><link rel="stylesheet" href="/style.css"></head>
<body><h1>{title}</h1>
<script>
window.survivor = window.survivor || Math.random();
function checkout(cart) {{ return cart.items[0].price; }}
try {{ checkout({{}}); }} catch (e) {{ console.error("checkout failed:", e); }}
</script></body></html>
"""


@asynccontextmanager
async def chromium() -> AsyncIterator[Page]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield await browser.new_page()
        finally:
            await browser.close()


async def deploy(api: httpx.AsyncClient, files: dict[str, str], **params: Any) -> dict[str, Any]:
    answer = await api.post(
        "/projects/shop/deployments", params={"wait": "true", **params}, json={"files": files}
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "ready"
    return answer.json()


async def next_change(queue: asyncio.Queue[dict[str, Any]], event: str) -> dict[str, Any]:
    """The next feedback change named ``event`` (others are skipped), within a bound."""
    async with asyncio.timeout(WAIT_MS / 1000):
        while True:
            change = await queue.get()
            if change["event"] == event:
                return change["feedback"]


async def test_a_console_error_is_one_feedback_message_across_reloads_and_rebuilds(
    node: Previewd, api: httpx.AsyncClient
) -> None:
    files = {"index.html": PAGE.format(title="Shop"), "style.css": "h1 { color: red }"}
    await deploy(api, files)
    url = node.config.preview_url("shop")
    async with node.broker.subscribe(feedback_topic("shop")) as changes, chromium() as page:
        await page.goto(url)
        first = await next_change(changes, "new")
        assert first["kind"] == "console"
        assert "checkout failed: TypeError" in first["text"]
        assert "\nat /:" in first["text"]  # where: the page's own inline script, with its line
        assert "at checkout (/:" in first["text"]  # the stack, without origin and port
        assert len(first["text"].encode()) <= 1024

        await page.reload()
        again = await next_change(changes, "seen")
        assert again["fingerprint"] == first["fingerprint"] and again["count"] == 2

        # a rebuild of the same files: the open tab reloads itself and reports again
        await page.wait_for_function("window.__previewd && window.__previewd.connected")
        rebuilt = await deploy(api, files)
        resolved = await next_change(changes, "resolved")
        assert resolved["id"] == first["id"]
        reopened = await next_change(changes, "reopened")
        assert reopened["deployment"] == rebuilt["id"]

    listed = (await api.get("/projects/shop/feedback")).json()
    assert [(f["id"], f["count"]) for f in listed] == [(first["id"], 3)]
    assert listed[0]["text"].startswith("Browser console error on /:")


async def test_an_open_tab_reloads_for_a_new_deployment_and_swaps_css_in_place(
    node: Previewd, api: httpx.AsyncClient
) -> None:
    await deploy(api, {"index.html": PAGE.format(title="One"), "style.css": "h1 { color: red }"})
    async with chromium() as page:
        await page.goto(node.config.preview_url("shop"))
        await page.wait_for_function("window.__previewd && window.__previewd.connected")
        survivor = await page.evaluate("window.survivor")
        color = "getComputedStyle(document.querySelector('h1')).color"
        assert await page.evaluate(color) == "rgb(255, 0, 0)"

        # only the stylesheet changes: swapped without a reload
        await deploy(api, {"style.css": "h1 { color: blue }"}, base="latest")
        await page.wait_for_function(f"{color} === 'rgb(0, 0, 255)'", timeout=WAIT_MS)
        assert await page.evaluate("window.survivor") == survivor
        assert await page.evaluate("window.__previewd.swaps") == 1

        # the page changes: a full reload
        await deploy(api, {"index.html": PAGE.format(title="Two")}, base="latest")
        await page.wait_for_function(
            "document.querySelector('h1').textContent === 'Two'", timeout=WAIT_MS
        )
        assert await page.evaluate("window.survivor") != survivor
        assert await page.evaluate(color) == "rgb(0, 0, 255)"
