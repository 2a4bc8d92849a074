"""Every WriteGetObjectResponse sender a user could pick, body sizes 1 KiB to 1 GiB, one nginx sink.

Run:  .venv/bin/python -m pytest benches/bench_matrix.py -v     (``make bench`` runs it with the rest;
``OSSFAST_BENCH_QUICK=1`` runs it once with tiny bodies). Results go to ``OUT/matrix.json`` (see
benchkit.py) and ``benches/report.py`` makes BENCHMARKS.md and the charts from them.

The sink is nginx (benches/nginx.py: one worker, ``return 200`` with ``x-oss-request-id``, bodies
read and discarded, keep-alive), or benches/sink.py when nginx cannot be had. Every contender talks
to it over its own keep-alive connection, V4-signed where it signs.

Method, per body size: each contender sends once to warm up (connection, code paths) and to size
its batch (about ``BUDGET[size]`` seconds of calls; one call from 256 MiB up); then ``ROUNDS[size]``
rounds, the contenders' order shuffled every round, each timing one batch: wall time and this
process's CPU time (``time.process_time``: every thread of the client) per request. A figure is
the median over rounds, with the rounds' min and max; a ratio is the median over rounds of the
ratio within the round (both measured within seconds of each other on this drifting VM).

Placement: up to ``TOGETHER_MAX`` the client and the sink are pinned to the same CPU: a request
then wakes no other vCPU (on this VM a cross-vCPU wake-up costs the sender 20-50 us per request,
more than ossfast's whole request). Above it they are pinned to different CPUs: a large body
streams while the sink drains it, and on one CPU they would take turns.

Contenders that do not exist yet in this checkout (``Session``, ``HttpClient``) are listed as
skipped with the reason; they are measured as soon as the integration modules have them.
"""
from __future__ import annotations

import asyncio
import os
import random
import socket
import ssl
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional

import pytest
from benchkit import (AK, QUICK, REGION, ROUTE, SK, TOKEN, fmt_size, placement, progress, unpin,
                      write_json)
from nginx import describe, open_sink

import ossfast

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
SIZES = [KiB, 256 * KiB] if QUICK else [KiB, 64 * KiB, MiB, 16 * MiB, 256 * MiB, GiB]
TOGETHER_MAX = 64 * KiB
ROUNDS = {KiB: 11, 64 * KiB: 9, MiB: 9, 16 * MiB: 7, 256 * MiB: 7, GiB: 5}
BUDGET = {KiB: 0.12, 64 * KiB: 0.12, MiB: 0.12, 16 * MiB: 0.25}  # seconds of calls per contender per round;
BATCH_MAX = 5000                                                   # larger bodies: one call
CHUNK = MiB  # iterator bodies yield slices this long
SEED = 20261201

RESULTS: Dict[str, Any] = {"sizes": [], "contenders": {}, "rows": {}, "placement": {}, "skipped": {},
                           "failed": {}, "quick": QUICK}


# ----------------------------------------------------------------------------- payloads

