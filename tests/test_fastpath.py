"""The sender's fast path: the one-call WGOR head (csrc/head.c and its pure twin), the client's
small-request path (``Client.write_get_object_response`` -> ``wgor_head`` -> ``_send_small``)
and the reply parser that reads headers lazily and frames close-delimited replies at EOF.

Oracles: the head layout documented in csrc/ossfast.h, rebuilt here line by line and signed
with the signers' own low-level functions; the CRC from crcmod (tests/refcrc.py) and oss2;
``Client.prepare`` for what the fast path must put on the wire; the loopback servers for what
actually arrived.
"""
from __future__ import annotations

import array
import base64
import datetime
import logging
import os
import random
import string
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from refcrc import crc64 as ref_crc64
from srv_faults import (
    Behaviour,
    FaultServer,
    idle_close,
    raw,
    reply,
    stall_tls_handshake,
    wrong_content_length,
)
from srv_recording import RecordingServer
from srv_replies import Reply, oss_error

import ossfast
from ossfast import (
    Credentials,
    InvalidRequestError,
    TransportError,
    _pure,
    signing,
    transport,
)
from ossfast.client import _FAST_STATUS

try:
    from ossfast import _native
except ImportError:  # the python-backend run may lack the compiled core
    _native = None

# ---- constants and helpers ---------------------------------------------------------------

REQUEST_LINE = b"POST /?x-oss-write-get-object-response HTTP/1.1\r\n"
WGOR_RESOURCE = b"/?x-oss-write-get-object-response"
WGOR_QUERY = b"x-oss-write-get-object-response"

ROUTE = "fc-ap-01-1234-opap.oss-cn-qingdao-internal.oss-object-process.aliyuncs.com"
TOKEN = "OSSV1#fastpath"
CREDS = Credentials("ak", "sk")
FROZEN = 1698722278.25  # Tue, 31 Oct 2023 03:17:58 GMT
SMALL = b"s" * 1000

on_native = ossfast.backend == "native" and _native is not None
needs_native = pytest.mark.skipif(not on_native, reason="compares the native backend with the pure one")
BACKENDS = [pytest.param(_pure, id="python"),
            pytest.param(_native, id="native", marks=pytest.mark.skipif(
                not on_native, reason="the native backend is not the one under test"))]

TOKEN_CHARS = "".join(chr(c) for c in range(0x21, 0x7F))  # what the core accepts in a token
VALUE_CHARS = string.ascii_letters + string.digits + string.punctuation + " "
EXTRA_NAMES = ["x-oss-fwd-header-Content-Type", "x-oss-fwd-header-ETag", "x-oss-fwd-header-Cache-Control",
               "x-oss-fwd-header-Last-Modified", "X-Oss-Fwd-Header-Accept-Ranges", "Content-Type",
               "User-Agent", "Cache-Control", "x-oss-meta-a", "X-OSS-META-B", "Accept"]
REGIONS = [b"cn-hangzhou", b"cn-qingdao", b"ap-southeast-1", b"eu-central-1"]


def rand_str(rng, chars, lo, hi):
    return "".join(rng.choice(chars) for _ in range(rng.randint(lo, hi)))


def rand_route(rng):
    labels = [rand_str(rng, string.ascii_lowercase + string.digits, 1, 20) for _ in range(rng.randint(1, 6))]
    return ".".join(labels).encode()


def rand_token(rng):
    hi = rng.choice([40, 300, 8192])
    return rand_str(rng, TOKEN_CHARS, 1, hi).encode()


def rand_extra(rng):
    """Valid header lines, each ending CRLF (distinct names, none the head or signer writes)."""
    names = rng.sample(EXTRA_NAMES, rng.randint(0, len(EXTRA_NAMES)))
    names += [f"x-oss-meta-r{i}-{rand_str(rng, string.ascii_lowercase, 1, 8)}" for i in range(rng.randint(0, 4))]
    rng.shuffle(names)
    return b"".join(b"%s: %s\r\n" % (n.encode(), rand_str(rng, VALUE_CHARS, 1, 60).strip().encode() or b"v")
                    for n in names)


def signer_lines(rng, version):
    """What SignerV1/SignerV4 append: Date (and x-oss-date, x-oss-content-sha256 for V4), and
    sometimes an STS token long enough to push the head past the native 4 KiB buffer."""
    sec = rng.randrange(0, 4102444800)  # 1970 .. 2100
    date, iso = signing.request_dates(sec)
    out = b"Date: " + date.encode() + b"\r\n"
    if version == 4:
        out += b"x-oss-date: " + iso.encode() + b"\r\nx-oss-content-sha256: UNSIGNED-PAYLOAD\r\n"
    if rng.random() < 0.3:
        out += b"x-oss-security-token: CAIS" + rand_str(rng, string.ascii_letters + string.digits + "+/=",
                                                        3000, 9000).encode() + b"\r\n"
    return out


def rand_body(rng):
    kind = rng.choice(["none", "bytes", "bytearray", "memoryview", "memoryview-slice"])
    data = rng.randbytes(rng.choice([0, 1, rng.randint(2, 2048)]))
    if kind == "none":
        return None
    if kind == "bytes":
        return data
    if kind == "bytearray":
        return bytearray(data)
    if kind == "memoryview":
        return memoryview(data)
    buf = bytearray(rng.randbytes(8)) + bytearray(data) + bytearray(rng.randbytes(8))
    return memoryview(buf)[8:8 + len(data)]


