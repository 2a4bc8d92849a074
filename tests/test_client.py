"""Client end to end against the loopback RecordingServer: exact bytes, CRC, every body kind,
keep-alive reuse, TLS, server errors, retries, progress."""
from __future__ import annotations

import asyncio
import datetime as dt
import io
import logging
import mmap
import os
import random
import threading

import pytest
from refcrc import crc64 as ref_crc64
from srv_recording import RecordingServer
from srv_replies import Reply, oss_error

import ossfast
from ossfast import Credentials, InvalidRequestError, ServerError, TransportError

ROUTE = "fc-ap-01-1234-opap.oss-cn-qingdao-internal.oss-object-process.aliyuncs.com"
TOKEN = "OSSV1#tok"
WHEN = dt.datetime(2023, 10, 31, 3, 17, 58, tzinfo=dt.timezone.utc)
CREDS = Credentials("ak", "sk")


def make_client(server, **kw):
    kw.setdefault("timeout", 5)
    return ossfast.Client(CREDS, endpoint=server.url, **kw)


def test_backend_is_the_one_asked_for():
    wanted = os.environ.get("OSSFAST_BACKEND", "auto")
    if wanted == "auto":
        assert ossfast.backend in ("native", "python")
    else:
        assert ossfast.backend == wanted


def test_exact_bytes_on_the_wire(recording_server):
    with make_client(recording_server) as c:
        body = os.urandom(3000)
        p = c.prepare(ROUTE, TOKEN, 200, body, content_type="text/plain", etag='"x"', date=WHEN)
        r = c.send(p)
    req = recording_server.wait_for(1)[0]
    assert req.raw_head == p.head
    assert req.body == body
    assert req.crc64 == ossfast.crc64(body) == r.crc64
    assert r.status == 200 and r.bytes_sent == len(body)
    assert r.request_id == req.request_id
    assert req.header("Host") == ROUTE
    assert req.method == "POST" and req.target == "/?x-oss-write-get-object-response"


@pytest.mark.parametrize("size", [0, 1, 1000, 70_000, 5 * 1024 * 1024 + 7])
def test_memory_body_kinds(recording_server, size, tmp_path):
    data = os.urandom(size)
    path = tmp_path / "m.bin"
    path.write_bytes(data or b"\0")
    kinds = [data, bytearray(data), memoryview(data), memoryview(bytearray(data))]
    with make_client(recording_server) as c:
        for kind in kinds:
            r = c.write_get_object_response(ROUTE, TOKEN, 200, kind)
            assert r.crc64 == ref_crc64(data)
            assert r.bytes_sent == size
        if size:
            with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
                r = c.write_get_object_response(ROUTE, TOKEN, 200, m)
                assert r.crc64 == ref_crc64(data)
    reqs = recording_server.wait_for(len(kinds) + (1 if size else 0))
    for req in reqs:
        assert req.complete and req.body_length == size and req.crc64 == ref_crc64(data)
        assert int(req.header("Content-Length")) == size


def test_cast_memoryview_sent_as_bytes(recording_server):
    import array

    arr = array.array("I", range(1000))
    with make_client(recording_server) as c:
        r = c.write_get_object_response(ROUTE, TOKEN, 200, memoryview(arr))
    req = recording_server.wait_for(1)[0]
    assert req.body == arr.tobytes() and r.bytes_sent == 4000


@pytest.mark.parametrize("size", [0, 10, 200_000, 9 * 1024 * 1024 + 3])
def test_file_bodies(recording_server, tmp_path, size):
    data = os.urandom(size)
    path = tmp_path / "f.bin"
    path.write_bytes(b"HEAD" + data)
    with make_client(recording_server) as c:
        with open(path, "rb") as f:  # real file: pread and send, or one read when small
            f.seek(4)
            r1 = c.write_get_object_response(ROUTE, TOKEN, 200, f)
        with open(path, "rb", buffering=0) as f:  # raw file
            f.seek(4)
            r2 = c.write_get_object_response(ROUTE, TOKEN, 200, f)
        r3 = c.write_get_object_response(ROUTE, TOKEN, 200, io.BytesIO(data))  # no fileno
    for r in (r1, r2, r3):
        assert r.crc64 == ref_crc64(data) and r.bytes_sent == size
    for req in recording_server.wait_for(3):
        assert req.complete and req.body_length == size and req.crc64 == ref_crc64(data)


