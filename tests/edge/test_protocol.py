"""HTTP/1.1 on raw sockets: keep-alive, pipelining, limits, timeouts, malformed input."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils

import pytest

from .conftest import Publish, StartEdge
from .helpers import PAGE, Edge, get, settled

pytestmark = pytest.mark.anyio

SMALL = b"small file"
COLD = b"cold " * 1000
BIG = bytes(range(256)) * 8192  # 2 MiB: streamed from the blob


@pytest.fixture(autouse=True)
def site(publish: Publish) -> None:
    publish({"index.html": PAGE, "small.txt": SMALL, "cold.txt": COLD, "big.bin": BIG})


async def test_keep_alive(edge: Edge) -> None:
    raw = await edge.connect()
    for _ in range(3):
        await raw.send(get("/small.txt"))
        response = await raw.response()
        assert response.status == 200
        assert response.body == SMALL
        assert "connection" not in response.headers
    assert edge.server.connection_count == 1


async def test_date_and_server_headers(edge: Edge) -> None:
    raw = await edge.connect()
    await raw.send(get("/small.txt"))
    response = await raw.response()
    assert response.headers["server"] == "previewd"
    date = email.utils.parsedate_to_datetime(response.headers["date"])
    assert date.tzinfo is not None


async def test_connection_close(edge: Edge) -> None:
    raw = await edge.connect()
    await raw.send(get("/small.txt", "shop.localhost", "Connection: close"))
    response = await raw.response()
    assert response.body == SMALL
    assert response.headers["connection"] == "close"
    assert await raw.closed()


async def test_http10_closes(edge: Edge) -> None:
    raw = await edge.connect()
    await raw.send(b"GET /small.txt HTTP/1.0\r\nHost: shop.localhost\r\n\r\n")
    response = await raw.response()
    assert response.body == SMALL
    assert response.headers["connection"] == "close"
    assert await raw.closed()


async def test_http10_keep_alive(edge: Edge) -> None:
    raw = await edge.connect()
    request = b"GET /small.txt HTTP/1.0\r\nHost: shop.localhost\r\nConnection: keep-alive\r\n\r\n"
    for _ in range(2):
        await raw.send(request)
        response = await raw.response()
        assert response.body == SMALL
        assert response.headers["connection"] == "keep-alive"


async def test_pipelined_requests_answer_in_order(edge: Edge) -> None:
    warm = await edge.connect()
    await warm.send(get("/small.txt"))
    await warm.response()  # small.txt is now in memory; cold.txt and big.bin are not

    raw = await edge.connect()
    await raw.send(
        get("/cold.txt")  # a thread reads it: answered asynchronously
        + get("/small.txt")  # from memory: could overtake, must not
        + get("/big.bin")  # streamed in chunks
        + get("/missing")
        + b"HEAD /small.txt HTTP/1.1\r\nHost: shop.localhost\r\n\r\n"
        + get("/small.txt", "shop.localhost", "Range: bytes=0-4")
    )
    assert (await raw.response()).body == COLD
    assert (await raw.response()).body == SMALL
    assert (await raw.response()).body == BIG
    assert (await raw.response()).status == 404
    head = await raw.response(head=True)
    assert (head.status, head.headers["content-length"]) == (200, str(len(SMALL)))
    partial = await raw.response()
    assert (partial.status, partial.body) == (206, SMALL[:5])


async def test_many_pipelined_requests(edge: Edge) -> None:
    raw = await edge.connect()
    count = 500  # beyond the queue limit: reading pauses and resumes
    await raw.send(get("/cold.txt") + get("/small.txt") * count)
    assert (await raw.response()).body == COLD
    bodies = [(await raw.response()).body for _ in range(count)]
    assert bodies == [SMALL] * count


async def test_pipelined_after_connection_close_are_dropped(edge: Edge) -> None:
    raw = await edge.connect()
    await raw.send(get("/small.txt", "shop.localhost", "Connection: close") + get("/index.html"))
    assert (await raw.response()).body == SMALL
    assert await raw.closed()


async def test_request_split_across_packets(edge: Edge) -> None:
    raw = await edge.connect()
    request = get("/small.txt")
    for i in range(0, len(request), 7):
        await raw.send(request[i : i + 7])
    assert (await raw.response()).body == SMALL


async def test_oversized_headers_are_431(edge: Edge) -> None:
    raw = await edge.connect()
    await raw.send(get("/", "shop.localhost", "X-Big: " + "a" * 17000))
    response = await raw.response()
    assert response.status == 431
    assert response.headers["connection"] == "close"
    assert await raw.closed()


async def test_many_headers_add_up_to_431(edge: Edge) -> None:
    raw = await edge.connect()
    headers = [f"X-H{i}: {'v' * 100}" for i in range(200)]
    await raw.send(get("/", "shop.localhost", *headers))
    assert (await raw.response()).status == 431


async def test_long_url_is_414(edge: Edge) -> None:
    raw = await edge.connect()
    await raw.send(get("/" + "a" * 20000))
    assert (await raw.response()).status == 414
    assert await raw.closed()


@pytest.mark.parametrize(
    "request_",
    [
        b"NOT HTTP AT ALL\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost shop.localhost\r\n\r\n",
        b"GET / HTTP/9.9\r\nHost: shop.localhost\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: shop.localhost\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: shop.localhost\r\nContent-Length: nope\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: shop.localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET /\x00 HTTP/1.1\r\nHost: shop.localhost\r\n\r\n",
    ],
)
async def test_malformed_requests_are_400_and_close(edge: Edge, request_: bytes) -> None:
    raw = await edge.connect()
    await raw.send(request_)
    response = await raw.response()
    assert response.status == 400
    assert response.headers["connection"] == "close"
    assert await raw.closed()


async def test_malformed_after_good_answers_the_good_first(edge: Edge) -> None:
    raw = await edge.connect()
    await raw.send(get("/cold.txt") + b"BROKEN\r\n\r\n")
    assert (await raw.response()).body == COLD
    assert (await raw.response()).status == 400
    assert await raw.closed()


async def test_get_with_small_body_is_drained(edge: Edge) -> None:
    raw = await edge.connect()
    body = b"x" * 1000
    await raw.send(
        b"GET /small.txt HTTP/1.1\r\nHost: shop.localhost\r\nContent-Length: 1000\r\n\r\n" + body
    )
    assert (await raw.response()).body == SMALL
    await raw.send(get("/small.txt"))  # the body did not leak into the next request
    assert (await raw.response()).body == SMALL


async def test_post_with_body_is_405_and_connection_survives(edge: Edge) -> None:
    raw = await edge.connect()
    await raw.send(
        b"POST / HTTP/1.1\r\nHost: shop.localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\n\r\n"
    )
    response = await raw.response()
    assert response.status == 405
    assert response.headers["allow"] == "GET, HEAD"
    await raw.send(get("/small.txt"))
    assert (await raw.response()).body == SMALL


async def test_large_body_is_413_and_close(edge: Edge) -> None:
    raw = await edge.connect()
    await raw.send(b"POST / HTTP/1.1\r\nHost: shop.localhost\r\nContent-Length: 10000000\r\n\r\n")
    sending = asyncio.create_task(raw.send(b"x" * 1_000_000))
    response = await raw.response()
    assert response.status == 413
    assert response.headers["connection"] == "close"
    assert await raw.closed()
    with contextlib.suppress(ConnectionError):
        await sending


async def test_upgrade_request_is_answered_then_closed(edge: Edge) -> None:
    raw = await edge.connect()
    await raw.send(
        get("/small.txt", "shop.localhost", "Connection: Upgrade", "Upgrade: websocket")
        + b"\x81\x05hello"
    )
    response = await raw.response()
    assert response.status == 200
    assert response.body == SMALL
    assert await raw.closed()


async def test_header_timeout_closes_a_silent_connection(start_edge: StartEdge) -> None:
    edge = await start_edge(header_timeout=0.2)
    raw = await edge.connect()
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await raw.closed(timeout=3)
    assert loop.time() - started >= 0.15


async def test_header_timeout_stops_a_slowloris(start_edge: StartEdge) -> None:
    edge = await start_edge(header_timeout=0.2)
    raw = await edge.connect()

    async def trickle() -> None:
        # one byte every 20 ms, forever: never finishes the headers
        with contextlib.suppress(ConnectionError):
            await raw.send(b"GET / HTTP/1.1\r\nHost: shop.localhost\r\n")
            while True:
                await raw.send(b"X")
                await asyncio.sleep(0.02)

    trickling = asyncio.create_task(trickle())
    try:
        assert await raw.closed(timeout=3)
    finally:
        trickling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await trickling


async def test_header_timeout_does_not_cut_keep_alive_requests(start_edge: StartEdge) -> None:
    edge = await start_edge(header_timeout=0.2, keepalive_timeout=5)
    raw = await edge.connect()
    for _ in range(3):
        await raw.send(get("/small.txt"))
        assert (await raw.response()).body == SMALL
        # idle longer than header_timeout: keepalive_timeout applies between requests
        assert not await raw.closed(timeout=0.3)


async def test_keepalive_timeout_closes_idle_connections(start_edge: StartEdge) -> None:
    edge = await start_edge(keepalive_timeout=0.2)
    raw = await edge.connect()
    await raw.send(get("/small.txt"))
    assert (await raw.response()).body == SMALL
    assert await raw.closed(timeout=3)
    assert edge.server.connection_count == 0


async def test_client_half_close_still_gets_answers(edge: Edge) -> None:
    raw = await edge.connect()
    await raw.send(get("/cold.txt") + get("/small.txt"))
    raw.writer.write_eof()
    assert (await raw.response()).body == COLD
    assert (await raw.response()).body == SMALL
    assert await raw.closed()


async def test_pipelining_a_client_that_does_not_read_is_bounded(
    edge: Edge, publish: Publish
) -> None:
    page = bytes(range(256)) * 2048  # 512 KiB: held in memory
    publish({"page.bin": page}, labels=["heavy"])
    request = get("/page.bin", "heavy.localhost")
    raw = await edge.connect()
    await raw.send(request)
    assert (await raw.response()).body == page  # now in memory

    count = 200  # 100 MiB of answers if they were all written at once
    await raw.send(request * count)
    (connection,) = edge.server._connections
    transport = connection._transport
    assert transport is not None
    # answers stop when the client stops reading: only a few are buffered
    assert await settled(transport.get_write_buffer_size) < 8 * len(page)
    for _ in range(count):
        assert (await raw.response()).body == page