def layout_head(version, secret, region, product, route, token, status, length, md5, extra, lines, prefix):
    """The head as csrc/ossfast.h documents it, signed with the pure signers (hashlib/hmac)."""
    block = (b"Host: " + route + b"\r\nContent-Length: %d\r\n" % length
             + (b"Content-MD5: " + md5 + b"\r\n" if md5 else b"")
             + b"x-oss-request-route: " + route + b"\r\nx-oss-request-token: " + token
             + b"\r\nx-oss-fwd-status: %d\r\n" % status + extra + lines)
    if version == 1:
        sig = _pure.v1_sign(secret, b"POST", block, WGOR_RESOURCE)
    else:
        sig = _pure.v4_sign(None, secret, b"POST", b"/", WGOR_QUERY, block, b"", region, product)
    return REQUEST_LINE + block + b"Authorization: " + prefix + sig.encode() + b"\r\n\r\n"


def split_head(head):
    """(header block from Host to the signer's lines, Authorization value) of a head."""
    assert head.startswith(REQUEST_LINE) and head.endswith(b"\r\n\r\n")
    i = head.rindex(b"\r\nAuthorization: ") + 2
    return head[len(REQUEST_LINE):i], head[i + len(b"Authorization: "):-4]


def make_client(server, *, version="v4", creds=CREDS, retries=0, timeout=5.0):
    return ossfast.Client(creds, endpoint=server.url, signature_version=version, timeout=timeout,
                          retries=ossfast.Retry(total=retries, backoff=0.001, max_backoff=0.01))


def fault_server(start_server, tls_material, tls, behaviours):
    """A FaultServer with these behaviours, speaking TLS (the valid certificate) when ``tls``."""
    return start_server(FaultServer, behaviours=behaviours,
                        ssl_context=tls_material.server_context() if tls else None)


def client_for(server, tls_material, tls, **kw):
    return tls_client(server, tls_material, **kw) if tls else make_client(server, **kw)


class SendSpy:
    """Counts the fast path's attempts (an idle connection handed out by Pool.acquire_idle, on
    which _send_small writes attempt 0) and the general path's sends (transport.send_request)."""

    def __init__(self, monkeypatch):
        self.fast = []
        self.general = []
        real_idle, real_request = transport.Pool.acquire_idle, transport.send_request

        def acquire_idle(pool, key, timeout):
            conn = real_idle(pool, key, timeout)
            if conn is not None:
                self.fast.append(conn)
            return conn

        def send_request(conn, head, body, progress=None):
            self.general.append(head)
            return real_request(conn, head, body, progress)

        monkeypatch.setattr(transport.Pool, "acquire_idle", acquire_idle)
        monkeypatch.setattr(transport, "send_request", send_request)


def retry_lines(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "ossfast" and "retrying" in r.getMessage()]


def raised(func, *args):
    """(type, message, field) of what func(*args) raises."""
    with pytest.raises(Exception) as ei:
        func(*args)
    return type(ei.value), str(ei.value), getattr(ei.value, "field", None)


def _run_reply_then_reset(ctx, delay):
    ctx.read_request()
    ctx.send(Reply(200).to_bytes())
    ctx.link.sleep(delay)
    ctx.reset()
    return False


def reply_then_reset(delay=0.05):
    """Serves one request with keep-alive, then resets the idle connection (RST) after `delay` s."""
    return Behaviour("reply_then_reset", _run_reply_then_reset, delay=delay)


def _run_read_then_reset(ctx):
    ctx.read_request()
    ctx.reset()
    return False


def read_then_reset():
    """Reads the whole request, then resets the connection without a reply."""
    return Behaviour("read_then_reset", _run_read_then_reset)


def _run_reply_then_later(ctx, data, delay):
    ctx.read_request()
    ctx.send(Reply(200).to_bytes())
    ctx.link.sleep(delay)
    ctx.send(data)
    return True


def reply_then_later(data, delay=0.05):
    """Serves one request with keep-alive, then sends unsolicited `data` on the idle connection."""
    return Behaviour("reply_then_later", _run_reply_then_later, data=data, delay=delay)


def _run_slow_raw(ctx, data, byte_delay):
    ctx.read_request()
    ctx.send(data, byte_delay=byte_delay)
    return True


def slow_raw(data, byte_delay=0.001):
    """Reads the request, sends `data` one byte at a time, keeps the connection."""
    return Behaviour("slow_raw", _run_slow_raw, data=data, byte_delay=byte_delay)


def wait_closed(server, index, timeout=2.0):
    server.wait_until(lambda: len(server.connections) > index and server.connections[index].closed,
                      timeout, f"connection {index} closed")
    time.sleep(0.05)  # let the FIN or RST reach the client's socket


# ---- the one-call head: native and pure twins --------------------------------------------


@needs_native
def test_builders_agree_on_random_inputs():
    """Same (head, crc) from both builders on 2000 random inputs; the head is the documented
    layout, its signature the signers' over its own header block, the CRC crcmod's/oss2's."""
    import oss2.utils

    rng = random.Random(0xFA57)
    retried = 0
    for i in range(2000):
        version = rng.choice([1, 4])
        secret = rand_str(rng, string.ascii_letters + string.digits, 1, 40).encode()
        region, product = rng.choice(REGIONS), rng.choice([b"oss", b"oss-object-process"])
        route, token = rand_route(rng), rand_token(rng)
        status = rng.randint(100, 999)
        length = rng.choice([0, 1, 2 ** 32, 2 ** 63 - 1, rng.randrange(0, 2 ** 63)])
        md5 = base64.b64encode(rng.randbytes(16)) if rng.random() < 0.5 else b""
        extra, lines = rand_extra(rng), signer_lines(rng, version)
        prefix = rand_str(rng, VALUE_CHARS, 0, 120).encode()
        body = rand_body(rng)
        args = (route, token, status, length, md5, extra, lines, prefix, body)
        native = _native.wgor_head_builder(version, secret, region, product, _native.V4Cache())(*args)
        pure = _pure.wgor_head_builder(version, secret, region, product, _pure.V4Cache())(*args)
        assert native == pure, (i, args[:8])
        head, crc = native
        retried += len(head) > 4096
        assert head == layout_head(version, secret, region, product, route, token, status, length, md5,
                                   extra, lines, prefix), i
        block, auth = split_head(head)
        assert block.startswith(b"Host: " + route + b"\r\n") and block.endswith(lines)
        for be in (_native, _pure):
            sig = (be.v1_sign(secret, b"POST", block, WGOR_RESOURCE) if version == 1 else
                   be.v4_sign(None, secret, b"POST", b"/", WGOR_QUERY, block, b"", region, product))
            assert auth == prefix + sig.encode(), (i, be.NAME)
        if body is None:
            assert crc is None
        else:
            data = bytes(body)
            assert crc == _pure.crc64(data) == ref_crc64(data), i
            if i % 50 == 0:
                oracle = oss2.utils.Crc64(0)
                oracle.update(data)
                assert crc == oracle.crc
    assert retried > 100  # the long-head path of the native builder ran often


