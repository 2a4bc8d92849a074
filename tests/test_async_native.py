"""The native asyncio AsyncClient: the same requests, replies, errors and retries as the
blocking Client, its own pool on the loop, TLS, cancellation that aborts, hashing off the loop."""
from __future__ import annotations

import asyncio
import datetime as dt
import io
import time

import pytest
from refcrc import crc64 as ref_crc64
from srv_faults import Behaviour, FaultServer
from srv_recording import RecordingServer
from srv_replies import Reply, oss_error

import ossfast
from ossfast import Credentials, InvalidRequestError, ServerError, TransportError
from ossfast._async.client import AsyncClient as NativeAsyncClient

ROUTE = "fc-ap-01-1234-opap.oss-cn-qingdao-internal.oss-object-process.aliyuncs.com"
CREDS = Credentials("ak", "sk")
DATE = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)


def test_public_name_is_the_native_client():
    assert ossfast.AsyncClient is NativeAsyncClient
    from ossfast.aio import AsyncClient

    assert AsyncClient is NativeAsyncClient


@pytest.mark.parametrize("sv", ["v1", "v4"])
def test_same_request_bytes_as_sync(start_server, sv):
    server = start_server(RecordingServer)
    body = bytes(range(256)) * 40
    kw = dict(content_type="text/plain", etag='"e"', headers={"x-oss-meta-a": "1"}, content_md5=True)
    sync = ossfast.Client(CREDS, endpoint=server.url, signature_version=sv)
    want = sync.prepare(ROUTE, "tok", 200, body, date=DATE, **kw)

    async def main():
        async with ossfast.AsyncClient(CREDS, endpoint=server.url, signature_version=sv) as c:
            got = c.prepare(ROUTE, "tok", 200, body, date=DATE, **kw)
            assert got.head == want.head and got.content_length == want.content_length
            return await c.send(got)

    r = asyncio.run(main())
    sync.close()
    (rec,) = server.wait_for(1)
    assert rec.raw_head == want.head and rec.body == body and rec.complete
    assert r.status == 200 and r.bytes_sent == len(body) and r.crc64 == ref_crc64(body)
    assert r.request_id == rec.request_id and r.attempts == 1 and not r.reused_connection


def _run_both(server, call):
    """The same call through the blocking client and the async one: (sync, async) outcomes."""
    def outcome(fn):
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - compared below
            return exc

    with ossfast.Client(CREDS, endpoint=server.url, timeout=5) as c:
        s = outcome(lambda: call(c))

    async def main():
        async with ossfast.AsyncClient(CREDS, endpoint=server.url, timeout=5) as c:
            try:
                return await call(c)
            except Exception as exc:  # noqa: BLE001
                return exc

    return s, asyncio.run(main())


def test_server_error_like_sync(start_server):
    server = start_server(RecordingServer)
    server.respond(oss_error(403, "AccessDenied", "no", request_id="RID1"),
                   oss_error(403, "AccessDenied", "no", request_id="RID1"))
    s, a = _run_both(server, lambda c: c.write_get_object_response(ROUTE, "t", 200, b"x" * 100))
    assert isinstance(s, ServerError) and isinstance(a, ServerError)
    assert (a.status, a.code, a.message, a.request_id, a.ec) == (s.status, s.code, s.message, s.request_id, s.ec)


def test_5xx_retried_like_sync(start_server, caplog):
    server = start_server(RecordingServer)
    server.respond(oss_error(503, "ServiceUnavailable", "busy"), Reply(200),
                   oss_error(503, "ServiceUnavailable", "busy"), Reply(200))
    s, a = _run_both(server, lambda c: c.write_get_object_response(ROUTE, "t", 200, b"y" * 5000))
    assert s.attempts == a.attempts == 2 and s.bytes_sent == a.bytes_sent == 5000
    assert s.crc64 == a.crc64 == ref_crc64(b"y" * 5000)


