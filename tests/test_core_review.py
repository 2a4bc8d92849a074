"""A review of the C core and its two Python faces (csrc/, _native.py, _pure.py).

What the other core tests (test_crc64, test_hashes, test_digest, test_signing, test_head_builder,
test_fwd_core_check, ...) do not already cover: size arithmetic near SIZE_MAX, the exported
functions with NULL and length 0, the buffer caps of the one-call head (64 lines, 8192-byte
values, OSSFAST_ROUTE_HEAD_CAP), the head builders' own field checks on both backends, the
portable paths of everything forced on at once (CRC and SHA), and copies of an HMAC key left on
the stack.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import random
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import ossfast
from ossfast import _pure
from ossfast.errors import InvalidRequestError

try:
    from ossfast import _native
    from ossfast._ossfast import ffi, lib  # type: ignore[import-not-found]
except ImportError:  # the python-backend run may lack the compiled core
    _native = None
    ffi = lib = None

needs_native = pytest.mark.skipif(_native is None, reason="compiled core unavailable")
BACKENDS = [_pure] + ([_native] if _native is not None else [])
ROOT = Path(__file__).resolve().parent.parent
CSRC = ROOT / "csrc"
SIZE_MAX = 2 ** (8 * (ffi.sizeof("size_t") if ffi is not None else 8)) - 1

ROUTE = b"fc-ap-01-1234-opap.oss-cn-qingdao-internal.oss-object-process.aliyuncs.com"
DATE_LINES = b"Date: Tue, 31 Oct 2023 03:17:58 GMT\r\nx-oss-date: 20231031T031758Z\r\n"


def _builders(version):
    """(pure, native) head builders for one signer; native is None without the core."""
    region, product = (b"cn-qingdao", b"oss") if version == 4 else (b"", b"")
    pure = _pure.wgor_head_builder(version, b"sk", region, product, _pure.V4Cache())
    nat = None
    if _native is not None:
        nat = _native.wgor_head_builder(version, b"sk", region, product, _native.V4Cache())
    return pure, nat


def _prefix(version):
    return b"OSS ak:" if version == 1 else (
        b"OSS4-HMAC-SHA256 Credential=ak/20231031/cn-qingdao/oss/aliyun_v4_request,Signature=")


def _outcome(builder, *args):
    try:
        return ("ok", builder(*args))
    except InvalidRequestError as exc:
        return ("InvalidRequestError", str(exc))


# ---- size arithmetic near SIZE_MAX ---------------------------------------------

@needs_native
def test_head_size_saturates_instead_of_wrapping():
    """ossfast_wgor_head_size summed its lengths unchecked: near SIZE_MAX the sum wrapped round
    to a small number, and ossfast_wgor_head then took a tiny buffer as big enough."""
    signer = ffi.gc(lib.ossfast_wgor_signer_new(1, b"sk", 2, b"", 0, b"", 0, ffi.NULL),
                    lib.ossfast_wgor_signer_free)
    for args in [(SIZE_MAX, 0, 0, 0, 0, 0), (0, 0, 0, SIZE_MAX - 100, 0, 0),
                 (0, 0, 0, 0, SIZE_MAX // 2 + 1, SIZE_MAX // 2 + 1), (1, 1, 1, 1, 1, SIZE_MAX)]:
        assert lib.ossfast_wgor_head_size(signer, *args) == SIZE_MAX, args
    small = lib.ossfast_wgor_head_size(signer, 10, 5, 0, 0, 0, 7)
    assert 0 < small < 400


_WRAP_DRIVER = r"""
import sys
from ossfast._ossfast import ffi, lib
huge = 2 ** (8 * ffi.sizeof("size_t")) - 1 - int(sys.argv[1])
signer = lib.ossfast_wgor_signer_new(1, b"sk", 2, b"", 0, b"", 0, ffi.NULL)
out = ffi.new("char[4096]")
small = ffi.new("char[16]", b"x-oss-meta-a: b\n")
route, token = b"example.com", b"tok"
which = sys.argv[2]
extra_len = huge if which == "extra" else 0
lines_len = huge if which == "lines" else 0
prefix_len = huge if which == "prefix" else 0
n = lib.ossfast_wgor_head(signer, route, len(route), token, len(token), 200, 0, ffi.NULL, 0,
                          small, extra_len, -1, small, lines_len, small, prefix_len,
                          ffi.NULL, 0, ffi.NULL, out, 4096)
