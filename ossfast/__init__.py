"""ossfast: a fast sender for Alibaba Cloud OSS WriteGetObjectResponse."""
from __future__ import annotations

import logging

from . import _backend
from . import fc
from .checksum import crc64, crc64_combine, md5
from .client import Client, Result, Retry, write_get_object_response
from .credentials import Credentials
from .errors import (
    CertificateError,
    InvalidRequestError,
    OssfastError,
    ServerError,
    TimeoutError,
    TransportError,
)
from .request import PreparedRequest

__version__ = "0.1.0"

backend: str = _backend.name
"""``"native"`` (the compiled C core) or ``"python"`` (the pure-Python twin)."""

logging.getLogger(__name__).addHandler(logging.NullHandler())


def __getattr__(name: str) -> object:
    # AsyncClient is loaded on first use: asyncio (and ssl with it) is a third of a cold
    # ``import ossfast``, which an FC instance pays on every cold start.
    if name == "AsyncClient":
        from .aio import AsyncClient

        globals()["AsyncClient"] = AsyncClient
        return AsyncClient
    raise AttributeError(f"module 'ossfast' has no attribute {name!r}")

__all__ = [
    "backend", "crc64", "crc64_combine", "md5", "Credentials", "Client", "AsyncClient", "Result",
    "Retry", "PreparedRequest", "write_get_object_response", "fc",
    "OssfastError", "InvalidRequestError", "ServerError", "TransportError", "CertificateError",
    "TimeoutError",
]
