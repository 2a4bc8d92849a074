"""A fresh-eyes review of the native asyncio AsyncClient: each test here failed before its fix
in ossfast/_async/ (cancellation at every await, the client on two event loops, retries that
never resend what the caller was told was not sent)."""
from __future__ import annotations

import asyncio
import gc
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
