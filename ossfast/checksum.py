"""Public checksums: CRC-64/XZ (OSS "crc64ecma") and MD5, on the live backend."""
from __future__ import annotations

from ._backend import impl

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a cold start pays ~3 ms for it)
if TYPE_CHECKING:
    from typing import Any

crc64 = impl.crc64
crc64.__doc__ = """crc64(data, crc=0) -> int

CRC-64/XZ of ``data`` (any contiguous buffer), continuing from ``crc``."""
crc64_combine = impl.crc64_combine
md5 = impl.md5
Md5 = impl.Md5


def md5_base64(data: Any) -> str:
    """Content-MD5 header value of ``data``."""
    import base64

    return base64.b64encode(md5(data)).decode("ascii")


__all__ = ["crc64", "crc64_combine", "md5", "Md5", "md5_base64"]
