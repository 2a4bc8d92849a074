"""The WGOR head builder keeps its secret's HMAC state (V1: HMAC-SHA1 ipad/opad contexts; V4: the
day's signing key as HMAC-SHA256 contexts in the key cache) and reuses it for every head. Checked
here against the standard library's hmac/hashlib on many random secrets, days and requests, with
one builder signing many heads in turn and one V4 key cache shared by more secrets and days than it
has slots (so states are evicted, recomputed and reused)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import random

import pytest

from ossfast import _pure
from ossfast._backend import impl

ROUTE = b"fc-ap-01-111933544165xxxx-opap.oss-cn-qingdao-internal.oss-object-process.aliyuncs.com"
RESOURCE = b"/?x-oss-write-get-object-response"
QUERY = b"x-oss-write-get-object-response"


def _block_and_signature(head: bytes, prefix: bytes) -> "tuple[bytes, bytes]":
    """The signed block (Host line to the last line before Authorization) and the signature."""
    start = head.index(b"\r\n") + 2
    auth = head.index(b"Authorization: ")
    line_end = head.index(b"\r\n", auth)
    value = head[auth + len(b"Authorization: "):line_end]
    assert value.startswith(prefix)
    return head[start:auth], value[len(prefix):]


def _secret(rng: random.Random) -> bytes:
    n = rng.choice([0, 1, 20, 40, 63, 64, 65, 100, 128, 129, 200])
    return bytes(rng.getrandbits(8) for _ in range(n))


def _token(rng: random.Random) -> bytes:
    return bytes(rng.randrange(0x21, 0x7f) for _ in range(rng.randrange(1, 300)))


def _extra(rng: random.Random) -> bytes:
    lines = []
    if rng.random() < 0.5:
        lines.append(b"x-oss-fwd-header-Content-Type: text/plain\r\n")
    if rng.random() < 0.5:
        lines.append(b"x-oss-fwd-header-ETag: \"%d\"\r\n" % rng.getrandbits(64))
    if rng.random() < 0.3:
        lines.append(b"x-oss-meta-k%d: v%d\r\n" % (rng.randrange(100), rng.getrandbits(32)))
    return b"".join(lines)


def test_v1_builder_reuses_its_hmac_state():
    rng = random.Random(0x51A1)
    prefix = b"OSS ak:"
    for _ in range(40):
        secret = _secret(rng)
        head_fn = impl.wgor_head_builder(1, secret)
        for _ in range(25):
            token, extra = _token(rng), _extra(rng)
            body = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 64)))
            lines = b"Date: Tue, %02d Oct 2023 03:17:%02d GMT\r\n" % (rng.randrange(1, 31), rng.randrange(60))
            head, crc = head_fn(ROUTE, token, 200, len(body), b"", extra, lines, prefix, body)
            block, sig = _block_and_signature(head, prefix)
            sts = _pure.v1_string_to_sign(b"POST", block, RESOURCE)
            want = base64.b64encode(hmac.new(secret, sts, hashlib.sha1).digest())
            assert sig == want
            assert crc == _pure.crc64(body)


def _v4_key(secret: bytes, day: bytes, region: bytes, product: bytes) -> bytes:
    k = hmac.new(b"aliyun_v4" + secret, day, hashlib.sha256).digest()
    k = hmac.new(k, region, hashlib.sha256).digest()
    k = hmac.new(k, product, hashlib.sha256).digest()
    return hmac.new(k, b"aliyun_v4_request", hashlib.sha256).digest()


@pytest.mark.parametrize("shared_cache", [True, False])
def test_v4_builders_reuse_the_cached_hmac_state(shared_cache):
    rng = random.Random(0x51A4 + shared_cache)
    cache = impl.V4Cache() if shared_cache else None
    prefix = b"OSS4-HMAC-SHA256 Credential=ak/x,Signature="
    builders = []
    for _ in range(12):  # more secrets than the cache has slots
        secret = _secret(rng)
        region = rng.choice([b"cn-hangzhou", b"cn-qingdao", b"ap-southeast-1", b""])
        product = rng.choice([b"oss", b"oss-object-process"])
        builders.append((secret, region, product, impl.wgor_head_builder(4, secret, region, product, cache)))
    for _ in range(500):
        secret, region, product, head_fn = rng.choice(builders)
        day = b"202%d%02d%02d" % (rng.randrange(10), rng.randrange(1, 13), rng.randrange(1, 29))
        lines = (b"x-oss-content-sha256: UNSIGNED-PAYLOAD\r\nx-oss-date: " + day
                 + b"T%02d%02d%02dZ\r\n" % (rng.randrange(24), rng.randrange(60), rng.randrange(60)))
        token, extra = _token(rng), _extra(rng)
        body = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 64)))
        head, crc = head_fn(ROUTE, token, rng.choice([200, 404, 500]), len(body), b"", extra, lines,
                            prefix, body)
        block, sig = _block_and_signature(head, prefix)
        sts = _pure.v4_string_to_sign(b"POST", b"/", QUERY, block, b"", region, product)
        want = hmac.new(_v4_key(secret, day, region, product), sts, hashlib.sha256).hexdigest().encode()
        assert sig == want
        assert crc == _pure.crc64(body)
