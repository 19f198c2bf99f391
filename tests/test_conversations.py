"""Conversations on a real node: each edit format end to end, serialised posts, failed builds."""

from __future__ import annotations

import asyncio

import pytest

from previewd.changeset import from_json
from previewd.config import Config
from previewd.conversations import Conversations
from previewd.errors import ConversationNotFound, InvalidContent
from previewd.server import Previewd
from tests.support import EdgeClient

pytestmark = pytest.mark.anyio

BASE = {"index.html": "<h1>old</h1>\n<p>keep</p>\n", "old.css": "h1{}\n"}

# One message per format, from the same base: index.html edited (kept line and all),
# page.html created, old.css deleted where the format can delete.
MESSAGES: dict[str, tuple[str, bool]] = {
    "fence": (
        "The page:\n\n```html file=index.html\n<h1>fence</h1>\n<p>keep</p>\n```\n\n"
        "```html\n<!-- page.html -->\n<p>fence page</p>\n```\n",
        False,
    ),
    "bolt": (
        '<boltArtifact id="site" title="Site">\n'
        '<boltAction type="file" filePath="index.html"><h1>bolt</h1>\n<p>keep</p></boltAction>\n'
        '<boltAction type="file" filePath="page.html"><p>bolt page</p></boltAction>\n'
        '<boltAction type="shell">npm install</boltAction>\n'
        '<boltAction type="start">npm run dev</boltAction>\n'
        "</boltArtifact>\n",
        False,
    ),
    "aider": (
        "index.html\n```html\n<<<<<<< SEARCH\n<h1>old</h1>\n=======\n<h1>aider</h1>\n"
        ">>>>>>> REPLACE\n```\n\npage.html\n```html\n<<<<<<< SEARCH\n=======\n"
        "<p>aider page</p>\n>>>>>>> REPLACE\n```\n",
        False,
    ),
    "codex": (
        "*** Begin Patch\n*** Update File: index.html\n@@\n-<h1>old</h1>\n+<h1>codex</h1>\n"
        " <p>keep</p>\n*** Add File: page.html\n+<p>codex page</p>\n*** Delete File: old.css\n"
        "*** End Patch\n",
        True,
    ),
    "diff": (
        "```diff\ndiff --git a/index.html b/index.html\n--- a/index.html\n+++ b/index.html\n"
        "@@ -1,2 +1,2 @@\n-<h1>old</h1>\n+<h1>diff</h1>\n <p>keep</p>\n"
        "diff --git a/page.html b/page.html\nnew file mode 100644\n--- /dev/null\n"
        "+++ b/page.html\n@@ -0,0 +1 @@\n+<p>diff page</p>\n"
        "diff --git a/old.css b/old.css\ndeleted file mode 100644\n--- a/old.css\n"
        "+++ /dev/null\n@@ -1 +0,0 @@\n-h1{}\n```\n",
        True,
    ),
    "v0": (
        '<CodeProject id="site">\n```html file="index.html"\n<h1>v0</h1>\n<p>keep</p>\n```\n\n'
        '```html file="page.html"\n<p>v0 page</p>\n```\n\n<DeleteFile file="old.css" />\n'
        "</CodeProject>\n",
        True,
    ),
    "lovable": (
        '<lov-code>\n<lov-write file_path="index.html">\n<h1>lovable</h1>\n<p>keep</p>\n'
        '</lov-write>\n<lov-write file_path="page.html">\n<p>lovable page</p>\n</lov-write>\n'
        '<lov-delete file_path="old.css" />\n</lov-code>\n',
        True,
    ),
}


def chats(node: Previewd) -> Conversations:
    return node.conversations


async def deploy_base(node: Previewd, files: dict[str, str] = BASE) -> str:
    changeset = from_json({"files": files}, node.blobs, node.config)
    return await node.service.deploy("site", changeset)


