"""The blocking driver's transport under the names it has always had: sockets, the pool, TLS,
sending and reading replies live in ``ossfast._sync.connection``; ``Timeout``, ``SendOutcome``
and the progress pacing, shared with the asyncio driver, in ``ossfast._outcome``. This module
only re-exports them (``request()`` is what the SDK backends build on)."""
from ._http11 import ProtocolError, ReplyReader, headers_dict, parse_head_headers, request_head
from ._outcome import SMALL_BODY, Progress, SendOutcome, Timeout, _Progress
from ._sync.connection import (FILE_BUFFER, FILE_PIECE, MAX_REPLY_BODY, MAX_REPLY_HEAD, PARALLEL_CRC,
                               RECV_SIZE, TLS_PIECE, TLS_SESSIONS_SAFE, Connection, Pool, Response,
                               StreamedReply, close_executor, read_response, request, send_request,
                               try_read_early_response, write_all)
from .errors import CertificateError, TimeoutError, TransportError

__all__ = ["Timeout", "Pool", "Connection", "Response", "StreamedReply", "SendOutcome", "request",
           "read_response", "send_request", "CertificateError", "TimeoutError", "TransportError"]