def test_5xx_not_retried_for_iterator_like_sync(start_server):
    server = start_server(RecordingServer)
    server.respond(oss_error(500, "InternalError", "oops"), oss_error(500, "InternalError", "oops"),
                   Reply(200))
    s, a = _run_both(server, lambda c: c.write_get_object_response(
        ROUTE, "t", 200, iter([b"ab", b"cd"]), content_length=4))
    assert isinstance(s, ServerError) and isinstance(a, ServerError) and a.status == s.status == 500


def test_connect_refused_like_sync(free_port):
    async def main():
        async with ossfast.AsyncClient(CREDS, endpoint=f"http://127.0.0.1:{free_port}",
                                       retries=1) as c:
            await c.write_get_object_response(ROUTE, "t", 200, b"x")

    with pytest.raises(TransportError, match="cannot connect"):
        asyncio.run(main())


def test_timeout_waiting_for_reply(start_server):
    server = start_server(FaultServer)
    server.set_behaviours("hold_after_body")

    async def main():
        async with ossfast.AsyncClient(CREDS, endpoint=server.url, timeout=(2, 0.3)) as c:
            await c.write_get_object_response(ROUTE, "t", 200, b"x" * 10)

    with pytest.raises(ossfast.TimeoutError):
        asyncio.run(main())


def test_early_reply_is_the_error(start_server):
    server = start_server(FaultServer)
    server.set_behaviours("early_reply")

    async def main():
        async with ossfast.AsyncClient(CREDS, endpoint=server.url, timeout=5, retries=0) as c:
            await c.write_get_object_response(ROUTE, "t", 200, b"x" * (32 * 1024 * 1024))

    with pytest.raises(ServerError):
        asyncio.run(main())


def test_64_concurrent_and_keepalive(start_server):
    server = start_server(RecordingServer)
    bodies = [bytes([i]) * 1024 for i in range(64)]

    async def main():
        loop = asyncio.get_running_loop()

        def no_threads(*a, **k):  # plain-TCP bytes bodies use no worker thread (nor name lookups)
            raise AssertionError("a worker thread was asked for")

        loop.run_in_executor = no_threads
        async with ossfast.AsyncClient(CREDS, endpoint=server.url, timeout=10, pool_maxsize=64) as c:
            first = await asyncio.gather(*[c.write_get_object_response(ROUTE, f"t{i}", 200, b)
                                           for i, b in enumerate(bodies)])
            second = await asyncio.gather(*[c.write_get_object_response(ROUTE, f"u{i}", 200, b)
                                            for i, b in enumerate(bodies)])
            return first, second, c.pool.connections_opened

    first, second, opened = asyncio.run(main())
    assert [r.crc64 for r in first] == [ref_crc64(b) for b in bodies]
    assert all(r.reused_connection for r in second) and opened <= 64
    reqs = server.wait_for(128)
    assert all(r.complete for r in reqs)


def test_stale_pooled_connection_dropped(start_server):
    server = start_server(FaultServer)
    server.set_behaviours("idle_close", "reply")

    async def main():
        async with ossfast.AsyncClient(CREDS, endpoint=server.url, timeout=5) as c:
            await c.write_get_object_response(ROUTE, "a", 200, b"1")
            await asyncio.sleep(0.4)
            r = await c.write_get_object_response(ROUTE, "b", 200, b"2")
            return r

    r = asyncio.run(main())
    assert r.status == 200 and not r.reused_connection