@pytest.mark.parametrize("be", BACKENDS)
def test_builder_crc_covers_every_byte_of_a_typed_buffer(be):
    """``body`` is any buffer: the CRC is over its bytes, not over len() of its items."""
    head_of = be.wgor_head_builder(1, b"sk")
    lines = b"Date: Tue, 31 Oct 2023 03:17:58 GMT\r\n"
    ints = array.array("I", range(1000))
    views = [memoryview(ints), memoryview(array.array("d", [1.5] * 33)),
             memoryview(bytes(range(100))).cast("B", [4, 25])]
    for view in views:
        _, crc = head_of(b"r.example", b"tok", 200, view.nbytes, b"", b"", lines, b"OSS ak:", view)
        assert crc == ref_crc64(view.tobytes()), view.format


@pytest.mark.parametrize("be", BACKENDS)
@pytest.mark.parametrize("version", [1, 4])
@pytest.mark.parametrize("token", [b"", b"a b", b" ", b"tok ", b"a\tb", b"a\rb", b"a\nb", b"a\r\nX-Evil: 1",
                                   b"a\x00b", b"a\x7fb", b"a\x80b", b"\xff", b"caf\xc3\xa9"],
                         ids=repr)
def test_builders_reject_bad_tokens(be, version, token):
    """InvalidRequestError(field "token"), and the body's buffer is not left exported."""
    head_of = be.wgor_head_builder(version, b"sk", b"cn-hangzhou", b"oss")
    lines = b"Date: Tue, 31 Oct 2023 03:17:58 GMT\r\nx-oss-date: 20231031T031758Z\r\n"
    body = bytearray(b"body" * 10)
    with pytest.raises(InvalidRequestError) as ei:
        head_of(b"r.example", token, 200, len(body), b"", b"", lines, b"P", body)
    assert ei.value.field == "token"
    body.extend(b"more")  # BufferError if the builder still held an export
    del body[:]


@pytest.mark.parametrize("be", BACKENDS)
def test_builders_accept_every_printable_token_byte(be):
    """The token check is exactly 0x21..0x7e: all of them, and the edges alone, are accepted."""
    lines = b"Date: Tue, 31 Oct 2023 03:17:58 GMT\r\nx-oss-date: 20231031T031758Z\r\n"
    for version in (1, 4):
        head_of = be.wgor_head_builder(version, b"sk", b"cn-hangzhou", b"oss")
        for token in (TOKEN_CHARS.encode(), b"!", b"~"):
            head, crc = head_of(b"r.example", token, 200, 0, b"", b"", lines, b"P")
            assert b"\r\nx-oss-request-token: " + token + b"\r\n" in head and crc is None
            assert head == layout_head(version, b"sk", b"cn-hangzhou", b"oss", b"r.example", token, 200, 0,
                                       b"", b"", lines, b"P")


@needs_native
@pytest.mark.parametrize("status", [-1, 1000, 12345])
def test_builders_reject_out_of_range_status_alike(status):
    """A status the head cannot carry as three digits: the same error from both twins."""
    lines = b"Date: Tue, 31 Oct 2023 03:17:58 GMT\r\n"
    args = (b"r.example", b"tok", status, 0, b"", b"", lines, b"P")
    native = raised(_native.wgor_head_builder(1, b"sk"), *args)
    pure = raised(_pure.wgor_head_builder(1, b"sk"), *args)
    assert native[0] is pure[0] is InvalidRequestError
    assert native[2] == pure[2] == "status", (native, pure)


_KEEPALIVE_SCRIPT = textwrap.dedent("""
    import gc, sys
    from ossfast import {module} as be
    head_of = be.wgor_head_builder(4, b"sk", b"cn-hangzhou", b"oss", be.V4Cache())
    gc.collect()
    # Churn the heap so a freed cache would be reused and overwritten.
    others = [be.V4Cache() for _ in range(64)]
    for i, c in enumerate(others):
        be.v4_sign(c, b"other%d" % i, b"POST", b"/", b"q", LINES, b"", b"r", b"p")
    del others
    gc.collect()
    for _ in range(3):
        head, crc = head_of(b"r.example", b"tok", 200, 5, b"", b"", LINES, b"P", b"hello")
        sys.stdout.write(head.hex() + " %d\\n" % crc)
""")


@pytest.mark.parametrize("be", BACKENDS)
def test_builder_keeps_its_v4_cache_alive(be):
    """A builder made with a temporary V4Cache still signs after the cache is dropped and
    collected (a subprocess with a timeout, so a spin on a freed lock fails instead of hanging)."""
    lines = b"Date: Tue, 31 Oct 2023 03:17:58 GMT\r\nx-oss-date: 20231031T031758Z\r\n"
    code = f"LINES = {lines!r}\n" + _KEEPALIVE_SCRIPT.format(module=be.__name__.rsplit(".", 1)[1])
    env = dict(os.environ, MALLOC_PERTURB_="165", OSSFAST_BACKEND="auto")
    try:
        p = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, env=env,
                           cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))), timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("the builder hung after its V4Cache was collected")
    assert p.returncode == 0, p.stderr
    want = layout_head(4, b"sk", b"cn-hangzhou", b"oss", b"r.example", b"tok", 200, 5, b"", b"", lines, b"P")
    assert p.stdout.split("\n")[:3] == [f"{want.hex()} {ref_crc64(b'hello')}"] * 3


