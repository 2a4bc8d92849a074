"""The compiled core's functions in pure Python: the fallback backend and an oracle.

Same names and meanings as ``_native.py``. Hashes come from ``hashlib`` and
``hmac``; CRC-64/XZ and its combine are written out here.
"""
from __future__ import annotations

import base64
import hashlib
import hmac as _hmac

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a cold start pays ~3 ms for it)
if TYPE_CHECKING:
    from typing import Any, Optional, Sequence

NAME = "python"
CPU_FEATURES = 0
HAS_PCLMUL = False
HAS_VPCLMUL = False

POLY = 0xC96C5795D7870F42  # CRC-64/XZ polynomial, reflected
MASK = (1 << 64) - 1


def _make_table() -> "list[int]":
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ POLY if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _make_table()


def _view(data: Any, func: str) -> memoryview:
    try:
        mv = memoryview(data)
    except TypeError:
        raise TypeError(
            f"{func}() expects a contiguous bytes-like object (bytes, bytearray, memoryview, mmap), "
            f"not {type(data).__name__}"
        ) from None
    if not mv.c_contiguous:
        raise TypeError(f"{func}() expects a contiguous bytes-like object, got a non-contiguous buffer")
    return mv.cast("B") if mv.format != "B" or mv.ndim != 1 else mv


def _crc_arg(crc: Any) -> int:
    if not isinstance(crc, int):
        raise TypeError(f"crc must be an int, not {type(crc).__name__}")
    if not 0 <= crc < 1 << 64:
        raise ValueError("crc must be in range 0 .. 2**64-1")
    return crc


def _crc64_update(crc: int, data: "bytes | memoryview") -> int:
    table = _TABLE
    c = crc ^ MASK
    for b in data:
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ MASK


def crc64(data: Any, crc: int = 0) -> int:
    mv = _view(data, "crc64")
    return _crc64_update(_crc_arg(crc), mv)


crc64_table = crc64


def _multmodp(a: int, b: int) -> int:
    """a*b modulo the CRC polynomial, both in reflected form (bit 63 is x^0)."""
    m = 1 << 63
    p = 0
    while a:
        if a & m:
            p ^= b
            a ^= m
        m >>= 1
        b = (b >> 1) ^ POLY if b & 1 else b >> 1
    return p


def _x2n_table() -> "list[int]":
    # x^(2^k) mod P for k = 0..66: combine needs k up to 3 + 63. The sequence
    # does not repeat with period 64 for this polynomial, so it cannot wrap.
    t = [1 << 62]  # x^1
    for _ in range(66):
        t.append(_multmodp(t[-1], t[-1]))
    return t


_X2N = _x2n_table()


def crc64_combine(crc1: int, crc2: int, len2: int) -> int:
    _crc_arg(crc1)
    _crc_arg(crc2)
    if not isinstance(len2, int):
        raise TypeError(f"len2 must be an int, not {type(len2).__name__}")
    if not 0 <= len2 < 1 << 64:
        raise ValueError("len2 must be in range 0 .. 2**64-1")
    # crc(A+B) = crc(A) * x^(8*len(B)) xor crc(B): the init and xorout terms cancel.
    p = 1 << 63  # x^0
    k = 3  # 8 bits per byte: start at x^(2^3)
    n = len2
    while n:
        if n & 1:
            p = _multmodp(_X2N[k], p)
        n >>= 1
        k += 1
    return _multmodp(p, crc1) ^ crc2


def md5(data: Any) -> bytes:
    return hashlib.md5(_view(data, "md5")).digest()


class Md5:
    """Streaming MD5 (one thread at a time)."""

    __slots__ = ("_h",)

    def __init__(self, data: Any = None) -> None:
        self._h = hashlib.md5()
        if data is not None:
            self.update(data)

    def update(self, data: Any) -> None:
        self._h.update(_view(data, "Md5.update"))

    def copy(self) -> "Md5":
        other = Md5.__new__(Md5)
        other._h = self._h.copy()
        return other

    def digest(self) -> bytes:
        return self._h.digest()

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def sha1(data: Any) -> bytes:
    return hashlib.sha1(_view(data, "sha1")).digest()


