"""ossfast._async.request: the generic HTTP/1.1 path on the asyncio driver (the async twin of
transport.request: GET streamed, PUT with any body, HEAD, chunked bodies), against the loopback
servers."""
from __future__ import annotations

import asyncio
import io
import os
import time

import pytest
from srv_faults import Behaviour, FaultServer
from srv_recording import RecordingServer
from srv_replies import Reply

from ossfast import TimeoutError, TransportError, transport
from ossfast._async.connection import AsyncConnection, AsyncPool
from ossfast._async.request import AsyncStreamedReply, request

TIMEOUT = transport.Timeout(2.0, 5.0)


def key(server):
    return ("http", "127.0.0.1", server.port)


def new_pool():
    return AsyncPool(maxsize=8, ssl_context_factory=transport.Pool().ssl_context)


def run(coro_fn):
    async def main():
        pool = new_pool()
        try:
            return await coro_fn(pool)
        finally:
            pool.close()
    return asyncio.run(main())


def test_get_streamed_body_over_the_old_cap(start_server):
    big = os.urandom(3 * 1024 * 1024)
    server = start_server(RecordingServer, responses=[Reply(200, [("ETag", '"e"')], big), Reply(200, body=b"x")])

    async def main(pool):
        async with await request(pool, key(server), TIMEOUT, "GET", "/obj", [("Host", "b.example")],
                                 stream=True) as resp:
            assert isinstance(resp, AsyncStreamedReply)
            assert resp.status == 200 and resp.headers["etag"] == '"e"'
            pieces = [p async for p in resp.iter_bytes()]
        assert b"".join(pieces) == big and len(pieces) > 1
        assert pool.idle_count() == 1  # read whole: the connection went back
        again = await request(pool, key(server), TIMEOUT, "GET", "/obj", [("Host", "b.example")])
        assert again.body == b"x" and pool.connections_opened == 1

    run(main)
    first, second = server.wait_for(2)
    assert first.method == "GET" and first.target == "/obj" and first.header("content-length") is None


def test_slow_reader_pauses_the_socket_and_gets_every_byte(start_server):
    big = os.urandom(8 * 1024 * 1024)
    server = start_server(RecordingServer, responses=[Reply(200, body=big)])
    paused = []

    async def main(pool):
        resp = await request(pool, key(server), TIMEOUT, "GET", "/", [("Host", "h")], stream=True)
        got = []
        deadline = asyncio.get_running_loop().time() + 10
        while not resp._conn.reading_paused and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)  # a consumer that reads nothing yet: the bytes pile up
        paused.append(resp._conn.reading_paused)
        while True:
            piece = await resp.read_some()
            if not piece:
                break
            got.append(piece)
        return b"".join(got)

    assert run(main) == big
    assert any(paused)  # reading paused while the consumer was behind


def test_whole_reply_without_cap(start_server):
    big = os.urandom(2 * 1024 * 1024)
    server = start_server(RecordingServer, responses=lambda req: Reply(200, body=big))

    async def main(pool):
        assert (await request(pool, key(server), TIMEOUT, "GET", "/", [("Host", "h")])).body == big
        with pytest.raises(TransportError, match="larger than 1048576"):
            await request(pool, key(server), TIMEOUT, "GET", "/", [("Host", "h")],
                          max_body=transport.MAX_REPLY_BODY)

    run(main)


async def _agen(data, step):
    for i in range(0, len(data), step):
        await asyncio.sleep(0)
        yield data[i:i + step]


@pytest.mark.parametrize("kind", ["bytes", "file", "iterator", "async iterator"])
def test_put_with_a_body(start_server, tmp_path, kind):
    data = os.urandom(3_000_000)
    path = tmp_path / "b"
    path.write_bytes(data)
    body = {"bytes": lambda: data, "file": lambda: open(path, "rb"),
            "iterator": lambda: iter([data[:1000], data[1000:]]),
            "async iterator": lambda: _agen(data, 700_000)}[kind]()
    server = start_server(RecordingServer)

    async def main(pool):
        try:
            resp = await request(pool, key(server), TIMEOUT, "PUT", "/k", [("Host", "h")], body,
                                 content_length=len(data))
            assert resp.status == 200
        finally:
            if hasattr(body, "close") and not hasattr(body, "__aiter__"):
                body.close()

    run(main)
    (req,) = server.wait_for(1)
    assert req.method == "PUT" and req.body == data and req.header("content-length") == str(len(data))


