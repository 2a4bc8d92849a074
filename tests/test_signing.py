"""OSS request signing (V1, V4): known answers, the official SDKs as oracle, both backends.

The low-level functions are checked on both backends side by side (``_native``
and ``_pure``); ``ossfast.signing`` on the live one. The SDKs (oss2,
alibabacloud-oss-v2) are test-only dependencies and sign the same random
WriteGetObjectResponse requests as ossfast.
"""
from __future__ import annotations

import base64
import email.utils
import random
import re
import string
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ossfast
from ossfast import _pure
from ossfast._backend import impl
from ossfast.credentials import Credentials
from ossfast.errors import InvalidRequestError
from ossfast.signing import (
    WGOR_QUERY,
    WGOR_RESOURCE,
    SignerV1,
    SignerV4,
    http_date,
    make_signer,
    normalize_additional,
    region_from_route,
    request_dates,
)

import vectors

try:
    from ossfast import _native
except ImportError:  # the python-backend run may lack the compiled core
    _native = None

oss2 = pytest.importorskip("oss2")
import oss2.http  # noqa: E402
from alibabacloud_oss_v2 import signer as v2signer  # noqa: E402
from alibabacloud_oss_v2.types import Credentials as V2Credentials  # noqa: E402
from alibabacloud_oss_v2.types import HttpRequest as V2HttpRequest  # noqa: E402
from alibabacloud_oss_v2.types import SigningContext  # noqa: E402

BACKENDS = [pytest.param(_pure, id="python"),
            pytest.param(_native, id="native",
                         marks=pytest.mark.skipif(_native is None, reason="compiled core unavailable"))]

VECTORS = vectors.load("sign_vectors.json")
WGOR_Q = WGOR_QUERY.encode()
WGOR_R = WGOR_RESOURCE.encode()

FWD_HEADERS = ["Accept-Ranges", "Cache-Control", "Content-Disposition", "Content-Encoding",
               "Content-Language", "Content-Range", "Content-Type", "ETag", "Expires", "Last-Modified"]
STATUSES = [200, 206, 301, 302, 303, 304, 400, 401, 403, 404, 405, 409, 411, 412, 416, 500, 503]
REGIONS = ["cn-hangzhou", "cn-qingdao", "cn-beijing", "cn-shanghai", "cn-shenzhen", "ap-southeast-1",
           "us-west-1", "eu-central-1", "cn-hongkong", "me-east-1"]
PRINTABLE = string.ascii_letters + string.digits + string.punctuation + " "


def block_of(headers, sep="\r\n", colon=": "):
    return "".join(f"{n}{colon}{v}{sep}" for n, v in headers).encode("utf-8")


def vector_block(v, extra=()):
    return block_of(list(map(tuple, v["headers"])) + list(extra))


# ---- known answers ---------------------------------------------------------------


@pytest.mark.parametrize("be", BACKENDS)
@pytest.mark.parametrize("v", [v for v in VECTORS if v["version"] == "v1"], ids=lambda v: v["name"])
def test_v1_vectors(be, v):
    extra = [("Date", v["date"])]
    if v["security_token"]:
        extra.append(("x-oss-security-token", v["security_token"]))
    sig = be.v1_sign(v["access_key_secret"].encode(), b"POST", vector_block(v, extra), WGOR_R)
    assert f"OSS {v['access_key_id']}:{sig}" == v["authorization"]


@pytest.mark.parametrize("be", BACKENDS)
def test_v4_vector(be):
    (v,) = [v for v in VECTORS if v["version"] == "v4"]
    block = vector_block(v, [("Date", v["date"]), ("x-oss-date", v["x_oss_date"]),
                             ("x-oss-content-sha256", "UNSIGNED-PAYLOAD")])
    secret, region, product = v["access_key_secret"].encode(), v["region"].encode(), v["product"].encode()
    for cache in (None, be.V4Cache(), be.V4Cache()):
        assert be.v4_sign(cache, secret, b"POST", b"/", WGOR_Q, block, b"", region, product) == v["signature"]
    # The pieces agree with the whole.
    sts = be.v4_string_to_sign(b"POST", b"/", WGOR_Q, block, b"", region, product)
    key = be.v4_signing_key(secret, v["x_oss_date"][:8].encode(), region, product)
    assert _pure.hmac_sha256(key, sts).hex() == v["signature"]
    assert sts.split(b"\n")[:3] == [b"OSS4-HMAC-SHA256", v["x_oss_date"].encode(),
                                    b"20231031/cn-qingdao/oss/aliyun_v4_request"]


@pytest.mark.parametrize("v", VECTORS, ids=lambda v: v["name"])
def test_signer_vectors(v):
    creds = Credentials(v["access_key_id"], v["access_key_secret"], v["security_token"])
    signer = SignerV1(creds) if v["version"] == "v1" else SignerV4(creds, v["region"], v["product"])
    now = datetime.fromtimestamp(v["epoch"], timezone.utc)
    sh = signer.signing_headers(now)
    assert ("Date", v["date"]) in sh
    block = vector_block(v, sh)
    assert signer.authorization("POST", "/", WGOR_QUERY, block) == v["authorization"]
    assert signer.authorization(b"POST", b"/", WGOR_Q, block) == v["authorization"]
    assert signer.wgor_authorization(block) == v["authorization"]
    # The one-call path returns the same signing headers plus Authorization.
    lines = signer.wgor_signature_lines(vector_block(v), v["epoch"])
    assert lines.endswith(b"\r\n")
    assert lines == block_of(sh) + b"Authorization: " + v["authorization"].encode() + b"\r\n"
    pairs, lines2 = signer.wgor_sign(vector_block(v), now)
    assert lines2 == lines
    assert pairs == sh + [("Authorization", v["authorization"])]


