"""Faults: the sender against a misbehaving loopback server (tests/srv_faults.py FaultServer).

Every test states the exact outcome: what is raised, what is retried (connections and request
slots the server saw, retry log lines), how many body bytes reached the server, and that the
call returned within its timeout. The rule behind them all: no success is reported for a body
the server did not receive whole (``assert_success_means_received``).
"""
from __future__ import annotations

import io
import logging
import os
import socket
import sys
import time

import pytest
from refcrc import crc64 as ref_crc64
from srv_faults import (
    FaultServer,
    accept_never_read,
    chunked_reply,
    close_after_head,
    close_immediately,
    early_reply,
    hold_after_body,
    idle_close,
    malformed_header,
    malformed_status_line,
    oversized_headers,
    read_body_then_close,
    reply,
    reset_mid_body,
    slow_reply,
    stall_tls_handshake,
    wrong_content_length,
)
from srv_ports import UnacceptedListener
from srv_recording import RecordingServer
from srv_replies import Reply, oss_error

import ossfast
from ossfast import Credentials, ServerError, TransportError, transport
from ossfast import TimeoutError as OssTimeoutError

pytestmark = pytest.mark.usefixtures("no_fd_leak")

ROUTE = "fc-ap-01-1234-opap.oss-cn-qingdao-internal.oss-object-process.aliyuncs.com"
TOKEN = "OSSV1#fault"
CREDS = Credentials("ak", "sk")
SMALL = b"s" * 1000
# More than the loopback socket buffers hold (a few MiB), so the sender is still writing
# when the server stops reading, resets or answers early.
BIG_SIZE = 16 * 1024 * 1024
# Scheduling noise allowed on top of a timeout (a 2-core CI machine running the suite).
SLACK = 1.0

_crc_seconds = {}


def crc_cost(n: int) -> float:
    """Seconds this backend needs to CRC n bytes: each slice is hashed before it is sent, and
    the pure-Python CRC runs at a few MB/s, so on that backend a failing send of a big body
    may take that long on top of its timeout (zero on the native backend)."""
    if ossfast.backend == "native":
        return 0.0
    if n not in _crc_seconds:
        data = bytes(min(n, 1 << 20))
        t = time.perf_counter()
        ossfast.crc64(data)
        _crc_seconds[n] = (time.perf_counter() - t) * n / len(data)
    return _crc_seconds[n]


@pytest.fixture(scope="module")
def big():
    return os.urandom(BIG_SIZE)


def client(server_or_url, *, timeout=1.0, retries=0, **kw):
    url = server_or_url if isinstance(server_or_url, str) else server_or_url.url
    return ossfast.Client(CREDS, endpoint=url, timeout=timeout,
                          retries=ossfast.Retry(total=retries, backoff=0.001, max_backoff=0.01), **kw)


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.elapsed = time.perf_counter() - self.start


def retry_lines(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "ossfast" and "retrying" in r.getMessage()]


def assert_success_means_received(server: FaultServer, result, body: bytes) -> None:
    """A success must match one exchange that received the whole body, byte-exact by CRC."""
    whole = [e for e in server.exchanges if e.body_complete and e.body_bytes == len(body)]
    assert whole, "success reported but no exchange received the whole body"
    assert whole[-1].crc64 == ref_crc64(body) == result.crc64
    assert result.bytes_sent == len(body)


# ---- connecting --------------------------------------------------------------------------


def test_refused_is_retried_then_raised(free_port, caplog):
    caplog.set_level(logging.INFO, logger="ossfast")
    with client(f"http://127.0.0.1:{free_port}", retries=2) as c, Timer() as t:
        with pytest.raises(TransportError) as ei:
            c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
    e = ei.value
    assert type(e) is TransportError and isinstance(e, ConnectionError)
    assert "cannot connect" in str(e) and "refused" in str(e).lower()
    assert not e.request_sent and e.bytes_sent == 0
    lines = retry_lines(caplog)
    assert len(lines) == 2 and all("connect failed" in m for m in lines)
    assert c.pool.connections_opened == 0
    assert t.elapsed < SLACK


