"""The blocking client against its promises, from an adversarial review (each test failed before
its fix, unless marked as a guard for a defect found in the asyncio client):

* a fast-path first write cut short for a body of up to 64 KiB whose head takes the request
  over 64 KiB went on with the head again: a corrupted body reported as a success;
* an OSError from the caller's side of a send (the progress callback, an iterator, reading a
  file) was taken for a failed connection: reported as a TransportError and, on a pooled
  connection, retried as a "stale pooled connection" -- sending a body the server had whole;
* a regular file truncated while sent was a TransportError, retried on a pooled connection;
* a gzip/bz2/lzma file was sent as its compressed bytes (its fileno() is the compressed
  file's), and a success reported;
* a file closed between prepare() and send() was sent by its descriptor number, which may
  name another file by then;
* a character device (/dev/zero) was refused ("the file has only 0 bytes");
* a closed mmap or a released memoryview raised a bare ValueError;
* TLS 1.2 as the floor was Python's default only from 3.10 on;
* an endpoint's password was echoed in InvalidRequestError;
* after os.fork(), the child used the parent's pooled connections and its dead CRC threads.
"""
from __future__ import annotations

import bz2
import errno
import gzip
import io
import logging
import lzma
import mmap
import os
import signal
import ssl
import sys
import tempfile
import warnings

import pytest
from refcrc import crc64 as ref_crc64
from srv_recording import RecordingServer
from srv_replies import Reply, oss_error
from test_sync_connection import FakeSocket, conn_over, head_for

import ossfast
from ossfast import Credentials, InvalidRequestError, TransportError
from ossfast import body as _body
from ossfast._outcome import Progress, SendOutcome, Timeout
from ossfast._sync import connection as _conn
from ossfast._sync.connection import Connection, Pool

pytestmark = pytest.mark.usefixtures("no_fd_leak")

ROUTE = "fc-ap-01-1234-opap.oss-cn-qingdao-internal.oss-object-process.aliyuncs.com"
TOKEN = "OSSV1#review"
CREDS = Credentials("ak", "sk")
MiB = 1024 * 1024


def client(server, retries=2, **kw):
    kw.setdefault("timeout", 5)
    return ossfast.Client(CREDS, endpoint=server.url,
                          retries=ossfast.Retry(total=retries, backoff=0.001, max_backoff=0.002), **kw)


def retry_lines(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "ossfast" and "retrying" in r.getMessage()]


def complete_with(server, token):
    return [r for r in server.requests if r.header("x-oss-request-token") == token]


# ---- a fast-path first write cut short ---------------------------------------------------

@pytest.mark.parametrize("first", ["in-head", "head", "in-body", "most"])
def test_a_short_first_write_of_a_64_KiB_body_goes_on_from_where_it_stopped(first):
    """The fast path takes bodies up to 64 KiB; with its head the request is over SMALL_BODY,
    so the rest went the big-body way, which started again from the head."""
    data = os.urandom(64 * 1024)
    head = head_for(len(data))
    assert len(head) + len(data) > _conn.SMALL_BODY
    k = {"in-head": 7, "head": len(head), "in-body": len(head) + 1000,
         "most": len(head) + len(data) - 1}[first]
    sock = FakeSocket([k])
    conn = conn_over(sock)
    assert conn.write_once(head, data) == k
    body = _body.MemoryBody(memoryview(data))
    body.crc = ref_crc64(data)  # the fast path's head call computed it
    out = SendOutcome()
    conn.write(head, body, out, sent=k)
    assert bytes(sock.wire) == head + data
    assert (out.head_sent, out.body_sent, out.complete, out.crc64) == (len(head), len(data), True,
                                                                        ref_crc64(data))


def test_the_rest_of_a_big_first_write_is_hashed_and_paced_when_its_crc_is_not_known():
    data = os.urandom(9 * MiB)
    head = head_for(len(data))
    k = len(head) + 5 * MiB + 3
    sock = FakeSocket([k])
    conn = conn_over(sock)
    conn.write_once(head, data)
    calls = []
    out = SendOutcome()
    conn.write(head, _body.MemoryBody(memoryview(data)), out,
               Progress(lambda s, t: calls.append(s), len(data)), sent=k)
    assert bytes(sock.wire) == head + data and out.crc64 == ref_crc64(data)
    assert calls == [8 * MiB, 9 * MiB]