def test_vectors_cover_each_version():
    assert sorted(v["name"] for v in VECTORS) == ["v1", "v1-sts", "v4"]


# ---- random WGOR requests, signed by the official SDKs -----------------------------


class RandomWgor:
    """A random WriteGetObjectResponse request: its headers (without signing headers) and context."""

    def __init__(self, rng: random.Random, *, v4: bool):
        self.region = rng.choice(REGIONS)
        route = (f"fc-ap-01-{rng.randrange(10**15, 10**16)}-opap.oss-{self.region}"
                 f"{rng.choice(['', '-internal'])}.oss-object-process.aliyuncs.com")
        token = "OSSV1#" + "".join(rng.choice(string.ascii_letters + string.digits + "+/=")
                                   for _ in range(rng.randint(8, 120)))
        self.ak = "LTAI" + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(rng.randint(4, 24)))
        self.sk = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(rng.randint(1, 40)))
        self.token = ("CAIS" + "".join(rng.choice(string.ascii_letters + string.digits + "+/=")
                                       for _ in range(rng.randint(1, 300)))) if rng.random() < 0.5 else None
        self.epoch = rng.randrange(946684800, 2145916800)
        headers = [("Host", route), ("x-oss-request-route", route), ("x-oss-request-token", token),
                   ("x-oss-fwd-status", str(rng.choice(STATUSES)))]
        for name in rng.sample(FWD_HEADERS, rng.randint(0, len(FWD_HEADERS))):
            prefix = rng.choice(["x-oss-fwd-header-", "X-Oss-Fwd-Header-", "X-OSS-FWD-HEADER-"])
            headers.append((prefix + name, self.value(rng)))
        metas = set()
        for _ in range(rng.randint(0, 4)):
            name = "".join(rng.choice(string.ascii_lowercase + string.digits + "-_") for _ in range(rng.randint(1, 12)))
            if name.lower() in metas:
                continue
            metas.add(name.lower())
            cased = "".join(c.upper() if rng.random() < 0.3 else c for c in name)
            headers.append((rng.choice(["x-oss-meta-", "X-Oss-Meta-"]) + cased, self.value(rng, empty_ok=True)))
        if rng.random() < 0.3:
            headers.append((rng.choice(["Content-MD5", "content-md5"]), base64.b64encode(rng.randbytes(16)).decode()))
        if rng.random() < 0.3:
            headers.append((rng.choice(["Content-Type", "content-type"]),
                            rng.choice(["application/octet-stream", "text/plain; charset=utf-8", "image/png"])))
        headers.append(("Content-Length", str(rng.randrange(0, 1 << 40))))
        if rng.random() < 0.3:
            headers.append(("User-Agent", "ossfast-test/" + self.value(rng)))
        rng.shuffle(headers)
        self.headers = headers
        present = {n.lower() for n, _ in headers}
        self.additional = sorted(rng.sample(sorted(present & {"host", "content-length", "user-agent"}),
                                            rng.randint(0, 2))) if v4 and rng.random() < 0.4 else []
        self.sep = rng.choice(["\r\n", "\n"])
        self.colon = rng.choice([": ", ":", ":  ", " : "]) if rng.random() < 0.3 else ": "

    @staticmethod
    def value(rng, empty_ok=False):
        v = "".join(rng.choice(PRINTABLE) for _ in range(rng.randint(0 if empty_ok else 1, 60))).strip()
        return v if v or empty_ok else "x"

    @property
    def now(self):
        return datetime.fromtimestamp(self.epoch, timezone.utc)

    def credentials(self):
        return Credentials(self.ak, self.sk, self.token)

    def block(self, signer):
        return block_of(self.headers + signer.signing_headers(self.epoch), self.sep, self.colon)


@pytest.fixture
def frozen_oss2_clock(monkeypatch):
    """Lets a test choose the time oss2 signs with (V1 reads oss2.utils.http_date,
    V4 oss2.auth.datetime.utcnow)."""
    holder = {"epoch": 0}

    class FrozenDatetime(datetime):
        @classmethod
        def utcnow(cls):
            return datetime.fromtimestamp(holder["epoch"], timezone.utc).replace(tzinfo=None)

    monkeypatch.setattr(oss2.utils, "http_date", lambda timeval=None: email.utils.formatdate(holder["epoch"], usegmt=True))
    monkeypatch.setattr(oss2.auth, "datetime", FrozenDatetime)
    return holder


def oss2_request(req_: RandomWgor, **kw):
    return oss2.http.Request("POST", "https://" + req_.headers[0][1] + "/", params={WGOR_QUERY: ""},
                             headers=dict(req_.headers), **kw)


def oss2_v1(r: RandomWgor, clock) -> str:
    clock["epoch"] = r.epoch
    auth = oss2.StsAuth(r.ak, r.sk, r.token) if r.token else oss2.Auth(r.ak, r.sk)
    req = oss2_request(r)
    auth._sign_request(req, "", "")
    return req.headers["authorization"]


def oss2_v4(r: RandomWgor, clock) -> str:
    clock["epoch"] = r.epoch
    from oss2.credentials import StaticCredentialsProvider
    auth = oss2.ProviderAuthV4(StaticCredentialsProvider(r.ak, r.sk, r.token))
    req = oss2_request(r, region=r.region, product="oss")
    auth._sign_request(req, "", "", in_additional_headers=r.additional or None)
    return req.headers["authorization"]