# ---- the client's fast path on the wire --------------------------------------------------


@pytest.fixture
def frozen_time(monkeypatch):
    """Date and x-oss-date fixed, so a head built twice is the same bytes."""
    monkeypatch.setattr(signing, "_time", lambda: FROZEN)
    return FROZEN


@pytest.mark.usefixtures("no_fd_leak")
@pytest.mark.parametrize("version", ["v1", "v4"])
@pytest.mark.parametrize("sts", [False, True], ids=["ak", "sts"])
@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_fast_path_sends_what_prepare_builds(start_server, tls_material, frozen_time, monkeypatch, version,
                                             sts, tls):
    """Requests after the first go the fast path, one connection (on TLS, one handshake), byte
    for byte as prepare()."""
    server = start_server(RecordingServer, ssl_context=tls_material.server_context() if tls else None)
    token = "CAIS" + "x" * 5000 if sts else None  # an STS head is bigger than the native 4 KiB buffer
    creds = Credentials("ak", "sk", token)
    rng = random.Random(7)
    statuses = sorted(_FAST_STATUS)
    sizes = [0, 1, 100, 4096, 65535, 65536] + [rng.randint(0, 65536) for _ in range(20)]
    cases = [(statuses[i % len(statuses)], rng.randbytes(size)) for i, size in enumerate(sizes)]
    with client_for(server, tls_material, tls, version=version, creds=creds) as c:
        c.write_get_object_response(ROUTE, TOKEN, 200, b"warm-up")
        spy = SendSpy(monkeypatch)
        results = [c.write_get_object_response(ROUTE, TOKEN, status, body) for status, body in cases]
        expected = []
        for status, body in cases:
            p = c.prepare(ROUTE, TOKEN, status, body)
            expected.append(p.head)
            p.body.close()
    assert len(spy.fast) == len(cases) and spy.general == []
    assert all(conn.plain is not tls for conn in spy.fast)
    reqs = server.wait_for(len(cases) + 1)[1:]
    for (status, body), r, req, head in zip(cases, results, reqs, expected):
        assert req.raw_head == head, status
        assert req.body == body and req.complete
        assert r.status == 200 and r.attempts == 1 and r.reused_connection is True
        assert r.crc64 == ref_crc64(body) == req.crc64 and r.bytes_sent == len(body)
        assert r.request_id == req.request_id
    assert server.accepted == 1 and server.tls_errors == []


FAST_PATH_ERRORS = [
    ("bad token", 200, b"x"),
    ("", 200, b"x"),
    ("tok\r\nX-Evil: 1", 200, b"x"),
    ("tok\x00", 200, b"x"),
    ("tok\x7f", 200, b"x"),
    ("t\u00f6k", 200, b"x"),
    ("t" * 8193, 200, b"x"),
    (TOKEN, 999, b"x"),
    (TOKEN, 299, b"x"),
    (TOKEN, True, b"x"),
    (TOKEN, 200.0, b"x"),
    (TOKEN, 206, b"x"),
    (TOKEN, 304, b"x"),
    (TOKEN, 200, "a str body"),
]


@pytest.mark.usefixtures("no_fd_leak")
@pytest.mark.parametrize("token,status,body", FAST_PATH_ERRORS, ids=lambda v: repr(v)[:20])
def test_fast_path_rejects_like_prepare(start_server, monkeypatch, token, status, body):
    """Bad input after a warm-up: exactly prepare()'s error, and nothing reaches the server."""
    server = start_server(RecordingServer)
    with make_client(server) as c:
        c.write_get_object_response(ROUTE, TOKEN, 200, b"warm-up")
        spy = SendSpy(monkeypatch)
        got = raised(c.write_get_object_response, ROUTE, token, status, body)
        want = raised(c.prepare, ROUTE, token, status, body)
        assert got == want
        assert issubclass(got[0], (InvalidRequestError, TypeError))
        assert spy.fast == spy.general == []
        assert c.pool.idle_count() == 1  # the warm connection was not taken
    assert len(server.wait_for(1)) == 1 and server.accepted == 1


@pytest.mark.parametrize("warm", [False, True])
def test_bytearray_body_released_after_bad_token(start_server, warm):
    """A bad token with a bytearray body: InvalidRequestError, and the bytearray can be resized
    (no buffer export left behind), even while the exception is still held."""
    server = start_server(RecordingServer)
    body = bytearray(os.urandom(3000))
    with make_client(server) as c:
        if warm:
            c.write_get_object_response(ROUTE, TOKEN, 200, b"warm-up")
        with pytest.raises(InvalidRequestError) as ei:
            c.write_get_object_response(ROUTE, "bad token", 200, body)
        assert ei.value.field == "token"
        body.extend(b"grown")
        del body[:100]
        assert len(body) == 2905
    assert len(server.requests) == int(warm)


# ---- the fast path with forwarded headers ------------------------------------------------

FWD_VALUES = {
    "accept_ranges": ["bytes", "none"],
    "cache_control": ["max-age=3600", "no-cache, no-store", "public, max-age=31536000, immutable"],
    "content_disposition": ['attachment; filename="a.txt"', "inline",
                            'attachment; filename="r\u00e9sum\u00e9 \u6587\u4ef6.pdf"'],
    "content_encoding": ["gzip", "br"],
    "content_language": ["en-US", "zh-CN, en"],
    "content_type": ["image/jpeg", "text/plain; charset=utf-8", "application/octet-stream"],
    "etag": ['"5B3C1A2E053D763E1B002CC607C5A0FE"', 'W/"abc"'],
    "expires": ["Thu, 01 Dec 2033 16:00:00 GMT", datetime.datetime(2031, 2, 3, 4, 5, 6, tzinfo=datetime.timezone.utc),
                "Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT"],
    "last_modified": ["Tue, 31 Oct 2023 03:17:58 GMT", "Wed, 29 Feb 2024 23:59:59 GMT",
                      datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=8)))],
}