def test_fast_path_short_first_write_end_to_end(start_server, monkeypatch):
    """Through the client: the fast path's sendmsg takes the head and 1000 body bytes only;
    the server must get the body once, exactly, and the Result must say so."""
    server = start_server(RecordingServer)
    data = os.urandom(64 * 1024)

    def short_write_once(self, head, body):
        return self.sock.sendmsg((head, memoryview(body)[:1000]))

    with client(server) as c:
        c.write_get_object_response(ROUTE, TOKEN, 200, b"warm")  # the route's lane, a pooled connection
        monkeypatch.setattr(Connection, "write_once", short_write_once)
        r = c.write_get_object_response(ROUTE, TOKEN, 200, data)
        monkeypatch.undo()
        c.write_get_object_response(ROUTE, TOKEN, 200, b"after")
    reqs = server.wait_for(3)
    assert [q.body for q in reqs] == [b"warm", data, b"after"]
    assert r.reused_connection and r.bytes_sent == len(data) and r.crc64 == ref_crc64(data)


# ---- the caller's OSErrors are not the connection's --------------------------------------

@pytest.mark.parametrize("when", ["middle", "end"])
def test_progress_raising_an_oserror_is_raised_unchanged_and_never_retried(start_server, caplog, when):
    """README: the progress callback's exception propagates unchanged. An OSError (a closed
    stdout: BrokenPipeError) was a TransportError, and on a pooled connection a "stale
    connection" retry: at the end, the body the server had whole went again."""
    caplog.set_level(logging.INFO, logger="ossfast")
    server = start_server(RecordingServer)
    data = os.urandom(9 * MiB)
    err = BrokenPipeError(errno.EPIPE, "stdout is gone")

    def progress(sent, total):
        if sent == total or when == "middle":
            raise err

    with client(server) as c:
        c.write_get_object_response(ROUTE, TOKEN, 200, b"warm")
        with pytest.raises(BrokenPipeError) as ei:
            c.write_get_object_response(ROUTE, "tok-progress", 200, data, progress=progress)
        assert ei.value is err
        c.write_get_object_response(ROUTE, TOKEN, 200, b"after")  # the client goes on
    server.wait_for(2)
    assert retry_lines(caplog) == []
    # at the end the body had left whole: the server may have taken it (once); in the middle never
    assert len(complete_with(server, "tok-progress")) <= (1 if when == "end" else 0)


def test_an_iterator_raising_an_oserror_or_a_transport_error_of_its_own(start_server, caplog):
    """An iterator streaming from elsewhere (the original object, read with ossfast's own
    request()) fails: its exception, unchanged, not "sending the request failed"."""
    caplog.set_level(logging.INFO, logger="ossfast")
    server = start_server(RecordingServer)
    upstream = [ConnectionResetError(errno.ECONNRESET, "upstream reset"),
                TransportError("reading the reply failed: upstream", request_sent=True, bytes_sent=123)]

    def pieces(exc):
        yield b"a" * 1000
        yield b"b" * 1000
        raise exc

    with client(server) as c:
        c.write_get_object_response(ROUTE, TOKEN, 200, b"warm")
        for exc in upstream:
            with pytest.raises(type(exc)) as ei:
                c.write_get_object_response(ROUTE, "tok-iter", 200, pieces(exc), content_length=5000)
            assert ei.value is exc
        assert upstream[1].bytes_sent == 123  # not rewritten as this request's
    assert retry_lines(caplog) == [] and complete_with(server, "tok-iter") == []


class _FailingReads(io.RawIOBase):
    """A seekable (so replayable) file-like body whose second read fails with EIO."""

    def __init__(self, data):
        self._f = io.BytesIO(data)
        self.reads = 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def seek(self, pos, whence=0):
        return self._f.seek(pos, whence)

    def tell(self):
        return self._f.tell()

    def readinto(self, b):
        self.reads += 1
        if self.reads % 2 == 0:
            raise OSError(errno.EIO, "Input/output error")
        return self._f.readinto(b)


def test_a_file_whose_read_fails_is_not_retried_as_a_stale_connection(start_server, caplog):
    caplog.set_level(logging.INFO, logger="ossfast")
    server = start_server(RecordingServer)
    f = _FailingReads(os.urandom(3 * MiB))
    with client(server) as c:
        c.write_get_object_response(ROUTE, TOKEN, 200, b"warm")
        with pytest.raises(OSError) as ei:
            c.write_get_object_response(ROUTE, "tok-eio", 200, f)
    assert type(ei.value) is OSError and ei.value.errno == errno.EIO
    assert f.reads == 2 and retry_lines(caplog) == [] and complete_with(server, "tok-eio") == []


def test_request_passes_the_bodys_own_error_unchanged(start_server):
    """The generic request() (the SDK backends' path): no retry, the body source's exception."""
    server = start_server(RecordingServer)
    err = ConnectionAbortedError(errno.ECONNABORTED, "source gone")

    def pieces():
        yield b"x" * 10
        raise err

    pool = Pool()
    try:
        key = ("http", "127.0.0.1", server.port)
        _conn.request(pool, key, Timeout(5, 5), "GET", "/warm", [("Host", "h")])
        with pytest.raises(ConnectionAbortedError) as ei:
            _conn.request(pool, key, Timeout(5, 5), "PUT", "/k", [("Host", "h")],
                          body=pieces(), content_length=100)
        assert ei.value is err
    finally:
        pool.close()
    assert [r.target for r in server.wait_for(1)] == ["/warm"]