@pytest.mark.parametrize("fmt", list(MESSAGES))
async def test_each_format_ends_as_the_files_served_at_the_conversation_url(
    node: Previewd, edge: EdgeClient, fmt: str
) -> None:
    await deploy_base(node)
    await chats(node).create("site", fmt, base="latest")
    message, deletes = MESSAGES[fmt]
    reply = await chats(node).post_message("site", fmt, message, wait=True)
    assert reply.status == "ready", reply.error
    expected = {"index.html": "written", "page.html": "written"}
    if deletes:
        expected["old.css"] = "deleted"
    assert reply.changes == expected
    assert {b.format for b in reply.blocks} == {fmt}
    label = f"{fmt}--site"
    assert (await edge.get(label)).text == f"<h1>{fmt}</h1>\n<p>keep</p>\n"
    assert (await edge.get(label, "/page.html")).text == f"<p>{fmt} page</p>\n"
    assert (await edge.get(label, "/old.css")).status_code == (404 if deletes else 200)


async def test_bolt_commands_are_reported_never_run(node: Previewd) -> None:
    await chats(node).create("site", "chat")
    message = (
        '<boltArtifact id="a" title="t">\n'
        '<boltAction type="file" filePath="index.html"><h1>x</h1></boltAction>\n'
        '<boltAction type="shell">npm install</boltAction>\n'
        '<boltAction type="shell">npm install --save left-pad</boltAction>\n'
        '<boltAction type="shell">rm -rf / &amp;&amp; touch pwned</boltAction>\n'
        '<boltAction type="start">npm run dev</boltAction>\n'
        "</boltArtifact>\n"
    )
    reply = await chats(node).post_message("site", "chat", message)
    assert reply.status == "ready"
    handled = [(c.kind, c.handled) for c in reply.commands]
    assert handled == [
        ("shell", "install"),
        ("shell", "not_run"),
        ("shell", "not_run"),
        ("start", "not_run"),
    ]
    assert "package.json" in reply.commands[1].note
    assert "[server] start" in reply.commands[3].note
    assert reply.commands[0].block.startswith("block 2 (bolt")
    assert reply.changes == {"index.html": "written"}  # no file came from a command
    [recorded] = await chats(node).messages("site", "chat")
    assert [c.command for c in recorded.commands] == [c.command for c in reply.commands]


async def test_concurrent_posts_are_serialised_and_lose_no_edit(
    node: Previewd, edge: EdgeClient
) -> None:
    await chats(node).create("site", "chat")
    count = 8
    replies = await asyncio.gather(
        *(
            chats(node).post_message("site", "chat", f"```txt file=f{i}.txt\n{i}\n```\n")
            for i in range(count)
        )
    )
    assert all(r.status == "ready" for r in replies)
    # each message edited the head the one before it left: the last holds every file
    heads = [r.head for r in replies]
    assert len(set(heads)) == count
    newest = max(replies, key=lambda r: r.id or 0)
    files = await node.service.deployment_files(newest.deployment.id)
    assert set(files) == {f"f{i}.txt" for i in range(count)}
    conversation = await chats(node).get("site", "chat")
    assert conversation.head == newest.head and conversation.messages == count
    await chats(node).post_message("site", "chat", "```txt file=f0.txt\nlast\n```\n", wait=True)
    for i in range(1, count):
        assert (await edge.get("chat--site", f"/f{i}.txt")).text == f"{i}\n"


async def test_a_message_is_all_or_nothing(node: Previewd) -> None:
    await deploy_base(node)
    await chats(node).create("site", "chat", base="latest")
    before = await chats(node).get("site", "chat")
    message = (
        "```html file=index.html\n<h1>new</h1>\n```\n"
        '<lov-delete file_path="old.css" />\n'
        '<lov-rename original_file_path="missing.js" new_file_path="b.js" />\n'
    )
    reply = await chats(node).post_message("site", "chat", message)
    assert reply.status == "refused"
    assert reply.error is not None
    assert reply.error.message.startswith("block 3 (lovable"), reply.error.message
    assert "missing.js" in reply.error.message
    after = await chats(node).get("site", "chat")
    assert after.head == before.head and after.latest is None
    assert len(await node.service.list_deployments("site")) == 1


