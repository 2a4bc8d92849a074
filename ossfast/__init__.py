"""ossfast: a fast sender for Alibaba Cloud OSS WriteGetObjectResponse."""
from __future__ import annotations

import logging

from . import _backend
from .checksum import crc64, crc64_combine, md5
from .errors import InvalidRequestError, OssfastError, ServerError, TimeoutError, TransportError

__version__ = "0.1.0"

backend: str = _backend.name
"""``"native"`` (the compiled C core) or ``"python"`` (the pure-Python twin)."""

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "backend", "crc64", "crc64_combine", "md5",
    "OssfastError", "InvalidRequestError", "ServerError", "TransportError", "TimeoutError",
]
