"""What both drivers share about one exchange: the timeouts, what a send put on the wire, the
progress callback's pacing, the retry settings, and the one place a reply becomes a ``Result`` (or
a ``ServerError`` for the retry policy) with its log line.

Nothing here does I/O: ``_sync/`` and ``_async/`` move the bytes and call ``judge_reply``.
"""
from __future__ import annotations

import logging
import math
import time

from . import _policy
from . import body as _body
from .errors import InvalidRequestError, ServerError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a cold start pays for it)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, Callable, Dict, Optional, Tuple, Union

    from .request import PreparedRequest

log = logging.getLogger("ossfast")
_perf_counter = time.perf_counter

SMALL_BODY = 64 * 1024          # head + body up to this go in one write



class _Frozen:
    """A small immutable value class (what ``dataclass(frozen=True)`` gave, without importing
    dataclasses on a cold start): fields in ``__slots__``, set once by ``__init__``."""

    __slots__: Tuple[str, ...] = ()

    def _set(self, **values: Any) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r}: {type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}: {type(self).__name__} is immutable")

    def _values(self) -> Tuple[Any, ...]:
        return tuple(getattr(self, f) for f in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._values())

    def __reduce__(self) -> Tuple[Any, ...]:  # copy and pickle: through __init__, fields in order
        return (type(self), self._values())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(" + ", ".join(f"{f}={getattr(self, f)!r}" for f in self.__slots__) + ")"


class Timeout(_Frozen):
    """Seconds: ``connect`` for the TCP and TLS set-up, ``read`` for each send/receive wait
    and as the deadline for the whole reply."""

    __slots__ = ("connect", "read")
    connect: float
    read: float

    def __init__(self, connect: float = 10.0, read: float = 60.0) -> None:
        self._set(connect=connect, read=read)

    @classmethod
    def of(cls, value: Union["Timeout", float, int, Tuple[float, float], None]) -> "Timeout":
        if value is None:
            return cls()
        if isinstance(value, Timeout):
            return value
        if isinstance(value, tuple) and len(value) == 2:
            c, r = value
            return cls(float(c), float(r))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return cls(float(value), float(value))
        raise TypeError(f"timeout must be seconds, a (connect, read) pair or a Timeout, not {value!r}")


class SendOutcome:
    """What left: ``head_sent``/``body_sent`` bytes, and the body's CRC-64/XZ.
    ``caller_error``: the exception the caller's side of the send raised (the progress
    callback, an iterable body, reading a file body) when that ended the send: raised as it
    is, even an OSError or a TransportError of its own, it is no failure of the connection
    (never retried as one)."""

    __slots__ = ("head_sent", "body_sent", "crc64", "complete", "caller_error")

    def __init__(self) -> None:
        self.head_sent = 0
        self.body_sent = 0
        self.crc64 = 0
        self.complete = False
        self.caller_error: Optional[BaseException] = None

    @classmethod
    def whole(cls, head: int, body: int, crc: int) -> "SendOutcome":
        """The outcome of a send that went out whole."""
        out = cls()
        out.head_sent, out.body_sent, out.crc64, out.complete = head, body, crc, True
        return out

    def __repr__(self) -> str:
        return (f"SendOutcome(head_sent={self.head_sent}, body_sent={self.body_sent}, "
                f"crc64=0x{self.crc64:016x}, complete={self.complete})")


class Progress:
    """Calls ``progress(bytes_sent, total)`` at most once per ``_body.CHUNK`` bytes, and once
    at the end (whatever the size of the pieces sent)."""

    __slots__ = ("fn", "total", "next")

    def __init__(self, fn: Callable[[int, int], Any], total: int) -> None:
        self.fn = fn
        self.total = total
        self.next = min(total, _body.CHUNK)

    def __call__(self, sent: int) -> None:
        if sent >= self.next:
            self.next = min(self.total, sent - sent % _body.CHUNK + _body.CHUNK)
            if sent >= self.total:
                self.next = self.total + 1
            self.fn(sent, self.total)