# ---- file bodies -------------------------------------------------------------------------

@pytest.mark.parametrize("content_md5", [False, True], ids=["pread", "sendfile"])
def test_a_file_truncated_while_sent_is_invalid_and_never_retried(start_server, tmp_path, caplog,
                                                                   content_md5):
    caplog.set_level(logging.INFO, logger="ossfast")
    server = start_server(RecordingServer)
    size = 3 * MiB + 5
    path = tmp_path / "f.bin"
    path.write_bytes(os.urandom(size))
    with client(server) as c, open(path, "rb") as f:
        c.write_get_object_response(ROUTE, TOKEN, 200, b"warm")
        prepared = c.prepare(ROUTE, "tok-cut", 200, f, content_md5=content_md5)
        os.truncate(path, size // 2)
        with pytest.raises(InvalidRequestError) as ei:
            c.send(prepared)
    assert ei.value.field == "body" and "ended" in str(ei.value)
    assert retry_lines(caplog) == [] and complete_with(server, "tok-cut") == []


@pytest.mark.parametrize("opener", [gzip.open, bz2.open, lzma.open], ids=["gzip", "bz2", "lzma"])
@pytest.mark.parametrize("size", [1000, 300 * 1024])
def test_a_compressed_file_is_sent_as_its_reader_reads_it(start_server, tmp_path, opener, size):
    """gzip.open(path, 'rb').fileno() is the compressed file's: sent by position, the wire got
    the compressed bytes, and a success with their CRC."""
    server = start_server(RecordingServer)
    data = os.urandom(size // 2) * 2
    path = tmp_path / "f.z"
    with opener(path, "wb") as w:
        w.write(data)
    with client(server) as c:
        for _ in range(2):  # the general path, then the fast path's small files
            with opener(path, "rb") as f:
                r = c.write_get_object_response(ROUTE, TOKEN, 200, f)
            assert r.bytes_sent == len(data) and r.crc64 == ref_crc64(data)
        with opener(path, "rb") as f:  # a buffered reader over it
            r = c.write_get_object_response(ROUTE, TOKEN, 200, io.BufferedReader(f))
            assert r.crc64 == ref_crc64(data)
    for req in server.wait_for(3):
        assert req.body == data


def test_real_files_are_still_sent_by_position(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 100)
    with open(path, "rb") as a, open(path, "rb", buffering=0) as b, open(path, "r+b") as c, \
            tempfile.NamedTemporaryFile() as d, tempfile.TemporaryFile() as e:
        for f in (d, e):
            f.write(b"y" * 100)
            f.seek(0)
        for f in (a, b, c, d, e):
            assert _body.classify(f, None).fd == f.fileno()


def test_a_file_closed_after_prepare_is_refused_before_any_byte(start_server, tmp_path):
    """Its descriptor number names whatever was opened since: here another file."""
    server = start_server(RecordingServer)
    mine, other = tmp_path / "mine", tmp_path / "other"
    mine.write_bytes(b"M" * 200_000)
    other.write_bytes(b"O" * 300_000)
    with client(server) as c:
        with open(mine, "rb") as f:
            prepared = c.prepare(ROUTE, TOKEN, 200, f)
            fd = f.fileno()
        with open(other, "rb") as g:
            assert g.fileno() == fd
            with pytest.raises(InvalidRequestError) as ei:
                c.send(prepared)
    assert ei.value.field == "body" and "closed" in str(ei.value)
    assert server.accepted == 0


def test_a_character_device_is_read_like_a_pipe(start_server):
    server = start_server(RecordingServer, responses=[oss_error(503, "ServiceUnavailable", "busy")])
    with client(server) as c, open("/dev/zero", "rb") as f:
        body = _body.classify(f, 100_000)
        assert (body.fd, body.replayable, body.length) == (None, False, 100_000)
        with pytest.raises(ossfast.ServerError):  # not replayable: the 503 is not retried
            c.write_get_object_response(ROUTE, TOKEN, 200, f, content_length=100_000)
        r = c.write_get_object_response(ROUTE, TOKEN, 200, f, content_length=100_000)
    assert r.crc64 == ref_crc64(bytes(100_000))
    reqs = server.wait_for(2)
    assert [q.body for q in reqs] == [bytes(100_000)] * 2


# ---- memory bodies -----------------------------------------------------------------------

def test_a_closed_mmap_or_released_view_is_invalid_input(start_server):
    server = start_server(RecordingServer)
    m = mmap.mmap(-1, 4096)
    m.close()
    v = memoryview(b"released")
    v.release()
    with client(server) as c:
        for body in (m, v):
            with pytest.raises(InvalidRequestError) as ei:
                c.write_get_object_response(ROUTE, TOKEN, 200, body)
            assert ei.value.field == "body"
    assert server.accepted == 0


# ---- TLS, endpoint -----------------------------------------------------------------------

@pytest.mark.parametrize("verify", [True, False, "ca"])
def test_tls_floor_is_1_2_whatever_the_python_default(monkeypatch, tls_material, verify):
    real = ssl.create_default_context

    def lax(*a, **kw):  # what Python 3.9 gave: TLS 1.0 allowed
        ctx = real(*a, **kw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1
        return ctx

    monkeypatch.setattr(ssl, "create_default_context", lax)
    ctx = Pool(verify=tls_material.ca_file if verify == "ca" else verify).ssl_context()
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2


@pytest.mark.parametrize("endpoint", ["ftp://user:s3cr3t@host", "http://user:s3cr3t@[::1",
                                      "https://user:s3cr3t@host:99999x"])
def test_an_endpoints_password_is_never_echoed(endpoint):
    with pytest.raises(InvalidRequestError) as ei:
        ossfast.Client(CREDS, endpoint=endpoint)
    assert ei.value.field == "endpoint" and "s3cr3t" not in str(ei.value)


# ---- guards for the asyncio review's findings --------------------------------------------

def test_guard_iterator_first_item_kept_across_a_stale_connection_retry(start_server, monkeypatch, caplog):
    """(Sound in the blocking client.) A pooled connection that fails as the head is written:
    the retry on a fresh connection sends the iterator's prefetched first item too."""
    caplog.set_level(logging.INFO, logger="ossfast")
    server = start_server(RecordingServer)
    pieces = [os.urandom(70_000), os.urandom(5000), os.urandom(1)]
    data = b"".join(pieces)
    real = Connection.write_all
    failed = []

    def write_all(self, buf, wait):
        if self.uses and not failed:  # the reused connection, its first write: the head
            failed.append(True)
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")
        return real(self, buf, wait)

    with client(server) as c:
        c.write_get_object_response(ROUTE, TOKEN, 200, b"warm")
        monkeypatch.setattr(Connection, "write_all", write_all)
        r = c.write_get_object_response(ROUTE, TOKEN, 200, iter(pieces), content_length=len(data))
    assert failed and r.attempts == 2 and r.crc64 == ref_crc64(data)
    assert len(retry_lines(caplog)) == 1 and "stale pooled connection" in retry_lines(caplog)[0]
    assert server.wait_for(2)[1].body == data


def test_guard_bytes_sent_when_the_reply_fails_after_the_whole_body(start_server):
    """(Sound.) A reply that never comes after a body that left whole: bytes_sent says all."""
    server = start_server(RecordingServer, responses=[Reply(200), lambda req: Reply(200, delay=3.0)])
    data = os.urandom(200_000)
    with client(server, timeout=(5, 0.5)) as c:
        c.write_get_object_response(ROUTE, TOKEN, 200, b"warm")
        with pytest.raises(ossfast.TimeoutError) as ei:
            c.write_get_object_response(ROUTE, TOKEN, 200, data)
    assert ei.value.request_sent and ei.value.bytes_sent == len(data)


# ---- fork --------------------------------------------------------------------------------

@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
def test_after_fork_the_child_has_its_own_connections_and_crc_threads(start_server):
    """A Client made before os.fork() (multiprocessing's default start method on Linux): the
    child took the parent's pooled connection (both processes on one TCP stream), and
    (native) handed a big body's CRC to the parent's worker threads, which the child lacks:
    it waited for ever."""
    server = start_server(RecordingServer)
    data = os.urandom(_conn.PARALLEL_CRC + 5)  # native: hashed in the CRC worker thread
    with client(server) as c:
        c.write_get_object_response(ROUTE, TOKEN, 200, data)  # a pooled connection, CRC threads
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads running
            pid = os.fork()
        if pid == 0:  # the child: report by exit code only, never return into pytest
            code = 3
            try:
                signal.alarm(20)
                r = c.write_get_object_response(ROUTE, "tok-child", 200, data)
                code = 0 if (not r.reused_connection and r.crc64 == ref_crc64(data)) else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        r = c.write_get_object_response(ROUTE, "tok-parent", 200, b"parent")
    assert os.waitstatus_to_exitcode(status) == 0
    assert r.reused_connection and server.accepted == 2
    reqs = server.wait_for(3)
    assert [q.header("x-oss-request-token") for q in reqs[1:]] == ["tok-child", "tok-parent"]
    assert reqs[1].body == data
