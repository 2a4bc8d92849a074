"""A fresh-eyes review of the native asyncio AsyncClient: each test here failed before its fix
in ossfast/_async/ (cancellation at every await, the client on two event loops, retries that
never resend what the caller was told was not sent)."""
from __future__ import annotations

import asyncio
import gc
import io
import threading
import time

import pytest
from refcrc import crc64 as ref_crc64
from srv_faults import Behaviour, FaultServer, idle_close
from srv_recording import RecordingServer

import ossfast
from ossfast import Credentials, InvalidRequestError, TransportError

ROUTE = "fc-ap-01-1234-opap.oss-cn-qingdao-internal.oss-object-process.aliyuncs.com"
CREDS = Credentials("ak", "sk")


def _wait(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


# ---------------------------------------------------------------- one client, two event loops

def test_one_client_on_two_loops_in_turn(start_server):
    """asyncio.run twice with one client: the second run works on a connection of its own
    loop. (It used to take the first loop's pooled connection, write the request through it
    (the server took it) and then wait for a reply that no running loop could read.)"""
    server = start_server(RecordingServer)
    c = ossfast.AsyncClient(CREDS, endpoint=server.url, timeout=(2, 2))
    first = asyncio.run(c.write_get_object_response(ROUTE, "a", 200, b"x"))

    async def second():
        return await asyncio.wait_for(c.write_get_object_response(ROUTE, "b", 200, b"y"), 5)

    t = time.monotonic()
    r = asyncio.run(second())
    assert time.monotonic() - t < 2
    assert first.status == r.status == 200 and not r.reused_connection
    assert c.pool.connections_opened == 2
    asyncio.run(c.close())
    gc.collect()  # -W error: the first loop's connection was closed, not left to the collector
    reqs = server.wait_for(2)
    assert [q.header("x-oss-request-token") for q in reqs] == ["a", "b"] and all(q.complete for q in reqs)


def test_idle_connections_closed_when_their_loop_ends(start_server):
    """A client left open at the end of asyncio.run: its idle connections are closed as the
    loop shuts down (no 'unclosed transport' later), and the client still works on a new loop."""
    server = start_server(RecordingServer)
    c = ossfast.AsyncClient(CREDS, endpoint=server.url, timeout=5)
    asyncio.run(c.write_get_object_response(ROUTE, "a", 200, b"x"))
    assert c.pool.idle_count() == 0
    _wait(lambda: server.active_connections == 0)
    gc.collect()
    r = asyncio.run(c.write_get_object_response(ROUTE, "b", 200, b"y"))
    assert r.status == 200
    asyncio.run(c.close())


def test_reply_deadline_kept_on_the_next_loop(start_server):
    """The pool's one deadline timer belonged to the first loop: on the next loop a reply that
    never came was waited for forever (the timer never fired). It times out after timeout.read."""
    server = start_server(FaultServer)
    server.set_behaviours("hold_after_body")
    c = ossfast.AsyncClient(CREDS, endpoint=server.url, timeout=(2, 0.5), retries=0)

    async def cut_short():
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(c.write_get_object_response(ROUTE, "a", 200, b"x"), 0.2)

    asyncio.run(cut_short())

    async def second():
        t = time.monotonic()
        with pytest.raises(ossfast.TimeoutError):  # not the guard's asyncio.TimeoutError
            await asyncio.wait_for(c.write_get_object_response(ROUTE, "b", 200, b"y"), 5)
        return time.monotonic() - t

    waited = asyncio.run(second())
    assert 0.5 <= waited < 3
    asyncio.run(c.close())


def test_two_loops_at_once_refused_before_any_byte(start_server):
    """One client used from a loop running in another thread while its first loop still runs:
    a clear InvalidRequestError, nothing sent."""
    server = start_server(FaultServer)
    server.set_behaviours("hold_after_body")
    c = ossfast.AsyncClient(CREDS, endpoint=server.url, timeout=(2, 3), retries=0)
    started, outcome = threading.Event(), []

    async def in_thread():
        task = asyncio.ensure_future(c.write_get_object_response(ROUTE, "a", 200, b"x"))
        started.set()
        try:
            await task
        except BaseException as exc:  # noqa: BLE001 - reported below
            outcome.append(exc)

    th = threading.Thread(target=asyncio.run, args=(in_thread(),))
    th.start()
    try:
        assert started.wait(5)
        _wait(lambda: server.exchanges and server.exchanges[0].body_complete)

        async def here():
            await c.write_get_object_response(ROUTE, "b", 200, b"y")

        with pytest.raises(InvalidRequestError, match="event loop"):
            asyncio.run(here())
    finally:
        th.join(10)
    assert isinstance(outcome[0], ossfast.TimeoutError)
    assert len(server.exchanges) == 1
    asyncio.run(c.close())


# ---------------------------------------------------------------- cancellation at every await

def test_cancel_while_a_failed_send_looks_for_an_early_reply(start_server, monkeypatch):
    """A send failed mid-body (here the connection's write raises ConnectionResetError for the
    body's second piece, which never goes); the client waits a moment for an early reply. A
    cancellation in that moment was swallowed (the caller got a TransportError, and a retry
    could follow): it propagates, and a timeout (asyncio.wait_for) works. (An OSError raised by
    the body's own iterator is the caller's: it passes unchanged at once, see
    test_async_caller_errors.py.)"""
    from ossfast._async.connection import AsyncConnection

    server = start_server(RecordingServer)
    real_write = AsyncConnection.write
    cut = {"on": False}

    def write(self, data):
        if cut["on"]:
            raise ConnectionResetError("upstream went away")
        return real_write(self, data)

    monkeypatch.setattr(AsyncConnection, "write", write)

    async def body(fail_after):
        cut["on"] = False
        yield b"a" * 1000
        await asyncio.sleep(fail_after)
        cut["on"] = True  # the next piece's write fails: a transport failure mid-body
        yield b"b" * 4000

    async def main():
        async with ossfast.AsyncClient(CREDS, endpoint=server.url, timeout=5, retries=0) as c:
            task = asyncio.ensure_future(
                c.write_get_object_response(ROUTE, "t", 200, body(0.05), content_length=5000))
            await asyncio.sleep(0.1)  # the iterator has raised; the client looks for a reply
            assert not task.done()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            with pytest.raises(asyncio.TimeoutError):  # (asyncio.timeout is 3.11+)
                await asyncio.wait_for(
                    c.write_get_object_response(ROUTE, "u", 200, body(0.05), content_length=5000), 0.1)
            return c.pool.idle_count()

    assert asyncio.run(main()) == 0
    _wait(lambda: server.active_connections == 0)
    assert not any(q.complete for q in server.requests)


def test_async_iterator_keeps_its_first_item_for_a_retry(start_server):
    """The first item of an async iterator is fetched before the head goes. When the pooled
    connection turned out closed at that moment (nothing sent: retried), the retry fetched the
    iterator's second item as its first, so the body went short (or, for an iterator longer
    than declared, a wrong body went complete)."""
    server = start_server(FaultServer)
    server.set_behaviours(idle_close(0.1), "reply")

    async def body():
        await asyncio.sleep(0.4)  # meanwhile the server closes the idle pooled connection
        yield b"ab"
        yield b"cd"

    async def main():
        async with ossfast.AsyncClient(CREDS, endpoint=server.url, timeout=5) as c:
            await c.write_get_object_response(ROUTE, "a", 200, b"1")
            return await c.write_get_object_response(ROUTE, "b", 200, body(), content_length=4)

    r = asyncio.run(main())
    assert r.status == 200 and r.bytes_sent == 4 and r.crc64 == ref_crc64(b"abcd")
    exs = server.wait_for(2)
    assert exs[-1].body_complete and exs[-1].crc64 == ref_crc64(b"abcd")


def test_cancelled_md5_prepare_leaves_the_file_alone(tmp_path):
    """content_md5=True on a big file hashes it in a worker thread. Cancelled there, the call
    returned while the thread still read and seeked the caller's file: a resend of the same
    file right away could start from wherever the thread had got to."""
    size = (64 if ossfast.backend == "native" else 2) * 1024 * 1024
    path = tmp_path / "f"
    path.write_bytes(b"q" * size)

    async def main():
        async with ossfast.AsyncClient(CREDS, endpoint="http://127.0.0.1:1", timeout=5) as c:
            with open(path, "rb") as f:
                task = asyncio.ensure_future(c.write_get_object_response(ROUTE, "t", 200, f, content_md5=True))
                await asyncio.sleep(0.01)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                at_return = f.tell()
                positions = set()
                for _ in range(20):
                    positions.add(f.tell())
                    await asyncio.sleep(0.01)
                return at_return, positions

    at_return, positions = asyncio.run(main())
    assert at_return == 0 and positions == {0}


def _malformed_early_reply(ctx, then_read: bool) -> bool:
    """An unparsable reply as soon as the head is in, then the body read whole (or not at all)."""
    if not ctx.read_head():
        return False
    ctx.send(b"HTTP/1.1 2OO OK\r\n\r\n")
    if then_read:
        ctx.read_body()
    ctx.hold(3)
    return False


def test_reply_failed_during_the_send_counts_the_body_sent(start_server):
    """The reply failed (malformed) while the body was still going out, and the body then went
    out whole: the TransportError says so (bytes_sent, as the blocking client says), it said 0."""
    server = start_server(FaultServer, rcvbuf=8192)
    server.set_behaviours(Behaviour("malformed_early", _malformed_early_reply, then_read=True))
    size = 32 * 1024 * 1024  # the client must wait for the server while it sends

    async def main():
        async with ossfast.AsyncClient(CREDS, endpoint=server.url, timeout=10, retries=0) as c:
            await c.write_get_object_response(ROUTE, "t", 200, b"x" * size)

    with pytest.raises(TransportError, match="malformed") as ei:
        asyncio.run(main())
    assert ei.value.request_sent and ei.value.bytes_sent == size


def test_no_unretrieved_reply_error_after_a_cancel(start_server, caplog):
    """The reply failed while the body was going out, then the call was cancelled: asyncio
    logged 'Future exception was never retrieved' for the reply's future."""
    server = start_server(FaultServer, rcvbuf=8192)
    server.set_behaviours(Behaviour("malformed_early", _malformed_early_reply, then_read=False))

    async def main():
        async with ossfast.AsyncClient(CREDS, endpoint=server.url, timeout=10, retries=0) as c:
            task = asyncio.ensure_future(c.write_get_object_response(ROUTE, "t", 200, b"x" * (32 << 20)))
            deadline = time.monotonic() + 5
            while not (server.exchanges and server.exchanges[0].reply_bytes):
                assert time.monotonic() < deadline
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)  # the malformed reply has been read by the client
            assert not task.done()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    with caplog.at_level("ERROR", logger="asyncio"):
        asyncio.run(main())
        gc.collect()
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]