@pytest.mark.usefixtures("no_fd_leak")
@pytest.mark.parametrize("version", ["v1", "v4"])
@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_fast_path_with_forwarded_headers_sends_what_prepare_builds(start_server, tls_material, frozen_time,
                                                                    monkeypatch, version, tls):
    """Forwarded headers (all but Content-Range) keep a request on the fast path, and the
    head is prepare()'s byte for byte: same validation, same encoding, same order."""
    server = start_server(RecordingServer, ssl_context=tls_material.server_context() if tls else None)
    rng = random.Random(23)
    names = sorted(FWD_VALUES)
    cases = []
    for i in range(40):
        kw = {n: rng.choice(FWD_VALUES[n]) for n in rng.sample(names, rng.randint(1, len(names)))}
        if i % 7 == 0:
            kw[rng.choice(names)] = None  # None: the header is left out, as prepare() does
        cases.append((sorted(_FAST_STATUS)[i % len(_FAST_STATUS)], rng.randbytes(rng.randint(0, 65536)), kw))
    with client_for(server, tls_material, tls, version=version) as c:
        c.write_get_object_response(ROUTE, TOKEN, 200, b"warm-up")
        spy = SendSpy(monkeypatch)
        results = [c.write_get_object_response(ROUTE, TOKEN, status, body, **kw) for status, body, kw in cases]
        expected = []
        for status, body, kw in cases:
            p = c.prepare(ROUTE, TOKEN, status, body, **kw)
            expected.append(p.head)
            p.body.close()
    assert len(spy.fast) == len(cases) and spy.general == []
    reqs = server.wait_for(len(cases) + 1)[1:]
    for (status, body, kw), r, req, head in zip(cases, results, reqs, expected):
        assert req.raw_head == head, kw
        assert b"x-oss-fwd-header-" in head or all(v is None for v in kw.values())
        assert req.body == body and r.crc64 == ref_crc64(body) == req.crc64
    assert server.accepted == 1


FWD_ERRORS = [
    ({"content_type": ""}, TOKEN),
    ({"content_type": "a\r\nX-Evil: 1"}, TOKEN),
    ({"etag": " padded"}, TOKEN),
    ({"cache_control": "x" * 8193}, TOKEN),
    ({"content_language": "\u00e9"}, TOKEN),
    ({"content_type": 5}, TOKEN),
    ({"expires": "not a date"}, TOKEN),
    ({"last_modified": "Tue, 31 Feb 2023 03:17:58 GMT"}, TOKEN),
    ({"last_modified": datetime.datetime(2020, 1, 1)}, TOKEN),
    ({"content_disposition": "\u00e9t\u00e9"}, TOKEN),
    ({"content_type": ""}, "bad token"),  # both wrong: prepare() names the token first
    ({"content_type": "x" * 8000, "cache_control": "x" * 8000, "etag": "x" * 8000, "expires": "x" * 8000,
      "content_language": "x" * 8000, "content_encoding": "x" * 8000, "accept_ranges": "x" * 8000,
      "content_disposition": "x" * 8000, "last_modified": "Tue, 31 Oct 2023 03:17:58 GMT"}, TOKEN),  # head > 64 KiB
]


@pytest.mark.usefixtures("no_fd_leak")
@pytest.mark.parametrize("kw,token", FWD_ERRORS, ids=lambda v: repr(v)[:24])
def test_fast_path_forwarded_header_errors_like_prepare(start_server, monkeypatch, kw, token):
    """A bad forwarded header after a warm-up: exactly prepare()'s error, nothing sent."""
    server = start_server(RecordingServer)
    with make_client(server) as c:
        c.write_get_object_response(ROUTE, TOKEN, 200, b"warm-up")
        spy = SendSpy(monkeypatch)
        got = raised(lambda: c.write_get_object_response(ROUTE, token, 200, b"x", **kw))
        want = raised(lambda: c.prepare(ROUTE, token, 200, b"x", **kw))
        assert got == want
        assert issubclass(got[0], InvalidRequestError)
        assert spy.fast == spy.general == []
        assert c.pool.idle_count() == 1
    assert len(server.wait_for(1)) == 1 and server.accepted == 1


@pytest.mark.usefixtures("no_fd_leak")
def test_other_keywords_take_the_general_path(start_server, monkeypatch):
    """Content-Range (206), extra headers, content_length, content_md5 and progress are the
    general path's; each request is still prepare()'s."""
    server = start_server(RecordingServer)
    data = os.urandom(300)
    calls = [
        (206, {"content_range": "bytes 0-299/1000", "content_type": "text/plain"}),
        (200, {"headers": {"x-custom": "1"}, "etag": '"e"'}),
        (200, {"content_length": 300}),
        (200, {"content_md5": True, "content_type": "text/plain"}),
        (200, {"progress": lambda sent, total: None}),
    ]
    with make_client(server) as c:
        c.write_get_object_response(ROUTE, TOKEN, 200, b"warm-up")
        spy = SendSpy(monkeypatch)
        for status, kw in calls:
            assert c.write_get_object_response(ROUTE, TOKEN, status, data, **kw).status == 200
    assert spy.fast == [] and len(spy.general) == len(calls)
    reqs = server.wait_for(len(calls) + 1)[1:]
    assert b"x-oss-fwd-header-Content-Range: bytes 0-299/1000\r\n" in reqs[0].raw_head
    assert b"x-custom: 1\r\n" in reqs[1].raw_head and b"Content-MD5: " in reqs[3].raw_head
    assert all(req.body == data for req in reqs)


