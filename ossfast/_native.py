"""Thin shim over the compiled core; function names match the C names without
the ``ossfast_`` prefix. The friendly API lives in checksum.py and signing.py.

Every function takes any contiguous buffer (bytes, bytearray, memoryview,
mmap) without copying it: bytes go straight through as ``const char *``,
anything else through ``ffi.from_buffer``.
"""
from __future__ import annotations

import time

from ._ossfast import ffi, lib  # type: ignore[import-not-found]

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a cold start pays ~3 ms for it)
if TYPE_CHECKING:
    from typing import Any, Optional, Sequence, Tuple

ABI_VERSION = 4


def check_abi(module_lib: Any) -> None:
    """Refuse a compiled module built from another version of the C API."""
    found = module_lib.ossfast_abi_version()
    if found != ABI_VERSION or module_lib.OSSFAST_ABI_VERSION != ABI_VERSION:
        raise ImportError(
            f"ossfast._ossfast has ABI version {found}, expected {ABI_VERSION}: rebuild the package "
            "(make build)"
        )


check_abi(lib)

NAME = "native"
_from_buffer = ffi.from_buffer
_alloc = ffi.new_allocator(should_clear_after_alloc=False)
_crc64 = lib.ossfast_crc64
_NULL = ffi.NULL

CPU_FEATURES = lib.ossfast_cpu_features()
HAS_PCLMUL = bool(CPU_FEATURES & lib.OSSFAST_CPU_PCLMUL)
HAS_VPCLMUL = bool(CPU_FEATURES & lib.OSSFAST_CPU_VPCLMUL)


def _buffer(data: Any, func: str) -> Any:
    """A cdata view of ``data``'s memory, or a TypeError that says what was expected."""
    try:
        return _from_buffer(data)
    except (TypeError, ValueError, BufferError) as exc:
        raise TypeError(
            f"{func}() expects a contiguous bytes-like object (bytes, bytearray, memoryview, mmap), "
            f"not {type(data).__name__}"
        ) from exc


def _crc_arg(crc: Any) -> int:
    if type(crc) is not int and not isinstance(crc, int):
        raise TypeError(f"crc must be an int, not {type(crc).__name__}")
    if not 0 <= crc < 1 << 64:
        raise ValueError("crc must be in range 0 .. 2**64-1")
    return crc


def crc64(data: Any, crc: int = 0) -> int:
    if type(data) is bytes:
        try:
            return _crc64(crc, data, len(data))
        except (OverflowError, TypeError):
            _crc_arg(crc)
            raise
    buf = _buffer(data, "crc64")
    try:
        return _crc64(crc, buf, len(buf))
    except (OverflowError, TypeError):
        _crc_arg(crc)
        raise


def _path(func: Any, name: str, supported: bool) -> Any:
    def crc_path(data: Any, crc: int = 0) -> int:
        if not supported:
            raise RuntimeError(f"this CPU lacks the instructions for the {name} CRC64 path")
        buf = _buffer(data, name)
        return func(_crc_arg(crc), buf, len(buf))

    crc_path.__name__ = name
    return crc_path


crc64_table = _path(lib.ossfast_crc64_table, "crc64_table", True)
crc64_pclmul = _path(lib.ossfast_crc64_pclmul, "crc64_pclmul", HAS_PCLMUL)
crc64_vpclmul = _path(lib.ossfast_crc64_vpclmul, "crc64_vpclmul", HAS_VPCLMUL)


def crc64_combine(crc1: int, crc2: int, len2: int) -> int:
    try:
        return lib.ossfast_crc64_combine(crc1, crc2, len2)
    except (OverflowError, TypeError):
        _crc_arg(crc1)
        _crc_arg(crc2)
        if not isinstance(len2, int):
            raise TypeError(f"len2 must be an int, not {type(len2).__name__}") from None
        raise ValueError("len2 must be in range 0 .. 2**64-1") from None