@pytest.mark.parametrize("size", [0, 1024, 64 * 1024 - 900, 64 * 1024 + 1])
def test_small_file_bodies_and_the_file_position(recording_server, tmp_path, size):
    """Small regular files go like small bytes (read whole, head and body in one write): the
    first request (no route lane, no idle connection) goes the general way, the next ones the
    fast path. Either way the file is left at its end, and a file read ahead by its buffer is
    sent from its logical position."""
    data = os.urandom(size)
    path = tmp_path / "f.bin"
    path.write_bytes(b"HEAD" + data)
    results = []
    with make_client(recording_server) as c:
        for i in range(4):
            with open(path, "rb", buffering=0 if i == 3 else -1) as f:
                assert f.read(4) == b"HEAD"  # a buffered reader has read ahead
                results.append(c.write_get_object_response(ROUTE, TOKEN, 200, f))
                assert f.tell() == 4 + size
                assert f.read() == b""
        # A route without a lane yet: read for the fast path, then sent by the general path.
        with open(path, "rb") as f:
            f.seek(4)
            results.append(c.write_get_object_response("other-" + ROUTE, TOKEN, 200, f))
            assert f.tell() == 4 + size
    for r in results:
        assert r.crc64 == ref_crc64(data) and r.bytes_sent == size
    for req in recording_server.wait_for(5):
        assert req.complete and req.body == data