def sha256(data: Any) -> bytes:
    return hashlib.sha256(_view(data, "sha256")).digest()


def hmac_sha1(key: Any, msg: Any) -> bytes:
    return _hmac.new(bytes(_view(key, "hmac_sha1")), _view(msg, "hmac_sha1"), hashlib.sha1).digest()


def hmac_sha256(key: Any, msg: Any) -> bytes:
    return _hmac.new(bytes(_view(key, "hmac_sha256")), _view(msg, "hmac_sha256"), hashlib.sha256).digest()


def base64_encode(data: Any) -> bytes:
    return base64.b64encode(_view(data, "base64_encode"))


def hex_encode(data: Any) -> bytes:
    return _view(data, "hex_encode").hex().encode()


def digest(buffers: Sequence[Any], crc: int = 0, md5: Optional[Md5] = None) -> int:
    """CRC64 over ``buffers`` in order (continuing ``crc``), feeding ``md5`` too."""
    if md5 is not None and type(md5) is not Md5:
        raise TypeError(f"md5 must be an ossfast Md5 object or None, not {type(md5).__name__}")
    c = _crc_arg(crc)
    views = [_view(b, "digest") for b in buffers]  # all checked before any is hashed
    for mv in views:
        c = _crc64_update(c, mv)
        if md5 is not None:
            md5.update(mv)
    return c


# =============================================================================
# signing: OSS Signature V1 and V4 (twin of csrc/sign.c; owned by the signers)
# =============================================================================
# Same parsing rules and error order as the C core: the block is scanned line
# by line (more than 64 non-empty lines, then a malformed line), then the
# signed headers are sorted and checked for repeats, then V4 checks x-oss-date.
# Error messages name headers and lines, never values (a value may be a token).
import re as _re
import threading as _threading

from .errors import _FWD_VALUE_REFUSED as _FWD_REFUSED
from .errors import InvalidRequestError as _InvalidRequestError

SIGN_MAX_LINES = 64
_V1_SPECIAL = frozenset((b"content-md5", b"content-type", b"date"))
_V4_DEFAULT = frozenset((b"content-md5", b"content-type"))
_V4_DATE = _re.compile(rb"[0-9]{8}T[0-9]{6}Z")
_UNSIGNED_PAYLOAD = b"UNSIGNED-PAYLOAD"


def _sign_bytes(data: Any, what: str) -> bytes:
    if type(data) is bytes:
        return data
    return bytes(_view(data, what))


def _sign_headers(headers: Any, v4: bool, additional: bytes = b"") -> "list[tuple[bytes, bytes]]":
    """The signed (lowercased name, trimmed value) pairs of a header block, sorted by name."""
    block = _sign_bytes(headers, "headers")
    extra = frozenset(t.lower() for t in additional.split(b";") if t) if v4 and additional else frozenset()
    keep = []
    count = 0
    for number, line in enumerate(block.split(b"\n"), 1):
        if line[-1:] == b"\r":
            line = line[:-1]
        if not line:
            continue
        count += 1
        if count > SIGN_MAX_LINES:
            raise _InvalidRequestError(
                f"cannot sign: the header block has more than {SIGN_MAX_LINES} lines", "headers")
        if b"\r" in line:
            raise _InvalidRequestError(
                f"cannot sign: header line {number} holds a CR that does not end the line", "headers")
        name, colon, value = line.partition(b":")
        name = name.strip(b" \t").lower()
        if not colon or not name:
            raise _InvalidRequestError(
                f"cannot sign: header line {number} is not of the form 'Name: value'", "headers")
        if name.startswith(b"x-oss-") or (
            name in _V1_SPECIAL if not v4 else (name in _V4_DEFAULT or name in extra)
        ):
            keep.append((name, value.strip(b" \t")))
    keep.sort(key=lambda h: h[0])
    for i in range(1, len(keep)):
        if keep[i][0] == keep[i - 1][0]:
            dup = keep[i][0].decode("latin-1")
            raise _InvalidRequestError(f"cannot sign: signed header {dup!r} appears more than once", dup)
    return keep


