"""The blocking driver's one send path, ``Connection.write(head, body)``, over a fake socket
that takes fewer bytes than it is given: partial writes of the head and of the body, the rest of
a fast-path write (``sent=``), a first write that failed (``error=``), big memory bodies, files
and iterables, on plain TCP and TLS. What reaches the "wire" must be head + body exactly once,
and the SendOutcome must say what left."""
from __future__ import annotations

import errno
import os
import socket

import pytest
from refcrc import crc64 as ref_crc64

from ossfast import TimeoutError as OssTimeoutError
from ossfast import TransportError
from ossfast import body as _body
from ossfast._outcome import Progress, SendOutcome
from ossfast._sync.connection import SMALL_BODY, Connection

HEAD = b"POST /?x-oss-write-get-object-response HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n"


class FakeSocket:
    """Takes at most ``limits[i]`` bytes on its i-th write (then ``default``), records them;
    ``fail_at``: the write index that raises ``error`` instead."""

    def __init__(self, limits=(), default=1 << 30, fail_at=None, error=None):
        self.wire = bytearray()
        self.limits = list(limits)
        self.default = default
        self.writes = 0
        self.fail_at = fail_at
        self.error = error
        self.timeout = None

    def _take(self, data):
        i = self.writes
        self.writes += 1
        if i == self.fail_at:
            raise self.error
        n = self.limits[i] if i < len(self.limits) else self.default
        data = bytes(data)[:n]
        self.wire += data
        return len(data)

    def sendmsg(self, buffers):
        return self._take(b"".join(bytes(b) for b in buffers))

    def send(self, data, flags=0):
        return self._take(data)

    def sendall(self, data):  # TLS: all or an error
        i = self.writes
        self.writes += 1
        if i == self.fail_at:
            raise self.error
        self.wire += bytes(data)

    def settimeout(self, seconds):
        self.timeout = seconds

    def setsockopt(self, *args):
        pass

    def close(self):
        pass


def conn_over(sock, plain=True):
    conn = Connection(sock, ("http" if plain else "https", "h", 80), plain)
    conn.wait = 5.0
    return conn


def head_for(n):
    return HEAD % n


@pytest.mark.parametrize("limits", [(3,), (len(head_for(1000)) + 10,), (0, 1, 2, 3), (len(head_for(1000)),)],
                         ids=["short-in-head", "short-in-body", "trickle", "head-exactly"])
def test_small_body_partial_writes_put_head_and_body_on_the_wire_once(limits):
    data = os.urandom(1000)
    head = head_for(len(data))
    sock = FakeSocket(limits)
    out = SendOutcome()
    conn_over(sock).write(head, _body.MemoryBody(memoryview(data)), out)
    assert bytes(sock.wire) == head + data
    assert (out.head_sent, out.body_sent, out.complete) == (len(head), len(data), True)
    assert out.crc64 == ref_crc64(data)


@pytest.mark.parametrize("sent", [1, 20, "head", "head+7"])
def test_write_goes_on_from_where_a_first_write_once_stopped(sent):
    data = os.urandom(3000)
    head = head_for(len(data))
    k = {"head": len(head), "head+7": len(head) + 7}.get(sent, sent)
    first = FakeSocket([k])
    conn = conn_over(first)
    assert conn.write_once(head, data) == k
    body = _body.MemoryBody(memoryview(data))
    body.crc = ref_crc64(data)  # the fast path's head call computed it
    out = SendOutcome()
    conn.write(head, body, out, sent=k)
    assert bytes(first.wire) == head + data
    assert out.complete and out.body_sent == len(data) and out.crc64 == ref_crc64(data)