@pytest.mark.parametrize("kind", ["async iterator", "iterator", "reader"])
def test_chunked_body(start_server, kind):
    data = os.urandom(300_000)
    body = {"async iterator": lambda: _agen(data, 70_000), "iterator": lambda: iter([data[:10], data[10:]]),
            "reader": lambda: io.BytesIO(data)}[kind]()
    server = start_server(RecordingServer)

    async def main(pool):
        resp = await request(pool, key(server), TIMEOUT, "PUT", "/k", [("Host", "h")], body, chunked=True)
        assert resp.status == 200

    run(main)
    (req,) = server.wait_for(1)
    assert req.body == data and req.header("transfer-encoding") == "chunked" and req.header("content-length") is None


def test_async_iterator_longer_than_declared_is_refused(start_server):
    server = start_server(RecordingServer)
    from ossfast import InvalidRequestError

    async def main(pool):
        with pytest.raises(InvalidRequestError):
            await request(pool, key(server), TIMEOUT, "PUT", "/k", [("Host", "h")], _agen(b"x" * 100, 30),
                          content_length=50)
        with pytest.raises(InvalidRequestError):
            await request(pool, key(server), TIMEOUT, "PUT", "/k", [("Host", "h")], _agen(b"x" * 100, 30))

    run(main)
    assert not any(r.complete and r.method == "PUT" for r in server.requests)


def test_head_reply_has_no_body_and_keeps_the_connection(start_server):
    server = start_server(RecordingServer, responses=[Reply(200, [("Content-Length", "1234")]),
                                                      Reply(200, body=b"after")])

    async def main(pool):
        resp = await request(pool, key(server), TIMEOUT, "HEAD", "/k", [("Host", "h")])
        assert resp.status == 200 and resp.body == b"" and resp.headers["content-length"] == "1234"
        assert (await request(pool, key(server), TIMEOUT, "GET", "/k", [("Host", "h")])).body == b"after"
        assert pool.connections_opened == 1

    run(main)


def test_streamed_reply_closed_early_drops_the_connection(start_server):
    server = start_server(RecordingServer, responses=[Reply(200, body=os.urandom(1024 * 1024))])

    async def main(pool):
        resp = await request(pool, key(server), TIMEOUT, "GET", "/", [("Host", "h")], stream=True)
        assert await resp.read_some()
        resp.close()
        assert pool.idle_count() == 0 and resp.complete

    run(main)


def test_stale_pooled_connection_is_retried_once(start_server, monkeypatch):
    server = start_server(RecordingServer, responses=[Reply(200, body=b"1"), Reply(200, body=b"2")])

    async def main(pool):
        assert (await request(pool, key(server), TIMEOUT, "GET", "/", [("Host", "h")])).body == b"1"
        (conn,) = pool._idle[key(server)]
        monkeypatch.setattr(AsyncConnection, "is_stale", lambda self, idle: False)  # not seen before reuse
        conn.transport.close()  # the next write fails at once: no request byte left
        resp = await request(pool, key(server), TIMEOUT, "PUT", "/", [("Host", "h")], io.BytesIO(b"abc"))
        assert resp.status == 200 and resp.body == b"2" and pool.connections_opened == 2

    run(main)


def test_reply_timeout_and_stream_timeout(start_server):
    server = start_server(FaultServer)
    server.set_behaviours("hold_after_body")
    short = transport.Timeout(2.0, 0.3)

    async def main(pool):
        t = time.monotonic()
        with pytest.raises(TimeoutError):
            await request(pool, key(server), short, "GET", "/", [("Host", "h")])
        assert time.monotonic() - t >= 0.3 and pool.idle_count() == 0

    run(main)