def v2_sign(r: RandomWgor, *, v4: bool):
    req = V2HttpRequest("POST", f"https://{dict(r.headers)['Host']}/?{WGOR_QUERY}", headers=dict(r.headers))
    ctx = SigningContext(product="oss", region=r.region, request=req,
                         credentials=V2Credentials(r.ak, r.sk, r.token), signing_time=r.now,
                         additional_headers=set(r.additional) or None)
    if v4:
        v2signer.SignerV4().sign(ctx)
    else:
        ctx.sub_resource = [WGOR_QUERY]
        v2signer.SignerV1().sign(ctx)
    return req.headers["Authorization"], req.headers


_OSS2_V4 = re.compile(r"^OSS4-HMAC-SHA256 Credential=([^,]+), Signature=([0-9a-f]{64})(?:, AdditionalHeaders=(.*))?$")


def low_level_sign(be, r: RandomWgor, signer, cache=None):
    block = r.block(signer)
    if isinstance(signer, SignerV1):
        return be.v1_sign(r.sk.encode(), b"POST", block, WGOR_R)
    return be.v4_sign(cache, r.sk.encode(), b"POST", b"/", WGOR_Q, block,
                      normalize_additional(r.additional), r.region.encode(), b"oss")


@pytest.mark.parametrize("be", BACKENDS)
def test_v1_matches_oss2(be, frozen_oss2_clock):
    rng = random.Random(0x5151)
    for _ in range(2000):
        r = RandomWgor(rng, v4=False)
        signer = SignerV1(r.credentials())
        expected = oss2_v1(r, frozen_oss2_clock)
        assert f"OSS {r.ak}:{low_level_sign(be, r, signer)}" == expected, r.headers
        if be is impl:
            assert signer.authorization("POST", "/", WGOR_QUERY, r.block(signer)) == expected


@pytest.mark.parametrize("be", BACKENDS)
def test_v1_matches_alibabacloud_oss_v2_without_sts(be):
    rng = random.Random(0x5152)
    for _ in range(2000):
        r = RandomWgor(rng, v4=False)
        r.token = None  # see test_v1_sts_differs_from_alibabacloud_oss_v2
        signer = SignerV1(r.credentials())
        expected, _ = v2_sign(r, v4=False)
        assert f"OSS {r.ak}:{low_level_sign(be, r, signer)}" == expected, r.headers
        if be is impl:
            assert signer.authorization("POST", "/", WGOR_QUERY, r.block(signer)) == expected


def test_v1_sts_differs_from_alibabacloud_oss_v2(frozen_oss2_clock):
    """alibabacloud-oss-v2's V1 signer sends the STS token as an unsigned ``security-token``
    header; OSS wants ``x-oss-security-token``, signed. ossfast follows oss2. This test
    documents the difference (and notices if the SDK ever changes)."""
    rng = random.Random(7)
    r = RandomWgor(rng, v4=False)
    r.token = "sts-token-value"
    signer = SignerV1(r.credentials())
    ours = signer.authorization("POST", "/", WGOR_QUERY, r.block(signer))
    theirs, sent = v2_sign(r, v4=False)
    assert sent.get("security-token") == r.token
    assert "x-oss-security-token" not in {k.lower() for k in sent}
    assert ours != theirs
    assert ours == oss2_v1(r, frozen_oss2_clock)
    # What the v2 SDK signs is the request without the token.
    no_token = SignerV1(Credentials(r.ak, r.sk))
    assert no_token.authorization("POST", "/", WGOR_QUERY, r.block(no_token)) == theirs
    assert ("x-oss-security-token", r.token) in signer.signing_headers(r.epoch)


@pytest.mark.parametrize("be", BACKENDS)
def test_v4_matches_oss2(be, frozen_oss2_clock):
    rng = random.Random(0x5153)
    cache = be.V4Cache()
    for _ in range(2000):
        r = RandomWgor(rng, v4=True)
        signer = SignerV4(r.credentials(), r.region)
        m = _OSS2_V4.match(oss2_v4(r, frozen_oss2_clock))
        assert m, "oss2 changed its V4 Authorization format"
        assert low_level_sign(be, r, signer, cache) == m.group(2), r.headers
        if be is impl:
            ours = signer.authorization("POST", "/", WGOR_QUERY, r.block(signer), r.additional)
            assert f"Credential={m.group(1)}," in ours and ours.endswith("Signature=" + m.group(2))
            assert sorted((m.group(3) or "").split(";")) == sorted(normalize_additional(r.additional).decode().split(";"))


@pytest.mark.parametrize("be", BACKENDS)
def test_v4_matches_alibabacloud_oss_v2(be):
    rng = random.Random(0x5154)
    cache = be.V4Cache()
    for _ in range(2000):
        r = RandomWgor(rng, v4=True)
        signer = SignerV4(r.credentials(), r.region)
        expected, sent = v2_sign(r, v4=True)
        assert expected.endswith(",Signature=" + low_level_sign(be, r, signer, cache)), r.headers
        if be is impl:
            assert signer.authorization("POST", "/", WGOR_QUERY, r.block(signer), r.additional) == expected
            # The SDK sends the same signing headers ossfast asks for.
            ours = dict(signer.signing_headers(r.epoch))
            for name in ("x-oss-date", "x-oss-content-sha256", "x-oss-security-token"):
                assert ours.get(name) == sent.get(name)
            assert ours["Date"] == sent["Date"]


# ---- native and pure agree on arbitrary header blocks ----------------------------

NAME_POOL = ["x-oss-meta-a", "X-OSS-META-A", "x-oss-meta-b", "X-Oss-Date", "x-oss-date", "Content-Type",
             "content-md5", "CONTENT-MD5", "Date", "date", "Host", "x-oss-fwd-status", "X-Oss-Request-Token",
             "Accept", "x-oss-content-sha256", "cache-control", "x-oss-", "x-ossa"]