@pytest.mark.parametrize("plain", [True, False], ids=["plain", "tls"])
def test_a_failed_first_write_is_reported_with_what_may_have_left(plain):
    """sendmsg sends nothing when it fails; a failed SSL_write may have sent part of its record:
    the request then counts as sent (the retry policy must know), the body as not."""
    data = b"x" * 100
    head = head_for(len(data))
    sock = FakeSocket()
    out = SendOutcome()
    with pytest.raises(TransportError) as ei:
        conn_over(sock, plain).write(head, _body.MemoryBody(memoryview(data)), out,
                                     error=ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"))
    assert ei.value.request_sent is (not plain) and ei.value.bytes_sent == 0
    assert "reset" in str(ei.value) and not out.complete and sock.wire == b""


def test_a_first_write_that_timed_out_is_a_timeout():
    sock = FakeSocket()
    with pytest.raises(OssTimeoutError):
        conn_over(sock).write(b"H", _body.MemoryBody(memoryview(b"b")), SendOutcome(), error=socket.timeout())


def test_tls_small_request_is_one_write_of_head_and_body():
    data = os.urandom(500)
    head = head_for(len(data))
    sock = FakeSocket()
    out = SendOutcome()
    conn_over(sock, plain=False).write(head, _body.MemoryBody(memoryview(data)), out)
    assert sock.writes == 1 and bytes(sock.wire) == head + data and out.complete


def test_big_memory_body_with_short_writes_and_progress():
    data = os.urandom(SMALL_BODY * 3 + 17)
    head = head_for(len(data))
    sock = FakeSocket(default=40_000)
    out = SendOutcome()
    seen = []
    conn_over(sock).write(head, _body.MemoryBody(memoryview(data)), out, Progress(lambda s, t: seen.append((s, t)),
                                                                                  len(data)))
    assert bytes(sock.wire) == head + data
    assert out.crc64 == ref_crc64(data) and out.body_sent == len(data) and out.complete
    assert seen == [(len(data), len(data))]


def test_a_failure_mid_body_counts_the_body_pieces_that_left():
    """bytes_sent counts whole pieces (CHUNK) that left: never more than the wire took."""
    data = os.urandom(_body.CHUNK + 3_000_000)
    head = head_for(len(data))
    # write 0: the head; writes 1-4: the first CHUNK, 1 MiB each; write 6 fails in the second piece
    sock = FakeSocket(default=1 << 20, fail_at=6, error=BrokenPipeError(errno.EPIPE, "Broken pipe"))
    out = SendOutcome()
    with pytest.raises(TransportError) as ei:
        conn_over(sock).write(head, _body.MemoryBody(memoryview(data)), out)
    assert ei.value.request_sent and ei.value.bytes_sent == _body.CHUNK == out.body_sent
    assert len(sock.wire) - len(head) > _body.CHUNK and not out.complete
    assert "Broken pipe" in str(ei.value)


@pytest.mark.parametrize("size", [100, SMALL_BODY + 1, 600_000])
def test_file_bodies_in_pieces_with_short_writes(tmp_path, size):
    data = os.urandom(size)
    path = tmp_path / "f"
    path.write_bytes(data)
    with open(path, "rb") as f:
        body = _body.classify(f, None)
        head = head_for(size)
        sock = FakeSocket(default=70_001)
        out = SendOutcome()
        conn_over(sock).write(head, body, out)
        assert f.tell() == size  # left at its end, as any file body sent
    assert bytes(sock.wire) == head + data
    assert out.crc64 == ref_crc64(data) and out.body_sent == size and out.complete


def test_iterable_body_with_short_writes():
    parts = [os.urandom(n) for n in (10, 70_000, 1, 5000)]
    total = sum(map(len, parts))
    body = _body.classify(iter(parts), total)
    head = head_for(total)
    sock = FakeSocket(default=9999)
    out = SendOutcome()
    conn_over(sock).write(head, body, out)
    assert bytes(sock.wire) == head + b"".join(parts)
    assert out.crc64 == ref_crc64(b"".join(parts)) and out.complete


# ---- the fast path's idle connections: the staleness check ---------------------------------


@pytest.mark.parametrize("closed", [False, True], ids=["open", "peer-closed"])
def test_acquire_idle_checks_every_connection_even_one_just_released(monkeypatch, closed):
    """The fast path polls a pooled connection before reusing it, however recently its reply
    was read; one the peer has closed is dropped (closed, never handed out). (A skip of the
    check for connections released within 20 us bought 2% on the 1 KiB bench and was not
    kept: urllib3 and httpcore check every time too.)"""
    from ossfast._outcome import Timeout
    from ossfast._sync import connection as transport

    polls = []
    real_is_stale = Connection.is_stale
    monkeypatch.setattr(Connection, "is_stale", lambda self: polls.append(self) or real_is_stale(self))
    a, b = socket.socketpair()
    try:
        pool = transport.Pool()
        conn = Connection(a, ("http", "h", 80), True)
        conn.wait = 5.0
        pool.release(conn)
        if closed:
            b.close()
        got = pool.acquire_idle(("http", "h", 80), Timeout(1.0, 5.0))
        assert polls == [conn]
        if closed:
            assert got is None and a.fileno() == -1 and pool.idle_count() == 0
        else:
            assert got is conn
    finally:
        a.close()
        b.close()