print(n)
"""


@needs_native
@pytest.mark.parametrize("which", ["extra", "lines", "prefix"])
@pytest.mark.parametrize("below", [0, 300])
def test_head_with_a_length_near_size_max_is_refused_not_copied(which, below):
    """A length whose sum with the head's own bytes passes SIZE_MAX: OSSFAST_ESPACE, where the
    wrapped size let the copy run off the buffer (a crash, in a child process here)."""
    res = subprocess.run([sys.executable, "-c", _WRAP_DRIVER, str(below), which],
                         capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, OSSFAST_BACKEND="native"))
    assert res.returncode == 0, res.stderr[-2000:]
    assert int(res.stdout) == lib.OSSFAST_ESPACE


_SIGN_WRAP_DRIVER = r"""
import sys
from ossfast._ossfast import ffi, lib
huge = 2 ** (8 * ffi.sizeof("size_t")) - 1 - int(sys.argv[1])
which = sys.argv[2]
N = ffi.NULL
x = ffi.new("char[64]", b"x" * 63)
out = ffi.new("char[512]")
key = ffi.new("unsigned char[32]")
date = b"x-oss-date: 20231031T031758Z\n"
if which == "v1_sts_method":
    n = lib.ossfast_v1_string_to_sign(x, huge, b"", 0, b"/", 1, out, 512)
elif which == "v1_sts_resource":
    n = lib.ossfast_v1_string_to_sign(b"GET", 3, b"", 0, x, huge, out, 512)
elif which == "v1_sign_resource":
    n = lib.ossfast_v1_sign(b"sk", 2, b"GET", 3, b"", 0, x, huge, out)
elif which == "v4_cr_uri":
    n = lib.ossfast_v4_canonical_request(b"GET", 3, x, huge, b"", 0, b"", 0, b"", 0, out, 512)
elif which == "v4_cr_additional":
    n = lib.ossfast_v4_canonical_request(b"GET", 3, b"/", 1, b"", 0, b"", 0, x, huge, out, 512)
elif which == "v4_sts_region":
    n = lib.ossfast_v4_string_to_sign(b"GET", 3, b"/", 1, b"", 0, date, len(date), b"", 0,
                                      x, huge, b"oss", 3, out, 512)
elif which == "v4_sign_query":
    n = lib.ossfast_v4_sign(N, b"sk", 2, b"GET", 3, b"/", 1, x, huge, date, len(date), b"", 0,
                            b"r", 1, b"oss", 3, out)
elif which == "v4_sign_product":
    n = lib.ossfast_v4_sign(N, b"sk", 2, b"GET", 3, b"/", 1, b"", 0, date, len(date), b"", 0,
                            b"r", 1, x, huge, out)
elif which == "v4_sign_secret":
    n = lib.ossfast_v4_sign(N, x, huge, b"GET", 3, b"/", 1, b"", 0, date, len(date), b"", 0,
                            b"r", 1, b"oss", 3, out)
elif which == "v4_key_secret":
    n = lib.ossfast_v4_signing_key(x, huge, b"20231031", b"r", 1, b"oss", 3, key)
