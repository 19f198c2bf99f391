"""The Conversations API over HTTP: routes, reply shapes and bad input (docs/conversations.md)."""

from __future__ import annotations

import hashlib
import re

import pytest

from previewd.config import Config

pytestmark = pytest.mark.anyio

CAP = 64 * 1024


@pytest.fixture
def config(config: Config) -> Config:
    config.max_message_bytes = CAP  # small, so the size tests stay cheap
    return config


def page(text: str, path: str = "index.html") -> str:
    return f"```html file={path}\n<h1>{text}</h1>\n```\n"


async def create(api, name: str = "chat", project: str = "shop", **body) -> dict:
    response = await api.post(f"/projects/{project}/conversations", json={"name": name, **body})
    assert response.status_code == 201, response.text
    return response.json()


async def post(api, body: dict | None = None, name: str = "chat", **kwargs) -> dict:
    response = await api.post(f"/projects/shop/conversations/{name}/messages", json=body, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


async def files(api, deployment_id: str) -> set[str]:
    return set((await api.get(f"/deployments/{deployment_id}/files")).json())


# -- conversations -----------------------------------------------------------------


async def test_create_get_list_delete(api, edge, node) -> None:
    made = await create(api)
    assert made["name"] == "chat" and made["project"] == "shop"
    assert made["url"] == node.config.preview_url("chat--shop")
    assert made["head"] is None and made["messages"] == 0 and made["current"] is None
    generated = (await api.post("/projects/shop/conversations")).json()
    assert re.fullmatch(r"chat-[a-z0-9]{6}", generated["name"])
    listed = (await api.get("/projects/shop/conversations")).json()
    assert [c["name"] for c in listed] == ["chat", generated["name"]]

    reply = await post(api, {"content": page("hi"), "wait": True})
    one = (await api.get("/projects/shop/conversations/chat")).json()
    assert one["current"] == one["latest"] == reply["deployment"]["id"]
    assert one["status"] == "ready" and one["messages"] == 1 and one["head"] == reply["head"]
    assert (await edge.get("chat--shop")).status_code == 200

    assert (await api.delete("/projects/shop/conversations/chat")).status_code == 204
    gone = await api.get("/projects/shop/conversations/chat")
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "conversation_not_found"
    assert (await edge.get("chat--shop")).status_code == 404  # its URL is down...
    kept = await api.get(f"/deployments/{reply['deployment']['id']}")
    assert kept.status_code == 200  # ...its deployment stays in the project's history


async def test_create_refuses_a_taken_or_bad_name(api) -> None:
    await create(api)
    again = await api.post("/projects/shop/conversations", json={"name": "chat"})
    assert again.status_code == 409 and again.json()["error"]["hint"]
    for bad in ("Chat", "a--b", "-x", "x" * 41, "9lives"):
        response = await api.post("/projects/shop/conversations", json={"name": bad})
        assert response.status_code == 400, bad
        assert response.json()["error"]["code"] == "invalid_name"
    unknown = await api.post("/projects/shop/conversations", json={"title": "x"})
    assert unknown.status_code == 422
    missing = await api.post("/projects/nope/conversations/chat/messages", json={"content": "x"})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "conversation_not_found"
    assert (await api.get("/projects/nope/conversations")).status_code == 404


async def test_base_latest_and_a_deployment_id(api, edge) -> None:
    deployed = await api.post(
        "/projects/shop/deployments",
        json={"files": {"index.html": "<h1>v1</h1>", "style.css": "h1{}"}},
    )
    first = deployed.json()["id"]
    await create(api, "later", base="latest")
    await create(api, "pinned", base=first)
    reply = await post(api, {"content": page("about", "about.html"), "wait": True}, name="later")
    assert reply["changes"] == {"about.html": "written"}
    assert await files(api, reply["deployment"]["id"]) == {"index.html", "style.css", "about.html"}
    assert (await edge.get("later--shop", "/style.css")).text == "h1{}"
    bad = await api.post("/projects/shop/conversations", json={"name": "x", "base": "1nosuchdeplo"})
    assert bad.status_code == 404 and bad.json()["error"]["code"] == "deployment_not_found"


# -- messages -------------------------------------------------------------------------


async def test_a_message_is_applied_built_and_served(api, edge) -> None:
    await create(api)
    reply = await post(api, {"content": "Sure:\n" + page("one") + page("x", "about.html")})
    assert reply["status"] == "ready"  # a static site goes live as it is recorded
    assert reply["changes"] == {"about.html": "written", "index.html": "written"}
    assert reply["applied"] == 1 and reply["error"] is None and reply["pending"] is None
    assert [(b["index"], b["format"], b["path"]) for b in reply["blocks"]] == [
        (1, "fence", "index.html"),
        (2, "fence", "about.html"),
    ]
    assert reply["url"].startswith("http://chat--shop.")

    # the next message edits the head: one file replaced, one deleted, one kept
    second = await post(
        api,
        {"content": page("two") + '<lov-delete file_path="about.html" />\n', "wait": True},
    )
    assert second["changes"] == {"about.html": "deleted", "index.html": "written"}
    assert second["status"] == "ready"
    assert (await edge.get("chat--shop")).text == "<h1>two</h1>\n"
    assert (await edge.get("chat--shop", "/about.html")).status_code == 404


async def test_raw_text_and_markdown_bodies(api, edge) -> None:
    await create(api)
    for kind, text in (("text/plain", "plain"), ("text/markdown; charset=utf-8", "markdown")):
        response = await api.post(
            "/projects/shop/conversations/chat/messages",
            content=page(text).encode(),
            headers={"content-type": kind},
            params={"wait": True},
        )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "ready"
        assert (await edge.get("chat--shop")).text == f"<h1>{text}</h1>\n"


async def test_no_edits_is_a_clear_reply_and_builds_nothing(api) -> None:
    await create(api)
    reply = await post(api, {"content": "Run this:\n```bash\nnpm test\n```\nThat is all."})
    assert reply["status"] == "no_edits"
    assert reply["error"]["code"] == "no_edits"
    assert "no edits found" in reply["error"]["message"] and reply["error"]["hint"]
    assert reply["deployment"] is None and reply["changes"] == {} and reply["head"] is None
    assert (await api.get("/projects/shop/deployments")).json() == []
    [recorded] = (await api.get("/projects/shop/conversations/chat/messages")).json()
    assert recorded["status"] == "no_edits" and recorded["error"]["code"] == "no_edits"
    assert recorded["id"] == reply["id"] and recorded["deployment"] is None


async def test_a_refused_message_names_its_block_and_changes_nothing(api, edge) -> None:
    await create(api)
    good = await post(api, {"content": page("good"), "wait": True})
    message = (
        page("lost", "a.html")
        + "\nand then\n\n"
        + "```js file=app.js\nfunction f() {}\n// ... existing code ...\n```\n"
    )
    reply = await post(api, {"content": message})
    assert reply["status"] == "refused" and reply["deployment"] is None
    error = reply["error"]
    assert error["code"] == "edit_failed"
    assert error["message"].startswith("block 2 (fence for 'app.js', line 7)"), error
    assert "elides code" in error["message"] and error["hint"]
    assert reply["head"] == good["head"]
    conversation = (await api.get("/projects/shop/conversations/chat")).json()
    assert (
        conversation["head"] == good["head"] and conversation["latest"] == good["deployment"]["id"]
    )
    assert (await edge.get("chat--shop", "/a.html")).status_code == 404
    statuses = [
        m["status"] for m in (await api.get("/projects/shop/conversations/chat/messages")).json()
    ]
    assert statuses == ["applied", "refused"]


@pytest.mark.parametrize(
    "path",
    [
        "../escape.html",
        "/etc/passwd",
        ".git/config",
        "a\\b.html",
        "a//b.html",
        "C:\\x.html",
        "x/../../y",
    ],
)
async def test_hostile_paths_are_refused(api, node, path: str) -> None:
    await create(api)
    for message in (
        f"```html file={path}\nx\n```\n",
        f'<lov-write file_path="{path}">\nx\n</lov-write>\n',
    ):
        reply = await post(api, {"content": page("fine") + message})
        assert reply["status"] == "refused", (path, reply)
        assert reply["error"]["message"].startswith("block 2 ("), reply["error"]
    assert (await api.get("/projects/shop/deployments")).json() == []
    assert not (node.config.data_path.parent / "escape.html").exists()


async def test_paths_colliding_by_case_are_refused(api) -> None:
    await create(api)
    await post(api, {"content": page("a", "Readme.html")})
    reply = await post(api, {"content": page("b", "README.html")})
    assert reply["status"] == "refused" and "collide" in reply["error"]["message"]


async def test_messages_are_listed_with_what_they_did(api) -> None:
    await create(api)
    content = page("x")
    await post(api, {"content": content})
    await post(api, {"content": "no code"})
    listed = (await api.get("/projects/shop/conversations/chat/messages")).json()
    assert [m["status"] for m in listed] == ["applied", "no_edits"]
    first = listed[0]
    assert first["changes"] == {"index.html": "written"} and first["deployment"]
    assert first["bytes"] == len(content.encode())
    assert first["digest"] == hashlib.sha256(content.encode()).hexdigest()


# -- message lists ----------------------------------------------------------------------


async def test_a_messages_list_applies_each_new_assistant_message_once(api, edge) -> None:
    await create(api)
    history = [
        {"role": "system", "content": "You write web pages."},
        {"role": "user", "content": "Make a page."},
        {"role": "assistant", "content": page("first")},
        {"role": "user", "content": "Thanks! Just say hi."},
        {"role": "assistant", "content": "Hi!"},  # a prose turn: skipped
        {"role": "user", "content": "Add a style sheet."},
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "```css file=s.css\nh1{}\n```"}],
        },
    ]
    reply = await post(api, {"messages": history, "wait": True})
    assert reply["status"] == "ready" and reply["applied"] == 2
    assert reply["changes"] == {"index.html": "written", "s.css": "written"}

    # the agent resends its whole history with one more turn: only the new one applies
    history += [
        {"role": "user", "content": "Change the title."},
        {"role": "assistant", "content": page("second")},
    ]
    reply = await post(api, {"messages": history, "wait": True})
    assert reply["applied"] == 1 and reply["changes"] == {"index.html": "written"}
    assert (await edge.get("chat--shop")).text == "<h1>second</h1>\n"

    # a content seen twice in the history counts twice: its second copy is new
    history += [
        {"role": "user", "content": "Back."},
        {"role": "assistant", "content": page("first")},
    ]
    reply = await post(api, {"messages": history, "wait": True})
    assert reply["applied"] == 1
    assert (await edge.get("chat--shop")).text == "<h1>first</h1>\n"

    again = await post(api, {"messages": history})
    assert again["status"] == "no_edits" and again["deployment"] is None
    assert "nothing was changed or built" in again["error"]["message"]
    only_old = await post(api, {"messages": history[:3]})
    assert "no new assistant message" in only_old["error"]["message"]
    applied = [
        m
        for m in (await api.get("/projects/shop/conversations/chat/messages")).json()
        if m["status"] == "applied"
    ]
    assert len(applied) == 4