def test_refused_without_retries_is_one_attempt(free_port, caplog):
    caplog.set_level(logging.INFO, logger="ossfast")
    with client(f"http://127.0.0.1:{free_port}", retries=0) as c:
        with pytest.raises(TransportError):
            c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
    assert retry_lines(caplog) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="relies on Linux dropping SYNs when the accept queue is full")
def test_connect_timeout_is_retried(caplog):
    """A listener whose accept queue is full drops SYNs: connect() times out. Nothing was sent,
    so the attempt is retried; each attempt takes the connect timeout, no more."""
    caplog.set_level(logging.INFO, logger="ossfast")
    with UnacceptedListener(backlog=0) as listener:
        fillers = []
        try:
            for _ in range(4):
                s = socket.socket()
                s.setblocking(False)
                try:
                    s.connect(("127.0.0.1", listener.port))
                except BlockingIOError:
                    pass
                fillers.append(s)
            time.sleep(0.05)
            with client(listener.url, timeout=(0.3, 1.0), retries=1) as c, Timer() as t:
                with pytest.raises(OssTimeoutError) as ei:
                    c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
        finally:
            for s in fillers:
                s.close()
    assert "connecting" in str(ei.value) and not ei.value.request_sent
    assert isinstance(ei.value, TimeoutError) and isinstance(ei.value, TransportError)
    assert len(retry_lines(caplog)) == 1
    assert 0.6 <= t.elapsed < 0.6 + SLACK


def test_accept_queue_never_served_times_out_on_the_reply(unaccepted_port, caplog):
    """connect() succeeds (the kernel queues it), the small request fits in the buffers, no
    reply ever comes: TimeoutError after the read timeout; not retried, the request was sent."""
    caplog.set_level(logging.INFO, logger="ossfast")
    with client(f"http://127.0.0.1:{unaccepted_port}", timeout=(1.0, 0.5), retries=2) as c, Timer() as t:
        with pytest.raises(OssTimeoutError) as ei:
            c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
    assert "no complete reply within 0.5s" in str(ei.value)
    assert ei.value.request_sent and ei.value.bytes_sent == len(SMALL)
    assert retry_lines(caplog) == []
    assert 0.5 <= t.elapsed < 0.5 + SLACK


def test_accept_never_read_times_out_while_sending(start_server, big, caplog):
    caplog.set_level(logging.INFO, logger="ossfast")
    server = start_server(FaultServer, behaviours=[accept_never_read()], rcvbuf=4096)
    with client(server, timeout=(1.0, 0.5), retries=2) as c, Timer() as t:
        with pytest.raises(OssTimeoutError) as ei:
            c.write_get_object_response(ROUTE, TOKEN, 200, big)
    assert str(ei.value) == "sending the request timed out"
    assert ei.value.request_sent and ei.value.bytes_sent < BIG_SIZE
    assert retry_lines(caplog) == []  # the head went out on a fresh connection: never retried
    assert t.elapsed < 0.5 + SLACK + crc_cost(BIG_SIZE)
    (ex,) = server.wait_for(1)
    assert ex.body_bytes == 0 and not ex.body_complete
    assert server.accepted == 1


# ---- cut-off exchanges -------------------------------------------------------------------


def test_close_right_after_head_small_body(start_server, caplog):
    caplog.set_level(logging.INFO, logger="ossfast")
    server = start_server(FaultServer, behaviours=[close_after_head()])
    with client(server, retries=2) as c, Timer() as t:
        with pytest.raises(TransportError) as ei:
            c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
    e = ei.value
    assert type(e) is TransportError
    assert str(e) in ("the server closed the connection before replying",
                      "reading the reply failed: Connection reset by peer")
    assert e.request_sent and e.bytes_sent == len(SMALL)  # handed to the socket, not received
    assert retry_lines(caplog) == []
    (ex,) = server.wait_for(1)
    assert ex.head_complete and ex.body_bytes == 0 and not ex.body_complete
    assert server.accepted == 1 and t.elapsed < SLACK