def test_http_date_fast_form_accepts_what_the_email_parser_accepts():
    """check_http_date's IMF-fixdate shortcut against the rule it stands in for (check_value,
    then email.utils.parsedate_to_datetime), on many near-valid and broken dates."""
    from email.utils import parsedate_to_datetime

    from ossfast import request as req

    def old_rule(value):
        try:
            req.check_value("d", value)
            return parsedate_to_datetime(value) is not None
        except (TypeError, ValueError, IndexError):
            return False

    rng = random.Random(31)
    days = "Mon Tue Wed Thu Fri Sat Sun Sunday Foo".split()
    months = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec Xyz".split()
    for _ in range(20000):
        value = "%s, %02d %s %04d %02d:%02d:%02d %s" % (
            rng.choice(days), rng.randint(0, 35), rng.choice(months),
            rng.choice([rng.randint(0, 9999), rng.randint(1960, 2100)]),
            rng.randint(0, 25), rng.randint(0, 61), rng.randint(0, 62), rng.choice(["GMT", "GMT", "UTC", "+0800"]))
        if rng.random() < 0.1:
            value = value[: rng.randint(0, len(value))] + rng.choice(["", " ", "x", "\r\n"])
        try:
            req.check_http_date("d", value)
            new = True
        except InvalidRequestError:
            new = False
        assert new == old_rule(value), value


# ---- the fast path against faults --------------------------------------------------------


@pytest.mark.usefixtures("no_fd_leak")
@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_fast_path_idle_close_goes_to_a_new_connection(start_server, tls_material, monkeypatch, caplog, tls):
    """The server closed the idle connection (on TLS: close_notify and FIN): the staleness
    check drops it and the request goes out once, whole, on a fresh connection."""
    caplog.set_level(logging.INFO, logger="ossfast")
    server = fault_server(start_server, tls_material, tls, [idle_close(delay=0.05), reply(200)])
    data = os.urandom(5000)
    with client_for(server, tls_material, tls, retries=2) as c:
        c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
        wait_closed(server, 0)
        spy = SendSpy(monkeypatch)
        r = c.write_get_object_response(ROUTE, TOKEN, 200, data)
    assert r.status == 200 and r.attempts == 1 and not r.reused_connection
    assert spy.fast == [] and len(spy.general) == 1 and retry_lines(caplog) == []
    assert [len(conn.exchanges) for conn in server.connections] == [1, 1]
    second = server.connections[1].exchanges[0]
    assert second.body_complete and second.body_bytes == len(data)
    assert second.crc64 == ref_crc64(data) == r.crc64


@pytest.mark.usefixtures("no_fd_leak")
@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_fast_path_write_failure_on_reset_connection_is_retried(start_server, tls_material, monkeypatch,
                                                                caplog, tls):
    """The idle connection was reset and the check misses it: attempt 0 fails while writing
    (on TLS the one SSL write), nothing of it arrives, and the retry loop sends the request
    once on a new connection."""
    caplog.set_level(logging.INFO, logger="ossfast")
    server = fault_server(start_server, tls_material, tls, [reply_then_reset(0.05), reply(200)])
    data = os.urandom(5000)
    with client_for(server, tls_material, tls, retries=2) as c:
        c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
        wait_closed(server, 0)
        monkeypatch.setattr(transport.Connection, "is_stale", lambda self: False)
        spy = SendSpy(monkeypatch)
        r = c.write_get_object_response(ROUTE, TOKEN, 200, data)
    assert r.status == 200 and r.attempts == 2 and not r.reused_connection
    assert len(spy.fast) == 1 and len(spy.general) == 1
    lines = retry_lines(caplog)
    assert len(lines) == 1 and "stale pooled connection" in lines[0]
    assert [len(conn.exchanges) for conn in server.connections] == [1, 1]
    assert server.full_bodies == 2  # the warm-up's and this one's, once
    assert server.connections[1].exchanges[0].crc64 == ref_crc64(data) == r.crc64


@pytest.mark.usefixtures("no_fd_leak")
@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_fast_path_503_is_retried(start_server, tls_material, monkeypatch, caplog, tls):
    """A 503 to the fast path's attempt: retried by the general loop on the same connection,
    which succeeds."""
    caplog.set_level(logging.INFO, logger="ossfast")
    server = fault_server(start_server, tls_material, tls, [
        reply(200), reply(oss_error(503, "ServiceUnavailable", "busy")), reply(200)])
    data = os.urandom(2000)
    with client_for(server, tls_material, tls, retries=2) as c:
        c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
        spy = SendSpy(monkeypatch)
        r = c.write_get_object_response(ROUTE, TOKEN, 200, data)
    assert r.status == 200 and r.attempts == 2 and r.reused_connection
    assert len(spy.fast) == 1 and len(spy.general) == 1
    lines = retry_lines(caplog)
    assert len(lines) == 1 and "server answered 503" in lines[0]
    exchanges = server.wait_for(3)
    assert [e.body_complete for e in exchanges] == [True] * 3
    assert exchanges[1].crc64 == exchanges[2].crc64 == ref_crc64(data) == r.crc64
    assert server.accepted == 1


@pytest.mark.usefixtures("no_fd_leak")
def test_fast_path_reset_before_reply_is_not_retried(start_server, monkeypatch, caplog):
    """The server took the whole request and reset before replying: TransportError, no retry
    (the request may have been acted on), and the connection is not reused."""
    caplog.set_level(logging.INFO, logger="ossfast")
    server = start_server(FaultServer, behaviours=[reply(200), read_then_reset(), reply(200)])
    data = os.urandom(2000)
    with make_client(server, retries=2) as c:
        c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
        spy = SendSpy(monkeypatch)
        with pytest.raises(TransportError) as ei:
            c.write_get_object_response(ROUTE, TOKEN, 200, data)
        assert ei.value.request_sent and ei.value.bytes_sent == len(data)
        assert len(spy.fast) == 1 and spy.general == []
        assert retry_lines(caplog) == []
        assert c.pool.idle_count() == 0
        r = c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
    assert not r.reused_connection and server.accepted == 2
    first = server.connections[0].exchanges
    assert len(first) == 2 and first[1].body_complete and first[1].crc64 == ref_crc64(data)