class Payload:
    """One body size: the bytes, the same bytes in a real file (page cache), a prebuilt head."""

    def __init__(self, size: int, tmpdir: str) -> None:
        self.size = size
        block = os.urandom(min(size, MiB))
        self.data = block * (size // len(block))
        if size % len(block):
            self.data += block[: size % len(block)]
        self.view = memoryview(self.data)
        self.path = os.path.join(tmpdir, f"body-{size}.bin")
        with open(self.path, "wb") as f:
            f.write(self.data)

    def chunks(self):
        view = self.view
        for off in range(0, self.size, CHUNK):
            yield view[off:off + CHUNK]

    def close(self) -> None:
        self.view.release()
        try:
            os.unlink(self.path)
        except OSError:
            pass


# ----------------------------------------------------------------------------- contenders
# Each contender: label -> Contender(make, ...). ``make(env, payload)`` returns a function
# ``batch(n)`` sending n bodies of the payload (each reply checked).

class Contender:
    def __init__(self, label: str, proto: str, body: str, family: str, make: Callable[..., Any],
                 limit: str, oss2: Optional[str], needs: Optional[Callable[[], Optional[str]]] = None,
                 doc: str = "") -> None:
        self.label, self.proto, self.body, self.family = label, proto, body, family
        self.make, self.limit, self.oss2, self.needs, self.doc = make, limit, oss2, needs, doc


class RawConn:
    """A blocking keep-alive socket (TLS verified against the test CA on HTTPS)."""

    def __init__(self, host: str, port: int, ca_file: Optional[str] = None) -> None:
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if ca_file:
            self.sock = ssl.create_default_context(cafile=ca_file).wrap_socket(self.sock, server_hostname=host)

    def read_reply(self) -> bytes:
        # nginx's replies to these requests have no body: they end at the blank line.
        data = self.sock.recv(65536)
        while not data.endswith(b"\r\n\r\n"):
            more = self.sock.recv(65536)
            if not more:
                raise ConnectionError("the sink closed the connection")
            data += more
        if not data.startswith(b"HTTP/1.1 200 "):
            raise AssertionError(data[:200])
        return data


class Env:
    """The clients, made once and kept (their keep-alive connections too) for every size."""

    def __init__(self, sink: Any, ca_file: Optional[str]) -> None:
        import alibabacloud_oss_v2 as oss
        import botocore.session
        import oss2
        import requests
        from botocore.config import Config

        from ossfast.integrations import oss2 as fast_oss2
        from ossfast.integrations import oss_v2 as fast_v2

        self.sink, self.ca_file = sink, ca_file
        self.oss, self.fast_oss2, self.fast_v2 = oss, fast_oss2, fast_v2
        creds = ossfast.Credentials(AK, SK)
        self.fast = ossfast.Client(creds, endpoint=sink.url)
        self.fast_tls = ossfast.Client(creds, endpoint=sink.tls_url, verify=ca_file) if sink.tls_url else None
        self.loop = asyncio.new_event_loop()

        async def make_async() -> Any:  # made on its loop, as a native asyncio client wants
            return ossfast.AsyncClient(creds, endpoint=sink.url)
        self.afast = self.loop.run_until_complete(make_async())
        self.raw = RawConn(sink.host, sink.port)
        self.raw_tls = RawConn(sink.host, sink.tls_port, ca_file) if sink.tls_url else None
        self.head = lambda n: self.fast.prepare(ROUTE, TOKEN, 200, iter([b""]), content_length=n).head

        class VerifyingAdapter(requests.adapters.HTTPAdapter):
            """oss2's adapter verifying the test CA (REQUESTS_CA_BUNDLE would override verify=)."""

            def send(self, request, **kwargs):  # type: ignore[override]
                kwargs["verify"] = ca_file
                return super().send(request, **kwargs)

        auth = oss2.AuthV4(AK, SK)
        self.oss2 = oss2.Service(auth, sink.url, session=oss2.Session(), region=REGION)
        self.oss2_patched = oss2.Service(auth, sink.url, session=oss2.Session(), region=REGION)
        self.oss2_tls = oss2.Service(auth, sink.tls_url, session=oss2.Session(adapter=VerifyingAdapter()),
                                     region=REGION) if sink.tls_url else None
        self.oss2_session = (oss2.Service(auth, sink.url, session=fast_oss2.Session(), region=REGION)
                             if hasattr(fast_oss2, "Session") else None)
        self.was_patched = fast_oss2.is_patched()
        fast_oss2.patch()  # process-wide: oss2 "as is" calls fast_oss2.ORIGINAL

        def v2_client(http_client: Any = None) -> Any:
            cfg = oss.config.load_default()
            cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(AK, SK)
            cfg.region, cfg.endpoint = REGION, sink.url
            if http_client is not None:
                cfg.http_client = http_client
            return oss.Client(cfg)

        self.v2 = v2_client()
        self.v2_fast = v2_client()  # used only through fast_v2.write_get_object_response
        self.v2_http = v2_client(fast_v2.HttpClient()) if hasattr(fast_v2, "HttpClient") else None

        async def v2_async(fast: bool = False) -> Any:  # the SDK's asyncio client (aiohttp transport)
            from alibabacloud_oss_v2.aio import AsyncClient

            cfg = oss.config.load_default()
            cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(AK, SK)
            cfg.region, cfg.endpoint = REGION, sink.url
            if fast:
                cfg.http_client = fast_v2.AsyncHttpClient()
            return AsyncClient(cfg)

        run = self.loop.run_until_complete
        self.v2_aio = run(v2_async())
        self.v2_aio_fast = run(v2_async())  # used only through fast_v2.async_write_get_object_response
        self.v2_aio_http = run(v2_async(fast=True)) if hasattr(fast_v2, "AsyncHttpClient") else None

        def boto(url: str, verify: Any) -> Any:
            session = botocore.session.get_session()
            return session.create_client(
                "s3", region_name="us-east-1", endpoint_url=url, verify=verify,
                aws_access_key_id="AKIDBENCH", aws_secret_access_key="bench-secret",
                config=Config(inject_host_prefix=False, retries={"max_attempts": 1}))

        self.boto = boto(sink.url, None)
        self.boto_tls = boto(sink.tls_url, ca_file) if sink.tls_url else None

    def v2_input(self, body: Any) -> Any:
        return self.oss.OperationInput(
            op_name="WriteGetObjectResponse", method="POST",
            headers={"x-oss-request-route": ROUTE, "x-oss-request-token": TOKEN, "x-oss-fwd-status": "200"},
            parameters={"x-oss-write-get-object-response": ""}, body=body,
            op_metadata={"sub-resource": ["x-oss-write-get-object-response"]})

    def close(self) -> None:
        if not self.was_patched:
            self.fast_oss2.unpatch()
        for c in (self.fast, self.fast_tls):
            if c is not None:
                c.close()
        self.loop.run_until_complete(self.afast.close())
        for c in (self.v2_aio, self.v2_aio_fast, self.v2_aio_http):
            if c is not None:
                if hasattr(self.fast_v2, "aclose"):
                    self.loop.run_until_complete(self.fast_v2.aclose(c))
                if hasattr(c, "close"):
                    self.loop.run_until_complete(c.close())
        self.loop.close()
        for r in (self.raw, self.raw_tls):
            if r is not None:
                r.sock.close()
        self.fast_oss2.close(self.oss2_patched)
        for c in (self.v2, self.v2_fast, self.v2_http):
            if c is not None:
                self.fast_v2.close(c)


def _loop(n: int, one: Callable[[], Any]) -> None:
    for _ in range(n):
        one()


#: up to this size the raw contender sends head and body prebuilt as one buffer, in one
#: sendall: one TCP segment (one TLS record) per request, as ossfast's small requests go. Two
#: sendalls would be two segments, and the sink woken twice: a "limit" slower than ossfast.
RAW_JOINED = 64 * 1024


def raw_bytes(env: Env, p: Payload, tls: bool = False):
    conn = env.raw_tls if tls else env.raw
    head = env.head(p.size)
    sendall, read_reply, view = conn.sock.sendall, conn.read_reply, p.view
    if p.size <= RAW_JOINED:
        request = head + p.data

        def one_joined():
            sendall(request)
            read_reply()
        return lambda n: _loop(n, one_joined)

    def one():
        sendall(head)
        sendall(view)
        read_reply()
    return lambda n: _loop(n, one)


def raw_sendfile(env: Env, p: Payload):
    head, sock = env.head(p.size), env.raw.sock

    def one():
        with open(p.path, "rb") as f:
            sock.sendall(head)
            fd, sfd, off = f.fileno(), sock.fileno(), 0
            while off < p.size:
                n = os.sendfile(sfd, fd, off, p.size - off)
                if n <= 0:
                    raise OSError("sendfile made no progress")
                off += n
        env.raw.read_reply()
    return lambda n: _loop(n, one)


def _fast_check(r: Any, size: int) -> None:
    if r.status != 200 or r.bytes_sent != size:
        raise AssertionError(f"ossfast: {r.status} {r.bytes_sent}")


def fast_bytes(env: Env, p: Payload, tls: bool = False, md5: bool = False):
    send, data, size = (env.fast_tls if tls else env.fast).write_get_object_response, p.data, p.size
    kw = {"content_md5": True} if md5 else {}
    return lambda n: _loop(n, lambda: _fast_check(send(ROUTE, TOKEN, 200, data, **kw), size))


def fast_file(env: Env, p: Payload):
    send = env.fast.write_get_object_response

    def one():
        with open(p.path, "rb") as f:
            _fast_check(send(ROUTE, TOKEN, 200, f), p.size)
    return lambda n: _loop(n, one)


def fast_iter(env: Env, p: Payload):
    send = env.fast.write_get_object_response
    return lambda n: _loop(n, lambda: _fast_check(
        send(ROUTE, TOKEN, 200, p.chunks(), content_length=p.size), p.size))


def fast_async(env: Env, p: Payload):
    send, data, size = env.afast.write_get_object_response, p.data, p.size

    async def batch(n: int) -> None:
        for _ in range(n):
            _fast_check(await send(ROUTE, TOKEN, 200, data), size)
    return lambda n: env.loop.run_until_complete(batch(n))


def _oss2_check(r: Any) -> None:
    if r.status != 200:
        raise AssertionError(f"oss2: {r.status}")


def oss2_as_is(env: Env, p: Payload, tls: bool = False, file: bool = False):
    svc, original = (env.oss2_tls if tls else env.oss2), env.fast_oss2.ORIGINAL
    if file:
        def one():
            with open(p.path, "rb") as f:
                _oss2_check(original(svc, ROUTE, TOKEN, "200", f))
        return lambda n: _loop(n, one)
    data = p.data
    return lambda n: _loop(n, lambda: _oss2_check(original(svc, ROUTE, TOKEN, "200", data)))


def oss2_patched(env: Env, p: Payload):
    send, data = env.oss2_patched.write_get_object_response, p.data
    return lambda n: _loop(n, lambda: _oss2_check(send(ROUTE, TOKEN, "200", data)))


def oss2_session(env: Env, p: Payload):
    svc, original, data = env.oss2_session, env.fast_oss2.ORIGINAL, p.data
    return lambda n: _loop(n, lambda: _oss2_check(original(svc, ROUTE, TOKEN, "200", data)))


def _v2_check(out: Any) -> None:
    if out.status_code != 200:
        raise AssertionError(f"alibabacloud-oss-v2: {out.status_code}")


def v2_invoke(env: Env, p: Payload, http: bool = False):
    client, data = (env.v2_http if http else env.v2), p.data
    return lambda n: _loop(n, lambda: _v2_check(client.invoke_operation(env.v2_input(data))))


def v2_fast(env: Env, p: Payload):
    wgor, client, data = env.fast_v2.write_get_object_response, env.v2_fast, p.data
    return lambda n: _loop(n, lambda: _v2_check(wgor(client, ROUTE, TOKEN, 200, data)))


def v2_aio_invoke(env: Env, p: Payload, http: bool = False):
    client, data = (env.v2_aio_http if http else env.v2_aio), p.data

    async def batch(n: int) -> None:
        for _ in range(n):
            _v2_check(await client.invoke_operation(env.v2_input(data)))
    return lambda n: env.loop.run_until_complete(batch(n))


def v2_aio_fast(env: Env, p: Payload):
    wgor, client, data = env.fast_v2.async_write_get_object_response, env.v2_aio_fast, p.data

    async def batch(n: int) -> None:
        for _ in range(n):
            _v2_check(await wgor(client, ROUTE, TOKEN, 200, data))
    return lambda n: env.loop.run_until_complete(batch(n))


def boto(env: Env, p: Payload, tls: bool = False):
    call, data = (env.boto_tls if tls else env.boto).write_get_object_response, p.data

    def one():
        r = call(RequestRoute=ROUTE, RequestToken=TOKEN, StatusCode=200, Body=data)
        if r["ResponseMetadata"]["HTTPStatusCode"] != 200:
            raise AssertionError(r["ResponseMetadata"])
    return lambda n: _loop(n, one)


def _missing(module: str, name: str) -> Callable[[], Optional[str]]:
    def check() -> Optional[str]:
        import importlib

        mod = importlib.import_module(module)
        return None if hasattr(mod, name) else f"{module}.{name} does not exist yet in this checkout"
    return check


def _needs_tls(env_sink: Any) -> Optional[str]:
    return None if env_sink.tls_url else "the sink serves no HTTPS"


RAW, SENDFILE, RAW_TLS = "raw socket", "raw sendfile", "raw TLS socket"
OSS2, OSS2_TLS = "oss2", "oss2 HTTPS"
CONTENDERS: List[Contender] = [
    Contender(RAW, "http", "bytes", "limit", raw_bytes, RAW, OSS2,
              doc="prebuilt head + body (one buffer up to 64 KiB), sendall on one keep-alive socket, "
                  "reply read to its end"),
    Contender(SENDFILE, "http", "file", "limit", raw_sendfile, SENDFILE, OSS2,
              doc="prebuilt head, then os.sendfile of the file"),
    Contender("ossfast", "http", "bytes", "ossfast", fast_bytes, RAW, OSS2,
              doc="Client.write_get_object_response(route, token, 200, bytes), V4"),
    Contender("ossfast +MD5", "http", "bytes", "ossfast", lambda e, p: fast_bytes(e, p, md5=True), RAW, OSS2,
              doc="the same with content_md5=True (MD5 computed, sent as Content-MD5)"),
    Contender("ossfast file", "http", "file", "ossfast", fast_file, SENDFILE, OSS2,
              doc="an open file (pread into a reused 256 KiB buffer, CRC64, send)"),
    Contender("ossfast iterator", "http", "iterator", "ossfast", fast_iter, RAW, OSS2,
              doc="a generator of 1 MiB memoryview slices, content_length given"),
    Contender("ossfast AsyncClient", "http", "bytes", "ossfast", fast_async, RAW, OSS2,
              doc="await AsyncClient.write_get_object_response, bytes, sequential on one loop"),
    Contender(OSS2, "http", "bytes", "oss2", oss2_as_is, RAW, OSS2,
              doc="oss2.Service.write_get_object_response as shipped (AuthV4), bytes"),
    Contender("oss2 file", "http", "file", "oss2", lambda e, p: oss2_as_is(e, p, file=True), SENDFILE, OSS2,
              doc="the same with an open file"),
    Contender("oss2 patch()", "http", "bytes", "ossfast", oss2_patched, RAW, OSS2,
              doc="the same call after ossfast.integrations.oss2.patch()"),
    Contender("oss2 + ossfast Session", "http", "bytes", "ossfast", oss2_session, RAW, OSS2,
              needs=_missing("ossfast.integrations.oss2", "Session"),
              doc="oss2's own write_get_object_response over session=ossfast.integrations.oss2.Session()"),
    Contender("v2 invoke_operation", "http", "bytes", "v2", v2_invoke, RAW, OSS2,
              doc="alibabacloud-oss-v2 Client.invoke_operation(OperationInput POST /?x-oss-write-get-object-response)"),
    Contender("v2 invoke_operation + ossfast HttpClient", "http", "bytes", "ossfast",
              lambda e, p: v2_invoke(e, p, http=True), RAW, OSS2,
              needs=_missing("ossfast.integrations.oss_v2", "HttpClient"),
              doc="the same with Config.http_client = ossfast.integrations.oss_v2.HttpClient()"),
    Contender("v2 + ossfast WGOR", "http", "bytes", "ossfast", v2_fast, RAW, OSS2,
              doc="ossfast.integrations.oss_v2.write_get_object_response(v2 client, ...)"),
    Contender("v2 aio invoke_operation", "http", "bytes", "v2", v2_aio_invoke, RAW, OSS2,
              doc="alibabacloud_oss_v2.aio.AsyncClient.invoke_operation, the same OperationInput, its aiohttp "
                  "transport, awaited in sequence on one loop"),
    Contender("v2 aio invoke_operation + ossfast AsyncHttpClient", "http", "bytes", "ossfast",
              lambda e, p: v2_aio_invoke(e, p, http=True), RAW, OSS2,
              needs=_missing("ossfast.integrations.oss_v2", "AsyncHttpClient"),
              doc="the same with Config.http_client = ossfast.integrations.oss_v2.AsyncHttpClient()"),
    Contender("v2 aio + ossfast WGOR", "http", "bytes", "ossfast", v2_aio_fast, RAW, OSS2,
              doc="await ossfast.integrations.oss_v2.async_write_get_object_response(v2 aio client, ...)"),
    Contender("botocore", "http", "bytes", "botocore", boto, RAW, OSS2,
              doc="botocore S3 write_get_object_response, endpoint_url = the sink (SigV4; on plain "
                  "HTTP botocore hashes the payload with SHA-256, on HTTPS it does not)"),
    Contender(RAW_TLS, "https", "bytes", "limit", lambda e, p: raw_bytes(e, p, tls=True), RAW_TLS, OSS2_TLS,
              doc="prebuilt head + body over one TLS connection (Python ssl)"),
    Contender("ossfast HTTPS", "https", "bytes", "ossfast", lambda e, p: fast_bytes(e, p, tls=True),
              RAW_TLS, OSS2_TLS, doc="Client over HTTPS, certificate verified"),
    Contender(OSS2_TLS, "https", "bytes", "oss2", lambda e, p: oss2_as_is(e, p, tls=True), RAW_TLS, OSS2_TLS,
              doc="oss2 as shipped over HTTPS"),
    Contender("botocore HTTPS", "https", "bytes", "botocore", lambda e, p: boto(e, p, tls=True),
              RAW_TLS, OSS2_TLS, doc="botocore over HTTPS (UNSIGNED-PAYLOAD)"),
]


# ----------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def matrix_env(request, tmp_path_factory):
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
    from srv_tls import TLSMaterial

    tls = TLSMaterial(tmp_path_factory.mktemp("matrix-tls"))
    sink = open_sink(tls=tls.cert_files(), install=not QUICK,
                     log=lambda m: progress(request, m))
    RESULTS["sink"] = describe(sink)
    progress(request, f"matrix: sink {sink.note} at {sink.url}" + (f" and {sink.tls_url}" if sink.tls_url else ""))
    env = None
    try:
        env = Env(sink, tls.ca_file)
        for c in CONTENDERS:
            reason = c.needs() if c.needs else None
            if reason is None and c.proto == "https":
                reason = _needs_tls(sink)
            RESULTS["contenders"][c.label] = {"proto": c.proto, "body": c.body, "family": c.family,
                                              "limit": c.limit, "oss2": c.oss2, "doc": c.doc}
            if reason:
                RESULTS["skipped"][c.label] = reason
        yield env
    finally:
        try:
            if env is not None:
                env.close()
        finally:
            unpin(sink)
            sink.stop()
            write_json("matrix", RESULTS)


def _measure(env: Env, size: int, tmpdir: str, request: Any) -> None:
    where = "together" if size <= TOGETHER_MAX else "apart"
    RESULTS["placement"][str(size)] = placement(env.sink, where)
    rounds = 1 if QUICK else ROUNDS.get(size, 3)
    p = Payload(size, tmpdir)
    try:
        live = [c for c in CONTENDERS if c.label not in RESULTS["skipped"] and c.label not in RESULTS["failed"]]
        batches: Dict[str, Callable[[int], None]] = {}
        count: Dict[str, int] = {}
        for c in live:
            try:
                batch = c.make(env, p)
                batch(1)  # warm-up: connection, code paths
            except Exception as exc:  # measure the others; the test fails at the end
                RESULTS["failed"][c.label] = f"{fmt_size(size)}: {type(exc).__name__}: {exc}"[:300]
                progress(request, f"matrix: {c.label} FAILED at {fmt_size(size)}: {exc!r}"[:300])
                continue
            if QUICK or size not in BUDGET:
                count[c.label] = 1
            else:
                t0 = time.perf_counter()
                batch(2)
                per = (time.perf_counter() - t0) / 2
                count[c.label] = max(2, min(BATCH_MAX, int(BUDGET[size] / per)))
                batch(max(1, count[c.label] // 10))
            batches[c.label] = batch
        wall: Dict[str, List[float]] = {c.label: [] for c in live}
        cpu: Dict[str, List[float]] = {c.label: [] for c in live}
        shuffle = random.Random(SEED + size)
        for r in range(rounds):
            t_round = time.perf_counter()
            for label in shuffle.sample(list(batches), len(batches)):
                n = count[label]
                c0, t0 = time.process_time(), time.perf_counter()
                batches[label](n)
                t1, c1 = time.perf_counter(), time.process_time()
                wall[label].append((t1 - t0) / n)
                cpu[label].append((c1 - c0) / n)
            progress(request, f"matrix {fmt_size(size)} ({where}): round {r + 1}/{rounds} "
                              f"in {time.perf_counter() - t_round:.1f} s")
        RESULTS["sizes"].append(size)
        for label in batches:
            RESULTS["rows"].setdefault(label, {})[str(size)] = {"wall": wall[label], "cpu": cpu[label],
                                                                "n": count[label]}
        write_json("matrix", RESULTS)
    finally:
        p.close()


@pytest.mark.parametrize("size", SIZES, ids=fmt_size)
def test_matrix(size, matrix_env, tmp_path, request):
    _measure(matrix_env, size, str(tmp_path), request)
    assert RESULTS["rows"][RAW][str(size)]["wall"]
    assert not RESULTS["failed"], RESULTS["failed"]


PLACEMENT_LABELS = (RAW, "ossfast", OSS2)


def test_placement_1KiB(matrix_env, tmp_path, request):
    """Why small requests run on one CPU, measured: 1 KiB with client and sink together and
    apart, alternating within each round (raw socket, ossfast, oss2)."""
    env, rounds = matrix_env, 1 if QUICK else 9
    p = Payload(KiB, str(tmp_path))
    by_label = {c.label: c for c in CONTENDERS}
    out: Dict[str, Any] = {"together": {}, "apart": {}}
    try:
        batches = {label: by_label[label].make(env, p) for label in PLACEMENT_LABELS}
        count = {}
        placement(env.sink, "together")
        for label, batch in batches.items():
            batch(3)
            t0 = time.perf_counter()
            batch(2)
            count[label] = 1 if QUICK else max(2, min(BATCH_MAX, int(0.1 / ((time.perf_counter() - t0) / 2))))
        shuffle = random.Random(SEED)
        for _ in range(rounds):
            for where in shuffle.sample(["together", "apart"], 2):
                placement(env.sink, where)
                for label in shuffle.sample(list(batches), len(batches)):
                    n = count[label]
                    batches[label](max(1, n // 10))  # settle after the move
                    c0, t0 = time.process_time(), time.perf_counter()
                    batches[label](n)
                    t1, c1 = time.perf_counter(), time.process_time()
                    d = out[where].setdefault(label, {"wall": [], "cpu": [], "n": n})
                    d["wall"].append((t1 - t0) / n)
                    d["cpu"].append((c1 - c0) / n)
        RESULTS["placement_check"] = out
        write_json("matrix", RESULTS)
        progress(request, "placement, 1 KiB, client CPU per request (median): " + ", ".join(
            f"{label} {sorted(out['together'][label]['cpu'])[rounds // 2] * 1e6:.1f} us together / "
            f"{sorted(out['apart'][label]['cpu'])[rounds // 2] * 1e6:.1f} us apart" for label in batches))
    finally:
        p.close()