header_names = st.one_of(st.sampled_from(NAME_POOL), st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,14}", fullmatch=True))
header_values = st.text(alphabet=PRINTABLE + "\t:", max_size=24)
good_line = st.tuples(st.sampled_from(["", " ", "\t"]), header_names, st.sampled_from([":", ": ", " : ", ":\t", ":   "]),
                      header_values, st.sampled_from(["\r\n", "\n"])).map(lambda t: "".join(t))
other_line = st.sampled_from(["\r\n", "\n", "no colon here\r\n", ": empty name\n", "  :x\n",
                              "x-oss-date: 20231031T031758Z\r\n", "x-oss-date: 2023-10-31\n",
                              "bad\rcr: x\n", "x-oss-meta-cr: a\rb\r\n", "x-oss-meta-a: again\n"])
header_blocks = st.lists(st.one_of(good_line, good_line, good_line, other_line), max_size=70).map(
    lambda lines: "".join(lines).encode("utf-8"))
additionals = st.sampled_from([b"", b"host", b"accept;host", b"Cache-Control", b"accept;;host", b"date"])


def outcome(func, *args):
    try:
        return ("ok", func(*args))
    except InvalidRequestError as exc:
        return ("error", str(exc))


needs_native = pytest.mark.skipif(_native is None, reason="compiled core unavailable")


def expected_code(pure_error: str) -> int:
    return _native.lib.OSSFAST_ETOOMANY if "more than 64 lines" in pure_error else _native.lib.OSSFAST_EINVAL


@needs_native
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(block=header_blocks, additional=additionals, last_newline=st.booleans())
def test_native_and_pure_agree_on_header_blocks(block, additional, last_newline):
    if not last_newline:
        block = block.rstrip(b"\n")
    lib, ffi = _native.lib, _native.ffi
    calls = [
        ("v1_string_to_sign", (b"POST", block, WGOR_R)),
        ("v1_sign", (b"secret", b"POST", block, WGOR_R)),
        ("v4_canonical_request", (b"POST", b"/", WGOR_Q, block, additional)),
        ("v4_string_to_sign", (b"POST", b"/", WGOR_Q, block, additional, b"cn-hangzhou", b"oss")),
    ]
    for name, args in calls:
        ours, theirs = outcome(getattr(_native, name), *args), outcome(getattr(_pure, name), *args)
        assert ours == theirs, name
    for cache in (None, _native.V4Cache()):
        args = (b"secret", b"POST", b"/", WGOR_Q, block, additional, b"cn-hangzhou", b"oss")
        ours = outcome(_native.v4_sign, cache, *args)
        assert ours == outcome(_pure.v4_sign, None, *args)
    # The raw C return codes are the ones the pure twin's error implies.
    out = ffi.new("char[]", 4096)
    status, detail = outcome(_pure.v1_string_to_sign, b"POST", block, WGOR_R)
    rc = lib.ossfast_v1_string_to_sign(b"POST", 4, block, len(block), WGOR_R, len(WGOR_R), out, 4096)
    assert rc == (len(detail) if status == "ok" else expected_code(detail))
    status, detail = outcome(_pure.v4_canonical_request, b"POST", b"/", WGOR_Q, block, additional)
    rc = lib.ossfast_v4_canonical_request(b"POST", 4, b"/", 1, WGOR_Q, len(WGOR_Q), block, len(block),
                                          additional, len(additional), out, 4096)
    assert rc == (len(detail) if status == "ok" else expected_code(detail))


@pytest.mark.parametrize("be", BACKENDS)
def test_line_endings_spacing_and_case_do_not_change_the_signature(be):
    base = [("x-oss-request-route", "r.example"), ("x-oss-fwd-status", "200"), ("Content-Type", "text/plain"),
            ("x-oss-fwd-header-ETag", '"a b"'), ("Date", "Tue, 31 Oct 2023 03:17:58 GMT"),
            ("x-oss-date", "20231031T031758Z"), ("Host", "r.example")]
    variants = [
        block_of(base),
        block_of(base, sep="\n"),
        block_of(base, colon=":"),
        block_of(base, colon=" \t:  \t"),
        block_of([(n.upper(), v) for n, v in base]),
        block_of([("  " + n, v + " \t") for n, v in base]),
        block_of(list(reversed(base))),
        block_of(base) + b"\r\n",  # the head's closing blank line
        block_of(base)[:-2],  # no line ending on the last line
        block_of(base).replace(b"\r\nHost", b"\r\n\r\nHost"),  # an empty line inside
    ]
    v1 = {be.v1_sign(b"sk", b"POST", b, WGOR_R) for b in variants}
    v4 = {be.v4_sign(None, b"sk", b"POST", b"/", WGOR_Q, b, b"", b"cn-qingdao", b"oss") for b in variants}
    assert len(v1) == 1 and len(v4) == 1
    sts = be.v1_string_to_sign(b"POST", variants[0], WGOR_R)
    assert sts == (b'POST\n\ntext/plain\nTue, 31 Oct 2023 03:17:58 GMT\nx-oss-date:20231031T031758Z\n'
                   b'x-oss-fwd-header-etag:"a b"\nx-oss-fwd-status:200\nx-oss-request-route:r.example\n'
                   + WGOR_R)
    cr = be.v4_canonical_request(b"POST", b"/", WGOR_Q, variants[0], b"host")
    assert cr == (b"POST\n/\n" + WGOR_Q + b"\ncontent-type:text/plain\nhost:r.example\nx-oss-date:20231031T031758Z\n"
                  b'x-oss-fwd-header-etag:"a b"\nx-oss-fwd-status:200\nx-oss-request-route:r.example\n'
                  b"\nhost\nUNSIGNED-PAYLOAD")