def test_body_kinds(start_server, tmp_path):
    server = start_server(RecordingServer)
    data = bytes(range(256)) * 9000  # 2.3 MB
    path = tmp_path / "f"
    path.write_bytes(data)

    async def agen():
        for i in range(0, len(data), 500_000):
            await asyncio.sleep(0)
            yield data[i:i + 500_000]

    async def main():
        async with ossfast.AsyncClient(CREDS, endpoint=server.url, timeout=10) as c:
            out = [await c.write_get_object_response(ROUTE, "m", 200, memoryview(data))]
            with open(path, "rb") as f:
                out.append(await c.write_get_object_response(ROUTE, "f", 200, f))
            out.append(await c.write_get_object_response(ROUTE, "b", 200, io.BytesIO(data)))
            out.append(await c.write_get_object_response(
                ROUTE, "i", 200, (data[i:i + 100_000] for i in range(0, len(data), 100_000)),
                content_length=len(data)))
            out.append(await c.write_get_object_response(ROUTE, "a", 200, agen(), content_length=len(data)))
            with pytest.raises(InvalidRequestError):
                await c.write_get_object_response(ROUTE, "a2", 200, agen(), content_length=len(data) + 1)
            with pytest.raises(InvalidRequestError):
                await c.write_get_object_response(ROUTE, "a3", 200, agen())
            return out

    results = asyncio.run(main())
    assert [r.crc64 for r in results] == [ref_crc64(data)] * 5
    reqs = server.wait_for(5)
    assert all(r.complete and r.crc64 == ref_crc64(data) for r in reqs[:5])


def test_tls(tls_recording_server, tls_material):
    async def main():
        async with ossfast.AsyncClient(CREDS, endpoint=tls_recording_server.url,
                                       verify=tls_material.ca_file, timeout=10) as c:
            rs = await asyncio.gather(*[c.write_get_object_response(ROUTE, f"t{i}", 200, b"z" * 70_000)
                                        for i in range(4)])
            rs.append(await c.write_get_object_response(ROUTE, "again", 200, b"q"))
            return rs

    rs = asyncio.run(main())
    assert all(r.status == 200 for r in rs) and rs[-1].reused_connection
    assert all(r.complete for r in tls_recording_server.wait_for(5))


def test_tls_untrusted_certificate_not_retried(tls_recording_server):
    async def main():
        async with ossfast.AsyncClient(CREDS, endpoint=tls_recording_server.url, timeout=5) as c:
            await c.write_get_object_response(ROUTE, "t", 200, b"x")

    with pytest.raises(ossfast.errors.CertificateError):
        asyncio.run(main())


