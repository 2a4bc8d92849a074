"""Differential fuzzing of every C entry point against the pure-Python twin.

One harness, one target per entry-point family; the first input byte picks
the target. Run under atheris (``make fuzz``) or, without atheris, over a
corpus directory (``python tools/fuzz_core.py --replay DIR``), which is what
tests/test_fuzz_corpus.py does with the corpus kept in tests/data/fuzz/.
"""
from __future__ import annotations

import os
import sys

from ossfast import _native as N
from ossfast import _pure as P
from ossfast.errors import InvalidRequestError


class Mismatch(AssertionError):
    pass


def _check(name: str, a, b) -> None:
    if a != b:
        raise Mismatch(f"{name}: native {a!r} != pure {b!r}")


def _splits(data: bytes, cuts: bytes):
    """Cut ``data`` at positions taken from ``cuts`` (empty pieces included)."""
    points = sorted({(c * 257 + i) % (len(data) + 1) for i, c in enumerate(cuts)})
    out, prev = [], 0
    for p in points + [len(data)]:
        out.append(data[prev:p])
        prev = p
    return out


def t_crc(data: bytes) -> None:
    if len(data) < 9:
        return
    crc = int.from_bytes(data[:8], "little")
    buf = data[8:]
    _check("crc64", N.crc64(buf, crc), P.crc64(buf, crc))
    # unaligned views and every CPU path
    for off in range(min(8, len(buf))):
        mv = memoryview(buf)[off:]
        want = P.crc64(mv)
        _check("crc64_table", N.crc64_table(mv), want)
        if N.HAS_PCLMUL:
            _check("crc64_pclmul", N.crc64_pclmul(mv), want)
        if N.HAS_VPCLMUL:
            _check("crc64_vpclmul", N.crc64_vpclmul(mv), want)


def t_combine(data: bytes) -> None:
    if len(data) < 20:
        return
    c1 = int.from_bytes(data[:8], "little")
    c2 = int.from_bytes(data[8:16], "little")
    n = int.from_bytes(data[16:24], "little") >> (data[0] & 63)
    _check("crc64_combine", N.crc64_combine(c1, c2, n), P.crc64_combine(c1, c2, n))


def t_digest(data: bytes) -> None:
    if len(data) < 2:
        return
    k = data[0] % 16
    cuts, body = data[1:1 + k], data[1 + k:]
    pieces = _splits(body, cuts)
    mn, mp = N.Md5(), P.Md5()
    _check("digest", N.digest(pieces, 0, mn), P.digest(pieces, 0, mp))
    _check("digest.md5", mn.digest(), mp.digest())
    _check("md5", N.md5(body), P.md5(body))
    s = N.Md5()
    for piece in pieces:
        s.update(piece)
    _check("Md5.update", s.digest(), P.md5(body))


def t_hash(data: bytes) -> None:
    if not data:
        return
    k = data[0] % 160
    key, msg = data[1:1 + k], data[1 + k:]
    _check("sha1", N.sha1(msg), P.sha1(msg))
    _check("sha256", N.sha256(msg), P.sha256(msg))
    _check("hmac_sha1", N.hmac_sha1(key, msg), P.hmac_sha1(key, msg))
    _check("hmac_sha256", N.hmac_sha256(key, msg), P.hmac_sha256(key, msg))
    _check("base64", N.base64_encode(msg), P.base64_encode(msg))
    _check("hex", N.hex_encode(msg), P.hex_encode(msg))


def _both(name: str, fn_n, fn_p) -> None:
    """Both raise InvalidRequestError, or both return the same value."""
    try:
        a = fn_n()
    except InvalidRequestError:
        a = InvalidRequestError
    try:
        b = fn_p()
    except InvalidRequestError:
        b = InvalidRequestError
    _check(name, a, b)