async def test_a_list_is_all_or_nothing_and_names_the_failing_message(api) -> None:
    await create(api)
    history = [
        {"role": "assistant", "content": page("ok")},
        {"role": "user", "content": "more"},
        {"role": "assistant", "content": "```js file=../x.js\n1\n```"},
    ]
    reply = await post(api, {"messages": history})
    assert reply["status"] == "refused"
    assert reply["error"]["message"].startswith("message 3 of the list: block 1 (fence")
    assert (await api.get("/projects/shop/deployments")).json() == []
    # nothing counted as applied: a fixed resend applies both
    history[2] = {"role": "assistant", "content": page("also", "b.html")}
    reply = await post(api, {"messages": history})
    assert reply["applied"] == 2 and set(reply["changes"]) == {"index.html", "b.html"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"messages": "hi"}, "must be a list"),
        ({"messages": [{"content": "x"}]}, "string 'role'"),
        ({"messages": [{"role": "assistant", "content": 3}]}, "string or a list of parts"),
        ({"messages": [{"role": "assistant", "content": [{"type": "text"}]}]}, "no string 'text'"),
        ({"messages": [], "final": False}, "cannot be streamed"),
        ({"content": "a", "messages": []}, "exactly one"),
        ({}, "exactly one"),
        ({"content": 5}, "must be a string"),
        ({"content": "a", "role": "assistant"}, "unknown"),
        ({"content": "a", "wait": "yes"}, "true or false"),
        ({"content": "a", "timeout": 0}, "timeout"),
    ],
)
async def test_malformed_bodies_are_refused(api, body: dict, message: str) -> None:
    await create(api)
    response = await api.post("/projects/shop/conversations/chat/messages", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_content" and message in error["message"], error


async def test_bodies_that_are_not_json_or_text(api) -> None:
    await create(api)
    url = "/projects/shop/conversations/chat/messages"
    broken = await api.post(url, content=b"{nope", headers={"content-type": "application/json"})
    assert broken.status_code == 400 and "not valid JSON" in broken.json()["error"]["message"]
    other = await api.post(url, content=b"\x89PNG", headers={"content-type": "image/png"})
    assert other.status_code == 415 and other.json()["error"]["code"] == "unsupported_media_type"
    assert (await api.get("/projects/shop/conversations/chat/messages")).json() == []


async def test_invalid_utf8_is_refused_naming_its_block(api) -> None:
    await create(api)
    body = b"```html file=index.html\n<h1>\xff\xfe</h1>\n```\n"
    response = await api.post(
        "/projects/shop/conversations/chat/messages",
        content=body,
        headers={"content-type": "text/plain"},
    )
    reply = response.json()
    assert reply["status"] == "refused", reply
    assert reply["error"]["message"].startswith("block 1 (fence for 'index.html'")
    assert "UTF-8" in reply["error"]["message"]


# -- size --------------------------------------------------------------------------------


async def test_a_message_over_the_cap_is_413_and_keeps_nothing(api) -> None:
    await create(api)
    url = "/projects/shop/conversations/chat/messages"
    big = page("x" * CAP)
    for response in (
        await api.post(url, json={"content": big}),
        await api.post(url, content=big.encode(), headers={"content-type": "text/plain"}),
        await api.post(url, json={"messages": [{"role": "assistant", "content": big}]}),
    ):
        assert response.status_code == 413, response.text
        error = response.json()["error"]
        assert error["code"] == "limit_exceeded" and "PREVIEWD_MAX_MESSAGE_BYTES" in error["hint"]
    huge = await api.post(url, json={"content": "x" * (4 * CAP + 70_000)})
    assert huge.status_code == 413
    assert (await api.get(url)).json() == []
    assert (await api.get("/projects/shop/deployments")).json() == []
    # just under the cap is fine
    fits = page("y" * (CAP - 100))
    reply = await post(api, {"content": fits})
    assert reply["status"] == "ready"


async def test_streamed_pieces_over_the_cap_drop_the_pending_text(api) -> None:
    await create(api)
    url = "/projects/shop/conversations/chat/messages"
    piece = "```html file=index.html\n" + "x" * (CAP // 2)
    first = await post(api, {"content": piece, "final": False})
    assert first["status"] == "pending"
    over = await api.post(url, json={"content": piece, "final": False})
    assert over.status_code == 413
    conversation = (await api.get("/projects/shop/conversations/chat")).json()
    assert conversation["pending_bytes"] == 0


# -- streaming ----------------------------------------------------------------------------


async def test_a_streamed_message_is_held_until_its_final_piece(api, edge) -> None:
    await create(api)
    message = "Two pages.\n" + page("héllo") + "then\n" + page("about", "about.html") + "Done."
    cut1, cut2 = message.index("then") + 2, message.index("about</h1>")
    pieces = [message[:cut1], message[cut1:cut2]]
    first = await post(api, {"content": pieces[0]}, params={"final": "false"})
    assert first["status"] == "pending" and first["id"] is None
    assert [b["path"] for b in first["blocks"]] == ["index.html"] and first["pending"] is None
    second = await post(api, {"content": pieces[1], "final": False})
    assert second["status"] == "pending"
    assert second["pending"]["path"] == "about.html" and second["pending"]["index"] == 2
    assert (await api.get("/projects/shop/deployments")).json() == []  # nothing applied yet
    held = (await api.get("/projects/shop/conversations/chat")).json()
    assert held["pending_bytes"] == len((pieces[0] + pieces[1]).encode())

    last = await post(api, {"content": message[cut2:], "wait": True})
    assert last["status"] == "ready"
    assert last["changes"] == {"about.html": "written", "index.html": "written"}
    assert (await edge.get("chat--shop")).text == "<h1>héllo</h1>\n"
    assert (await api.get("/projects/shop/conversations/chat")).json()["pending_bytes"] == 0
    [recorded] = (await api.get("/projects/shop/conversations/chat/messages")).json()
    assert recorded["bytes"] == len(message.encode())


async def test_text_pieces_may_split_a_character(api, edge) -> None:
    await create(api)
    data = page("€uro").encode()
    cut = data.index("€".encode()) + 1  # inside the three bytes of the euro sign
    url = "/projects/shop/conversations/chat/messages"
    headers = {"content-type": "text/plain"}
    held = await api.post(url, content=data[:cut], headers=headers, params={"final": False})
    assert held.json()["status"] == "pending"
    done = await api.post(url, content=data[cut:], headers=headers, params={"wait": True})
    assert done.json()["status"] == "ready", done.json()
    assert (await edge.get("chat--shop")).text == "<h1>€uro</h1>\n"


async def test_a_stream_already_doomed_says_so_and_is_refused_at_the_end(api) -> None:
    await create(api)
    early = await post(
        api, {"content": page("x", "../up.html") + "```html file=b.html\n", "final": False}
    )
    assert early["status"] == "pending" and early["error"]["code"] == "edit_failed"
    assert early["error"]["message"].startswith("block 1")
    last = await post(api, {"content": "<b>\n```\n"})
    assert last["status"] == "refused" and last["error"]["message"].startswith("block 1")
    assert (await api.get("/projects/shop/conversations/chat")).json()["pending_bytes"] == 0
    # the next message starts afresh
    assert (await post(api, {"content": page("fresh")}))["status"] == "ready"