def test_close_right_after_head_big_body(start_server, big, caplog):
    caplog.set_level(logging.INFO, logger="ossfast")
    server = start_server(FaultServer, behaviours=[close_after_head()])
    with client(server, retries=2) as c, Timer() as t:
        with pytest.raises(TransportError) as ei:
            c.write_get_object_response(ROUTE, TOKEN, 200, big)
    e = ei.value
    assert type(e) is TransportError and str(e).startswith("sending the request failed: ")
    assert e.request_sent and e.bytes_sent < BIG_SIZE
    assert retry_lines(caplog) == []
    (ex,) = server.wait_for(1)
    assert ex.body_bytes == 0 and not ex.body_complete
    assert t.elapsed < SLACK + crc_cost(BIG_SIZE)


@pytest.mark.parametrize("kind", ["bytes", "file", "iterator"])
def test_reset_mid_body(start_server, big, kind, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="ossfast")
    server = start_server(FaultServer, behaviours=[reset_mid_body(after=1024)])
    path = tmp_path / "big.bin"
    path.write_bytes(big)
    with client(server, retries=2) as c, open(path, "rb") as f, Timer() as t:
        body = {"bytes": big, "file": f,
                "iterator": (big[i:i + 65536] for i in range(0, BIG_SIZE, 65536))}[kind]
        with pytest.raises(TransportError) as ei:
            c.write_get_object_response(ROUTE, TOKEN, 200, body, content_length=BIG_SIZE)
    e = ei.value
    assert type(e) is TransportError and str(e).startswith("sending the request failed: ")
    assert e.request_sent and e.bytes_sent < BIG_SIZE
    assert retry_lines(caplog) == []  # a fresh connection failing mid-body is not retried
    (ex,) = server.wait_for(1)
    assert ex.body_bytes == 1024 and not ex.body_complete
    assert server.accepted == 1
    assert t.elapsed < SLACK + crc_cost(BIG_SIZE)


def test_reads_body_then_closes_without_reply(start_server, caplog):
    caplog.set_level(logging.INFO, logger="ossfast")
    server = start_server(FaultServer, behaviours=[read_body_then_close()])
    with client(server, retries=2) as c, Timer() as t:
        with pytest.raises(TransportError) as ei:
            c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
    e = ei.value
    assert type(e) is TransportError and str(e) == "the server closed the connection before replying"
    assert e.request_sent and e.bytes_sent == len(SMALL)
    assert retry_lines(caplog) == []  # the server may have taken it: never sent twice
    (ex,) = server.wait_for(1)
    assert ex.body_complete and ex.crc64 == ref_crc64(SMALL)
    assert t.elapsed < SLACK


def test_reads_body_then_holds_times_out(start_server):
    server = start_server(FaultServer, behaviours=[hold_after_body()])
    with client(server, timeout=(1.0, 0.5), retries=2) as c, Timer() as t:
        with pytest.raises(OssTimeoutError) as ei:
            c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
    assert ei.value.request_sent
    assert 0.5 <= t.elapsed < 0.5 + SLACK
    assert len(server.wait_for(1)) == 1


def test_accepts_then_closes_at_once(start_server, caplog):
    caplog.set_level(logging.INFO, logger="ossfast")
    server = start_server(FaultServer, behaviours=[close_immediately()])
    with client(server, retries=2) as c, Timer() as t:
        with pytest.raises(TransportError) as ei:
            c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
    assert ei.value.request_sent  # the write went into the kernel before the close arrived
    assert retry_lines(caplog) == []
    assert server.accepted == 1 and server.full_bodies == 0 and t.elapsed < SLACK


# ---- early replies -----------------------------------------------------------------------


@pytest.mark.parametrize("status,size", [
    (400, "small"), (403, "small"), (404, "small"), (409, "small"), (403, "big"), (404, "big")])
def test_early_4xx_is_raised_not_retried(start_server, big, status, size, caplog):
    caplog.set_level(logging.INFO, logger="ossfast")
    body = SMALL if size == "small" else big
    server = start_server(FaultServer, behaviours=[early_reply(status, "EarlyCode", "refused early")])
    with client(server, retries=2) as c, Timer() as t:
        with pytest.raises(ServerError) as ei:
            c.write_get_object_response(ROUTE, TOKEN, 200, body)
    e = ei.value
    assert (e.status, e.code, e.message) == (status, "EarlyCode", "refused early")
    assert len(e.request_id) == 24
    assert retry_lines(caplog) == []
    (ex,) = server.wait_for(1)
    if size == "big":
        assert ex.body_bytes == 0 and not ex.body_complete
    assert t.elapsed < SLACK + crc_cost(len(body))