def test_non_contiguous_first_item_refused_before_any_byte(start_server):
    server = start_server(RecordingServer)

    async def body():
        yield memoryview(b"abcdef")[::2]

    async def main():
        async with ossfast.AsyncClient(CREDS, endpoint=server.url, timeout=5) as c:
            with pytest.raises(InvalidRequestError):
                await c.write_get_object_response(ROUTE, "t", 200, body(), content_length=3)

    asyncio.run(main())
    assert server.requests == []


def test_send_refuses_a_progress_that_is_not_callable_before_any_byte(start_server):
    """send(prepared, progress=<not callable>): it failed with a TypeError at the first progress
    call, after the head and a small body had been written (OSS could take it)."""
    server = start_server(RecordingServer)

    async def main():
        async with ossfast.AsyncClient(CREDS, endpoint=server.url, timeout=5) as c:
            prepared = c.prepare(ROUTE, "t", 200, b"x" * 100)
            with pytest.raises(InvalidRequestError) as ei:
                await c.send(prepared, progress=5)
            return ei.value

    assert asyncio.run(main()).field == "progress"
    time.sleep(0.2)
    assert server.requests == []


def test_close_on_a_later_loop(start_server):
    """``asyncio.run(client.close())`` after ``asyncio.run`` of a call: it raised RuntimeError
    ('Event loop is closed') closing the first loop's idle connection."""
    server = start_server(RecordingServer)
    c = ossfast.AsyncClient(CREDS, endpoint=server.url, timeout=5)
    asyncio.run(c.write_get_object_response(ROUTE, "a", 200, b"x"))
    asyncio.run(c.close())
    gc.collect()
    assert c.pool.closed and c.pool.idle_count() == 0


