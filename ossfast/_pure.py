"""The compiled core's functions in pure Python: the fallback backend and an oracle.

Same names and meanings as ``_native.py``. Hashes come from ``hashlib`` and
``hmac``; CRC-64/XZ and its combine are written out here.
"""
from __future__ import annotations

import base64
import hashlib
import hmac as _hmac
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
    t = [1 << 62]  # x^1
    for _ in range(63):
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
            p = _multmodp(_X2N[k & 63], p)
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
    c = _crc_arg(crc)
    for b in buffers:
        mv = _view(b, "digest")
        c = _crc64_update(c, mv)
        if md5 is not None:
            md5.update(mv)
    return c