def _head_then_stall(ctx):
    ctx.read_request()
    ctx.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
    ctx.hold(5)
    return False


def test_stream_body_wait_is_bounded(start_server):
    server = start_server(FaultServer)
    server.set_behaviours(Behaviour("head_then_stall", _head_then_stall))
    short = transport.Timeout(2.0, 0.3)

    async def main(pool):
        resp = await request(pool, key(server), short, "GET", "/", [("Host", "h")], stream=True)
        assert await resp.read_some() == b"0123456789"
        t = time.monotonic()
        with pytest.raises(TimeoutError):
            await resp.read_some()
        assert time.monotonic() - t >= 0.3 and pool.idle_count() == 0

    run(main)


def _head_then_close(ctx):
    ctx.read_request()
    ctx.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
    ctx.close()
    return False


def test_stream_cut_by_the_server_is_an_error(start_server):
    server = start_server(FaultServer)
    server.set_behaviours(Behaviour("head_then_close", _head_then_close))

    async def main(pool):
        resp = await request(pool, key(server), TIMEOUT, "GET", "/", [("Host", "h")], stream=True)
        # the blocking driver's words (the README's fault table quotes them)
        with pytest.raises(TransportError, match="^the server closed the connection in the middle of the reply$"):
            await resp.read()

    run(main)


async def _slow():
    for _ in range(80):
        yield b"y" * 100_000
        await asyncio.sleep(0.05)


def test_cancelled_upload_aborts_the_connection(start_server):
    server = start_server(FaultServer)
    server.set_behaviours("hold_after_body")

    async def main(pool):
        task = asyncio.ensure_future(request(pool, key(server), TIMEOUT, "PUT", "/", [("Host", "h")],
                                             _slow(), content_length=8_000_000))
        deadline = time.monotonic() + 5
        while not (server.exchanges and server.exchanges[0].body_bytes):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert pool.idle_count() == 0

    run(main)
    (ex,) = server.wait_for(1)
    assert not ex.body_complete


async def _pieces_of(size, count, pause=0.01):
    for _ in range(count):
        yield os.urandom(size)
        await asyncio.sleep(pause)


def _read_250k_then_reset(ctx):
    """Reads the head and 250,000 bytes of what follows (chunked: no Content-Length to go by),
    then resets the connection."""
    ctx.read_head()
    while len(ctx.buf) < 250_000 and ctx._more():
        pass
    ctx.reset()
    return False


def test_chunked_send_cut_by_the_server_counts_body_bytes_not_framing(start_server):
    # The server reads 2.5 pieces before its reset: the client handed over at least 2 by then.
    server = start_server(FaultServer)
    server.set_behaviours(Behaviour("read_250k_then_reset", _read_250k_then_reset))
    piece = 100_000  # over 64 KiB: size line, the piece, CRLF go as three writes

    async def main(pool):
        with pytest.raises(TransportError) as err:
            await request(pool, key(server), TIMEOUT, "PUT", "/k", [("Host", "h")],
                          _pieces_of(piece, 40), chunked=True)
        return err.value

    exc = run(main)
    assert exc.request_sent and 2 * piece <= exc.bytes_sent < 40 * piece
    assert exc.bytes_sent % piece == 0  # whole pieces of the body: no size line or CRLF counted


def test_chunked_body_yielding_a_non_buffer_is_refused_and_never_completes(start_server):
    server = start_server(RecordingServer)

    async def bad():
        yield b"first"
        yield 42

    async def main(pool):
        with pytest.raises(TypeError, match="yielded int"):
            await request(pool, key(server), TIMEOUT, "PUT", "/k", [("Host", "h")], bad(), chunked=True)

    run(main)
    time.sleep(0.2)
    assert not any(r.complete and r.method == "PUT" for r in server.requests)