def test_early_reply_then_drain(start_server, big):
    """The server answers 403 at once but reads the body before closing: a ServerError, and
    the whole body did arrive."""
    server = start_server(FaultServer, behaviours=[early_reply(403, then="drain")])
    with client(server, retries=2) as c:
        with pytest.raises(ServerError) as ei:
            c.write_get_object_response(ROUTE, TOKEN, 200, big)
    assert ei.value.status == 403
    (ex,) = server.wait_for(1)
    assert ex.body_complete and ex.crc64 == ref_crc64(big)


@pytest.mark.parametrize("status", [500, 503])
def test_early_5xx_is_retried_for_replayable_body(start_server, big, status, caplog):
    caplog.set_level(logging.INFO, logger="ossfast")
    server = start_server(FaultServer, behaviours=[early_reply(status, "Busy", "later"), reply(200)])
    with client(server, retries=2) as c:
        r = c.write_get_object_response(ROUTE, TOKEN, 200, big)
    assert r.status == 200 and r.attempts == 2 and not r.reused_connection
    lines = retry_lines(caplog)
    assert len(lines) == 1 and f"server answered {status} before reading the whole body" in lines[0]
    first, second = server.wait_for(2)
    assert not first.body_complete
    assert second.body_complete and second.crc64 == ref_crc64(big)
    assert_success_means_received(server, r, big)


def test_early_5xx_exhausts_retries(start_server, big):
    server = start_server(FaultServer, behaviours=[early_reply(503, "Busy", "later")])
    with client(server, retries=1) as c:
        with pytest.raises(ServerError) as ei:
            c.write_get_object_response(ROUTE, TOKEN, 200, big)
    assert ei.value.status == 503
    assert len(server.wait_for(2)) == 2 and server.full_bodies == 0


def test_early_5xx_not_retried_for_iterator(start_server, big, caplog):
    caplog.set_level(logging.INFO, logger="ossfast")
    server = start_server(FaultServer, behaviours=[early_reply(503, "Busy", "later"), reply(200)])
    pieces = (big[i:i + 65536] for i in range(0, BIG_SIZE, 65536))
    with client(server, retries=2) as c:
        with pytest.raises(ServerError) as ei:
            c.write_get_object_response(ROUTE, TOKEN, 200, pieces, content_length=BIG_SIZE)
    assert ei.value.status == 503
    assert retry_lines(caplog) == []
    assert len(server.wait_for(1)) == 1 and server.accepted == 1 and server.full_bodies == 0


# ---- bad replies -------------------------------------------------------------------------


def test_slow_reply_within_the_deadline(start_server):
    server = start_server(FaultServer, behaviours=[slow_reply(byte_delay=0.002)])
    with client(server, timeout=(1.0, 3.0)) as c:
        r = c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
    assert r.status == 200 and len(r.request_id) == 24
    assert_success_means_received(server, r, SMALL)


def test_slow_reply_past_the_deadline(start_server, caplog):
    """The read timeout is the deadline for the whole reply, not per byte: a server trickling
    a byte every 50 ms cannot keep the caller waiting past it."""
    caplog.set_level(logging.INFO, logger="ossfast")
    server = start_server(FaultServer, behaviours=[slow_reply(byte_delay=0.05)])
    with client(server, timeout=(1.0, 0.5), retries=2) as c, Timer() as t:
        with pytest.raises(OssTimeoutError) as ei:
            c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
    assert str(ei.value) == "no complete reply within 0.5s"
    assert ei.value.request_sent and ei.value.bytes_sent == len(SMALL)
    assert retry_lines(caplog) == []
    assert 0.5 <= t.elapsed < 0.5 + SLACK
    (ex,) = server.wait_for(1)
    assert ex.body_complete  # the server had it all: the failure is in the reply only
    assert 0 < ex.reply_bytes < 40