print(n)
"""

SIGN_WRAPS = ["v1_sts_method", "v1_sts_resource", "v1_sign_resource", "v4_cr_uri", "v4_cr_additional",
              "v4_sts_region", "v4_sign_query", "v4_sign_product", "v4_sign_secret", "v4_key_secret"]


@needs_native
@pytest.mark.parametrize("which", SIGN_WRAPS)
@pytest.mark.parametrize("below", [0, 5])
def test_signers_refuse_a_length_near_size_max(which, below):
    """The signers' sizes (string to sign, canonical request, scope, "aliyun_v4"+secret) added
    lengths that are not read before the size check: near SIZE_MAX they wrapped to a small
    size and the copy ran off the buffer. They saturate now (OSSFAST_ESPACE), and V4 no longer
    signs with a key it failed to derive (it used the uninitialized key when
    ossfast_v4_signing_key could not allocate for a long secret)."""
    res = subprocess.run([sys.executable, "-c", _SIGN_WRAP_DRIVER, str(below), which],
                         capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, OSSFAST_BACKEND="native"))
    assert res.returncode == 0, res.stderr[-2000:]
    assert int(res.stdout) == lib.OSSFAST_ESPACE


# ---- NULL with length 0 --------------------------------------------------------

@needs_native
def test_every_export_takes_null_with_length_zero():
    """NULL with length 0 is empty input everywhere (run under ASan/UBSan by tools/asan.sh)."""
    N = ffi.NULL
    out = ffi.new("unsigned char[64]")
    assert lib.ossfast_crc64(0, N, 0) == 0
    assert lib.ossfast_crc64(123, N, 0) == 123
    assert lib.ossfast_crc64_table(5, N, 0) == 5
    if _native.HAS_PCLMUL:
        assert lib.ossfast_crc64_pclmul(5, N, 0) == 5
    if _native.HAS_VPCLMUL:
        assert lib.ossfast_crc64_vpclmul(5, N, 0) == 5
    lib.ossfast_md5(N, 0, out)
    assert bytes(ffi.buffer(out, 16)) == hashlib.md5().digest()
    lib.ossfast_sha1(N, 0, out)
    assert bytes(ffi.buffer(out, 20)) == hashlib.sha1().digest()
    lib.ossfast_sha256(N, 0, out)
    assert bytes(ffi.buffer(out, 32)) == hashlib.sha256().digest()
    lib.ossfast_hmac_sha1(N, 0, N, 0, out)
    assert bytes(ffi.buffer(out, 20)) == hmac.new(b"", b"", hashlib.sha1).digest()
    lib.ossfast_hmac_sha256(N, 0, N, 0, out)
    assert bytes(ffi.buffer(out, 32)) == hmac.new(b"", b"", hashlib.sha256).digest()
    ctx = ffi.new("ossfast_md5_ctx *")
    lib.ossfast_md5_init(ctx)
    lib.ossfast_md5_update(ctx, N, 0)
    lib.ossfast_md5_final(ctx, out)
    assert bytes(ffi.buffer(out, 16)) == hashlib.md5().digest()
    assert lib.ossfast_base64_encode(N, 0, ffi.cast("char *", out)) == 0
    assert lib.ossfast_hex_encode(N, 0, ffi.cast("char *", out)) == 0
    assert lib.ossfast_digest(N, 0, 77, N) == 77
    assert lib.ossfast_digest(N, 0, 77, ctx) == 77
    text = ffi.new("char[256]")
    assert lib.ossfast_v1_string_to_sign(N, 0, N, 0, N, 0, text, 256) == 4
    assert bytes(ffi.buffer(text, 4)) == b"\n\n\n\n"
    assert lib.ossfast_v1_sign(N, 0, N, 0, N, 0, N, 0, text) == 28
    assert lib.ossfast_v4_canonical_request(N, 0, N, 0, N, 0, N, 0, N, 0, text, 256) > 0
    assert lib.ossfast_v4_string_to_sign(N, 0, N, 0, N, 0, N, 0, N, 0, N, 0, N, 0, text, 256) \
        == lib.OSSFAST_EINVAL  # no x-oss-date
    assert lib.ossfast_v4_sign(N, N, 0, N, 0, N, 0, N, 0, N, 0, N, 0, N, 0, N, 0, text) \
        == lib.OSSFAST_EINVAL
    day = b"x-oss-date:20231031T031758Z"
    assert lib.ossfast_v4_sign(N, N, 0, N, 0, N, 0, N, 0, day, len(day), N, 0, N, 0, N, 0, text) == 64
    assert lib.ossfast_v4_signing_key(N, 0, b"20231031", N, 0, N, 0, out) == 32
    assert bytes(ffi.buffer(out, 32)) == _pure.v4_signing_key(b"", b"20231031", b"", b"")
    for version in (1, 4):
        signer = lib.ossfast_wgor_signer_new(version, N, 0, N, 0, N, 0, N)
        assert signer != N
        head = ffi.new("char[4096]")
        crc = ffi.new("uint64_t[1]", [99])
        lines = DATE_LINES
        n = lib.ossfast_wgor_head(signer, b"r", 1, b"t", 1, 200, 0, N, 0, N, 0, -1, lines, len(lines),
                                  N, 0, N, 0, crc, head, 4096)
        assert n > 0 and crc[0] == 0
        assert lib.ossfast_wgor_head(signer, b"r", 1, b"t", 1, 200, 0, N, 0, N, 0, 0, lines,
                                     len(lines), N, 0, N, 0, N, head, 4096) == n
        assert lib.ossfast_wgor_head(signer, b"r", 1, N, 0, 200, 0, N, 0, N, 0, -1, N, 0, N, 0, N, 0,
                                     N, head, 4096) == lib.OSSFAST_ETOKEN
        assert lib.ossfast_wgor_head(signer, N, 0, b"t", 1, 200, 0, N, 0, N, 0, -1, N, 0, N, 0, N, 0,
                                     N, head, 4096) == lib.OSSFAST_EINVAL
        assert lib.ossfast_wgor_route_new(signer, N, 0) == N
        route = lib.ossfast_wgor_route_new(signer, b"r", 1)
        assert lib.ossfast_wgor_route_head(route, b"t", 1, 200, N, 0, 0, lines, len(lines), N, 0, N, 0,
                                           crc, head) == n
        lib.ossfast_wgor_route_free(route)
        lib.ossfast_wgor_signer_free(signer)
    assert lib.ossfast_wgor_head(N, b"r", 1, b"t", 1, 200, 0, N, 0, N, 0, -1, N, 0, N, 0, N, 0, N,
                                 ffi.new("char[4096]"), 4096) == lib.OSSFAST_EINVAL
    assert lib.ossfast_wgor_route_head(N, b"t", 1, 200, N, 0, 0, N, 0, N, 0, N, 0, N,
                                       ffi.new("char[4096]")) == lib.OSSFAST_EINVAL
    assert lib.ossfast_wgor_signer_new(2, N, 0, N, 0, N, 0, N) == N
    lib.ossfast_wgor_signer_free(N)
    lib.ossfast_wgor_route_free(N)
    lib.ossfast_v4_cache_free(N)


# ---- the head builders' own fields, on both backends ---------------------------

BAD_FIELDS = [
    ("route", dict(route=b"a b")), ("route", dict(route=b"")), ("route", dict(route=b"h\xc3\xa9")),
    ("token", dict(token=b"")), ("token", dict(token=b"se cret")),
    ("status", dict(status=-1)), ("status", dict(status=1000)), ("status", dict(status=2 ** 40)),
    ("status", dict(status="200")),
    ("content_length", dict(length=-1)), ("content_length", dict(length=2 ** 64)),
    ("content_length", dict(length=1.5)),
    ("content_md5", dict(md5=b"ab cd")), ("content_md5", dict(md5=b"\x00")),
]


@pytest.mark.parametrize("version", [1, 4])
@pytest.mark.parametrize("field,bad", BAD_FIELDS, ids=[f"{f}-{i}" for i, (f, _) in enumerate(BAD_FIELDS)])
def test_head_builders_refuse_bad_fields_alike(version, field, bad):
    """The native builder said 'v1_sign rejected the request (code -1)' for a bad route or
    Content-MD5 and let OverflowError out for a status or length its C type cannot hold; the
    pure twin wrote 'Host: a b' or 'Content-Length: -1' into the head. Both now refuse the same
    way, naming the field and never the token."""
    args = dict(route=ROUTE, token=b"OSSV1#secret-token", status=200, length=0, md5=b"")
    args.update(bad)
    for builder in _builders(version):
        if builder is None:
            continue
        with pytest.raises(InvalidRequestError) as info:
            builder(args["route"], args["token"], args["status"], args["length"], args["md5"], b"",
                    DATE_LINES, _prefix(version), b"body")
        assert info.value.field == field, (builder, str(info.value))
        assert b"secret-token".decode() not in str(info.value)
    pure, nat = _builders(version)
    if nat is not None:
        call = (args["route"], args["token"], args["status"], args["length"], args["md5"], b"",
                DATE_LINES, _prefix(version))
        assert _outcome(pure, *call) == _outcome(nat, *call)


@pytest.mark.parametrize("version", [1, 4])
def test_head_builders_accept_the_edges_of_each_field(version):
    pure, nat = _builders(version)
    for status, length, md5 in [(0, 0, b""), (999, 2 ** 64 - 1, b"!"), (200, 1, b"~" * 24)]:
        call = (ROUTE, b"\x21\x7e", status, length, md5, b"", DATE_LINES, _prefix(version), b"abc")
        head, crc = pure(*call)
        assert b"Content-Length: %d\r\n" % length in head
        assert crc == _pure.crc64(b"abc")
        if nat is not None:
            assert nat(*call) == (head, crc)


ROUTE_HEAD_BAD = [(2 ** 40, b"", -1), (2 ** 31, b"", -1), (-2 ** 31 - 1, b"", -1),
                  (200, b"A: b\r\n", 2 ** 40), (200, b"A: b\r\n", 2 ** 31)]


@pytest.mark.parametrize("version", [1, 4])
@pytest.mark.parametrize("status,fwd,nfwd", ROUTE_HEAD_BAD)
def test_route_head_refuses_what_a_c_int_cannot_hold_as_the_twin_does(monkeypatch, version, status,
                                                                      fwd, nfwd):
    """The native route head let OverflowError out for a status or a forwarded-line count beyond
    a C int; the pure twin raises InvalidRequestError (the status's, or the forwarded lines')."""
    from ossfast import request as request_mod
    from ossfast import signing

    creds = ossfast.Credentials("ak", "sk")
    outcomes = []
    for mod in BACKENDS:
        signer = signing.SignerV1(creds) if version == 1 else signing.SignerV4(creds, region="cn-qingdao")
        if version == 4:
            signer._cache = mod.V4Cache()
        monkeypatch.setattr(request_mod, "impl", mod)
        head = request_mod.HeadBuilder(signer).route(ROUTE.decode("ascii"))[2]
        with pytest.raises(InvalidRequestError) as info:
            head(b"tok", status, b"body", fwd, nfwd)
        outcomes.append((info.value.field, str(info.value)))
    assert len(set(outcomes)) == 1, outcomes


# ---- the caps of the one-call head: lines, values, the route head buffer ---------

@pytest.mark.parametrize("version", [1, 4])
@pytest.mark.parametrize("md5", [b"", b"1B2M2Y8AsgTpgAmY7PhCfg=="])
def test_head_line_limit_counts_the_heads_own_lines(version, md5):
    """64 lines in the signed block, the head's own (Host, Content-Length, [Content-MD5], route,
    token, status) included: one extra line less with a Content-MD5; both backends agree."""
    own = 6 if md5 else 5
    date_lines = 2  # DATE_LINES
    room = 64 - own - date_lines
    pure, nat = _builders(version)
    for n in (room, room + 1):
        extra = b"".join(b"x-oss-meta-k%02d: v\r\n" % i for i in range(n))
        call = (ROUTE, b"tok", 200, 3, md5, extra, DATE_LINES, _prefix(version), b"abc")
        got = _outcome(pure, *call)
        assert (got[0] == "ok") == (n == room), (n, got)
        if nat is not None:
            assert _outcome(nat, *call) == got


@needs_native
def test_route_head_cap_in_c():
    """At the C level: a route head of exactly OSSFAST_ROUTE_HEAD_CAP bytes is written, one byte
    more is OSSFAST_ESPACE (never a write past the 4096-byte buffer: ASan checks)."""
    cap = lib.OSSFAST_ROUTE_HEAD_CAP
    N = ffi.NULL
    for version in (1, 4):
        signer = ffi.gc(lib.ossfast_wgor_signer_new(version, b"sk", 2, b"r", 1, b"oss", 3, N),
                        lib.ossfast_wgor_signer_free)
        route = ffi.gc(lib.ossfast_wgor_route_new(signer, ROUTE, len(ROUTE)), lib.ossfast_wgor_route_free)
        prefix = _prefix(version)

        def run(token, fwd=b"", nfwd=-1):
            out = ffi.new("char[]", cap)  # exactly the cap: ASan sees any byte written past it
            n = lib.ossfast_wgor_route_head(route, token, len(token), 200, fwd, len(fwd), nfwd,
                                            DATE_LINES, len(DATE_LINES), prefix, len(prefix), b"", 0,
                                            N, out)
            return n, (ffi.unpack(out, n) if n > 0 else None)

        n0, head0 = run(b"t")
        assert n0 > 0
        # the size bound counts 20 digits for Content-Length and 11 for the status; the head is
        # written only when that bound fits
        bound = lib.ossfast_wgor_head_size(signer, len(ROUTE), 1, 0, 0, len(DATE_LINES), len(prefix))
        fits = b"t" * (1 + cap - bound)
        n, head = run(fits)
        assert n > 0
        assert head == _pure.wgor_head_builder(version, b"sk", b"r", b"oss")(
            ROUTE, fits, 200, 0, b"", b"", DATE_LINES, prefix)[0]
        assert run(fits + b"t")[0] == lib.OSSFAST_ESPACE
        # forwarded values: 8192 bytes pass the check, 8193 do not (the head is then too big
        # for the route head, but the check comes first)
        for size, want in ((8192, lib.OSSFAST_ESPACE), (8193, lib.OSSFAST_EVALUE)):
            fwd = b"x-oss-fwd-header-ETag: " + b"e" * size + b"\r\n"
            assert run(b"t", fwd, 1)[0] == want, size
        # with room for it, an 8192-byte value is written through ossfast_wgor_head
        fwd = b"x-oss-fwd-header-ETag: " + b"e" * 8192 + b"\r\n"
        need = lib.ossfast_wgor_head_size(signer, len(ROUTE), 1, 0, len(fwd), len(DATE_LINES), len(prefix))
        out = ffi.new("char[]", need)
        n = lib.ossfast_wgor_head(signer, ROUTE, len(ROUTE), b"t", 1, 200, 0, N, 0, fwd, len(fwd), 1,
                                  DATE_LINES, len(DATE_LINES), prefix, len(prefix), N, 0, N, out, need)
        assert n > 0
        assert lib.ossfast_wgor_head(signer, ROUTE, len(ROUTE), b"t", 1, 200, 0, N, 0, fwd, len(fwd), 1,
                                     DATE_LINES, len(DATE_LINES), prefix, len(prefix), N, 0, N, out,
                                     need - 1) == lib.OSSFAST_ESPACE


@needs_native
@pytest.mark.parametrize("version", [1, 4])
def test_builder_heads_around_the_reusable_buffer_agree(version):
    """Heads from just under to just over the builder's reusable 4096-byte buffer: the native
    builder's retry with a buffer of its own gives the pure twin's head, byte for byte."""
    pure, nat = _builders(version)
    prefix = _prefix(version)
    base = len(pure(ROUTE, b"t", 200, 0, b"", b"", DATE_LINES, prefix)[0])
    for extra_len in range(4096 - base - 40, 4096 - base + 40, 3):
        token = b"t" * (1 + extra_len)
        call = (ROUTE, token, 200, 2 ** 64 - 1, b"", b"", DATE_LINES, prefix, b"x")
        assert nat(*call) == pure(*call), extra_len


# ---- everything portable at once, cross-checked ---------------------------------

_PORTABLE_ALL = r"""
import hashlib, hmac, json, random
import ossfast
from ossfast import _native, _pure
from ossfast._ossfast import lib
rng = random.Random(20261202)
assert ossfast.backend == "native"
assert _native.CPU_FEATURES == 0 and lib.ossfast_cpu_features() == 0
checked = 0
for i in range(1500):
    n = rng.choice([0, 1, 15, 16, 17, 55, 56, 63, 64, 65, 127, 128, 129, 511, 512, 513, 4096, 8193]
                   + [rng.randrange(20000)])
    off = rng.randrange(16)
    raw = rng.randbytes(n + off)
    m = memoryview(raw)[off:]          # unaligned views
    k = rng.randbytes(rng.choice([0, 1, 55, 56, 63, 64, 65, 100, 200, rng.randrange(300)]))
    mb = bytes(m)
    assert _native.crc64(m) == _pure.crc64(mb)
    assert _native.crc64_table(m, 12345) == _pure.crc64(mb, 12345)
    assert _native.md5(m) == hashlib.md5(mb).digest()
    assert _native.sha1(m) == hashlib.sha1(mb).digest()
    assert _native.sha256(m) == hashlib.sha256(mb).digest()
    assert _native.hmac_sha1(k, m) == hmac.new(k, mb, hashlib.sha1).digest()
    assert _native.hmac_sha256(k, m) == hmac.new(k, mb, hashlib.sha256).digest()
    cut = rng.randrange(n + 1)
    md = _native.Md5()
    assert _native.digest([m[:cut], m[cut:]], 7, md) == _pure.crc64(mb, 7)
    assert md.digest() == hashlib.md5(mb).digest()
    a, b = rng.randrange(2 ** 64), rng.randrange(2 ** 64)
    ln = rng.choice([0, 1, n, 2 ** 64 - 1, rng.randrange(2 ** 64)])
    assert _native.crc64_combine(a, b, ln) == _pure.crc64_combine(a, b, ln)
    if i % 5 == 0:
        secret = k or b"sk"
        lines = b"Date: Tue, 31 Oct 2023 03:17:58 GMT\r\nx-oss-date: 20231031T031758Z\r\n"
        for version in (1, 4):
            nb = _native.wgor_head_builder(version, secret, b"cn-qingdao", b"oss", _native.V4Cache())
            pb = _pure.wgor_head_builder(version, secret, b"cn-qingdao", b"oss", _pure.V4Cache())
            tok = bytes(rng.randrange(0x21, 0x7f) for _ in range(rng.randrange(1, 300)))
            call = (b"route.example.com", tok, rng.randrange(1000), n, b"", b"x-oss-meta-a: b\r\n",
                    lines, b"AUTH ", mb)
            assert nb(*call) == pb(*call)
        checked += 1
