"""transport.request: the generic HTTP/1.1 path (GET streamed, PUT with a body, HEAD) that the
SDK backends build on, against the loopback RecordingServer."""
from __future__ import annotations

import io
import os
import socket

import pytest
from srv_recording import RecordingServer
from srv_replies import Reply

from ossfast import TransportError, transport

pytestmark = pytest.mark.usefixtures("no_fd_leak")
TIMEOUT = transport.Timeout(2.0, 5.0)


def key(server):
    return ("http", "127.0.0.1", server.port)


def test_get_streamed_body_over_the_old_cap(start_server):
    big = os.urandom(3 * 1024 * 1024)
    server = start_server(RecordingServer, responses=[Reply(200, [("ETag", '"e"')], big), Reply(200, body=b"x")])
    pool = transport.Pool()
    try:
        with transport.request(pool, key(server), TIMEOUT, "GET", "/obj", [("Host", "b.example")],
                               stream=True) as resp:
            assert resp.status == 200 and resp.headers["etag"] == '"e"'
            got = b"".join(resp.iter_bytes())
        assert got == big and pool.idle_count() == 1  # read whole: the connection went back
        again = transport.request(pool, key(server), TIMEOUT, "GET", "/obj", [("Host", "b.example")])
        assert again.body == b"x" and pool.connections_opened == 1
    finally:
        pool.close()
    (first, second) = server.wait_for(2)
    assert first.method == "GET" and first.target == "/obj" and first.header("content-length") is None


def test_whole_reply_without_cap(start_server):
    big = os.urandom(2 * 1024 * 1024)
    server = start_server(RecordingServer, responses=lambda req: Reply(200, body=big))
    pool = transport.Pool()
    try:
        assert transport.request(pool, key(server), TIMEOUT, "GET", "/", [("Host", "h")]).body == big
        with pytest.raises(TransportError, match="larger than 1048576"):
            transport.request(pool, key(server), TIMEOUT, "GET", "/", [("Host", "h")],
                              max_body=transport.MAX_REPLY_BODY)
    finally:
        pool.close()


@pytest.mark.parametrize("kind", ["bytes", "file", "iterator"])
def test_put_with_a_body(start_server, tmp_path, kind):
    data = os.urandom(200_000)
    path = tmp_path / "b"
    path.write_bytes(data)
    body = {"bytes": lambda: data, "file": lambda: open(path, "rb"),
            "iterator": lambda: iter([data[:1000], data[1000:]])}[kind]()
    server = start_server(RecordingServer)
    pool = transport.Pool()
    try:
        resp = transport.request(pool, key(server), TIMEOUT, "PUT", "/k", [("Host", "h")], body,
                                 content_length=len(data))
        assert resp.status == 200
    finally:
        pool.close()
        if hasattr(body, "close"):
            body.close()
    (req,) = server.wait_for(1)
    assert req.method == "PUT" and req.body == data and req.header("content-length") == str(len(data))


def test_head_reply_has_no_body_and_keeps_the_connection(start_server):
    server = start_server(RecordingServer, responses=[Reply(200, [("Content-Length", "1234")]),
                                                      Reply(200, body=b"after")])
    pool = transport.Pool()
    try:
        resp = transport.request(pool, key(server), TIMEOUT, "HEAD", "/k", [("Host", "h")])
        assert resp.status == 200 and resp.body == b"" and resp.headers["content-length"] == "1234"
        assert transport.request(pool, key(server), TIMEOUT, "GET", "/k", [("Host", "h")]).body == b"after"
        assert pool.connections_opened == 1
    finally:
        pool.close()


def test_streamed_reply_closed_early_drops_the_connection(start_server):
    server = start_server(RecordingServer, responses=[Reply(200, body=os.urandom(1024 * 1024))])
    pool = transport.Pool()
    try:
        resp = transport.request(pool, key(server), TIMEOUT, "GET", "/", [("Host", "h")], stream=True)
        assert resp.read_some()
        resp.close()
        assert pool.idle_count() == 0
    finally:
        pool.close()


def test_stale_pooled_connection_is_retried_once(start_server, monkeypatch):
    server = start_server(RecordingServer, responses=[Reply(200, body=b"1"), Reply(200, body=b"2")])
    pool = transport.Pool()
    try:
        assert transport.request(pool, key(server), TIMEOUT, "GET", "/", [("Host", "h")]).body == b"1"
        (conn,) = pool._idle[key(server)]
        monkeypatch.setattr(transport.Connection, "is_stale", lambda self: False)  # not seen before reuse
        conn.sock.shutdown(socket.SHUT_WR)  # the next write fails: EPIPE, no request byte left
        resp = transport.request(pool, key(server), TIMEOUT, "PUT", "/", [("Host", "h")], io.BytesIO(b"abc"))
        assert resp.status == 200 and pool.connections_opened == 2
    finally:
        pool.close()