async def test_the_head_moves_with_the_deployment(node: Previewd) -> None:
    await chats(node).create("site", "chat")
    reply = await chats(node).post_message("site", "chat", "```txt file=a.txt\na\n```\n")
    assert reply.deployment is not None
    conversation = await chats(node).get("site", "chat")
    assert conversation.head == reply.deployment.source == reply.head
    assert conversation.latest == reply.deployment.id == conversation.current


async def test_a_result_that_cannot_deploy_is_refused(node: Previewd, config: Config) -> None:
    await chats(node).create("site", "chat")
    toml = "```toml file=previewd.toml\n[client\nbuild = 1\n```\n"
    reply = await chats(node).post_message("site", "chat", toml)
    assert reply.status == "refused" and reply.error is not None
    assert reply.error.code == "invalid_content" and "previewd.toml" in reply.error.message
    assert (await chats(node).get("site", "chat")).head is None

    config.max_files = 2
    many = "".join(f"```txt file=f{i}.txt\n{i}\n```\n" for i in range(3))
    reply = await chats(node).post_message("site", "chat", many)
    assert reply.status == "refused" and reply.error is not None
    assert reply.error.code == "limit_exceeded"
    statuses = [m.status for m in await chats(node).messages("site", "chat")]
    assert statuses == ["refused", "refused"]


async def test_unknown_conversations_and_bad_calls(node: Previewd) -> None:
    with pytest.raises(ConversationNotFound):
        await chats(node).post_message("site", "nope", "x")
    await chats(node).create("site", "chat")
    with pytest.raises(InvalidContent):
        await chats(node).post_message("site", "chat")
    with pytest.raises(InvalidContent):
        await chats(node).post_message("site", "chat", "x", messages=[])
    with pytest.raises(ConversationNotFound):
        await chats(node).delete("site", "nope")


async def test_deleting_the_project_deletes_its_conversations(node: Previewd) -> None:
    await chats(node).create("site", "chat")
    await chats(node).post_message("site", "chat", "```txt file=a.txt\na\n```\n")
    await node.service.delete_project("site")
    with pytest.raises(ConversationNotFound):
        await chats(node).get("site", "chat")


@pytest.mark.sandbox
async def test_a_failed_build_keeps_the_last_good_one_live(
    node: Previewd, edge: EdgeClient
) -> None:
    await chats(node).create("site", "chat")
    good = await chats(node).post_message(
        "site", "chat", "```html file=index.html\n<h1>good</h1>\n```\n", wait=True
    )
    assert good.status == "ready"
    broken = (
        '```toml file=previewd.toml\n[client]\ninstall = ""\n'
        'build = ["sh", "-c", "echo broken on purpose >&2; exit 3"]\n```\n'
    )
    failed = await chats(node).post_message("site", "chat", broken, wait=True, timeout=120)
    assert failed.status == "failed", failed
    assert failed.deployment is not None and failed.deployment.error
    assert (await edge.get("chat--site")).text == "<h1>good</h1>\n"
    # the head moved all the same: the next message edits the broken files to fix them
    conversation = await chats(node).get("site", "chat")
    assert conversation.head == failed.head != good.head
    assert conversation.current == good.deployment.id  # type: ignore[union-attr]
    assert conversation.latest == failed.deployment.id and conversation.status == "failed"

    fixed = await chats(node).post_message(
        "site",
        "chat",
        '<lov-delete file_path="previewd.toml" />\n```html file=index.html\n<h1>fixed</h1>\n```\n',
        wait=True,
    )
    assert fixed.status == "ready", fixed.error
    assert fixed.changes == {"index.html": "written", "previewd.toml": "deleted"}
    assert (await edge.get("chat--site")).text == "<h1>fixed</h1>\n"