@pytest.mark.parametrize("size", [1000, 3 * 1024 * 1024 + 5])
def test_file_truncated_after_prepare_is_aborted(recording_server, tmp_path, size):
    """A regular file that loses bytes between prepare() and the send: nothing is completed."""
    path = tmp_path / "f.bin"
    path.write_bytes(os.urandom(size))
    with make_client(recording_server, retries=0) as c, open(path, "rb") as f:
        prepared = c.prepare(ROUTE, TOKEN, 200, f)
        os.truncate(path, size // 2)
        with pytest.raises((InvalidRequestError, TransportError), match="ended"):
            c.send(prepared)
    assert recording_server.requests == []


def test_unseekable_file_needs_length(recording_server):
    r, w = os.pipe()
    os.write(w, b"hello pipe")
    os.close(w)
    with os.fdopen(r, "rb") as f, make_client(recording_server) as c:
        with pytest.raises(InvalidRequestError) as ei:
            c.write_get_object_response(ROUTE, TOKEN, 200, f)
        assert ei.value.field == "content_length"
        res = c.write_get_object_response(ROUTE, TOKEN, 200, f, content_length=10)
    assert res.bytes_sent == 10
    assert recording_server.wait_for(1)[0].body == b"hello pipe"


def test_iterator_body(recording_server):
    pieces = [os.urandom(random.randint(0, 5000)) for _ in range(50)]
    data = b"".join(pieces)
    with make_client(recording_server) as c:
        r = c.write_get_object_response(ROUTE, TOKEN, 200, iter(pieces), content_length=len(data))
        r2 = c.write_get_object_response(ROUTE, TOKEN, 200, (bytearray(p) for p in pieces),
                                         content_length=len(data))
    assert r.crc64 == r2.crc64 == ref_crc64(data)
    for req in recording_server.wait_for(2):
        assert req.body == data


@pytest.mark.parametrize("pieces,length,why", [
    ([b"abc", b"de"], 10, "ended"),
    ([b"abc", b"defgh", b"ij"], 8, "more than"),
    ([b"abcdefgh", b"x"], 8, "more than"),
    ([b"abc", b"", b"def", b"!"], 6, "more than"),
    ([b"abc", "text"], 10, "str"),
    ([b"abc", 5], 10, "int"),
])
def test_iterator_wrong_length_never_completes(recording_server, pieces, length, why):
    with make_client(recording_server) as c:
        with pytest.raises((InvalidRequestError, TypeError), match=why):
            c.write_get_object_response(ROUTE, TOKEN, 200, iter(pieces), content_length=length)
        # the client still works afterwards (the aborted connection was not pooled)
        c.write_get_object_response(ROUTE, TOKEN, 200, b"after")
    reqs = recording_server.wait_for(1)
    assert [r.body for r in reqs] == [b"after"]  # the bad one never arrived complete


def test_keep_alive_reuse(recording_server):
    with make_client(recording_server) as c:
        results = [c.write_get_object_response(ROUTE, TOKEN, 200, os.urandom(100)) for _ in range(20)]
    reqs = recording_server.wait_for(20)
    assert recording_server.accepted == 1
    assert {r.conn_id for r in reqs} == {1}
    assert [r.reused_connection for r in results] == [False] + [True] * 19


def test_progress_called_per_chunk(recording_server):
    calls = []
    data = os.urandom(9 * 1024 * 1024)
    with make_client(recording_server) as c:
        c.write_get_object_response(ROUTE, TOKEN, 200, data, progress=lambda s, t: calls.append((s, t)))
    assert calls[-1] == (len(data), len(data))
    assert len(calls) <= -(-len(data) // ossfast.body.CHUNK)
    assert all(b[0] > a[0] for a, b in zip(calls, calls[1:]))


def test_content_md5_sent(recording_server):
    import base64
    import hashlib

    data = os.urandom(777)
    with make_client(recording_server) as c:
        c.write_get_object_response(ROUTE, TOKEN, 200, data, content_md5=True)
    req = recording_server.wait_for(1)[0]
    assert req.header("Content-MD5") == base64.b64encode(hashlib.md5(data).digest()).decode()


def test_server_error_fields(start_server):
    server = start_server(RecordingServer)
    server.respond(oss_error(403, "AccessDenied", "You have no right", request_id="RID1", ec="0003-00000001"))
    with make_client(server) as c:
        with pytest.raises(ServerError) as ei:
            c.write_get_object_response(ROUTE, TOKEN, 200, b"x")
    e = ei.value
    assert (e.status, e.code, e.message, e.request_id, e.ec) == (
        403, "AccessDenied", "You have no right", "RID1", "0003-00000001")
    assert "sk" not in str(e).split()


def test_5xx_retried_for_replayable_body(start_server, caplog):
    server = start_server(RecordingServer)
    server.respond(oss_error(503, "ServiceUnavailable", "busy"), Reply(200))
    with caplog.at_level(logging.INFO, logger="ossfast"):
        with make_client(server, retries=ossfast.Retry(total=2, backoff=0.001)) as c:
            r = c.write_get_object_response(ROUTE, TOKEN, 200, b"replayable")
    assert r.attempts == 2
    assert len(server.wait_for(2)) == 2
    assert any("retrying" in rec.getMessage() and "503" in rec.getMessage() for rec in caplog.records)


def test_5xx_not_retried_for_iterator(start_server):
    server = start_server(RecordingServer)
    server.respond(oss_error(500, "InternalError", "oops"), Reply(200))
    with make_client(server, retries=3) as c:
        with pytest.raises(ServerError) as ei:
            c.write_get_object_response(ROUTE, TOKEN, 200, iter([b"ab", b"cd"]), content_length=4)
    assert ei.value.status == 500
    assert len(server.requests) == 1


def test_retries_zero_means_one_attempt(start_server):
    server = start_server(RecordingServer)
    server.respond(oss_error(503, "ServiceUnavailable", "busy"), Reply(200))
    with make_client(server, retries=0) as c:
        with pytest.raises(ServerError):
            c.write_get_object_response(ROUTE, TOKEN, 200, b"x")
    assert len(server.requests) == 1


def test_connection_refused_is_transport_error(free_port):
    c = ossfast.Client(CREDS, endpoint=f"http://127.0.0.1:{free_port}", retries=1, timeout=2)
    with pytest.raises(TransportError) as ei:
        c.write_get_object_response(ROUTE, TOKEN, 200, b"x")
    assert isinstance(ei.value, ConnectionError)
    assert not ei.value.request_sent
    c.close()


def test_tls(tls_recording_server, tls_material):
    server = tls_recording_server
    url = server.url.replace("http://", "https://").replace("127.0.0.1", "localhost")
    data = os.urandom(100_000)
    with ossfast.Client(CREDS, endpoint=url, verify=tls_material.ca_file, timeout=5) as c:
        r = c.write_get_object_response(ROUTE, TOKEN, 200, data)
        r2 = c.write_get_object_response(ROUTE, TOKEN, 200, io.BytesIO(data))
    assert r.crc64 == r2.crc64 == ref_crc64(data)
    reqs = server.wait_for(2)
    assert all(q.body == data for q in reqs)
    assert server.accepted == 1


def test_tls_file_body(tls_recording_server, tls_material, tmp_path):
    path = tmp_path / "t.bin"
    data = os.urandom(3 * 1024 * 1024 + 5)
    path.write_bytes(data)
    url = tls_recording_server.url.replace("http://", "https://").replace("127.0.0.1", "localhost")
    with ossfast.Client(CREDS, endpoint=url, verify=tls_material.ca_file, timeout=5) as c, \
            open(path, "rb") as f:
        r = c.write_get_object_response(ROUTE, TOKEN, 200, f)
    assert r.crc64 == ref_crc64(data)
    assert tls_recording_server.wait_for(1)[0].crc64 == ref_crc64(data)


def test_tls_unknown_ca_rejected(tls_recording_server):
    url = tls_recording_server.url.replace("http://", "https://").replace("127.0.0.1", "localhost")
    with ossfast.Client(CREDS, endpoint=url, timeout=5, retries=0) as c:
        with pytest.raises(TransportError, match="certificate"):
            c.write_get_object_response(ROUTE, TOKEN, 200, b"x")
    assert tls_recording_server.requests == []


def test_module_level_function_uses_env(monkeypatch, recording_server):
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "env-ak")
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "env-sk")
    monkeypatch.setenv("OSSFAST_ENDPOINT", recording_server.url)
    monkeypatch.setattr(ossfast.client, "_default_client", None)
    r = ossfast.write_get_object_response(ROUTE, TOKEN, 404, b"nope")
    assert r.status == 200
    req = recording_server.wait_for(1)[0]
    assert req.header("x-oss-fwd-status") == "404"
    assert "Credential=env-ak/" in req.header("Authorization")
    ossfast.client._default_client.close()
    monkeypatch.setattr(ossfast.client, "_default_client", None)