def _slow_read(ctx, piece: int, delay: float) -> bool:
    if not ctx.read_head():
        return False
    ex = ctx.exchange
    while not ex.body_complete:
        before = ex.body_bytes
        ctx.read_body(limit=ex.body_bytes + piece)
        if ex.body_bytes == before:
            return False  # the client went away
        ctx.link.sleep(delay)
    ctx.send(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nx-oss-request-id: R\r\n\r\n")
    return True


def test_cancel_aborts_before_the_body_completes(start_server):
    server = start_server(FaultServer, rcvbuf=8192)
    server.set_behaviours(Behaviour("slow_read", _slow_read, piece=16 * 1024, delay=0.01))
    size = 16 * 1024 * 1024

    async def main():
        async with ossfast.AsyncClient(CREDS, endpoint=server.url, timeout=10, retries=0) as c:
            task = asyncio.ensure_future(c.write_get_object_response(ROUTE, "t", 200, b"x" * size))
            deadline = time.monotonic() + 10
            while not (server.exchanges and server.exchanges[0].body_bytes) and time.monotonic() < deadline:
                await asyncio.sleep(0.01)  # the server is reading the body, slowly
            assert not task.done()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(main())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (server.exchanges and server.exchanges[0].finished):
        time.sleep(0.05)
    (ex,) = server.exchanges
    assert ex.finished and ex.head_complete and 0 < ex.body_bytes < size and not ex.body_complete
    assert ex.error  # the connection was reset, not closed after a complete request


def test_content_md5_off_the_loop(start_server):
    server = start_server(RecordingServer)
    # 64 MiB with the C core; the pure-Python twin hashes ~1 MB/s, so a smaller (still "big") body
    body = b"m" * ((64 if ossfast.backend == "native" else 2) * 1024 * 1024)

    async def main():
        lags = []

        async def ticker():
            while True:
                t = time.perf_counter()
                await asyncio.sleep(0.005)
                lags.append(time.perf_counter() - t)

        async with ossfast.AsyncClient(CREDS, endpoint=server.url, timeout=30) as c:
            loop = asyncio.get_running_loop()
            real = loop.run_in_executor
            used = []

            def spy(executor, fn, *args):
                used.append(fn)
                return real(executor, fn, *args)

            loop.run_in_executor = spy
            t = asyncio.ensure_future(ticker())
            await asyncio.sleep(0.02)
            r = await c.write_get_object_response(ROUTE, "t", 200, body, content_md5=True)
            t.cancel()
            return r, used

    r, used = asyncio.run(main())
    assert r.crc64 == ref_crc64(body) and used  # the hashing went to the executor
    (rec,) = server.wait_for(1)
    import base64
    import hashlib

    assert rec.header("content-md5") == base64.b64encode(hashlib.md5(body).digest()).decode()


def test_credential_provider(start_server):
    server = start_server(RecordingServer)
    keys = [Credentials("ak1", "sk1"), Credentials("ak2", "sk2")]
    current = [keys[0]]

    async def main():
        async with ossfast.AsyncClient(lambda: current[0], endpoint=server.url,
                                       signature_version="v1") as c:
            assert c.credentials is keys[0]
            await c.write_get_object_response(ROUTE, "a", 200, b"1")
            current[0] = keys[1]
            await c.write_get_object_response(ROUTE, "b", 200, b"2")
            c.credentials = keys[0]
            assert c.credentials is keys[0]
            await c.write_get_object_response(ROUTE, "c", 200, b"3")

    asyncio.run(main())
    auth = [r.header("authorization") for r in server.wait_for(3)]
    assert [a.split(":")[0] for a in auth] == ["OSS ak1", "OSS ak2", "OSS ak1"]


def test_closed_client_refuses():
    async def main():
        c = ossfast.AsyncClient(CREDS, endpoint="http://127.0.0.1:1")
        await c.close()
        await c.write_get_object_response(ROUTE, "t", 200, b"x")

    with pytest.raises(TransportError, match="closed"):
        asyncio.run(main())


# ---------------------------------------------------------------- the fast path (a small bytes
# body on an idle pooled connection: head signed in one C call, one write, the pool's deadline timer)

def _fast_calls(c):
    """Count the fast path's sends on an AsyncClient (a spy around _send_small)."""
    calls = []
    inner = c._send_small

    async def spy(*a, **k):
        calls.append(a[0])
        return await inner(*a, **k)

    c._send_small = spy
    return calls


def test_fast_path_taken_and_same_bytes(start_server):
    server = start_server(RecordingServer)
    body = b"z" * 1000

    async def main():
        async with ossfast.AsyncClient(CREDS, endpoint=server.url, timeout=5) as c:
            calls = _fast_calls(c)
            first = await c.write_get_object_response(ROUTE, "t1", 200, body, content_type="text/plain")
            second = await c.write_get_object_response(ROUTE, "t2", 200, body, content_type="text/plain")
            return calls, first, second, c.pool.connections_opened

    calls, first, second, opened = asyncio.run(main())
    assert calls == [ROUTE]  # the first call made the route's head builder (general path)
    assert not first.reused_connection and second.reused_connection and opened == 1
    assert second.crc64 == ref_crc64(body) and second.bytes_sent == len(body)
    a, b = server.wait_for(2)
    assert b.body == body and b.header("x-oss-fwd-header-Content-Type") == "text/plain"
    assert b.header("x-oss-request-token") == "t2" and b.complete


def test_fast_path_5xx_retried(start_server):
    server = start_server(RecordingServer)
    server.respond(Reply(200), oss_error(503, "ServiceUnavailable", "busy"), Reply(200))

    async def main():
        async with ossfast.AsyncClient(CREDS, endpoint=server.url, timeout=5) as c:
            calls = _fast_calls(c)
            await c.write_get_object_response(ROUTE, "a", 200, b"1" * 10)
            r = await c.write_get_object_response(ROUTE, "b", 200, b"2" * 10)
            return calls, r

    calls, r = asyncio.run(main())
    assert len(calls) == 1 and r.status == 200 and r.attempts == 2 and r.crc64 == ref_crc64(b"2" * 10)
    reqs = server.wait_for(3)
    assert [q.body for q in reqs] == [b"1" * 10, b"2" * 10, b"2" * 10]


def test_fast_path_server_error_not_retried(start_server):
    server = start_server(RecordingServer)
    server.respond(Reply(200), oss_error(403, "AccessDenied", "no", request_id="RID9"))

    async def main():
        async with ossfast.AsyncClient(CREDS, endpoint=server.url, timeout=5) as c:
            await c.write_get_object_response(ROUTE, "a", 200, b"1")
            await c.write_get_object_response(ROUTE, "b", 200, b"2")

    with pytest.raises(ServerError) as ei:
        asyncio.run(main())
    assert ei.value.status == 403 and ei.value.request_id == "RID9"


def test_fast_path_reply_timeout(start_server):
    server = start_server(FaultServer)
    server.set_behaviours("reply", "hold_after_body")

    async def main():
        async with ossfast.AsyncClient(CREDS, endpoint=server.url, timeout=(2, 0.3), retries=3) as c:
            calls = _fast_calls(c)
            await c.write_get_object_response(ROUTE, "a", 200, b"1")
            t = time.monotonic()
            with pytest.raises(ossfast.TimeoutError) as ei:
                await c.write_get_object_response(ROUTE, "b", 200, b"22")
            return calls, time.monotonic() - t, ei.value, c.pool.idle_count()

    calls, waited, err, idle = asyncio.run(main())
    assert len(calls) == 1 and waited >= 0.3 and idle == 0
    assert err.request_sent and err.bytes_sent == 2  # the body was sent whole: never resent
    assert len(server.wait_for(2)) == 2


def test_reply_deadlines_each_their_own(start_server):
    """One pool timer for every awaited reply: each request times out at its own deadline."""
    server = start_server(FaultServer)
    server.set_behaviours("hold_after_body")

    async def main():
        async with ossfast.AsyncClient(CREDS, endpoint=server.url, timeout=(2, 0.4), retries=0) as c:
            t0 = time.monotonic()
            ends = {}

            async def one(name, delay):
                await asyncio.sleep(delay)
                try:
                    await c.write_get_object_response(ROUTE, name, 200, b"x")
                except ossfast.TimeoutError:
                    ends[name] = time.monotonic() - t0

            await asyncio.gather(one("a", 0.0), one("b", 0.25))
            return ends

    ends = asyncio.run(main())
    assert set(ends) == {"a", "b"}
    assert 0.4 <= ends["a"] < ends["b"] and ends["b"] >= 0.65


def test_fast_path_cancel_aborts_the_connection(start_server):
    server = start_server(FaultServer)
    server.set_behaviours("reply", "hold_after_body", "reply")

    async def main():
        async with ossfast.AsyncClient(CREDS, endpoint=server.url, timeout=10, retries=0) as c:
            calls = _fast_calls(c)
            await c.write_get_object_response(ROUTE, "a", 200, b"1")
            task = asyncio.ensure_future(c.write_get_object_response(ROUTE, "b", 200, b"2"))
            deadline = time.monotonic() + 10
            while len(server.exchanges) < 2 or not server.exchanges[1].body_complete:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            idle = c.pool.idle_count()
            r = await c.write_get_object_response(ROUTE, "c", 200, b"3")
            return calls, idle, r, c.pool._watched

    calls, idle, r, watched = asyncio.run(main())
    assert len(calls) == 2 and idle == 0 and not watched
    assert r.status == 200 and not r.reused_connection  # the cancelled call's connection was dropped
    ex = server.wait_for(2)[1]  # the server's hold ends when the client drops the connection
    assert ex.body_complete and ex.finished and ex.reply_bytes == 0


# ---------------------------------------------------------------- file bodies (pread pieces,
# read and hashed by a worker thread while the loop writes the piece before)

@pytest.mark.parametrize("md5", [False, True])
def test_file_body_pieces(start_server, tmp_path, md5):
    server = start_server(RecordingServer)
    data = bytes(range(251)) * 13000  # 3.1 MiB: several pieces and a short last one
    path = tmp_path / "f"
    path.write_bytes(b"HEADER" + data)
    seen = []

    async def main():
        async with ossfast.AsyncClient(CREDS, endpoint=server.url, timeout=10) as c:
            with open(path, "rb") as f:
                f.seek(6)  # from the file's position, as the blocking client
                r = await c.write_get_object_response(ROUTE, "f", 200, f, content_md5=md5,
                                                      progress=lambda n, t: seen.append((n, t)))
                return r, f.tell()

    r, pos = asyncio.run(main())
    assert r.crc64 == ref_crc64(data) and r.bytes_sent == len(data) and pos == 6 + len(data)
    (rec,) = server.wait_for(1)
    assert rec.body == data and rec.complete
    assert seen and seen[-1] == (len(data), len(data)) and all(t == len(data) for _, t in seen)


def test_file_body_over_tls(tls_recording_server, tls_material, tmp_path):
    data = bytes(range(256)) * 10000
    path = tmp_path / "f"
    path.write_bytes(data)

    async def main():
        async with ossfast.AsyncClient(CREDS, endpoint=tls_recording_server.url, timeout=10,
                                       verify=tls_material.ca_file) as c:
            with open(path, "rb") as f:
                return await c.write_get_object_response(ROUTE, "f", 200, f)

    r = asyncio.run(main())
    assert r.crc64 == ref_crc64(data)
    (rec,) = tls_recording_server.wait_for(1)
    assert rec.body == data and rec.complete


def test_file_truncated_while_sending_is_not_success(start_server, tmp_path):
    server = start_server(FaultServer)
    server.set_behaviours("reply")
    path = tmp_path / "f"
    path.write_bytes(b"x" * (4 * 1024 * 1024))

    async def main():
        async with ossfast.AsyncClient(CREDS, endpoint=server.url, timeout=10, retries=0) as c:
            with open(path, "rb") as f:
                prepared = c.prepare(ROUTE, "t", 200, f)
                with open(path, "r+b") as w:
                    w.truncate(1024 * 1024 + 10)  # after prepare() took the length
                await c.send(prepared)

    with pytest.raises(InvalidRequestError) as ei:  # as the blocking client: the caller's file, never retried
        asyncio.run(main())
    assert ei.value.field == "body" and "file ended" in str(ei.value)
    (ex,) = server.wait_for(1)
    assert not ex.body_complete and ex.body_bytes < 4 * 1024 * 1024  # the cut body never looked complete


def test_fast_path_bad_input_refused_before_sending(start_server):
    """A request the one-call builder refuses (here a token with a blank) takes the general
    path, which names the field: nothing is sent."""
    server = start_server(RecordingServer)

    async def main():
        async with ossfast.AsyncClient(CREDS, endpoint=server.url, timeout=5) as c:
            calls = _fast_calls(c)
            await c.write_get_object_response(ROUTE, "ok", 200, b"1")
            with pytest.raises(InvalidRequestError) as ei:
                await c.write_get_object_response(ROUTE, "bad token", 200, b"2")
            with pytest.raises(InvalidRequestError):
                await c.write_get_object_response(ROUTE, "t", 200, b"3", content_type="a\r\nb")
            return calls, ei.value

    calls, err = asyncio.run(main())
    assert calls == [] and err.field == "token"
    assert len(server.wait_for(1)) == 1 and len(server.requests) == 1