@pytest.mark.parametrize("behaviour,message", [
    (malformed_status_line(), "malformed reply: "),
    (malformed_status_line(b"HTTX/1.1 200 OK"), "malformed reply: "),
    (malformed_status_line(b"HTTP/1.1 99999 OK"), "malformed reply: "),
    (malformed_header(), "malformed reply: "),
    (malformed_header(b"x-oss-request-id: a\rb"), "malformed reply: "),
    (oversized_headers(), "the reply head is larger than 65536 bytes"),
    (wrong_content_length(declared=100, sent=10), "the server closed the connection in the middle of the reply"),
], ids=lambda v: v if isinstance(v, str) else repr(v)[:40])
def test_bad_reply_is_a_transport_error(start_server, behaviour, message, caplog):
    caplog.set_level(logging.INFO, logger="ossfast")
    server = start_server(FaultServer, behaviours=[behaviour, reply(200)])
    with client(server, retries=2) as c:
        with Timer() as t, pytest.raises(TransportError) as ei:
            c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
        assert type(ei.value) is TransportError and str(ei.value).startswith(message)
        assert ei.value.request_sent and ei.value.bytes_sent == len(SMALL)
        assert retry_lines(caplog) == []
        assert t.elapsed < SLACK
        # The connection was dropped, not pooled: the next request goes on a fresh one.
        r = c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
    assert not r.reused_connection and server.accepted == 2


def test_reply_longer_than_its_content_length_stands_and_drops_the_connection(start_server, caplog):
    """Bytes beyond a complete reply (its Content-Length says 5, 10 came) are discarded, as
    RFC 9112 section 9.3 allows; the connection they came on is not reused."""
    caplog.set_level(logging.INFO, logger="ossfast")
    server = start_server(FaultServer, behaviours=[wrong_content_length(declared=5, sent=10), reply(200)])
    with client(server, retries=2) as c:
        r = c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
        assert r.status == 200 and r.bytes_sent == len(SMALL) and r.attempts == 1
        assert retry_lines(caplog) == []
        r2 = c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
    assert r2.status == 200 and not r2.reused_connection and server.accepted == 2


def test_interim_1xx_reply_is_a_transport_error(start_server):
    server = start_server(FaultServer, behaviours=[Reply(102, close=True)])
    with client(server) as c:
        with pytest.raises(TransportError, match="unexpected interim reply 102"):
            c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)


def test_chunked_reply_is_read_and_the_connection_kept(start_server):
    server = start_server(FaultServer, behaviours=[chunked_reply([b"<ok>", b"", b"</ok>" * 100])])
    with client(server) as c:
        r1 = c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
        r2 = c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
    assert (r1.status, r2.status) == (200, 200)
    assert r2.reused_connection and server.accepted == 1
    assert_success_means_received(server, r2, SMALL)


def test_reply_without_length_reads_to_close(start_server):
    """A reply with neither Content-Length nor chunking ends at EOF; the connection is not kept."""
    raw = b"HTTP/1.1 200 OK\r\nx-oss-request-id: 0123456789ABCDEF01234567\r\n\r\n"
    from srv_faults import raw as raw_behaviour

    server = start_server(FaultServer, behaviours=[raw_behaviour(raw, close=True), reply(200)])
    with client(server) as c:
        r1 = c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
        r2 = c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
    assert r1.request_id == "0123456789ABCDEF01234567"
    assert not r2.reused_connection and server.accepted == 2


# ---- 5xx then 200 ------------------------------------------------------------------------


def _bodies(data, tmp_path):
    path = tmp_path / "body.bin"
    path.write_bytes(data)
    return {
        "bytes": lambda: data,
        "bytearray": lambda: bytearray(data),
        "memoryview": lambda: memoryview(data),
        "file": lambda: open(path, "rb"),
        "raw-file": lambda: open(path, "rb", buffering=0),
        "bytesio": lambda: io.BytesIO(data),
    }


