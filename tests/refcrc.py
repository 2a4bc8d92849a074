"""Reference CRC-64/XZ for the tests, computed independently of the code under test.

``crc64(data, crc=0)`` comes from crcmod's C extension when it is installed (about 450 MB/s),
else from ``ossfast._pure``; ``CRC64_IMPL`` names which. The loopback servers hash request bodies
with it, and tests compare the sender's CRC-64 against it (``from refcrc import crc64 as
ref_crc64``).
"""

from __future__ import annotations

from typing import Any, Callable, Tuple


def _pick_crc64() -> Tuple[Callable[[bytes, int], int], str]:
    try:
        import crcmod
        import crcmod.crcmod as _impl

        if getattr(_impl, "_usingExtension", False):
            fn = crcmod.mkCrcFun(
                0x142F0E1EBA9EA3693, initCrc=0, rev=True, xorOut=0xFFFFFFFFFFFFFFFF
            )
            return fn, "crcmod"
    except ImportError:
        pass
    from ossfast import _pure

    return _pure.crc64, "ossfast._pure"


_crc64_fn, CRC64_IMPL = _pick_crc64()


def crc64(data: Any, crc: int = 0) -> int:
    """CRC-64/XZ of any contiguous buffer, continuing from crc (crcmod's C extension, about
    450 MB/s, else ossfast._pure): independent of the code under test."""
    return _crc64_fn(data, crc)


assert crc64(b"123456789") == 0x995DC9BBDF1939FA, CRC64_IMPL
assert crc64(b"") == 0
