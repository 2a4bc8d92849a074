"""The core's share of the common request (csrc/head.c):

- the forwarded-header values are checked in C on the one-call way (``extra_lines``): the core
  and its pure-Python twin agree on random lines, the core never accepts a value the Python
  validators refuse, and a CR LF in a value cannot pass as a second header;
- the head's own signed lines go to the signer already split (only the caller's lines are
  parsed): native and pure heads agree byte for byte, and errors agree, on random extra lines
  around the own names, with and without Content-MD5, up to the 64-line limit.
"""
from __future__ import annotations

import random

import pytest

import ossfast
from ossfast import Credentials, InvalidRequestError, _pure, request, signing

native = pytest.importorskip("ossfast._native") if ossfast.backend == "native" else None
needs_native = pytest.mark.skipif(native is None, reason="compares the native core with the pure twin")

ROUTE = b"fc-ap-01-111933544165xxxx-opap.oss-cn-qingdao-internal.oss-object-process.aliyuncs.com"
TOKEN = b"OSSV1#ZvBDC3XPm3gXEj5pGGm0hCq0cxVmRhGV0d0RzU3pCc0E="
_BYTES = [b"a", b"Z", b"0", b" ", b"\t", b"\r", b"\n", b"\r\n", b":", b": ", b"\x00", b"\x7f", b"\x80",
          b'"', b"-", b"/"]
_NAMES = [b"x-oss-fwd-header-Content-Type", b"x-oss-fwd-header-ETag", b"x-oss-fwd-header-Expires"]


def _random_value(rnd: random.Random) -> bytes:
    kind = rnd.random()
    if kind < 0.05:
        return rnd.choice([b"", b" ", b"x" * 8192, b"x" * 8193, b" x", b"x "])
    if kind < 0.5:
        return bytes(rnd.choice(b"abcXYZ019-/;=\"") for _ in range(rnd.randint(1, 20)))
    return b"".join(rnd.choice(_BYTES) for _ in range(rnd.randint(1, 10)))


def _random_fwd(rnd: random.Random):
    lines = [rnd.choice(_NAMES) + b": " + _random_value(rnd) + b"\r\n" for _ in range(rnd.randint(0, 3))]
    block = b"".join(lines)
    if block and rnd.random() < 0.1:
        block = block[:-rnd.randint(1, 2)]  # a last line without its CR LF
    count = len(lines) + rnd.choice([0, 0, 0, 0, -1, 1])
    return block, count


def _outcome(func, *args):
    try:
        return func(*args)
    except InvalidRequestError as exc:
        return ("refused", exc.field)


@needs_native
@pytest.mark.parametrize("version", [1, 4])
def test_core_check_of_forwarded_lines_agrees_with_the_pure_twin(monkeypatch, version):
    when = 1_700_000_000
    monkeypatch.setattr(signing, "_time", lambda: when)
    creds = Credentials("ak", "secret")
    signer = signing.SignerV1(creds) if version == 1 else signing.SignerV4(creds, "cn-qingdao")
    heads = signer.heads
    fast = native.wgor_route_head(heads, ROUTE)
    twin = _pure.wgor_route_head(heads, ROUTE)
    rnd = random.Random(20261202 + version)
    accepted = refused = 0
    for _ in range(4000):
        block, count = _random_fwd(rnd)
        ours = _outcome(fast, TOKEN, 200, b"hello", block, count)
        theirs = _outcome(twin, TOKEN, 200, b"hello", block, count)
        assert ours == theirs, (block, count)
        assert _pure.fwd_lines_ok(block, count) == (ours != ("refused", "headers")), (block, count)
        if ours == ("refused", "headers"):
            refused += 1
        else:
            accepted += 1
    assert accepted > 500 and refused > 500  # both sides of the rule were exercised


def test_the_core_never_accepts_a_value_python_refuses():
    """Every value the core check lets through, ``check_value`` accepts (the core is the
    stricter of the two: a tab inside a value goes the general way, which decides)."""
    rnd = random.Random(7)
    alphabet = [" ", "\t", "\r", "\n", "a", "é", "\x7f", "\x00", ":", '"']
    checked = 0
    for _ in range(5000):
        value = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 6)))
        try:
            line = b"x-oss-fwd-header-ETag: " + value.encode("ascii") + b"\r\n"
        except UnicodeEncodeError:
            continue  # fwd_lines sends a non-ASCII value the general way
        if _pure.fwd_lines_ok(line, 1):
            checked += 1
            assert request.check_value("etag", value) == value
    assert checked > 50


@pytest.mark.parametrize("version", ["v1", "v4"])
@pytest.mark.parametrize("kw,value", [
    ("content_type", "text/plain\r\nx-oss-fwd-header-ETag: forged"),
    ("etag", '"a"\r\nx-oss-fwd-status: 200'),
    ("cache_control", "no-cache\n"),
    ("content_language", " en"),
    ("content_encoding", "gzip\t"),
    ("content_type", "x" * (request.MAX_HEADER_VALUE + 1)),
])
def test_a_bad_forwarded_value_on_the_common_request_is_named(version, kw, value):
    """The fast way's core check refuses, and the general way names the field, before a byte is
    sent (the endpoint is a closed port: a send would fail as a transport error instead)."""
    c = ossfast.Client(Credentials("ak", "sk"), signature_version=version, region="cn-qingdao",
                       endpoint="http://127.0.0.1:9")
    route = ROUTE.decode()
    c.prepare(route, TOKEN.decode(), 200, b"x")  # the route is known: the next calls go the one-call way
    for call in (c.prepare, c.write_get_object_response):
        with pytest.raises(InvalidRequestError) as ei:
            call(route, TOKEN.decode(), 200, b"x", **{kw: value})
        assert ei.value.field == kw
    c.close()