@pytest.mark.parametrize("status", [500, 502, 503, 504])
@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview", "file", "raw-file", "bytesio"])
@pytest.mark.parametrize("close", [False, True])
def test_5xx_then_200_retried_for_replayable_body(start_server, tmp_path, status, kind, close, caplog):
    caplog.set_level(logging.INFO, logger="ossfast")
    data = os.urandom(200_000)
    server = start_server(FaultServer, behaviours=[
        reply(oss_error(status, "InternalError", "try again", close=close)), reply(200)])
    body = _bodies(data, tmp_path)[kind]()
    try:
        with client(server, retries=2) as c:
            r = c.write_get_object_response(ROUTE, TOKEN, 200, body)
    finally:
        if hasattr(body, "close"):
            body.close()
    assert r.status == 200 and r.attempts == 2 and r.crc64 == ref_crc64(data)
    assert r.reused_connection is (not close)
    lines = retry_lines(caplog)
    assert len(lines) == 1 and f"server answered {status}" in lines[0] and "attempt 2 of 3" in lines[0]
    first, second = server.wait_for(2)
    assert first.body_complete and second.body_complete  # the body went out whole, twice
    assert first.crc64 == second.crc64 == ref_crc64(data)
    assert server.accepted == (2 if close else 1)


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_not_retried_for_iterator(start_server, status, caplog):
    caplog.set_level(logging.INFO, logger="ossfast")
    server = start_server(FaultServer, behaviours=[reply(oss_error(status, "InternalError", "x")), reply(200)])
    with client(server, retries=2) as c:
        with pytest.raises(ServerError) as ei:
            c.write_get_object_response(ROUTE, TOKEN, 200, iter([b"abc", b"def"]), content_length=6)
    assert ei.value.status == status and ei.value.code == "InternalError"
    assert retry_lines(caplog) == []
    assert len(server.wait_for(1)) == 1 and server.full_bodies == 1


def test_5xx_not_retried_for_unseekable_file(start_server, caplog):
    caplog.set_level(logging.INFO, logger="ossfast")
    server = start_server(FaultServer, behaviours=[reply(oss_error(503, "ServiceUnavailable", "x")), reply(200)])
    r, w = os.pipe()
    os.write(w, b"pipe body")
    os.close(w)
    with client(server, retries=2) as c, os.fdopen(r, "rb") as f:
        with pytest.raises(ServerError) as ei:
            c.write_get_object_response(ROUTE, TOKEN, 200, f, content_length=9)
    assert ei.value.status == 503 and retry_lines(caplog) == []
    assert server.full_bodies == 1


@pytest.mark.parametrize("status", [400, 403, 404, 409, 501])
def test_other_errors_are_not_retried(start_server, status, caplog):
    caplog.set_level(logging.INFO, logger="ossfast")
    server = start_server(FaultServer, behaviours=[reply(oss_error(status, "Nope", "no")), reply(200)])
    with client(server, retries=2) as c:
        with pytest.raises(ServerError) as ei:
            c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
    assert ei.value.status == status and retry_lines(caplog) == []
    assert len(server.wait_for(1)) == 1


def test_5xx_exhausts_retries(start_server, caplog):
    caplog.set_level(logging.INFO, logger="ossfast")
    server = start_server(FaultServer, behaviours=[reply(oss_error(503, "ServiceUnavailable", "busy"))])
    with client(server, retries=3) as c:
        with pytest.raises(ServerError) as ei:
            c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
    assert ei.value.status == 503 and ei.value.code == "ServiceUnavailable"
    assert len(retry_lines(caplog)) == 3
    assert len(server.wait_for(4)) == 4


# ---- keep-alive --------------------------------------------------------------------------


def _count_sends(monkeypatch):
    calls = []
    real = transport.send_request

    def counting(conn, head, body, progress=None):
        calls.append(conn)
        return real(conn, head, body, progress)

    monkeypatch.setattr(transport, "send_request", counting)
    return calls


def _wait_closed(server, conn_index, timeout=2.0):
    server.wait_until(lambda: len(server.connections) > conn_index and server.connections[conn_index].closed,
                      timeout, "the idle connection closed")
    time.sleep(0.05)  # let the FIN reach the client's socket


