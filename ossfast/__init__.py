"""ossfast: a fast sender for Alibaba Cloud OSS WriteGetObjectResponse."""
from __future__ import annotations

import logging

from . import _backend
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

TYPE_CHECKING = False
if TYPE_CHECKING:  # loaded on first use (``__getattr__`` below); named here for type checkers and IDEs
    from . import fc
    from .aio import AsyncClient

__version__ = "0.1.0"

backend: str = _backend.name
"""``"native"`` (the compiled C core) or ``"python"`` (the pure-Python twin)."""

logging.getLogger(__name__).addHandler(logging.NullHandler())


def __getattr__(name: str) -> object:
    # Loaded on first use, as a cold ``import ossfast`` is paid by every new FC instance:
    # AsyncClient (asyncio, and ssl with it, would be a third of the import) and the FC
    # toolkit ``fc`` (json, contextvars). ``import ossfast.fc`` works as for any submodule.
    if name == "fc":
        import importlib  # not ``from . import fc``: that asks this hook for ``fc`` again

        return importlib.import_module(".fc", __name__)
    if name == "AsyncClient":
        from .aio import AsyncClient

        globals()["AsyncClient"] = AsyncClient
        return AsyncClient
    raise AttributeError(f"module 'ossfast' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names, the lazily loaded ones included (for tab completion)."""
    return sorted(set(globals()) | {"fc", "AsyncClient"})


__all__ = [
    "backend", "crc64", "crc64_combine", "md5", "Credentials", "Client", "AsyncClient", "Result",
    "Retry", "PreparedRequest", "write_get_object_response", "fc",
    "OssfastError", "InvalidRequestError", "ServerError", "TransportError", "CertificateError",
    "TimeoutError",
]