class CallerRaised(Exception):
    """Internal: an OSError raised by the caller's side of a send (the ``progress`` callback,
    an iterable body, reading a file body), carried past a driver's handler of socket errors.
    The driver raises ``error`` unchanged (and records it as ``SendOutcome.caller_error``): it
    is no failed connection, which the retry policy may answer by sending the body again (as
    for a stale pooled connection), and the caller sees their own exception, as documented."""

    def __init__(self, error: OSError) -> None:
        super().__init__()
        self.error = error


def guarded(fn: Callable[[int], Any]) -> Callable[[int], None]:
    """``fn`` (a Progress) with its OSErrors carried as CallerRaised."""
    def call(sent: int) -> None:
        try:
            fn(sent)
        except OSError as exc:
            raise CallerRaised(exc) from None
    return call


RETRY_STATUSES = frozenset({500, 502, 503, 504})
#: the longest wait between two attempts a Retry may ask for (seconds)
MAX_BACKOFF = 300.0


class Retry(_Frozen):
    """Retry policy: at most ``total`` retries, exponential backoff with full jitter.

    The wait before retry ``n`` (from 0) is uniform in ``[0, min(max_backoff, backoff * 2**n)]``
    seconds; ``0 <= backoff <= max_backoff <= 300``, both finite.

    Retries happen only when they cannot deliver a body twice behind the
    caller's back: the connection failed before any request byte was sent; a
    pooled connection turned out stale while the request was still being
    written and the body can be replayed; or the server answered 5xx
    (``statuses``), before or after reading the body, and the body can be
    replayed. Never retried: a rejected TLS certificate, a closed client, and
    any failure after the request went out on a fresh connection (the server
    may have taken it). Each retry is logged at INFO with its reason.
    """

    __slots__ = ("total", "backoff", "max_backoff", "statuses")
    total: int
    backoff: float
    max_backoff: float
    statuses: frozenset

    def __init__(self, total: int = 2, backoff: float = 0.05, max_backoff: float = 2.0,
                 statuses: frozenset = RETRY_STATUSES) -> None:
        self._set(total=total, backoff=backoff, max_backoff=max_backoff, statuses=statuses)
        if isinstance(self.total, bool) or not isinstance(self.total, int) or self.total < 0:
            raise InvalidRequestError(f"retries: total must be an int >= 0, not {self.total!r}",
                                      field="retries")
        for name in ("backoff", "max_backoff"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InvalidRequestError(f"retries: {name} must be finite seconds, not {value!r}",
                                          field="retries")
        if not (0 <= self.backoff <= self.max_backoff <= MAX_BACKOFF):
            raise InvalidRequestError(f"retries: need 0 <= backoff <= max_backoff <= {MAX_BACKOFF:g} seconds, "
                                      f"not backoff={self.backoff!r}, max_backoff={self.max_backoff!r}",
                                      field="retries")

    @classmethod
    def of(cls, value: Union["Retry", int, None]) -> "Retry":
        if value is None:
            return cls()
        if isinstance(value, Retry):
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidRequestError(f"retries: must be an int or a Retry, not {type(value).__name__}",
                                      field="retries")
        if value < 0:
            raise InvalidRequestError("retries: must not be negative", field="retries")
        return cls(total=value)

    def delay(self, attempt: int) -> float:
        import random  # on the first retry only: a cold start does not pay for it

        return random.uniform(0, min(self.max_backoff, self.backoff * (2 ** attempt)))


class Result:
    """What a successful WriteGetObjectResponse returned.

    ``status`` (OSS's reply status), ``request_id``, ``headers`` (lower-cased names),
    ``bytes_sent`` (body bytes), ``crc64`` (CRC-64/XZ of the body as sent), ``elapsed``
    (seconds), ``attempts`` and ``reused_connection``.
    """

    __slots__ = ("status", "_request_id", "_reply", "bytes_sent", "crc64", "elapsed", "attempts",
                 "reused_connection")

    def __init__(self, status: int, request_id: Optional[str], reply: Any, bytes_sent: int,
                 crc64: int, elapsed: float, attempts: int = 1, reused_connection: bool = False) -> None:
        self.status = status
        self._request_id = request_id  # None: read from the reply on first use
        self._reply = reply  # a transport.Response, or a plain dict of headers
        self.bytes_sent = bytes_sent
        self.crc64 = crc64
        self.elapsed = elapsed
        self.attempts = attempts
        self.reused_connection = reused_connection

    @property
    def request_id(self) -> str:
        """The reply's ``x-oss-request-id`` ("" when it had none)."""
        rid = self._request_id
        if rid is None:
            reply = self._reply
            rid = self._request_id = (reply.get("x-oss-request-id", "") if isinstance(reply, dict)
                                      else reply.header(b"x-oss-request-id"))
        return rid

    @property
    def headers(self) -> Dict[str, str]:
        """The reply's headers, names lower-cased."""
        reply = self._reply
        return reply if isinstance(reply, dict) else reply.headers

    def __repr__(self) -> str:
        return (f"Result(status={self.status}, request_id={self.request_id!r}, bytes_sent={self.bytes_sent}, "
                f"crc64=0x{self.crc64:016x}, elapsed={self.elapsed:.6f}, attempts={self.attempts})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Result):
            return NotImplemented
        return all(getattr(self, k) == getattr(other, k) for k in (
            "status", "request_id", "headers", "bytes_sent", "crc64", "elapsed", "attempts",
            "reused_connection"))


def parse_error(status: int, body: bytes, headers: Mapping[str, str]) -> ServerError:
    """A ServerError from an OSS XML error document (or whatever the body was)."""
    fields = {"Code": "", "Message": "", "RequestId": "", "HostId": "", "EC": ""}
    if body:
        try:
            import xml.etree.ElementTree as ET

            root = ET.fromstring(body)
            for child in root:
                if child.tag in fields and child.text:
                    fields[child.tag] = child.text.strip()
        except Exception:  # not XML: keep the status, show a short excerpt
            fields["Message"] = body[:200].decode("utf-8", "replace")
    return ServerError(status, code=fields["Code"], message=fields["Message"],
                       request_id=fields["RequestId"] or headers.get("x-oss-request-id", ""),
                       ec=fields["EC"] or headers.get("x-oss-ec", ""), host_id=fields["HostId"],
                       headers=dict(headers))


def judge_reply(resp: Any, prepared: PreparedRequest, outcome: Any, start: float,
                attempt: int, reused: bool) -> Result:
    """The Result of a complete reply, and its log line; a non-2xx reply raises AttemptFailed
    (for the retry policy). Both drivers call it once the connection is released or closed."""
    elapsed = _perf_counter() - start
    if not 200 <= resp.status < 300:
        raise AttemptFailed(parse_error(resp.status, resp.body, resp.headers),
                            _policy.Attempt(True, reused, True, False, resp.status))
    result = Result(resp.status, None, resp, outcome.body_sent, outcome.crc64, elapsed, attempt + 1,
                    reused)
    if log.isEnabledFor(logging.DEBUG):
        log.debug("WriteGetObjectResponse to %s: status %d forwarded, %d body bytes, request id %s, %.1f ms",
                  prepared.route, prepared.status, outcome.body_sent, result.request_id, elapsed * 1e3)
    return result


class AttemptFailed(Exception):
    """Internal: an attempt failed; ``error`` is what the caller sees unless the retry policy
    (_policy.retry_reason) repeats the attempt, judging by ``attempt``'s facts."""

    def __init__(self, error: Exception, attempt: _policy.Attempt) -> None:
        super().__init__(attempt.detail)
        self.error = error
        self.attempt = attempt


_Progress = Progress  # the names the drivers used before they shared this module
_AttemptFailed = AttemptFailed