@pytest.mark.parametrize("tls", [False, True])
def test_idle_keepalive_closed_by_server(start_server, tls_material, monkeypatch, tls, caplog):
    """The server closes a pooled connection between two requests: poll() sees it before the
    second request is written, which goes out once, whole, on a fresh connection."""
    caplog.set_level(logging.INFO, logger="ossfast")
    ctx = tls_material.server_context() if tls else None
    server = start_server(FaultServer, behaviours=[idle_close(delay=0.05), reply(200)], ssl_context=ctx)
    url = server.url.replace("127.0.0.1", "localhost")
    with client(url, retries=2, verify=tls_material.ca_file) as c:
        r1 = c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
        assert c.pool.idle_count() == 1
        _wait_closed(server, 0)
        sends = _count_sends(monkeypatch)
        data = os.urandom(5000)
        r2 = c.write_get_object_response(ROUTE, TOKEN, 200, data)
    assert r1.status == r2.status == 200
    assert r2.attempts == 1 and not r2.reused_connection
    assert len(sends) == 1  # one send, on the new connection: nothing went out on the old one
    assert retry_lines(caplog) == []
    assert [len(conn.exchanges) for conn in server.connections] == [1, 1]
    assert server.connections[1].exchanges[0].body_complete
    assert_success_means_received(server, r2, data)


def test_close_racing_the_request_is_reported_not_retried(start_server, monkeypatch, caplog):
    """If the server's close is still in flight when poll() looks (simulated here), the request
    goes out on the dying connection and the reply never comes. The server may have taken it,
    so it is not sent again: TransportError with request_sent=True."""
    caplog.set_level(logging.INFO, logger="ossfast")
    server = start_server(FaultServer, behaviours=[idle_close(delay=0.05), reply(200)])
    with client(server, retries=2) as c:
        c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
        _wait_closed(server, 0)
        monkeypatch.setattr(transport.Connection, "is_stale", lambda self: False)
        with pytest.raises(TransportError) as ei:
            c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
    assert ei.value.request_sent and retry_lines(caplog) == []
    assert server.accepted == 1 and server.full_bodies == 1


@pytest.mark.parametrize("kind", ["bytes", "iterator"])
def test_pooled_connection_reset_while_writing(start_server, big, kind, caplog):
    """A pooled connection that fails while the body is being written counts as stale: a
    replayable body is sent again on a fresh connection; an iterator already partly consumed
    cannot be, and the error is raised."""
    caplog.set_level(logging.INFO, logger="ossfast")
    server = start_server(FaultServer, behaviours=[reply(200), reset_mid_body(after=4096), reply(200)])
    with client(server, retries=2) as c:
        c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
        if kind == "bytes":
            r = c.write_get_object_response(ROUTE, TOKEN, 200, big)
            assert r.attempts == 2 and not r.reused_connection
            lines = retry_lines(caplog)
            assert len(lines) == 1 and "stale pooled connection" in lines[0]
            assert_success_means_received(server, r, big)
            assert server.accepted == 2
        else:
            pieces = (big[i:i + 65536] for i in range(0, BIG_SIZE, 65536))
            with pytest.raises(TransportError) as ei:
                c.write_get_object_response(ROUTE, TOKEN, 200, pieces, content_length=BIG_SIZE)
            assert ei.value.request_sent and retry_lines(caplog) == []
            assert server.accepted == 1
    cut = server.connections[0].exchanges[1]
    assert cut.body_bytes == 4096 and not cut.body_complete


# ---- TLS ---------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["wrong_host", "expired", "not_yet_valid", "self_signed", "unknown_ca"])
def test_bad_certificate_rejected_and_not_retried(start_server, tls_material, variant, caplog):
    caplog.set_level(logging.INFO, logger="ossfast")
    server = start_server(RecordingServer, ssl_context=tls_material.server_context(variant))
    url = server.url.replace("127.0.0.1", "localhost")
    with client(url, retries=2, verify=tls_material.ca_file) as c, Timer() as t:
        with pytest.raises(transport.CertificateError) as ei:
            c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
    e = ei.value
    assert isinstance(e, TransportError) and "TLS certificate of localhost:" in str(e)
    assert not e.request_sent
    assert retry_lines(caplog) == []
    server.wait_until(lambda: len(server.tls_errors) == 1, 2.0, "the server's TLS error")
    assert server.accepted == 1 and server.requests == [] and server.aborted == []
    assert t.elapsed < SLACK