def test_cancel_as_the_connection_is_made_is_not_lost(start_server):
    """A cancellation that arrives in the loop iteration where the connection is made (before
    the wait for it wakes): asyncio.wait_for of Python <= 3.11 returned the connection and
    dropped the cancellation, and the call went on to send the request. It raises
    CancelledError, nothing is sent, and the connection is closed."""
    server = start_server(RecordingServer)

    async def main():
        async with ossfast.AsyncClient(CREDS, endpoint=server.url, timeout=5, retries=0) as c:
            loop = asyncio.get_running_loop()
            real = loop.create_connection
            me = []

            async def connect_then_cancel(*a, **k):
                made = await real(*a, **k)
                loop.call_soon(me[0].cancel)  # runs before the connection's waiter is woken
                return made

            loop.create_connection = connect_then_cancel
            me.append(asyncio.ensure_future(c.write_get_object_response(ROUTE, "t", 200, b"x" * 100)))
            try:
                return await me[0]
            finally:
                loop.create_connection = real

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(main())
    gc.collect()
    time.sleep(0.2)
    assert server.requests == []
    _wait(lambda: server.active_connections == 0)


class _SlowReader(io.RawIOBase):
    """A file-like body whose reads take a while (a network-backed stream, say)."""

    def __init__(self) -> None:
        self.reading = False

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        self.reading = True
        time.sleep(0.3)
        self.reading = False
        return b"r" * n


def test_cancelled_file_read_returns_once_the_reader_let_go(start_server):
    """A file-like body (no descriptor) is read in a worker thread. Cancelled during a read,
    the call returned while the thread was still reading the caller's stream."""
    server = start_server(RecordingServer)
    reader = _SlowReader()

    async def main():
        async with ossfast.AsyncClient(CREDS, endpoint=server.url, timeout=5, retries=0) as c:
            task = asyncio.ensure_future(
                c.write_get_object_response(ROUTE, "t", 200, reader, content_length=3 << 20))
            await asyncio.sleep(0.1)
            assert reader.reading
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return reader.reading

    assert asyncio.run(main()) is False