_CHAR16 = ffi.typeof("char[16]")
_CHAR20 = ffi.typeof("char[20]")
_CHAR32 = ffi.typeof("char[32]")
_CTX = ffi.typeof("ossfast_md5_ctx *")
_BUFS = ffi.typeof("ossfast_buf[]")
_unpack = ffi.unpack
_md5 = lib.ossfast_md5
_sha1 = lib.ossfast_sha1
_sha256 = lib.ossfast_sha256
_hmac_sha1 = lib.ossfast_hmac_sha1
_hmac_sha256 = lib.ossfast_hmac_sha256
# Digests are written into char arrays: cffi passes them for `unsigned char *`
# and ffi.unpack turns them into bytes in one step, cheaper than ffi.buffer()[:].
# Spare output arrays, by size: a call pops one (or allocates when none is
# left) and pushes it back after copying the digest out. list.pop/append are
# atomic, so no two calls, in any threads, ever share an array; this saves the
# ~100 ns cdata allocation that would otherwise dominate short inputs.
_spare16: "list[Any]" = []
_spare20: "list[Any]" = []
_spare32: "list[Any]" = []


def _digest_function(cfunc: Any, size: int, spare: "list[Any]", ctype: Any, name: str) -> Any:
    """A one-shot hash of one buffer: ``f(data) -> bytes``, lean for short inputs."""

    def digest_of(data: Any) -> bytes:
        buf = data if type(data) is bytes else _buffer(data, name)
        try:
            out = spare.pop()
        except IndexError:
            out = _alloc(ctype)
        cfunc(buf, len(buf), out)
        result = _unpack(out, size)
        spare.append(out)
        return result

    digest_of.__name__ = digest_of.__qualname__ = name
    return digest_of


def _hmac_function(cfunc: Any, size: int, spare: "list[Any]", ctype: Any, name: str) -> Any:
    """HMAC of a message under a key: ``f(key, msg) -> bytes``."""

    def hmac_of(key: Any, msg: Any) -> bytes:
        k = key if type(key) is bytes else _buffer(key, name)
        m = msg if type(msg) is bytes else _buffer(msg, name)
        try:
            out = spare.pop()
        except IndexError:
            out = _alloc(ctype)
        cfunc(k, len(k), m, len(m), out)
        result = _unpack(out, size)
        spare.append(out)
        return result

    hmac_of.__name__ = hmac_of.__qualname__ = name
    return hmac_of


md5 = _digest_function(_md5, 16, _spare16, _CHAR16, "md5")


class Md5:
    """Streaming MD5 (one thread at a time)."""

    __slots__ = ("_ctx",)

    def __init__(self, data: Any = None) -> None:
        self._ctx = _alloc(_CTX)
        lib.ossfast_md5_init(self._ctx)
        if data is not None:
            self.update(data)

    def update(self, data: Any) -> None:
        buf = data if type(data) is bytes else _buffer(data, "Md5.update")
        lib.ossfast_md5_update(self._ctx, buf, len(buf))

    def copy(self) -> "Md5":
        other = Md5.__new__(Md5)
        other._ctx = _alloc(_CTX, self._ctx[0])
        return other

    def digest(self) -> bytes:
        # ossfast_md5_final consumes the context: finish a copy so updates can go on.
        ctx = _alloc(_CTX, self._ctx[0])
        out = _alloc(_CHAR16)
        lib.ossfast_md5_final(ctx, out)
        return _unpack(out, 16)

    def hexdigest(self) -> str:
        return self.digest().hex()


sha1 = _digest_function(_sha1, 20, _spare20, _CHAR20, "sha1")
sha256 = _digest_function(_sha256, 32, _spare32, _CHAR32, "sha256")
hmac_sha1 = _hmac_function(_hmac_sha1, 20, _spare20, _CHAR20, "hmac_sha1")
hmac_sha256 = _hmac_function(_hmac_sha256, 32, _spare32, _CHAR32, "hmac_sha256")