@pytest.mark.parametrize("variant", ["wrong_host", "expired", "self_signed", "unknown_ca"])
def test_bad_certificate_accepted_with_verify_false(start_server, tls_material, variant):
    server = start_server(RecordingServer, ssl_context=tls_material.server_context(variant))
    with client(server.url, verify=False) as c:
        r = c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
    assert r.status == 200 and server.wait_for(1)[0].body == SMALL


def test_self_signed_accepted_when_it_is_the_ca_file(start_server, tls_material):
    server = start_server(RecordingServer, ssl_context=tls_material.server_context("self_signed"))
    cert_file, _ = tls_material.cert_files("self_signed")
    with client(server.url.replace("127.0.0.1", "localhost"), verify=cert_file) as c:
        assert c.write_get_object_response(ROUTE, TOKEN, 200, SMALL).status == 200


@pytest.mark.parametrize("retries", [0, 1])
def test_stalled_tls_handshake_times_out(start_server, tls_material, retries, caplog):
    caplog.set_level(logging.INFO, logger="ossfast")
    server = start_server(FaultServer, behaviours=[stall_tls_handshake()], ssl_context=tls_material.server_context())
    url = server.url.replace("127.0.0.1", "localhost")
    with client(url, timeout=(0.4, 2.0), retries=retries, verify=tls_material.ca_file) as c, Timer() as t:
        with pytest.raises(OssTimeoutError) as ei:
            c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
    assert str(ei.value).startswith("TLS handshake with localhost:") and "timed out after 0.4s" in str(ei.value)
    assert not ei.value.request_sent
    assert len(retry_lines(caplog)) == retries  # nothing was sent: retried like a failed connect
    server.wait_for_connections(retries + 1)
    assert server.accepted == retries + 1
    assert 0.4 * (retries + 1) <= t.elapsed < 0.4 * (retries + 1) + SLACK


# ---- the invariant, swept ----------------------------------------------------------------

SWEEP = [
    close_immediately, close_after_head, lambda: reset_mid_body(after=100), read_body_then_close,
    lambda: early_reply(403), lambda: early_reply(503), lambda: slow_reply(0.05), malformed_status_line,
    malformed_header, lambda: oversized_headers(200_000), wrong_content_length, chunked_reply,
    lambda: reply(500), lambda: reply(200), lambda: reply(200, close=True), lambda: hold_after_body(1.0),
]


@pytest.mark.parametrize("kind", ["bytes", "file", "iterator"])
def test_no_success_without_the_whole_body(start_server, tmp_path, kind):
    """Every fault, every body kind, with retries on: a success always matches a whole body."""
    data = os.urandom(300_000)
    path = tmp_path / "b.bin"
    path.write_bytes(data)
    outcomes = {}
    for make in SWEEP:
        behaviour = make()
        server = start_server(FaultServer, behaviours=[behaviour])
        with client(server, timeout=(0.5, 0.5), retries=1) as c, open(path, "rb") as f:
            body = {"bytes": data, "file": f,
                    "iterator": (data[i:i + 7000] for i in range(0, len(data), 7000))}[kind]
            with Timer() as t:
                try:
                    r = c.write_get_object_response(ROUTE, TOKEN, 200, body, content_length=len(data))
                except (TransportError, ServerError) as exc:
                    outcomes[repr(behaviour)] = type(exc).__name__
                else:
                    outcomes[repr(behaviour)] = "ok"
                    assert_success_means_received(server, r, data)
        assert t.elapsed < 2 * (0.5 + SLACK), behaviour
        server.stop()
    assert [k for k, v in outcomes.items() if v == "ok"] == [
        "chunked_reply(chunks=(b'<ok>', b'</ok>'))", "reply(status=200, close=False)",
        "reply(status=200, close=True)"]