@pytest.mark.parametrize("be", BACKENDS)
def test_v4_payload_hash_comes_from_x_oss_content_sha256(be):
    block = b"x-oss-date: 20231031T031758Z\r\nx-oss-content-sha256: abc123\r\n"
    assert be.v4_canonical_request(b"POST", b"/", b"", block).endswith(b"\n\nabc123")
    assert be.v4_canonical_request(b"POST", b"/", b"", block[:30]).endswith(b"\n\nUNSIGNED-PAYLOAD")


# ---- errors ------------------------------------------------------------------------


@pytest.mark.parametrize("be", BACKENDS)
@pytest.mark.parametrize("block, why", [
    (b"x-oss-meta-a: 1\r\nno colon\r\n", "not of the form"),
    (b": value\r\n", "not of the form"),
    (b"x-oss-meta-a: 1\r\nX-OSS-META-A: 2\r\n", "'x-oss-meta-a' appears more than once"),
    (b"Content-Type: a\r\ncontent-type: b\r\n", "'content-type' appears more than once"),
    (b"x-oss-meta-a: 1\rx\r\n", "CR"),
    (b"x-oss-meta-0: 0\r\n" + b"".join(b"h%d: %d\r\n" % (i, i) for i in range(64)), "more than 64 lines"),
])
def test_bad_header_blocks(be, block, why):
    for func, args in [(be.v1_sign, (b"sk", b"POST", block, WGOR_R)),
                       (be.v1_string_to_sign, (b"POST", block, WGOR_R)),
                       (be.v4_canonical_request, (b"POST", b"/", WGOR_Q, block, b"")),
                       (be.v4_sign, (None, b"sk", b"POST", b"/", WGOR_Q, block, b"", b"cn-qingdao", b"oss"))]:
        with pytest.raises(InvalidRequestError, match=re.escape(why)):
            func(*args)


@pytest.mark.parametrize("be", BACKENDS)
def test_repeats_of_unsigned_headers_and_64_lines_are_fine(be):
    ok = b"Accept: a\r\nAccept: b\r\n" + b"".join(b"h%d: %d\r\n" % (i, i) for i in range(62))
    assert be.v1_string_to_sign(b"POST", ok, b"/") == b"POST\n\n\n\n/"
    # Empty lines do not count toward the 64.
    assert be.v1_string_to_sign(b"POST", ok + b"\r\n\r\n\n", b"/") == b"POST\n\n\n\n/"
    # Date is signed by V1 only: repeating it is fine for V4.
    assert be.v4_canonical_request(b"GET", b"/", b"", b"Date: a\r\ndate: b\r\n") == b"GET\n/\n\n\n\nUNSIGNED-PAYLOAD"
    with pytest.raises(InvalidRequestError):
        be.v1_string_to_sign(b"GET", b"Date: a\r\ndate: b\r\n", b"/")


@pytest.mark.parametrize("be", BACKENDS)
@pytest.mark.parametrize("date", [None, b"2023-10-31T03:17:58Z", b"20231031T031758", b"20231031t031758Z",
                                  b"2023103XT031758Z", b"20231031T031758Z0"])
def test_v4_needs_a_well_formed_x_oss_date(be, date):
    block = b"x-oss-meta-a: 1\r\n" + (b"x-oss-date: " + date + b"\r\n" if date else b"")
    with pytest.raises(InvalidRequestError, match="x-oss-date"):
        be.v4_sign(None, b"sk", b"POST", b"/", b"", block, b"", b"r", b"oss")
    with pytest.raises(InvalidRequestError, match="x-oss-date"):
        be.v4_string_to_sign(b"POST", b"/", b"", block, b"", b"r", b"oss")


@pytest.mark.parametrize("be", BACKENDS)
def test_errors_never_show_values_or_secrets(be):
    token = "TOKENVALUE-do-not-log"
    block = f"x-oss-security-token: {token}\r\nx-oss-security-token: {token}\r\n".encode()
    for func, args in [(be.v1_sign, (b"SECRETVALUE", b"POST", block, WGOR_R)),
                       (be.v4_sign, (None, b"SECRETVALUE", b"POST", b"/", b"", block, b"", b"r", b"oss"))]:
        with pytest.raises(InvalidRequestError) as info:
            func(*args)
        text = str(info.value) + repr(info.value)
        assert token not in text and "SECRETVALUE" not in text
        assert info.value.field == "x-oss-security-token"


@needs_native
def test_c_error_codes():
    lib, ffi = _native.lib, _native.ffi
    out = ffi.new("char[]", 4096)
    secret, q = b"sk", WGOR_Q

    def v1(block):
        return lib.ossfast_v1_string_to_sign(b"POST", 4, block, len(block), b"/", 1, out, 4096)

    def v4(block, additional=b""):
        return lib.ossfast_v4_sign(ffi.NULL, secret, 2, b"POST", 4, b"/", 1, q, len(q), block, len(block),
                                   additional, len(additional), b"r", 1, b"oss", 3, out)

    assert v1(b"no colon\r\n") == lib.OSSFAST_EINVAL
    assert v1(b"X-Oss-A: 1\nx-oss-a: 2\n") == lib.OSSFAST_EINVAL
    assert v1(b"a: 1\rb\n") == lib.OSSFAST_EINVAL
    assert v1(b"".join(b"h%d: 1\n" % i for i in range(64))) > 0
    assert v1(b"".join(b"h%d: 1\n" % i for i in range(65))) == lib.OSSFAST_ETOOMANY
    # The scan stops at the 65th line before it looks at a malformed 66th or a later repeat.
    assert v1(b"x-oss-a: 1\n" + b"".join(b"h%d: 1\n" % i for i in range(64)) + b"bad\nx-oss-a: 2\n") \
        == lib.OSSFAST_ETOOMANY
    date = b"x-oss-date: 20231031T031758Z\r\n"
    assert v4(date) == 64
    assert v4(b"x-oss-meta-a: 1\r\n") == lib.OSSFAST_EINVAL
    assert v4(date + b"Host: a\r\nhost: b\r\n") == 64  # host unsigned
    assert v4(date + b"Host: a\r\nhost: b\r\n", b"host") == lib.OSSFAST_EINVAL  # host signed