def v1_string_to_sign(method: Any, headers: Any, resource: Any) -> bytes:
    hs = _sign_headers(headers, False)
    special = dict(h for h in hs if h[0] in _V1_SPECIAL)
    parts = [_sign_bytes(method, "method"), b"\n",
             special.get(b"content-md5", b""), b"\n",
             special.get(b"content-type", b""), b"\n",
             special.get(b"date", b""), b"\n"]
    for name, value in hs:
        if name.startswith(b"x-oss-"):
            parts += (name, b":", value, b"\n")
    parts.append(_sign_bytes(resource, "resource"))
    return b"".join(parts)


def v1_sign(secret: Any, method: Any, headers: Any, resource: Any) -> str:
    sts = v1_string_to_sign(method, headers, resource)
    mac = _hmac.new(_sign_bytes(secret, "secret"), sts, hashlib.sha1).digest()
    return base64.b64encode(mac).decode("ascii")


def _v4_canonical(hs: "list[tuple[bytes, bytes]]", method: Any, uri: Any, query: Any,
                  additional: bytes) -> bytes:
    payload = _UNSIGNED_PAYLOAD
    parts = [_sign_bytes(method, "method"), b"\n", _sign_bytes(uri, "uri"), b"\n",
             _sign_bytes(query, "query"), b"\n"]
    for name, value in hs:
        parts += (name, b":", value, b"\n")
        if name == b"x-oss-content-sha256":
            payload = value
    parts += (b"\n", additional, b"\n", payload)
    return b"".join(parts)


def v4_canonical_request(method: Any, uri: Any, query: Any, headers: Any, additional: Any = b"") -> bytes:
    additional = _sign_bytes(additional, "additional")
    hs = _sign_headers(headers, True, additional)
    return _v4_canonical(hs, method, uri, query, additional)


def _v4_string_to_sign(method: Any, uri: Any, query: Any, headers: Any, additional: Any,
                       region: Any, product: Any) -> "tuple[bytes, bytes]":
    additional = _sign_bytes(additional, "additional")
    hs = _sign_headers(headers, True, additional)
    date = dict(hs).get(b"x-oss-date")
    if date is None:
        raise _InvalidRequestError("cannot sign with V4: the request has no x-oss-date header", "x-oss-date")
    if not _V4_DATE.fullmatch(date):
        raise _InvalidRequestError(
            "cannot sign with V4: x-oss-date is not of the form YYYYMMDDTHHMMSSZ", "x-oss-date")
    cr = _v4_canonical(hs, method, uri, query, additional)
    sts = b"".join((b"OSS4-HMAC-SHA256\n", date, b"\n", date[:8], b"/", _sign_bytes(region, "region"),
                    b"/", _sign_bytes(product, "product"), b"/aliyun_v4_request\n",
                    hashlib.sha256(cr).hexdigest().encode("ascii")))
    return sts, date[:8]


def v4_string_to_sign(method: Any, uri: Any, query: Any, headers: Any, additional: Any,
                      region: Any, product: Any) -> bytes:
    return _v4_string_to_sign(method, uri, query, headers, additional, region, product)[0]