def test_fwd_lines_writes_what_fwd_values_writes():
    rnd = random.Random(99)
    kws = [kw for kw, _ in request.FWD_HEADERS if kw != "content_range"]
    dates = ["Wed, 21 Oct 2015 07:28:00 GMT", "Tue, 31 Oct 2023 03:17:58 GMT"]
    pools = {"expires": dates + ["0", "-1"], "last_modified": dates,
             "content_disposition": ['attachment; filename="a.txt"', "attachment; filename=\"\u00e9.txt\"",
                                     "inline"]}
    plain = ["text/plain", '"etag"', "no-cache", "gzip", "en", "bytes"]
    for _ in range(2000):
        values = [rnd.choice(pools.get(kw, plain)) if rnd.random() < 0.4 else None for kw in kws]
        made = request.fwd_lines(*values)
        full = dict(zip(kws, values))
        expected = request.fwd_values(tuple(full.get(kw) for kw, _ in request.FWD_HEADERS))
        assert made == (expected, expected.count(b"\r\n"))
    assert request.fwd_lines(None, None, None, None, None, 5, None, None, None) is None  # not a str
    assert request.fwd_lines(None, None, None, None, None, "\u00e9", None, None, None) is None
    assert request.fwd_lines(None, None, None, None, None, None, None, None, "not a date") is None


_EXTRA_NAMES = ["x-oss-a", "x-oss-fwd-header-zz", "x-oss-fwd-status", "x-oss-request-route",
                "x-oss-request-s", "x-oss-request-token", "x-oss-request-tokens", "x-oss-z",
                "Content-Type", "content-md5", "x-oss-meta-k", "X-OSS-Meta-K", "Cache-Control", "x-oss-date",
                "x-oss-content-sha256", "Date"]


@needs_native
@pytest.mark.parametrize("version", [1, 4])
def test_native_and_pure_heads_agree_on_random_extra_lines(version):
    """The core signs its own lines without parsing them: the pure twin parses the whole block.
    Same head or the same refusal, on random extra lines (names around the own ones, repeats of
    them, long blocks near the 64-line limit)."""
    secret = b"Example/Secret+0000"
    cache_n, cache_p = (native.V4Cache(), _pure.V4Cache()) if version == 4 else (None, None)
    ours = native.wgor_head_builder(version, secret, b"cn-qingdao", b"oss", cache_n)
    theirs = _pure.wgor_head_builder(version, secret, b"cn-qingdao", b"oss", cache_p)
    lines = (b"Date: Tue, 31 Oct 2023 03:17:58 GMT\r\n" if version == 1 else
             b"x-oss-content-sha256: UNSIGNED-PAYLOAD\r\nx-oss-date: 20231031T031758Z\r\n")
    prefix = b"OSS ak:" if version == 1 else b"OSS4-HMAC-SHA256 Credential=ak/20231031/cn-qingdao/oss/aliyun_v4_request,Signature="
    rnd = random.Random(4242 + version)
    same = refused = 0
    for _ in range(3000):
        n = rnd.choice([0, 1, 2, 3, 5, 8, rnd.randint(50, 62)])
        extra = b"".join(
            (rnd.choice(_EXTRA_NAMES) if rnd.random() < 0.3 else f"x-oss-meta-k{i}").encode()
            + b": " + rnd.choice([b"v", b"  padded  ", b"a:b", b"x" * rnd.randint(1, 40)]) + b"\r\n"
            for i in range(n))
        if n and rnd.random() < 0.05:
            extra += rnd.choice([b"no colon\r\n", b": empty name\r\n", b"bad\rline: x\r\n"])
        md5 = rnd.choice([b"", b"XrY7u+Ae7tCTyyK7j1rNww=="])
        args = (ROUTE, TOKEN, rnd.choice([200, 404, 503]), rnd.randint(0, 10**9), md5, extra, lines, prefix,
                b"body")
        a = _outcome(ours, *args)
        b = _outcome(theirs, *args)
        if isinstance(a, tuple) and a and a[0] == "refused":
            refused += 1
            assert b[0] == "refused", (extra, md5)
        else:
            same += 1
            assert a == b, (extra, md5)
    assert same > 1000 and refused > 100


@needs_native
def test_a_route_the_core_cannot_hold_is_refused():
    heads = signing.SignerV1(Credentials("ak", "sk")).heads
    for bad in (b"", b"has space", b"x\r\ny", b"x" * 4097, b"caf\xc3\xa9"):
        with pytest.raises(ValueError, match="route"):
            native.wgor_route_head(heads, bad)
    assert native.wgor_route_head(heads, b"x" * 4096)(TOKEN, 200, b"")[0].count(b"x" * 4096) == 2