@needs_native
@pytest.mark.parametrize("which", ["v1_string_to_sign", "v4_canonical_request", "v4_string_to_sign"])
def test_c_never_writes_past_out_cap(which):
    lib, ffi = _native.lib, _native.ffi
    block = vector_block(VECTORS[2], [("x-oss-date", "20231031T031758Z"), ("Date", "x"),
                                      ("Content-Type", "text/plain"), ("x-oss-meta-Z", "z")])

    def call(out, cap):
        if which == "v1_string_to_sign":
            return lib.ossfast_v1_string_to_sign(b"POST", 4, block, len(block), WGOR_R, len(WGOR_R), out, cap)
        if which == "v4_canonical_request":
            return lib.ossfast_v4_canonical_request(b"POST", 4, b"/", 1, WGOR_Q, len(WGOR_Q), block, len(block),
                                                    b"host", 4, out, cap)
        return lib.ossfast_v4_string_to_sign(b"POST", 4, b"/", 1, WGOR_Q, len(WGOR_Q), block, len(block),
                                             b"", 0, b"cn-qingdao", 10, b"oss", 3, out, cap)

    big = ffi.new("char[]", 4096)
    need = call(big, 4096)
    assert need > 0
    expected = ffi.unpack(big, need)
    assert expected == getattr(_pure, which)(*{
        "v1_string_to_sign": (b"POST", block, WGOR_R),
        "v4_canonical_request": (b"POST", b"/", WGOR_Q, block, b"host"),
        "v4_string_to_sign": (b"POST", b"/", WGOR_Q, block, b"", b"cn-qingdao", b"oss"),
    }[which])
    for cap in sorted({0, 1, need // 2, need - 1}):
        buf = ffi.new("char[]", need + 16)
        ffi.memmove(buf, b"\xa5" * (need + 16), need + 16)
        assert call(buf, cap) == lib.OSSFAST_ESPACE
        assert ffi.unpack(buf, need + 16)[cap:] == b"\xa5" * (need + 16 - cap)
    buf = ffi.new("char[]", need + 16)
    ffi.memmove(buf, b"\xa5" * (need + 16), need + 16)
    assert call(buf, need) == need
    assert ffi.unpack(buf, need + 16) == expected + b"\xa5" * 16


@pytest.mark.parametrize("be", BACKENDS)
def test_large_blocks_and_values(be):
    """Past the C core's stack buffers: a long value goes through its heap path."""
    long_value = "v" * 20000
    block = block_of([("x-oss-date", "20231031T031758Z"), ("x-oss-meta-big", long_value),
                      ("x-" + "n" * 5000, "1")])
    args = (b"sk", b"POST", b"/", WGOR_Q, block, b"x-" + b"n" * 5000, b"r" * 300, b"oss")
    assert be.v4_sign(None, *args) == _pure.v4_sign(None, *args)
    assert be.v1_sign(b"s" * 300, b"POST", block, WGOR_R) == _pure.v1_sign(b"s" * 300, b"POST", block, WGOR_R)


# ---- the V4 key cache ----------------------------------------------------------------


@pytest.mark.parametrize("be", BACKENDS)
def test_v4_key_cache_gives_the_uncached_key(be):
    cache = be.V4Cache()
    base = datetime(2023, 10, 1, 12, 0, tzinfo=timezone.utc)
    secrets = [b"sk", b"another-secret", b"s" * 128, b"s" * 129, b"x" * 500]
    count = 0
    for day in range(0, 40, 3):
        d = base + timedelta(days=day)
        block = b"x-oss-date: " + d.strftime("%Y%m%dT%H%M%SZ").encode() + b"\r\nx-oss-meta-k: v\r\n"
        for region in REGIONS + ["r" * 64, "r" * 65]:
            for secret in secrets:
                for product in (b"oss", b"p" * 40):
                    args = (secret, b"POST", b"/", WGOR_Q, block, b"", region.encode(), product)
                    uncached = be.v4_sign(None, *args)
                    assert be.v4_sign(cache, *args) == uncached == be.v4_sign(cache, *args)
                    assert uncached == _pure.v4_sign(None, *args)
                    key = be.v4_signing_key(secret, d.strftime("%Y%m%d").encode(), region.encode(), product)
                    sts = be.v4_string_to_sign(b"POST", b"/", WGOR_Q, block, b"", region.encode(), product)
                    assert _pure.hmac_sha256(key, sts).hex() == uncached
                    count += 1
    assert count > 1000


@pytest.mark.parametrize("be", BACKENDS)
def test_v4_key_cache_keys_on_every_field(be):
    """Entries that differ in one field only (same lengths) never stand in for each other."""
    def block(day):
        return b"x-oss-date: " + day + b"T031758Z\r\n"

    base = dict(secret=b"secret-a", day=b"20231031", region=b"cn-qingdao", product=b"oss")
    variants = [base, dict(base, secret=b"secret-b"), dict(base, day=b"20231101"),
                dict(base, region=b"cn-beijin"[:9] + b"g"), dict(base, region=b"cn-qingdoo"),
                dict(base, product=b"osx")]
    cache = be.V4Cache()
    for _ in range(3):
        for v in variants + variants[::-1]:
            args = (v["secret"], b"POST", b"/", WGOR_Q, block(v["day"]), b"", v["region"], v["product"])
            assert be.v4_sign(cache, *args) == _pure.v4_sign(None, *args), v


@pytest.mark.parametrize("be", BACKENDS)
def test_v4_key_cache_under_threads(be):
    cache = be.V4Cache()
    rng = random.Random(99)
    jobs = []
    secrets = [b"secret-%d-" % i + bytes(rng.choice(b"abcdef") for _ in range(rng.randint(0, 150)))
               for i in range(3)]
    for i in range(24):  # three times the slots: entries are evicted while others read them
        # Jobs share secrets, regions and days, so a key of a near neighbour would show.
        secret, region = secrets[i % 3], REGIONS[i % 2].encode()
        block = b"x-oss-date: 202310%02dT000000Z\r\nx-oss-meta-i: %d\r\n" % (1 + i // 6, i)
        args = (secret, b"POST", b"/", WGOR_Q, block, b"", region, b"oss")
        jobs.append((args, _pure.v4_sign(None, *args)))
    per_thread = 3000 if be is _native else 300
    failures = []
    barrier = threading.Barrier(8)

    def work(seed):
        r = random.Random(seed)
        barrier.wait()
        for _ in range(per_thread):
            args, expected = r.choice(jobs)
            got = be.v4_sign(cache, *args)
            if got != expected:
                failures.append((args[0], got, expected))

    threads = [threading.Thread(target=work, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures


@needs_native
def test_native_cache_object_is_freed_and_reusable():
    for _ in range(1000):
        cache = _native.V4Cache()
        assert _native.v4_sign(cache, b"sk", b"POST", b"/", b"", b"x-oss-date: 20231031T031758Z\n", b"",
                               b"r", b"oss")
        del cache


def test_signing_key_day_must_be_8_bytes():
    for be in (_pure, _native) if _native else (_pure,):
        with pytest.raises(InvalidRequestError, match="day8"):
            be.v4_signing_key(b"sk", b"2023103", b"r", b"oss")


# ---- ossfast.signing -----------------------------------------------------------------


def test_signing_uses_the_live_backend():
    assert impl.NAME == ossfast.backend
    import ossfast.signing as signing
    assert signing._v4_sign is impl.v4_sign and signing._v1_sign is impl.v1_sign


def test_signing_headers():
    plain, sts = Credentials("ak", "sk"), Credentials("ak", "sk", "tok")
    t = 1698722278
    assert SignerV1(plain).signing_headers(t) == [("Date", "Tue, 31 Oct 2023 03:17:58 GMT")]
    assert SignerV1(sts).signing_headers(t) == [("Date", "Tue, 31 Oct 2023 03:17:58 GMT"),
                                                ("x-oss-security-token", "tok")]
    v4 = [("Date", "Tue, 31 Oct 2023 03:17:58 GMT"), ("x-oss-date", "20231031T031758Z"),
          ("x-oss-content-sha256", "UNSIGNED-PAYLOAD")]
    assert SignerV4(plain, "cn-qingdao").signing_headers(t) == v4
    assert SignerV4(sts, "cn-qingdao").signing_headers(t) == v4 + [("x-oss-security-token", "tok")]
    # Returned lists are the caller's to change.
    s = SignerV4(plain, "cn-qingdao")
    s.signing_headers(t).append(("x", "y"))
    assert s.signing_headers(t) == v4


def test_request_dates_match_the_stdlib():
    rng = random.Random(3)
    for t in [0, 1698722278, 951782400, 4102444799] + [rng.randrange(0, 2 ** 32) for _ in range(2000)]:
        d = datetime.fromtimestamp(t, timezone.utc)
        assert request_dates(t) == (email.utils.formatdate(t, usegmt=True), d.strftime("%Y%m%dT%H%M%SZ"))
        assert request_dates(d) == request_dates(t) == request_dates(t + 0.999)
        assert request_dates(d.astimezone(timezone(timedelta(hours=8)))) == request_dates(t)
    # The per-second cache follows the clock.
    assert http_date(1698722278) != http_date(1698722279) != http_date(1698722278)
    now = time.time()
    assert abs(email.utils.parsedate_to_datetime(http_date()).timestamp() - now) < 5


@pytest.mark.parametrize("bad", [datetime(2023, 10, 31), "2023-10-31", True])
def test_request_dates_reject_naive_or_odd_times(bad):
    with pytest.raises(InvalidRequestError):
        request_dates(bad)


def test_authorization_arguments():
    creds = Credentials("ak", "sk")
    block = vector_block(VECTORS[0], SignerV4(creds, "cn-qingdao").signing_headers(1698722278))
    v1 = SignerV1(creds)
    with pytest.raises(InvalidRequestError, match="additional"):
        v1.authorization("POST", "/", WGOR_QUERY, block, "host")
    with pytest.raises(InvalidRequestError, match="headers_block"):
        v1.authorization("POST", "/", WGOR_QUERY, block.decode())
    with pytest.raises(InvalidRequestError):
        v1.authorization("PÖST", "/", WGOR_QUERY, block)
    # bytearray / memoryview blocks work like bytes.
    assert v1.authorization("POST", "/", WGOR_QUERY, bytearray(block)) == \
        v1.authorization("POST", "/", WGOR_QUERY, memoryview(block)) == v1.wgor_authorization(block)
    v4 = SignerV4(creds, "cn-qingdao")
    plain = v4.authorization("POST", "/", WGOR_QUERY, block)
    assert "AdditionalHeaders" not in plain
    with_host = v4.authorization("POST", "/", WGOR_QUERY, block + b"Host: h\r\nAccept: a\r\n", ["Host", "accept"])
    assert ",AdditionalHeaders=accept;host,Signature=" in with_host
    assert with_host == v4.authorization("POST", "/", WGOR_QUERY, block + b"Host: h\r\nAccept: a\r\n",
                                         "host;ACCEPT;x-oss-meta-a;content-type")
    # A V1 request to another resource: uri + "?" + query.
    other = v1.authorization("GET", "/bucket/key", "acl", b"Date: x\r\n")
    assert other == "OSS ak:" + impl.v1_sign(b"sk", b"GET", b"Date: x\r\n", b"/bucket/key?acl")
    assert v1.authorization("GET", "/b/k", "", b"") == "OSS ak:" + impl.v1_sign(b"sk", b"GET", b"", b"/b/k")


def test_v4_day_found_in_any_spelling():
    creds = Credentials("ak", "sk")
    v4 = SignerV4(creds, "cn-qingdao")
    for line in [b"x-oss-date: 20231031T031758Z", b"X-Oss-Date:20231031T031758Z", b"  x-oss-date :\t20231031T031758Z",
                 b"x-oss-date:   20231031T031758Z  ", b"x-oss-date: \t20231031T031758Z"]:
        for block in [line + b"\r\nx-oss-meta-a: 1\r\n", b"x-oss-meta-a: 1\n" + line + b"\n", line]:
            auth = v4.authorization("POST", "/", WGOR_QUERY, block)
            assert "Credential=ak/20231031/cn-qingdao/oss/aliyun_v4_request," in auth
    # A value that merely mentions x-oss-date does not fool it.
    block = b"x-oss-meta-a: \nx-oss-date: 19990101T000000Z\nx-oss-date: 20231031T031758Z\n"
    with pytest.raises(InvalidRequestError, match="more than once"):
        v4.authorization("POST", "/", WGOR_QUERY, block)
    tricky = b"x-oss-meta-a: x\nx-oss-date: 20231031T031758Z\nx-oss-meta-b: y x-oss-date: 19990101\n"
    assert "/20231031/" in v4.wgor_authorization(tricky)


def test_wgor_signature_lines_cache_follows_the_second():
    v4 = SignerV4(Credentials("ak", "sk", "tok"), "cn-qingdao")
    own = vector_block(VECTORS[2])
    a = v4.wgor_signature_lines(own, 1698722278)
    b = v4.wgor_signature_lines(own, 1698722279)
    c = v4.wgor_signature_lines(own, 1698722278 + 86400)
    assert a != b != c and b"20231031T031758Z" in a and b"20231031T031759Z" in b and b"/20231101/" in c
    assert v4.wgor_signature_lines(own, 1698722278) == a
    lines = a.decode().split("\r\n")
    assert lines[-1] == "" and lines[-2].startswith("Authorization: OSS4-HMAC-SHA256 Credential=ak/20231031/")
    assert "x-oss-security-token: tok" in lines
    assert v4.wgor_signature_lines(own).startswith(b"Date: ")
    pairs, lines = v4.wgor_sign(bytearray(own), 1698722279)
    assert lines == b and pairs[-1][0] == "Authorization" and pairs[:-1] == v4.signing_headers(1698722279)


def test_signer_construction():
    creds = Credentials("LTAIkey", "very-secret", "very-token")
    for signer in (SignerV1(creds), SignerV4(creds, "cn-hangzhou"), make_signer(creds, "v4", "cn-hangzhou"),
                   make_signer(creds, "v1")):
        text = repr(signer)
        assert "LTAIkey" in text and "very-secret" not in text and "very-token" not in text
    assert isinstance(make_signer(creds, "V1"), SignerV1) and isinstance(make_signer(creds, "4", "r"), SignerV4)
    with pytest.raises(InvalidRequestError, match="region"):
        make_signer(creds, "v4")
    with pytest.raises(InvalidRequestError, match="signature_version"):
        make_signer(creds, "v2")
    for bad in ["", "cn/hangzhou", "cn hangzhou", None, 5]:
        with pytest.raises(InvalidRequestError, match="region"):
            SignerV4(creds, bad)
    with pytest.raises(InvalidRequestError, match="credentials"):
        SignerV1(("ak", "sk"))
    assert SignerV4(creds, "cn-hangzhou", "oss-cloudbox").product == "oss-cloudbox"


def test_normalize_additional():
    assert normalize_additional(None) == normalize_additional("") == normalize_additional([]) == b""
    assert normalize_additional("Host;accept; ;host") == b"accept;host"
    assert normalize_additional(b"x-oss-meta-a;Content-Type;content-md5;range") == b"range"
    assert normalize_additional(("If-Modified-Since", "Range")) == b"if-modified-since;range"
    for bad in ["bad name", "a:b", ["é"], [3]]:
        with pytest.raises(InvalidRequestError):
            normalize_additional(bad)


def test_region_from_route():
    assert region_from_route(VECTORS[0]["headers"][0][1]) == "cn-qingdao"
    assert region_from_route("fc-ap-01-1234-opap.oss-cn-qingdao-internal.oss-object-process.aliyuncs.com") == "cn-qingdao"
    assert region_from_route("x.oss-ap-southeast-1.oss-object-process.aliyuncs.com") == "ap-southeast-1"
    assert region_from_route("oss-us-west-1.oss-object-process.aliyuncs.com") == "us-west-1"
    assert region_from_route("127.0.0.1") is None
    assert region_from_route("bucket.oss-cn-hangzhou.aliyuncs.com") is None