def v4_signing_key(secret: Any, day8: Any, region: Any, product: Any) -> bytes:
    day8 = _sign_bytes(day8, "day8")
    if len(day8) != 8:
        raise _InvalidRequestError("day8 must be 8 bytes (YYYYMMDD)", "day8")
    k = _hmac.new(b"aliyun_v4" + _sign_bytes(secret, "secret"), day8, hashlib.sha256).digest()
    k = _hmac.new(k, _sign_bytes(region, "region"), hashlib.sha256).digest()
    k = _hmac.new(k, _sign_bytes(product, "product"), hashlib.sha256).digest()
    return _hmac.new(k, b"aliyun_v4_request", hashlib.sha256).digest()


class V4Cache:
    """V4 signing keys by (secret, day, region, product); bounded, thread-safe."""

    SLOTS = 8
    __slots__ = ("_keys", "_lock")

    def __init__(self) -> None:
        self._keys: "dict[tuple[bytes, bytes, bytes, bytes], bytes]" = {}
        self._lock = _threading.Lock()

    def __repr__(self) -> str:
        return f"<V4Cache ({len(self._keys)} keys)>"

    def signing_key(self, secret: bytes, day8: bytes, region: bytes, product: bytes) -> bytes:
        ident = (secret, day8, region, product)
        with self._lock:
            key = self._keys.get(ident)
        if key is None:
            key = v4_signing_key(secret, day8, region, product)
            with self._lock:
                if len(self._keys) >= self.SLOTS:
                    del self._keys[next(iter(self._keys))]  # oldest first, like the C round robin
                self._keys[ident] = key
        return key


def v4_sign(cache: Optional[V4Cache], secret: Any, method: Any, uri: Any, query: Any, headers: Any,
            additional: Any, region: Any, product: Any) -> str:
    sts, day8 = _v4_string_to_sign(method, uri, query, headers, additional, region, product)
    secret = _sign_bytes(secret, "secret")
    region = _sign_bytes(region, "region")
    product = _sign_bytes(product, "product")
    if cache is None:
        key = v4_signing_key(secret, day8, region, product)
    else:
        key = cache.signing_key(secret, day8, region, product)
    return _hmac.new(key, sts, hashlib.sha256).hexdigest()


def v1_signer(secret: bytes, method: bytes, resource: bytes) -> Any:
    """``sign(headers) -> bytes``: v1_sign with everything but the header block bound once."""
    s, m, r = bytes(secret), bytes(method), bytes(resource)

    def sign(headers: bytes) -> bytes:
        return v1_sign(s, m, headers, r).encode("ascii")

    return sign


def v4_signer(cache: Optional[V4Cache], secret: bytes, method: bytes, uri: bytes, query: bytes,
              additional: bytes, region: bytes, product: bytes) -> Any:
    """``sign(headers) -> bytes``: v4_sign with everything but the header block bound once."""
    args = tuple(bytes(x) for x in (secret, method, uri, query))
    a, r, p = bytes(additional), bytes(region), bytes(product)

    def sign(headers: bytes) -> bytes:
        return v4_sign(cache, args[0], args[1], args[2], args[3], headers, a, r, p).encode("ascii")

    return sign


_WGOR_RESOURCE = b"/?x-oss-write-get-object-response"
_WGOR_QUERY = b"x-oss-write-get-object-response"


def wgor_block(route: bytes, token: bytes, status: int, length: int, md5: bytes, extra: bytes,
               lines: bytes) -> bytes:
    """The header lines of a WGOR head that the signature covers (Host through ``lines``)."""
    return b"".join((
        b"Host: ", route, b"\r\nContent-Length: %d\r\n" % length,
        b"Content-MD5: " + md5 + b"\r\n" if md5 else b"",
        b"x-oss-request-route: ", route, b"\r\nx-oss-request-token: ", token,
        b"\r\nx-oss-fwd-status: %d\r\n" % status, extra, lines))


def _printable(data: bytes) -> bool:
    """1 or more bytes, each in 0x21..0x7e (csrc/head.c token_ok)."""
    return bool(data) and all(0x21 <= c <= 0x7E for c in data)