def base64_encode(data: Any) -> bytes:
    buf = data if type(data) is bytes else _buffer(data, "base64_encode")
    out = _alloc("char[]", 4 * ((len(buf) + 2) // 3) + 1)
    return _unpack(out, lib.ossfast_base64_encode(buf, len(buf), out))


def hex_encode(data: Any) -> bytes:
    buf = data if type(data) is bytes else _buffer(data, "hex_encode")
    out = _alloc("char[]", 2 * len(buf) + 1)
    return _unpack(out, lib.ossfast_hex_encode(buf, len(buf), out))


def digest(buffers: Sequence[Any], crc: int = 0, md5: Optional[Md5] = None) -> int:
    """CRC64 over ``buffers`` in order (continuing ``crc``), feeding ``md5`` too; one C call."""
    if md5 is not None and type(md5) is not Md5:
        raise TypeError(f"md5 must be an ossfast Md5 object or None, not {type(md5).__name__}")
    keep = [_buffer(b, "digest") for b in buffers]  # holds the memory until the call returns
    n = len(keep)
    arr = _alloc(_BUFS, n)
    for i, cb in enumerate(keep):
        arr[i].ptr = cb
        arr[i].len = len(cb)
    try:
        return lib.ossfast_digest(arr, n, crc, md5._ctx if md5 is not None else _NULL)
    except (OverflowError, TypeError):
        _crc_arg(crc)
        raise


# =============================================================================
# signing: OSS Signature V1 and V4 (csrc/sign.c; owned by the signers)
# =============================================================================
# bytes go straight to the `const char *` parameters; anything else through
# from_buffer. On an error code the pure twin re-runs the call to say exactly
# what is wrong (only on that path; it never sees a valid request).
from .errors import _FWD_VALUE_REFUSED as _FWD_REFUSED
from .errors import InvalidRequestError as _InvalidRequestError

_v1_sign = lib.ossfast_v1_sign
_v4_sign = lib.ossfast_v4_sign
_unpack = ffi.unpack
_ESPACE = lib.OSSFAST_ESPACE


def _sign_arg(data: Any, what: str) -> Any:
    return data if type(data) is bytes else _buffer(data, what)


def _sign_failed(rc: int, func: str, *args: Any) -> "_InvalidRequestError":
    """The error for return code ``rc`` of ``func``: the pure twin's precise one when it has one."""
    from . import _pure

    try:
        getattr(_pure, func)(*args)
    except _InvalidRequestError as exc:
        return exc
    if rc == _ESPACE:
        return _InvalidRequestError(f"cannot sign: {func} ran out of buffer space or memory")
    return _InvalidRequestError(f"cannot sign: {func} rejected the request (code {rc})", "headers")


def v1_string_to_sign(method: Any, headers: Any, resource: Any) -> bytes:
    m, h, r = _sign_arg(method, "method"), _sign_arg(headers, "headers"), _sign_arg(resource, "resource")
    cap = len(m) + len(h) + len(r) + 8
    out = _alloc("char[]", cap)
    n = lib.ossfast_v1_string_to_sign(m, len(m), h, len(h), r, len(r), out, cap)
    if n < 0:
        raise _sign_failed(n, "v1_string_to_sign", method, headers, resource)
    return _unpack(out, n)


def v1_sign(secret: Any, method: Any, headers: Any, resource: Any) -> str:
    out = _alloc("char[28]")
    try:
        n = _v1_sign(secret, len(secret), method, len(method), headers, len(headers),
                     resource, len(resource), out)
    except TypeError:  # not bytes: take any contiguous buffer
        s, m = _sign_arg(secret, "secret"), _sign_arg(method, "method")
        h, r = _sign_arg(headers, "headers"), _sign_arg(resource, "resource")
        n = _v1_sign(s, len(s), m, len(m), h, len(h), r, len(r), out)
    if n < 0:
        raise _sign_failed(n, "v1_sign", secret, method, headers, resource)
    return _unpack(out, 28).decode("ascii")


def v4_canonical_request(method: Any, uri: Any, query: Any, headers: Any, additional: Any = b"") -> bytes:
    m, u, q = _sign_arg(method, "method"), _sign_arg(uri, "uri"), _sign_arg(query, "query")
    h, a = _sign_arg(headers, "headers"), _sign_arg(additional, "additional")
    # Every signed header costs at most its own line plus one byte; the
    # payload hash may repeat a header value.
    cap = len(m) + len(u) + len(q) + 2 * len(h) + len(a) + 32
    out = _alloc("char[]", cap)
    n = lib.ossfast_v4_canonical_request(m, len(m), u, len(u), q, len(q), h, len(h), a, len(a), out, cap)
    if n < 0:
        raise _sign_failed(n, "v4_canonical_request", method, uri, query, headers, additional)
    return _unpack(out, n)


def v4_string_to_sign(method: Any, uri: Any, query: Any, headers: Any, additional: Any,
                      region: Any, product: Any) -> bytes:
    m, u, q = _sign_arg(method, "method"), _sign_arg(uri, "uri"), _sign_arg(query, "query")
    h, a = _sign_arg(headers, "headers"), _sign_arg(additional, "additional")
    r, p = _sign_arg(region, "region"), _sign_arg(product, "product")
    cap = 128 + len(r) + len(p)
    out = _alloc("char[]", cap)
    n = lib.ossfast_v4_string_to_sign(m, len(m), u, len(u), q, len(q), h, len(h), a, len(a),
                                      r, len(r), p, len(p), out, cap)
    if n < 0:
        raise _sign_failed(n, "v4_string_to_sign", method, uri, query, headers, additional, region, product)
    return _unpack(out, n)


def v4_signing_key(secret: Any, day8: Any, region: Any, product: Any) -> bytes:
    s, d = _sign_arg(secret, "secret"), _sign_arg(day8, "day8")
    r, p = _sign_arg(region, "region"), _sign_arg(product, "product")
    if len(d) != 8:
        raise _InvalidRequestError("day8 must be 8 bytes (YYYYMMDD)", "day8")
    out = _alloc("unsigned char[32]")
    n = lib.ossfast_v4_signing_key(s, len(s), d, r, len(r), p, len(p), out)
    if n < 0:
        raise _InvalidRequestError("cannot derive the V4 signing key: out of memory")
    return ffi.buffer(out)[:]


class V4Cache:
    """V4 signing keys by (secret, day, region, product), kept in C; thread-safe."""

    SLOTS = 8
    __slots__ = ("_ptr",)

    def __init__(self) -> None:
        ptr = lib.ossfast_v4_cache_new()
        if ptr == _NULL:
            raise MemoryError("cannot allocate the V4 key cache")
        self._ptr = ffi.gc(ptr, lib.ossfast_v4_cache_free)

    def __repr__(self) -> str:
        return "<V4Cache (native)>"


def v4_sign(cache: Optional[V4Cache], secret: Any, method: Any, uri: Any, query: Any, headers: Any,
            additional: Any, region: Any, product: Any) -> str:
    out = _alloc("char[64]")
    ptr = _NULL if cache is None else cache._ptr
    try:
        n = _v4_sign(ptr, secret, len(secret), method, len(method), uri, len(uri), query, len(query),
                     headers, len(headers), additional, len(additional), region, len(region),
                     product, len(product), out)
    except TypeError:  # not bytes: take any contiguous buffer
        a = [_sign_arg(x, w) for x, w in ((secret, "secret"), (method, "method"), (uri, "uri"),
                                          (query, "query"), (headers, "headers"),
                                          (additional, "additional"), (region, "region"),
                                          (product, "product"))]
        n = _v4_sign(ptr, a[0], len(a[0]), a[1], len(a[1]), a[2], len(a[2]), a[3], len(a[3]),
                     a[4], len(a[4]), a[5], len(a[5]), a[6], len(a[6]), a[7], len(a[7]), out)
    if n < 0:
        raise _sign_failed(n, "v4_sign", None, secret, method, uri, query, headers, additional,
                           region, product)
    return _unpack(out, 64).decode("ascii")


def v1_signer(secret: bytes, method: bytes, resource: bytes) -> Any:
    """``sign(headers) -> bytes``: v1_sign with everything but the header block bound
    once (the sender's per-request call; the signature comes back as 28 ASCII bytes)."""
    s, m, r = bytes(secret), bytes(method), bytes(resource)
    sl, ml, rl = len(s), len(m), len(r)

    def sign(headers: bytes) -> bytes:
        if type(headers) is not bytes:
            headers = bytes(_buffer(headers, "headers"))
        out = _alloc("char[28]")
        n = _v1_sign(s, sl, m, ml, headers, len(headers), r, rl, out)
        if n < 0:
            raise _sign_failed(n, "v1_sign", s, m, headers, r)
        return _unpack(out, 28)

    return sign


def v4_signer(cache: Optional[V4Cache], secret: bytes, method: bytes, uri: bytes, query: bytes,
              additional: bytes, region: bytes, product: bytes) -> Any:
    """``sign(headers) -> bytes``: v4_sign with everything but the header block bound
    once (the signature comes back as 64 hex bytes)."""
    ptr = _NULL if cache is None else cache._ptr
    s, m, u, q = bytes(secret), bytes(method), bytes(uri), bytes(query)
    a, r, p = bytes(additional), bytes(region), bytes(product)
    sl, ml, ul, ql, al, rl, pl = len(s), len(m), len(u), len(q), len(a), len(r), len(p)

    def sign(headers: bytes) -> bytes:
        if type(headers) is not bytes:
            headers = bytes(_buffer(headers, "headers"))
        out = _alloc("char[64]")
        n = _v4_sign(ptr, s, sl, m, ml, u, ul, q, ql, headers, len(headers), a, al, r, rl, p, pl, out)
        if n < 0:
            raise _sign_failed(n, "v4_sign", None, s, m, u, q, headers, a, r, p)
        return _unpack(out, 64)

    return sign


# =============================================================================
# the whole WriteGetObjectResponse head (csrc/head.c)
# =============================================================================
_wgor_head = lib.ossfast_wgor_head
_route_head = lib.ossfast_wgor_route_head
_time = time.time
_ETOKEN = lib.OSSFAST_ETOKEN
_EVALUE = lib.OSSFAST_EVALUE
_CRC_OUT = "uint64_t[1]"
_HEAD_CAP = lib.OSSFAST_ROUTE_HEAD_CAP  # the route head writes into buffers of this size
_HEAD_BUFFER = "char[%d]" % _HEAD_CAP  # reused; a bigger head gets a buffer of its own size


def wgor_head_builder(version: int, secret: bytes, region: bytes = b"", product: bytes = b"",
                      cache: Optional[V4Cache] = None) -> Any:
    """``head(route, token, status, length, md5, extra, lines, auth_prefix, body=None)
    -> (head, crc64 or None)``: ossfast_wgor_head bound to one signer (all arguments bytes,
    but ``status``/``length`` ints and ``body`` any buffer or None). One C call per request;
    the CRC-64 of ``body`` comes from the same call."""
    s, r, p = bytes(secret), bytes(region), bytes(product)
    ptr = lib.ossfast_wgor_signer_new(version, s, len(s), r, len(r), p, len(p),
                                      _NULL if cache is None else cache._ptr)
    if ptr == _NULL:
        if version not in (1, 4):
            raise ValueError(f"wgor_head_builder: version must be 1 or 4, not {version!r}")
        raise MemoryError("cannot allocate a WGOR signer")
    ptr = ffi.gc(ptr, lib.ossfast_wgor_signer_free)
    size = lib.ossfast_wgor_head_size
    keep = cache  # the C signer points into the cache: it must live as long as ``head``

    spare: "list[Any]" = []  # (out, crc) pairs of HEAD_BUFFER bytes: list pop/append are atomic

    def head(route: bytes, token: bytes, status: int, length: int, md5: bytes, extra: bytes,
             lines: bytes, auth_prefix: bytes, body: Any = None) -> Tuple[bytes, Optional[int]]:
        try:
            pair = spare.pop()
        except IndexError:
            pair = (_alloc(_HEAD_BUFFER), _alloc(_CRC_OUT))
        out, crc = pair
        cap = _HEAD_CAP
        if body is None:
            data, blen, crc_p = _NULL, 0, _NULL
        else:
            data = body if type(body) is bytes else _buffer(body, "wgor_head")
            blen, crc_p = len(data), crc  # len of the char[] view: bytes, not items
        while True:
            try:
                n = _wgor_head(ptr, route, len(route), token, len(token), status, length, md5,
                               len(md5), extra, len(extra), -1, lines, len(lines), auth_prefix,
                               len(auth_prefix), data, blen, crc_p, out, cap)
            except (OverflowError, TypeError):
                # a status or length that does not fit its C type: the same error as the twin's
                spare.append(pair)
                data = None
                from ._pure import wgor_head_check

                wgor_head_check(route, token, status, length, md5)
                raise
            if n != _ESPACE or cap != _HEAD_CAP:
                break
            # A head bigger than the reusable buffer (long token, STS token or extra lines).
            cap = size(ptr, len(route), len(token), len(md5), len(extra), len(lines), len(auth_prefix))
            out = _alloc("char[]", cap)
        if n < 0:
            spare.append(pair)
            data = None  # let go of the body's buffer now: the traceback keeps this frame
            # The token, route, status and md5 errors, named as the pure twin names them; then
            # the pure twin's signer says exactly what is wrong with the block.
            from ._pure import wgor_block, wgor_head_check

            wgor_head_check(route, token, status, length, md5)

            block = wgor_block(route, token, status, length, md5, extra, lines)
            raise _sign_failed(n, "v1_sign" if version == 1 else "v4_sign",
                               *((s, b"POST", block, b"/?x-oss-write-get-object-response") if version == 1
                                 else (None, s, b"POST", b"/", b"x-oss-write-get-object-response", block,
                                       b"", r, p)))
        result = _unpack(out, n), (crc[0] if crc_p is not _NULL else None)
        spare.append(pair)
        return result

    head.cache = keep  # type: ignore[attr-defined]
    head.ptr = ptr  # type: ignore[attr-defined]
    head.spare = spare  # type: ignore[attr-defined]
    return head


def wgor_route_head(signer: Any, route: bytes) -> Any:
    """``head(token, status, body, fwd=b"", nfwd=-1) -> (head, crc64)``: ``signer.wgor_head(route,
    token, status, len(body), extra=fwd, body=body)`` for one route and a ``bytes`` body, in
    one Python frame (the sender's per-request call). ``fwd``: header lines, validated by the
    caller when ``nfwd`` is -1; else exactly ``nfwd`` forwarded-header lines whose values the
    core checks (InvalidRequestError when one is not valid: the general way says which). The
    signer's per-second lines are read as wgor_head reads them; anything but a plain success
    (a head over 4 KiB, an error) goes to the signer's own builder, which handles it or raises
    the precise error."""
    builder = signer._head
    spare = builder.spare
    rptr = lib.ossfast_wgor_route_new(builder.ptr, route, len(route))
    if rptr == _NULL:
        if not route or len(route) > 4096 or any(c < 0x21 or c > 0x7E for c in route):
            raise ValueError("wgor_route_head: the route must be 1 to 4096 printable ASCII bytes")
        raise MemoryError("cannot allocate a WGOR route")
    rptr = ffi.gc(rptr, lib.ossfast_wgor_route_free)

    def head(token: bytes, status: int, body: bytes, fwd: bytes = b"",
             nfwd: int = -1) -> Tuple[bytes, Optional[int]]:
        cached = signer._second
        if cached[0] != int(_time()):
            cached = signer._at(None)
        try:
            pair = spare.pop()
        except IndexError:
            pair = (_alloc(_HEAD_BUFFER), _alloc(_CRC_OUT))
        out, crc = pair
        bl = len(body)
        try:
            n = _route_head(rptr, token, len(token), status, fwd, len(fwd), nfwd, cached[2],
                            cached[3], cached[5], cached[4], body, bl, crc, out)
        except (OverflowError, TypeError):
            # a status or line count that does not fit a C int: the twin's errors, in its order
            spare.append(pair)
            from ._pure import fwd_lines_ok, wgor_head_check

            wgor_head_check(route, token, status, bl, b"")
            if type(nfwd) is int and not fwd_lines_ok(fwd, nfwd):
                raise _InvalidRequestError(_FWD_REFUSED, "headers") from None
            raise
        if n < 0:
            spare.append(pair)
            if n == _EVALUE:
                raise _InvalidRequestError(_FWD_REFUSED, "headers")
            return builder(route, token, status, bl, b"", fwd, cached[2], cached[5], body)
        result = _unpack(out, n), crc[0]
        spare.append(pair)
        return result

    head.builder = builder  # type: ignore[attr-defined]  # the C route points at its signer
    return head