print(json.dumps({"checked": checked}))
"""


@needs_native
def test_portable_paths_all_at_once_agree_with_hashlib_and_the_twin():
    """OSSFAST_CPU_MASK=0 and OSSFAST_NO_SHANI=1 together: table CRC and portable combine,
    portable SHA-1/SHA-256 under HMAC and the signers, on random unaligned inputs."""
    env = dict(os.environ, OSSFAST_BACKEND="native", OSSFAST_CPU_MASK="0", OSSFAST_NO_SHANI="1")
    res = subprocess.run([sys.executable, "-c", _PORTABLE_ALL], env=env, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert '"checked": 300' in res.stdout


# ---- secrets left on the stack ---------------------------------------------------

_RESIDUE_DRIVER = r"""
#include <stdio.h>
#include <string.h>
#include "ossfast.h"

/* Zero, then later search, the dead stack below main: what a call left there. */
static __attribute__((noinline)) void clear_below(void)
{
    volatile unsigned char area[32768];
    size_t i;
    for (i = 0; i < sizeof area; i++)
        area[i] = 0;
}

static __attribute__((noinline)) int found_below(const unsigned char *needle, size_t n)
{
    volatile unsigned char area[32768];
    size_t i, j;
    for (i = 0; i + n <= sizeof area; i++) {
        for (j = 0; j < n; j++)
            if (area[i + j] != needle[j])
                break;
        if (j == n)
            return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    unsigned char secret[120], out[64];
    char sig[64];
    size_t i;
    int mode = argv[1][0];
    for (i = 0; i < sizeof secret; i++)
        secret[i] = (unsigned char)(0xA0 + (i * 7) % 53);
    clear_below();
    if (mode == 'a') {
        ossfast_hmac_sha1((const char *)secret, 100, "msg", 3, out);
    } else if (mode == 'b') {
        ossfast_hmac_sha256((const char *)secret, 100, "msg", 3, out);
    } else if (mode == 'c') {
        ossfast_v4_signing_key((const char *)secret, 100, "20231031", "cn-qingdao", 10, "oss", 3, out);
    } else if (mode == 'd') {
        ossfast_v1_sign((const char *)secret, 100, "POST", 4, "Date: x\n", 8, "/", 1, sig);
    } else {
        ossfast_wgor_signer *s = ossfast_wgor_signer_new(1, (const char *)secret, 100, "", 0, "", 0, NULL);
        ossfast_wgor_signer_free(s);
    }
    /* the secret's bytes past the first 64-byte block: in no dead frame */
    printf("%d\n", found_below(secret + 64 - (mode == 'c' ? 9 : 0), 100 - 64 + (mode == 'c' ? 9 : 0) - 8));
    return 0;
}
"""


def _compiler():
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    return shutil.which(cc) or shutil.which("cc") or shutil.which("gcc")


@pytest.mark.skipif(_compiler() is None, reason="no C compiler")
@pytest.mark.parametrize("shani", ["1", "0"], ids=["portable-sha", "auto-sha"])
def test_no_copy_of_a_long_hmac_key_left_on_the_stack(tmp_path, shani):
    """An HMAC key over 64 bytes (a V1 secret over 64 bytes, a V4 secret over 55) is hashed
    first; the one-shot hash left the key's last bytes in its padding block on the stack (the
    key state, the padded blocks and the key hash were wiped, as hmac.c and internal.h claim)."""
    exe = tmp_path / "residue"
    src = tmp_path / "residue.c"
    src.write_text(_RESIDUE_DRIVER)
    sources = [str(p) for p in sorted(CSRC.glob("*.c"))]
    subprocess.run([_compiler(), "-std=c99", "-O2", "-w", "-I", str(CSRC), str(src), *sources,
                    "-Wl,-z,now", "-o", str(exe)], check=True, capture_output=True, timeout=300)
    # LD_BIND_NOW: the lazy binding of memcpy/memset on a first call saves the vector registers
    # (which may hold the key) on the stack; the extension module's are bound long before.
    env = dict(os.environ, OSSFAST_NO_SHANI="1" if shani == "1" else "", LD_BIND_NOW="1")
    for mode in "abcde":
        res = subprocess.run([str(exe), mode], env=env, capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        assert res.stdout.strip() == "0", f"mode {mode}: the secret's tail is still on the stack"
