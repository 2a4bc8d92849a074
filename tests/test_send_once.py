"""Refused before a byte goes, by both clients (found by the asyncio review, applied to both):
the write end of a pipe as a body, a ``progress`` that is not callable given to ``send()``, and
a PreparedRequest sent a second time (its token is single use). Each test fails without its fix."""
from __future__ import annotations

import asyncio
import io
import os

import pytest
from srv_recording import RecordingServer

import ossfast
from ossfast import Credentials, InvalidRequestError

pytestmark = pytest.mark.usefixtures("no_fd_leak")

ROUTE = "fc-ap-01-1234-opap.oss-cn-qingdao-internal.oss-object-process.aliyuncs.com"
TOKEN = "OSSV1#send-once"
CREDS = Credentials("ak", "sk")


def _send_sync(server, body):
    with ossfast.Client(CREDS, endpoint=server.url, retries=ossfast.Retry(total=0)) as c:
        return c.write_get_object_response(ROUTE, TOKEN, 200, body, content_length=10)


def _send_async(server, body):
    async def main():
        async with ossfast.AsyncClient(CREDS, endpoint=server.url, retries=ossfast.Retry(total=0)) as c:
            return await c.write_get_object_response(ROUTE, TOKEN, 200, body, content_length=10)

    return asyncio.run(main())


@pytest.mark.parametrize("send", [_send_sync, _send_async], ids=["sync", "async"])
def test_the_write_end_of_a_pipe_is_refused_before_anything_is_sent(start_server, send):
    server = start_server(RecordingServer)
    r, w = os.pipe()
    os.close(r)
    with open(w, "rb") as body:  # readable() says True (mode 'rb'); the descriptor is write-only
        with pytest.raises(InvalidRequestError) as ei:
            send(server, body)
    assert ei.value.field == "body" and "not open for reading" in str(ei.value)
    assert server.accepted == 0 and not server.requests


def test_sync_send_refuses_a_progress_that_is_not_callable_before_any_byte(start_server):
    server = start_server(RecordingServer)
    with ossfast.Client(CREDS, endpoint=server.url) as c:
        prepared = c.prepare(ROUTE, TOKEN, 200, b"small body")
        with pytest.raises(InvalidRequestError) as ei:
            c.send(prepared, progress=5)
    assert ei.value.field == "progress"
    assert server.accepted == 0 and not server.requests


@pytest.mark.parametrize("kind", ["bytes", "file", "iterator"])
def test_sync_second_send_of_a_prepared_request_is_refused(start_server, tmp_path, kind):
    server = start_server(RecordingServer)
    data = os.urandom(3000)
    path = tmp_path / "body.bin"
    path.write_bytes(data)
    f = open(path, "rb")
    body = {"bytes": data, "file": f, "iterator": iter([data[:1000], data[1000:]])}[kind]
    with f, ossfast.Client(CREDS, endpoint=server.url) as c:
        prepared = c.prepare(ROUTE, TOKEN, 200, body, content_length=len(data))
        assert c.send(prepared).bytes_sent == len(data)
        with pytest.raises(InvalidRequestError) as ei:
            c.send(prepared)
    assert ei.value.field == "prepared" and "sent already" in str(ei.value)
    (req,) = server.wait_for(1)
    assert req.body == data and len(server.requests) == 1


def test_async_second_send_of_a_prepared_request_is_refused(start_server):
    server = start_server(RecordingServer)
    data = os.urandom(3000)

    async def main():
        async with ossfast.AsyncClient(CREDS, endpoint=server.url) as c:
            prepared = c.prepare(ROUTE, TOKEN, 200, io.BytesIO(data))
            assert (await c.send(prepared)).bytes_sent == len(data)
            with pytest.raises(InvalidRequestError) as ei:
                await c.send(prepared)
            return ei.value

    err = asyncio.run(main())
    assert err.field == "prepared"
    (req,) = server.wait_for(1)
    assert req.body == data and len(server.requests) == 1


def test_a_failed_send_is_not_sent_again_either(start_server):
    """Refused whether the first send succeeded or not: a failed send may have delivered."""
    server = start_server(RecordingServer)
    with ossfast.Client(CREDS, endpoint=server.url, retries=ossfast.Retry(total=0)) as c:
        prepared = c.prepare(ROUTE, TOKEN, 200, b"body")
    server.stop()
    with ossfast.Client(CREDS, endpoint=server.url, retries=ossfast.Retry(total=0)) as c:
        with pytest.raises(ossfast.TransportError):
            c.send(prepared)
        with pytest.raises(InvalidRequestError):
            c.send(prepared)


def test_the_progress_given_to_prepare_is_what_send_calls(start_server):
    """prepare(..., progress=cb) kept cb nowhere: send(prepared) never called it (both clients)."""
    server = start_server(RecordingServer)
    data = os.urandom(5 * 1024 * 1024)
    calls, acalls = [], []
    with ossfast.Client(CREDS, endpoint=server.url) as c:
        prepared = c.prepare(ROUTE, TOKEN, 200, data, progress=lambda sent, total: calls.append((sent, total)))
        c.send(prepared)

    async def main():
        async with ossfast.AsyncClient(CREDS, endpoint=server.url) as c:
            prepared = c.prepare(ROUTE, TOKEN, 200, data, progress=lambda s, t: acalls.append((s, t)))
            await c.send(prepared)

    asyncio.run(main())
    for got in (calls, acalls):
        assert got and got[-1] == (len(data), len(data))
    assert len(server.wait_for(2)) == 2