def t_sign(data: bytes) -> None:
    # The bytes after the first are read as a header block; any content goes.
    if len(data) < 2:
        return
    block = data[1:]
    _both("v1_string_to_sign", lambda: N.v1_string_to_sign(b"POST", block, b"/?x"),
          lambda: P.v1_string_to_sign(b"POST", block, b"/?x"))
    _both("v1_sign", lambda: N.v1_sign(b"sk", b"POST", block, b"/?x"),
          lambda: P.v1_sign(b"sk", b"POST", block, b"/?x"))
    add = b"host" if data[0] & 1 else b""
    _both("v4_canonical_request", lambda: N.v4_canonical_request(b"POST", b"/", b"q", block, add),
          lambda: P.v4_canonical_request(b"POST", b"/", b"q", block, add))
    _both("v4_sign", lambda: N.v4_sign(None, b"sk", b"POST", b"/", b"q", block, add, b"cn-x", b"oss"),
          lambda: P.v4_sign(None, b"sk", b"POST", b"/", b"q", block, add, b"cn-x", b"oss"))
    _both("v4_sign(cache)", lambda: N.v4_sign(_CACHE, b"sk", b"POST", b"/", b"q", block, add, b"cn-x", b"oss"),
          lambda: P.v4_sign(None, b"sk", b"POST", b"/", b"q", block, add, b"cn-x", b"oss"))
    _both("v4_string_to_sign",
          lambda: N.v4_string_to_sign(b"POST", b"/", b"q", block, add, b"cn-x", b"oss"),
          lambda: P.v4_string_to_sign(b"POST", b"/", b"q", block, add, b"cn-x", b"oss"))
    # The key derivation on fuzzed secrets, days and regions (bytes taken from the block).
    secret, day, region = block[:40], block[40:48], block[48:80] or b"r"
    _both("v4_signing_key", lambda: N.v4_signing_key(secret, day, region, b"oss"),
          lambda: P.v4_signing_key(secret, day, region, b"oss"))
    t_head(data)


_LINES_V1 = b"Date: Tue, 24 Nov 2026 05:00:00 GMT\r\n"
_LINES_V4 = _LINES_V1 + b"x-oss-date: 20261124T050000Z\r\nx-oss-content-sha256: UNSIGNED-PAYLOAD\r\n"
_ROUTE = b"ap-1234-opap.oss-cn-x.oss-object-process.aliyuncs.com"


def t_head(data: bytes) -> None:
    # The whole WGOR head: a fuzzed token, status, length and extra lines (any bytes).
    if len(data) < 4:
        return
    cut = 1 + data[0] % max(1, len(data) - 3)
    token, extra = data[3:3 + cut], data[3 + cut:]
    status = int.from_bytes(data[1:3], "little") % 1200 - 100
    md5 = b"1B2M2Y8AsgTpgAmY7PhCfg==" if data[0] & 1 else b""
    for version, lines in ((1, _LINES_V1), (4, _LINES_V4)):
        args = (_ROUTE, token, status, len(data), md5, extra, lines, b"P=", data)
        _both(f"wgor_head v{version}", lambda n=_HEAD_N[version], a=args: n(*a),
              lambda p=_HEAD_P[version], a=args: p(*a))


_CACHE = N.V4Cache()
_HEAD_N = {v: N.wgor_head_builder(v, b"sk", b"cn-x", b"oss", _CACHE) for v in (1, 4)}
_HEAD_P = {v: P.wgor_head_builder(v, b"sk", b"cn-x", b"oss") for v in (1, 4)}
TARGETS = [t_crc, t_combine, t_digest, t_hash, t_sign]


def one_input(data: bytes) -> None:
    if not data:
        return
    TARGETS[data[0] % len(TARGETS)](data[1:])


def replay(directory: str) -> int:
    n = 0
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), "rb") as f:
            one_input(f.read())
        n += 1
    return n


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--replay":
        print(f"replayed {replay(sys.argv[2])} inputs")
        sys.exit(0)
    import atheris  # type: ignore[import-not-found]

    # Coverage comes from the Python side (the wrappers, the pure twin, this harness): the
    # C core is built by gcc without libFuzzer instrumentation. The differential check is
    # what finds bugs in C; the sanitizer build catches memory errors on the corpus.
    atheris.instrument_all()
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
