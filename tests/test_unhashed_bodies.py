"""The generic ``request()`` of both drivers and the SDKs' chunked bodies do not hash what
they send (``body.UNHASHED``): no one reads that CRC-64, and the pure-Python backend hashes at
about 9 MB/s. The WGOR send path still hashes (its Result carries the CRC)."""
from __future__ import annotations

import asyncio
import os

import pytest
from srv_recording import RecordingServer

import ossfast
from ossfast import body as _body
from ossfast import transport
from ossfast._async.connection import AsyncPool
from ossfast._async.request import request as async_request
from ossfast._backend import impl
from ossfast.integrations import _http

TIMEOUT = transport.Timeout(2.0, 5.0)
DATA = os.urandom(300_000)


@pytest.fixture
def crc_calls(monkeypatch):
    calls = []
    real = impl.crc64

    def counting(data, crc=0):
        calls.append(len(memoryview(data)))
        return real(data, crc)

    monkeypatch.setattr(impl, "crc64", counting)
    return calls


def _bodies(tmp_path):
    path = tmp_path / "b"
    path.write_bytes(DATA)
    return {"bytes": lambda: DATA, "file": lambda: open(path, "rb"),
            "iterator": lambda: iter([DATA[:1000], DATA[1000:]])}


@pytest.mark.parametrize("kind", ["bytes", "file", "iterator"])
def test_sync_request_does_not_hash_the_body(start_server, tmp_path, crc_calls, kind):
    server = start_server(RecordingServer)
    body = _bodies(tmp_path)[kind]()
    pool = transport.Pool()
    try:
        resp = transport.request(pool, ("http", "127.0.0.1", server.port), TIMEOUT, "PUT", "/k",
                                 [("Host", "h")], body, content_length=len(DATA))
    finally:
        pool.close()
        if hasattr(body, "close"):
            body.close()
    assert resp.status == 200 and server.wait_for(1)[0].body == DATA
    assert crc_calls == []


@pytest.mark.parametrize("kind", ["bytes", "file", "iterator"])
def test_async_request_does_not_hash_the_body(start_server, tmp_path, crc_calls, kind):
    server = start_server(RecordingServer)
    body = _bodies(tmp_path)[kind]()

    async def main():
        pool = AsyncPool(maxsize=2, ssl_context_factory=transport.Pool().ssl_context)
        try:
            return await async_request(pool, ("http", "127.0.0.1", server.port), TIMEOUT, "PUT", "/k",
                                       [("Host", "h")], body, content_length=len(DATA))
        finally:
            pool.close()
            if hasattr(body, "close"):
                body.close()

    assert asyncio.run(main()).status == 200 and server.wait_for(1)[0].body == DATA
    assert crc_calls == []


def test_chunked_sdk_body_is_not_hashed(crc_calls):
    """Sent through Connection.write over a socket pair: the framed bytes arrive, unhashed."""
    import socket
    import threading

    from ossfast._outcome import SendOutcome
    from ossfast._sync.connection import Connection

    a, b = socket.socketpair()
    got = bytearray()

    def drain():
        while True:
            data = b.recv(1 << 16)
            if not data:
                return
            got.extend(data)

    t = threading.Thread(target=drain)
    t.start()
    body = _http.ChunkedBody(iter([DATA[:10], DATA[10:]]))
    assert body.crc == _body.UNHASHED
    conn = Connection(a, ("http", "h", 80), True)
    out = SendOutcome()
    try:
        conn.write(b"PUT / HTTP/1.1\r\n\r\n", body, out, None, 5.0)
    finally:
        conn.close()
        t.join()
        b.close()
    assert out.complete and out.crc64 == _body.UNHASHED
    assert bytes(got).startswith(b"PUT / HTTP/1.1\r\n\r\n") and bytes(got).endswith(b"0\r\n\r\n")
    assert DATA[10:] in bytes(got)
    assert crc_calls == []


def test_the_wgor_send_still_hashes(start_server, crc_calls):
    """The control: the same counter sees the WGOR sender hash its body."""
    server = start_server(RecordingServer)
    with ossfast.Client(ossfast.Credentials("ak", "sk"), endpoint=f"http://127.0.0.1:{server.port}",
                        region="cn-qingdao") as client:
        result = client.write_get_object_response("fc-ap-1.oss-cn-qingdao.oss-object-process.aliyuncs.com",
                                                  "tok", 200, DATA)
    assert result.crc64 == ossfast.crc64(DATA)
    assert sum(crc_calls) >= len(DATA)