def test_threads_share_one_client(recording_server):
    errors = []
    with make_client(recording_server, pool_maxsize=4) as c:
        def work(seed):
            rng = random.Random(seed)
            try:
                for _ in range(30):
                    data = rng.randbytes(rng.randint(0, 20000))
                    r = c.write_get_object_response(ROUTE, f"tok-{seed}", 200, data)
                    assert r.crc64 == ref_crc64(data)
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)
        threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert c.pool.idle_count() <= 4
    assert errors == []
    reqs = recording_server.wait_for(180)
    assert all(r.complete for r in reqs)


def test_async_client(recording_server):
    async def main():
        async with ossfast.AsyncClient(CREDS, endpoint=recording_server.url, timeout=5) as c:
            results = await asyncio.gather(*[
                c.write_get_object_response(ROUTE, f"t{i}", 200, bytes([i]) * 1000) for i in range(10)])
            with pytest.raises(InvalidRequestError):
                await c.write_get_object_response(ROUTE, "", 200, b"")
            return results
    results = asyncio.run(main())
    assert [r.crc64 for r in results] == [ref_crc64(bytes([i]) * 1000) for i in range(10)]
    assert len(recording_server.wait_for(10)) == 10


def test_fc_event_helpers():
    event = {"getObjectContext": {"inputOssUrl": "https://in", "outputRoute": ROUTE,
                                  "outputToken": "tok-SeCrEt"}, "userData": "x"}
    import json

    for form in (event, json.dumps(event), json.dumps(event).encode()):
        ctx = ossfast.fc.ObjectContext.from_event(form)
        assert (ctx.input_oss_url, ctx.output_route, ctx.output_token) == ("https://in", ROUTE, "tok-SeCrEt")
        assert "SeCrEt" not in repr(ctx)
    for bad in (b"not json", "[]", {"getObjectContext": {"outputRoute": ROUTE}}, {}):
        with pytest.raises(InvalidRequestError):
            ossfast.fc.ObjectContext.from_event(bad)


@pytest.mark.parametrize("size", [100, 70_000, 9 * 1024 * 1024 + 1])
def test_content_md5_one_pass_crc_matches(recording_server, tmp_path, size):
    """With content_md5=True the CRC comes from the MD5 pass; it must still be the body's."""
    data = os.urandom(size)
    path = tmp_path / "b.bin"
    path.write_bytes(data)
    with make_client(recording_server) as c:
        r1 = c.write_get_object_response(ROUTE, TOKEN, 200, data, content_md5=True)
        with open(path, "rb") as f:
            r2 = c.write_get_object_response(ROUTE, TOKEN, 200, f, content_md5=True)
        r3 = c.write_get_object_response(ROUTE, TOKEN, 200, io.BytesIO(data), content_md5=True)
    for r in (r1, r2, r3):
        assert r.crc64 == ref_crc64(data)
    for req in recording_server.wait_for(3):
        assert req.crc64 == ref_crc64(data) and req.body_length == size