# ---- the fast path over TLS ----------------------------------------------------------------


def tls_client(server, tls_material, *, version="v4", creds=CREDS, retries=0, timeout=5.0):
    """A client for a TLS test server: https, the name its certificate carries, the test CA."""
    url = server.url.replace("http://", "https://").replace("127.0.0.1", "localhost")
    return ossfast.Client(creds, endpoint=url, signature_version=version, timeout=timeout,
                          verify=tls_material.ca_file,
                          retries=ossfast.Retry(total=retries, backoff=0.001, max_backoff=0.01))


@pytest.mark.usefixtures("no_fd_leak")
def test_fast_path_tls_write_failure_without_retries_says_request_may_be_sent(
        start_server, tls_material, monkeypatch):
    """With no retries the failed SSL write surfaces: TransportError, request_sent (it may have
    been, in part), no body bytes counted, the connection not pooled again."""
    server = start_server(FaultServer, behaviours=[reply_then_reset(0.05)],
                          ssl_context=tls_material.server_context())
    with tls_client(server, tls_material, retries=0) as c:
        c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
        wait_closed(server, 0)
        monkeypatch.setattr(transport.Connection, "is_stale", lambda self: False)
        with pytest.raises(TransportError) as ei:
            c.write_get_object_response(ROUTE, TOKEN, 200, os.urandom(3000))
        assert ei.value.request_sent is True and ei.value.bytes_sent == 0
        assert c.pool.idle_count() == 0
    assert server.full_bodies == 1


# ---- replies: lazy headers, framing at EOF, trailing bytes -------------------------------


REPLY_HEADERS = [("X-OSS-Request-Id", "5C3D9A1B2E4F6A7B8C9D0E1F"), ("x-oss-ec", "0000-00000000"),
                 ("X-Custom", "one"), ("x-custom", "two"), ("Content-Type", "text/plain; charset=x"),
                 ("x-empty", ""), ("x-spaced", "a  b\tc")]


@pytest.mark.usefixtures("no_fd_leak")
@pytest.mark.parametrize("behaviour", ["whole", "byte-by-byte"])
def test_reply_headers_and_request_id_read_lazily(start_server, behaviour):
    """request_id and headers are those the server sent, whether the head came in one segment
    or one byte at a time (with its body in the same segments)."""
    rep = Reply(200, REPLY_HEADERS, b"<ok/>")
    script = reply(rep) if behaviour == "whole" else slow_raw(rep.to_bytes(), 0.001)
    server = start_server(FaultServer, behaviours=[reply(200), script, reply(200)])
    with make_client(server) as c:
        c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
        r = c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
        again = c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
    expected = {}
    for name, value in rep.wire_headers("unused"):
        key, text = name.decode().lower(), value.decode()
        expected[key] = text if key not in expected else expected[key] + ", " + text
    assert r.request_id == "5C3D9A1B2E4F6A7B8C9D0E1F"
    assert r.headers == expected
    assert r.headers["x-custom"] == "one, two" and r.headers["content-length"] == "5"
    assert r.reused_connection and again.reused_connection and server.accepted == 1


