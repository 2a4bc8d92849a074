"""The one exception hierarchy of ossfast.

Every library error derives from :class:`OssfastError`; each also derives
from the builtin a caller would catch anyway (``ValueError``,
``ConnectionError``, ``TimeoutError``). Messages never carry secrets.
"""
from __future__ import annotations

import builtins

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a cold start pays ~3 ms for it)
if TYPE_CHECKING:
    from typing import Optional


#: what both backends' route head functions say when the core refuses a forwarded value
#: (the general path then names the keyword at fault)
_FWD_VALUE_REFUSED = ("a forwarded header value is not 1 to 8192 printable ASCII characters without a "
                     "blank at either end")


class OssfastError(Exception):
    """Base class of every error raised by ossfast."""


class InvalidRequestError(OssfastError, ValueError):
    """Bad input, raised before any byte goes on the wire.

    ``field`` names the argument or header at fault.
    """

    def __init__(self, message: str, field: Optional[str] = None) -> None:
        super().__init__(message)
        self.field = field


class ServerError(OssfastError):
    """OSS answered with a non-2xx status; fields come from its XML error document."""

    def __init__(self, status: int, code: str = "", message: str = "",
                 request_id: str = "", ec: str = "", host_id: str = "",
                 headers: Optional[dict] = None) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.ec = ec
        self.host_id = host_id
        self.headers = headers or {}
        text = f"HTTP {status}"
        if code:
            text += f" {code}"
        if message:
            text += f": {message}"
        if request_id:
            text += f" (request id {request_id})"
        if ec:
            text += f" [EC {ec}]"
        super().__init__(text)


class TransportError(OssfastError, ConnectionError):
    """The connection failed (refused, reset, closed early, malformed reply, TLS).

    ``bytes_sent`` is how many body bytes were handed to the socket before the
    failure; ``request_sent`` tells whether any byte of the request left.
    """

    def __init__(self, message: str, *, request_sent: bool = False, bytes_sent: int = 0) -> None:
        super().__init__(message)
        self.request_sent = request_sent
        self.bytes_sent = bytes_sent


class CertificateError(TransportError):
    """The server's TLS certificate failed verification (wrong name, expired, untrusted).

    Never retried: another attempt meets the same certificate.
    """


class TimeoutError(TransportError, builtins.TimeoutError):  # noqa: A001 - the contract name
    """Connecting, sending or waiting for the reply took longer than the timeout."""


__all__ = ["OssfastError", "InvalidRequestError", "ServerError", "TransportError", "CertificateError",
           "TimeoutError"]