def wgor_head_check(route: bytes, token: bytes, status: Any, length: Any, md5: bytes) -> None:
    """The core's checks of a WGOR head's own fields, in its order (csrc/head.c): the token,
    the route, the status, the Content-Length, the Content-MD5. Raises InvalidRequestError;
    the error names the field, never its value (the token is a secret)."""
    if not _printable(token):
        raise _InvalidRequestError("token: must be 1 or more printable ASCII characters without "
                                   "blanks or controls", "token")
    if not _printable(route):
        raise _InvalidRequestError("route: must be 1 or more printable ASCII characters without "
                                   "blanks or controls", "route")
    if type(status) is not int or not 0 <= status <= 999:
        raise _InvalidRequestError("cannot sign: the status is not an int of at most three digits",
                                   "status")
    if type(length) is not int or not 0 <= length <= MASK:
        raise _InvalidRequestError("Content-Length: must be an int in 0 .. 2**64-1", "content_length")
    if md5 and not _printable(md5):
        raise _InvalidRequestError("Content-MD5: must be printable ASCII characters without blanks "
                                   "or controls", "content_md5")


def wgor_head_builder(version: int, secret: bytes, region: bytes = b"", product: bytes = b"",
                      cache: Optional[V4Cache] = None) -> Any:
    """The twin of ``_native.wgor_head_builder``: the same head, byte for byte."""
    s, r, p = bytes(secret), bytes(region), bytes(product)
    if version not in (1, 4):
        raise ValueError(f"wgor_head_builder: version must be 1 or 4, not {version!r}")

    def head(route: bytes, token: bytes, status: int, length: int, md5: bytes, extra: bytes,
             lines: bytes, auth_prefix: bytes, body: Any = None) -> "tuple[bytes, Optional[int]]":
        wgor_head_check(route, token, status, length, md5)
        block = wgor_block(route, token, status, length, md5, extra, lines)
        if version == 1:
            sig = v1_sign(s, b"POST", block, _WGOR_RESOURCE)
        else:
            sig = v4_sign(cache, s, b"POST", b"/", _WGOR_QUERY, block, b"", r, p)
        head = b"".join((b"POST /?x-oss-write-get-object-response HTTP/1.1\r\n", block,
                         b"Authorization: ", auth_prefix, sig.encode("ascii"), b"\r\n\r\n"))
        return head, (crc64(body) if body is not None else None)

    return head




def fwd_lines_ok(fwd: bytes, count: int) -> bool:
    """The core's check of forwarded lines (csrc/head.c fwd_ok): exactly ``count`` lines
    ``name: value CRLF``, each value 1 to 8192 bytes in 0x20..0x7e, no blank at either end;
    ``count`` -1: not checked (the caller validated them)."""
    if count < 0:
        return True
    if fwd and not fwd.endswith(b"\r\n"):
        return False
    lines = fwd.split(b"\r\n")[:-1] if fwd else []
    if len(lines) != count:
        return False
    for line in lines:
        name, sep, value = line.partition(b": ")
        if (not name or not sep or b":" in name or b"\r" in name or b"\n" in name
                or not 1 <= len(value) <= 8192 or value[:1] == b" " or value[-1:] == b" "
                or any(c < 0x20 or c > 0x7E for c in value)):
            return False
    return True


def wgor_route_head(signer: Any, route: bytes) -> Any:
    """The twin of ``_native.wgor_route_head``."""

    def head(token: bytes, status: int, body: bytes, fwd: bytes = b"",
             nfwd: int = -1) -> "tuple[bytes, Optional[int]]":
        if (nfwd >= 0 and not fwd_lines_ok(fwd, nfwd) and 0 <= status <= 999 and token
                and all(0x21 <= c <= 0x7E for c in token)):
            # (the core checks the token and the status first: wgor_head raises those errors)
            raise _InvalidRequestError(_FWD_REFUSED, "headers")
        return signer.wgor_head(route, token, status, len(body), b"", fwd, body)

    return head