@pytest.mark.usefixtures("no_fd_leak")
def test_reply_without_request_id_gives_empty_string(start_server):
    server = start_server(FaultServer, behaviours=[
        reply(200), raw(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", close=False)])
    with make_client(server) as c:
        c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
        r = c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
    assert r.request_id == "" and r.headers == {"content-length": "0"}


@pytest.mark.usefixtures("no_fd_leak")
@pytest.mark.parametrize("body", [b"", b"close-delimited body"])
def test_reply_without_length_ends_at_close(start_server, body):
    """No Content-Length, not chunked: the reply ends at EOF, is accepted, and its connection
    is not pooled (the next request opens a new one)."""
    head = b"HTTP/1.1 200 OK\r\nx-oss-request-id: 0123456789ABCDEF01234567\r\nX-Other: v\r\n\r\n"
    server = start_server(FaultServer, behaviours=[reply(200), raw(head + body, close=True), reply(200)])
    with make_client(server) as c:
        c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
        r = c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
        assert c.pool.idle_count() == 0
        r3 = c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
    assert r.status == 200 and r.reused_connection
    assert r.request_id == "0123456789ABCDEF01234567" and r.headers["x-other"] == "v"
    assert not r3.reused_connection and server.accepted == 2


@pytest.mark.usefixtures("no_fd_leak")
def test_reply_shorter_than_content_length_is_an_error(start_server, caplog):
    """Content-Length promises more than arrives before close: TransportError, not retried."""
    caplog.set_level(logging.INFO, logger="ossfast")
    server = start_server(FaultServer, behaviours=[reply(200), wrong_content_length(100, 10), reply(200)])
    with make_client(server, retries=2) as c:
        c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
        with pytest.raises(TransportError, match="closed the connection in the middle of the reply"):
            c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
        assert retry_lines(caplog) == [] and c.pool.idle_count() == 0
        r = c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
    assert not r.reused_connection and server.accepted == 2


TRAILING = {
    "second-reply": b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    "second-reply-503": b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
    "partial-reply": b"HTTP/1.1 2",
    "garbage": b"garbage!",
}


@pytest.mark.usefixtures("no_fd_leak")
@pytest.mark.parametrize("when", ["same-segment", "later"])
@pytest.mark.parametrize("extra", sorted(TRAILING))
def test_reply_with_trailing_bytes_is_not_pooled(start_server, when, extra):
    """Bytes after a complete reply: the reply counts, the connection is not reused."""
    data = TRAILING[extra]
    script = (raw(Reply(200, [("x-oss-request-id", "RID")]).to_bytes() + data, close=False)
              if when == "same-segment" else reply_then_later(data))
    server = start_server(FaultServer, behaviours=[reply(200), script, reply(200)])
    with make_client(server) as c:
        c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
        r = c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
        if when == "later":
            server.wait_until(lambda: server.exchanges[1].finished, 2.0, "the late bytes sent")
            time.sleep(0.05)
        r3 = c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
    assert r.status == 200 and r.reused_connection
    assert not r3.reused_connection and server.accepted == 2
    assert server.full_bodies == 3


# ---- TLS session resumption --------------------------------------------------------------


@pytest.mark.usefixtures("no_fd_leak")
def test_tls_reconnect_resumes_the_session(start_server, tls_material, caplog):
    """After the server closes an idle TLS connection, the new connection resumes the first
    one's session (no certificate exchange) and the request goes out whole on it."""
    caplog.set_level(logging.DEBUG, logger="ossfast")
    server = start_server(FaultServer, behaviours=[idle_close(delay=0.05), idle_close(delay=0.05), reply(200)],
                          ssl_context=tls_material.server_context())
    data = os.urandom(3000)
    with tls_client(server, tls_material, retries=2) as c:
        c.pool.tls_resume = True  # on whatever Python this runs (see TLS_SESSIONS_SAFE)
        for _ in range(2):
            c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
            wait_closed(server, len(server.connections) - 1)
        r = c.write_get_object_response(ROUTE, TOKEN, 200, data)
    assert r.status == 200 and r.attempts == 1 and not r.reused_connection
    assert [conn.tls_resumed for conn in server.connections] == [False, True, True]
    assert server.connections[2].exchanges[0].crc64 == ref_crc64(data) == r.crc64
    assert sum("TLS session to" in m and "resumed" in m for m in caplog.messages) == 2


def test_tls_session_not_kept_after_a_failed_handshake(start_server, tls_material):
    """A handshake that fails drops the kept session: the next connection starts afresh."""
    server = start_server(FaultServer, behaviours=[idle_close(delay=0.05), reply(200)],
                          ssl_context=tls_material.server_context())
    with tls_client(server, tls_material, retries=0, timeout=(0.3, 2.0)) as c:
        c.pool.tls_resume = True
        c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
        key = c._endpoint
        assert key in c.pool._tls_sessions
        wait_closed(server, 0)
        server.set_behaviours(stall_tls_handshake())
        with pytest.raises(ossfast.TimeoutError):
            c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
        assert key not in c.pool._tls_sessions


@pytest.mark.usefixtures("no_fd_leak")
def test_tls_first_connections_from_many_threads_share_one_context(start_server, tls_material, monkeypatch):
    """Threads connecting at once make one SSL context between them (a session resumes only
    within its own), and every later reconnect resumes a session."""
    server = start_server(RecordingServer, ssl_context=tls_material.server_context())
    made = []
    real_new = transport.Pool._new_ssl_context

    def slow_new(pool):
        made.append(1)
        time.sleep(0.05)  # widen the window in which other threads ask for the context
        return real_new(pool)

    monkeypatch.setattr(transport.Pool, "_new_ssl_context", slow_new)
    with tls_client(server, tls_material) as c:
        c.pool.tls_resume = True
        errors = []

        def send():
            try:
                c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
            except Exception as exc:  # collected for the assertion below
                errors.append(exc)

        opened = []
        for _round in range(2):
            threads = [threading.Thread(target=send) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            contexts = {id(conn.sock.context) for conns in c.pool._idle.values() for conn in conns}
            assert len(contexts) == 1
            for conns in c.pool._idle.values():  # force new connections for the next round
                while conns:
                    conns.pop().close()
            opened.append(c.pool.connections_opened)
    assert errors == [] and made == [1]
    assert server.wait_for(16) and len(server.requests) == 16
    # A thread that finds an idle connection reuses it, so a round may open fewer than 8.
    second = [conn.tls_resumed for conn in server.connections[opened[0]:]]
    assert len(second) == opened[1] - opened[0] >= 1
    assert second == [True] * len(second)  # every connection of the second round resumed


@pytest.mark.usefixtures("no_fd_leak")
def test_tls_session_of_another_context_is_not_offered(start_server, tls_material):
    """A kept session made by another SSL context (wrap_socket would refuse it) is not
    offered: a full handshake, and the request goes out."""
    server = start_server(RecordingServer, ssl_context=tls_material.server_context())
    with tls_client(server, tls_material) as c, tls_client(server, tls_material) as other:
        c.pool.tls_resume = other.pool.tls_resume = True
        other.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
        foreign = other.pool._tls_sessions[other._endpoint]
        assert foreign[0] is other.pool.ssl_context()
        c.pool._tls_sessions[c._endpoint] = foreign
        r = c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
        assert r.status == 200 and not r.reused_connection
        assert c.pool._tls_sessions[c._endpoint][0] is c.pool.ssl_context()
    assert [conn.tls_resumed for conn in server.connections] == [False, False]


@pytest.mark.usefixtures("no_fd_leak")
def test_tls_sessions_not_kept_where_reading_them_leaks(start_server, tls_material):
    """With tls_resume off (the default where CPython's ssl leaks a session per read) no
    session is read or kept, and a reconnect makes a full handshake."""
    server = start_server(FaultServer, behaviours=[idle_close(delay=0.05), reply(200)],
                          ssl_context=tls_material.server_context())
    with tls_client(server, tls_material, retries=2) as c:
        assert c.pool.tls_resume is transport.TLS_SESSIONS_SAFE
        c.pool.tls_resume = False
        c.write_get_object_response(ROUTE, TOKEN, 200, SMALL)
        wait_closed(server, 0)
        assert c.pool._tls_sessions == {}
        assert c.write_get_object_response(ROUTE, TOKEN, 200, SMALL).status == 200
    assert [conn.tls_resumed for conn in server.connections] == [False, False]
