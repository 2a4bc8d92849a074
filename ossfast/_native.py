"""Thin shim over the compiled core; function names match the C names without
the ``ossfast_`` prefix. The friendly API lives in checksum.py and signing.py.

Every function takes any contiguous buffer (bytes, bytearray, memoryview,
mmap) without copying it: bytes go straight through as ``const char *``,
anything else through ``ffi.from_buffer``.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

from ._ossfast import ffi, lib  # type: ignore[import-not-found]

ABI_VERSION = 1
if lib.ossfast_abi_version() != ABI_VERSION or lib.OSSFAST_ABI_VERSION != ABI_VERSION:
    raise ImportError(
        f"ossfast._ossfast has ABI version {lib.ossfast_abi_version()}, expected {ABI_VERSION}: "
        "rebuild the package (make build)"
    )

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


def md5(data: Any) -> bytes:
    out = _alloc("unsigned char[16]")
    if type(data) is bytes:
        lib.ossfast_md5(data, len(data), out)
    else:
        buf = _buffer(data, "md5")
        lib.ossfast_md5(buf, len(buf), out)
    return ffi.buffer(out)[:]


class Md5:
    """Streaming MD5 (one thread at a time)."""

    __slots__ = ("_ctx",)

    def __init__(self, data: Any = None) -> None:
        self._ctx = ffi.new("ossfast_md5_ctx *")
        lib.ossfast_md5_init(self._ctx)
        if data is not None:
            self.update(data)

    def update(self, data: Any) -> None:
        buf = data if type(data) is bytes else _buffer(data, "Md5.update")
        lib.ossfast_md5_update(self._ctx, buf, len(buf))

    def copy(self) -> "Md5":
        other = Md5.__new__(Md5)
        other._ctx = ffi.new("ossfast_md5_ctx *", self._ctx[0])
        return other

    def digest(self) -> bytes:
        ctx = ffi.new("ossfast_md5_ctx *", self._ctx[0])
        out = _alloc("unsigned char[16]")
        lib.ossfast_md5_final(ctx, out)
        return ffi.buffer(out)[:]

    def hexdigest(self) -> str:
        return self.digest().hex()


def sha1(data: Any) -> bytes:
    buf = data if type(data) is bytes else _buffer(data, "sha1")
    out = _alloc("unsigned char[20]")
    lib.ossfast_sha1(buf, len(buf), out)
    return ffi.buffer(out)[:]


def sha256(data: Any) -> bytes:
    buf = data if type(data) is bytes else _buffer(data, "sha256")
    out = _alloc("unsigned char[32]")
    lib.ossfast_sha256(buf, len(buf), out)
    return ffi.buffer(out)[:]


def hmac_sha1(key: Any, msg: Any) -> bytes:
    k = key if type(key) is bytes else _buffer(key, "hmac_sha1")
    m = msg if type(msg) is bytes else _buffer(msg, "hmac_sha1")
    out = _alloc("unsigned char[20]")
    lib.ossfast_hmac_sha1(k, len(k), m, len(m), out)
    return ffi.buffer(out)[:]


def hmac_sha256(key: Any, msg: Any) -> bytes:
    k = key if type(key) is bytes else _buffer(key, "hmac_sha256")
    m = msg if type(msg) is bytes else _buffer(msg, "hmac_sha256")
    out = _alloc("unsigned char[32]")
    lib.ossfast_hmac_sha256(k, len(k), m, len(m), out)
    return ffi.buffer(out)[:]


def base64_encode(data: Any) -> bytes:
    buf = data if type(data) is bytes else _buffer(data, "base64_encode")
    out = _alloc("char[]", 4 * ((len(buf) + 2) // 3) + 1)
    n = lib.ossfast_base64_encode(buf, len(buf), out)
    return ffi.buffer(out, n)[:]


def hex_encode(data: Any) -> bytes:
    buf = data if type(data) is bytes else _buffer(data, "hex_encode")
    out = _alloc("char[]", 2 * len(buf) + 1)
    n = lib.ossfast_hex_encode(buf, len(buf), out)
    return ffi.buffer(out, n)[:]


def digest(buffers: Sequence[Any], crc: int = 0, md5: Optional[Md5] = None) -> int:
    """CRC64 over ``buffers`` in order (continuing ``crc``), feeding ``md5`` too; one C call."""
    n = len(buffers)
    arr = ffi.new("ossfast_buf[]", n)
    keep = []
    for i, b in enumerate(buffers):
        cb = _buffer(b, "digest")
        keep.append(cb)
        arr[i].ptr = cb
        arr[i].len = len(cb)
    try:
        return lib.ossfast_digest(arr, n, crc, md5._ctx if md5 is not None else _NULL)
    except (OverflowError, TypeError):
        _crc_arg(crc)
        raise
