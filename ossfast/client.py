"""``ossfast.Client``: validated, signed WriteGetObjectResponse over pooled sockets."""
from __future__ import annotations

import datetime as _dt
import io
import logging
import math
import os
import random
import stat as _stat
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping, NoReturn, Optional, Tuple, Union
from urllib.parse import urlsplit

from . import _policy
from . import body as _body
from . import request as _request
from . import transport as _transport
from .credentials import Credentials
from .errors import InvalidRequestError, ServerError, TimeoutError, TransportError
from .signing import SignerV1, SignerV4, region_from_route

_perf_counter = time.perf_counter
_DEBUG = logging.DEBUG
log = logging.getLogger("ossfast")

RETRY_STATUSES = frozenset({500, 502, 503, 504})
#: the longest wait between two attempts a Retry may ask for (seconds)
MAX_BACKOFF = 300.0


@dataclass(frozen=True)
class Retry:
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

    total: int = 2
    backoff: float = 0.05
    max_backoff: float = 2.0
    statuses: frozenset = RETRY_STATUSES

    def __post_init__(self) -> None:
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


def _parse_endpoint(endpoint: str) -> Tuple[str, str, int]:
    if not endpoint.isascii() or any(c <= " " or c == "\x7f" for c in endpoint):
        # urlsplit would silently drop CR, LF and tabs
        raise InvalidRequestError("endpoint: contains blanks, control or non-ASCII characters",
                                  field="endpoint")
    try:
        parts = urlsplit(endpoint)
    except ValueError as exc:
        raise InvalidRequestError(f"endpoint: {endpoint!r} does not parse: {exc}", field="endpoint") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequestError(
            f"endpoint: {endpoint!r} must look like 'http://127.0.0.1:9000' or 'https://host'",
            field="endpoint")
    if parts.path not in ("", "/") or parts.query or parts.username:
        raise InvalidRequestError("endpoint: no path, query or userinfo allowed", field="endpoint")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InvalidRequestError(f"endpoint: {endpoint!r} has a bad port", field="endpoint") from None
    return parts.scheme, parts.hostname, port


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


class Client:
    """Sends WriteGetObjectResponse requests; thread-safe; reuses connections.

    ``credentials``: a Credentials (default: ``Credentials.from_env()``), or a
    provider: a zero-argument callable returning Credentials, asked before every
    request (return the same object while nothing changed: signers are cached per
    Credentials). ``client.credentials = ...`` takes either; the next request signs
    with it and pooled connections are kept.
    ``signature_version``: "v4" (default) or "v1".
    ``region``: for V4; default: read from the route, else ``FC_REGION``.
    ``scheme``: "https" (default) or "http", used when no endpoint is given.
    ``endpoint``: where to connect instead of the route (Host stays the route);
    default ``OSSFAST_ENDPOINT`` from the environment when set.
    ``timeout``: seconds, or (connect, read). ``retries``: int or Retry.
    ``verify``: True, False, or a CA file/dir path. ``pool_maxsize``: idle
    connections kept per host.
    """

    def __init__(self, credentials: Optional[Credentials] = None, *, signature_version: str = "v4",
                 region: Optional[str] = None, scheme: str = "https", endpoint: Optional[str] = None,
                 timeout: Any = (10.0, 60.0), retries: Any = 2, verify: Union[bool, str] = True,
                 pool_maxsize: int = 32) -> None:
        if credentials is None:
            credentials = Credentials.from_env()
        _check_credentials_arg(credentials)
        sv = str(signature_version).lower() if isinstance(signature_version, str) else signature_version
        if sv not in ("v1", "v4"):
            raise InvalidRequestError(f"signature_version: must be 'v1' or 'v4', not {signature_version!r}",
                                      field="signature_version")
        if region is not None and (not isinstance(region, str) or not region
                                   or not _request._HOST_RE.match(region)):
            raise InvalidRequestError(f"region: {region!r} is not a region id such as 'cn-hangzhou'",
                                      field="region")
        if scheme not in ("http", "https"):
            raise InvalidRequestError(f"scheme: must be 'http' or 'https', not {scheme!r}", field="scheme")
        if endpoint is None:
            endpoint = os.environ.get("OSSFAST_ENDPOINT") or None
        if endpoint is not None and not isinstance(endpoint, str):
            raise InvalidRequestError(f"endpoint: must be a str URL, not {type(endpoint).__name__}",
                                      field="endpoint")
        self._endpoint = _parse_endpoint(endpoint) if endpoint is not None else None
        try:
            self._timeout = _transport.Timeout.of(timeout)
        except (TypeError, ValueError) as exc:
            raise InvalidRequestError(f"timeout: {exc}", field="timeout") from None
        if not all(0 < t < 1e6 for t in (self._timeout.connect, self._timeout.read)):
            raise InvalidRequestError("timeout: must be positive and finite seconds", field="timeout")
        self._retry = Retry.of(retries)
        if not (verify is True or verify is False or isinstance(verify, (str, os.PathLike))):
            raise InvalidRequestError("verify: must be True, False or a CA file path", field="verify")
        if isinstance(verify, (str, os.PathLike)) and not os.path.exists(verify):
            raise InvalidRequestError(f"verify: no CA file at {os.fspath(verify)!r}", field="verify")
        if isinstance(pool_maxsize, bool) or not isinstance(pool_maxsize, int) or pool_maxsize < 1:
            raise InvalidRequestError("pool_maxsize: must be a positive int", field="pool_maxsize")
        self.signature_version = sv
        self.region = region
        self.scheme = scheme
        self._pool = _transport.Pool(maxsize=pool_maxsize, verify=verify)
        self._signers_lock = threading.Lock()
        # The signers of the last few Credentials seen, newest last; ``_keys`` is the one in use.
        self._key_sets: "OrderedDict[Credentials, _KeySet]" = OrderedDict()
        self._provider: Optional[Callable[[], Credentials]] = None
        self._keys = _KeySet.unset()  # until the first Credentials is seen
        self.credentials = credentials

    @property
    def credentials(self) -> Credentials:
        """The credentials the next request signs with (a provider is asked for them).

        Assign a ``Credentials`` or a provider (a zero-argument callable returning
        ``Credentials``, asked before every request); the next request signs with
        it, and pooled connections are kept.
        """
        return self._keys.credentials if self._provider is None else self._keys_now().credentials

    @credentials.setter
    def credentials(self, value: Any) -> None:
        _check_credentials_arg(value)
        if isinstance(value, Credentials):
            self._provider = None
            if value is not self._keys.credentials:
                self._keys = self._key_set(value)
        else:
            self._provider = value

    def _keys_now(self) -> "_KeySet":
        """The signers for what the provider returns now (the same object: no work)."""
        creds = self._provider()  # type: ignore[misc]
        keys = self._keys
        if creds is keys.credentials:
            return keys
        if not isinstance(creds, Credentials):
            raise InvalidRequestError(
                f"credentials: the provider returned {type(creds).__name__}, not an ossfast.Credentials",
                field="credentials")
        keys = self._keys = self._key_set(creds)
        return keys

    def _key_set(self, creds: Credentials) -> "_KeySet":
        """The signer set for ``creds``: made once per distinct Credentials, a few kept."""
        with self._signers_lock:
            keys = self._key_sets.get(creds)
            if keys is None:
                keys = _KeySet(creds, self.signature_version)
                self._key_sets[creds] = keys
                if len(self._key_sets) > _KEY_SETS:
                    self._key_sets.popitem(last=False)
            else:
                # An equal Credentials in a new object: same signers; remember this object so
                # the provider's next answer is recognised by identity alone.
                keys.credentials = creds
                self._key_sets.move_to_end(creds)
            return keys

    def __repr__(self) -> str:
        where = "%s://%s:%d" % self._endpoint if self._endpoint else f"{self.scheme}://<route>"
        who = "<provider>" if self._provider is not None else repr(self._keys.credentials.access_key_id)
        return (f"Client(access_key_id={who}, "
                f"signature_version={self.signature_version!r}, endpoint={where!r})")

    # -------------------------------------------------------------- signing
    def _signer(self, route: str, keys: "_KeySet") -> Any:
        if keys.v1 is not None:
            return keys.v1
        region = self.region or region_from_route(route) or os.environ.get("FC_REGION")
        signer = keys.v4.get(region)
        if signer is None:
            if not region:
                raise InvalidRequestError(
                    "region: V4 signing needs a region; pass Client(region='cn-hangzhou'), use a route "
                    "like '...oss-<region>.oss-object-process.aliyuncs.com', or set FC_REGION "
                    "(or use signature_version='v1')", field="region")
            with self._signers_lock:
                signer = keys.v4.get(region)
                if signer is None:
                    signer = SignerV4(keys.credentials, region)
                    keys.v4[region] = signer
        return signer

    def _route_signer(self, route: Any, keys: "_KeySet") -> Any:
        """The signer for a route (validated here), remembered for the next request."""
        signer = self._signer(_request.check_route(route), keys)
        lanes = keys.lanes
        if len(lanes) >= 4096:
            lanes.clear()
        rb = route.encode("ascii")
        lanes[route] = (signer, rb, signer.route_head(rb))
        return signer

    # -------------------------------------------------------------- building
    def prepare(self, route: str, token: str, status: Any = 200, body: Any = b"", *,
                accept_ranges: Optional[str] = None, cache_control: Optional[str] = None,
                content_disposition: Optional[str] = None, content_encoding: Optional[str] = None,
                content_language: Optional[str] = None, content_range: Optional[str] = None,
                content_type: Optional[str] = None, etag: Optional[str] = None, expires: Any = None,
                last_modified: Any = None, headers: Any = None, content_length: Optional[int] = None,
                content_md5: Any = False, date: Optional[_dt.datetime] = None,
                progress: Optional[Callable[[int, int], Any]] = None) -> _request.PreparedRequest:
        """Validate and build the request without sending it (``date`` fixes Date/x-oss-date)."""
        if progress is not None and not callable(progress):
            raise InvalidRequestError("progress: must be callable as progress(bytes_sent, total)",
                                      field="progress")
        if (accept_ranges is None and cache_control is None and content_disposition is None
                and content_encoding is None and content_language is None and content_range is None
                and content_type is None and etag is None and expires is None and last_modified is None):
            fwd = None
        else:
            fwd = {"accept_ranges": accept_ranges, "cache_control": cache_control,
                   "content_disposition": content_disposition, "content_encoding": content_encoding,
                   "content_language": content_language, "content_range": content_range,
                   "content_type": content_type, "etag": etag, "expires": expires,
                   "last_modified": last_modified}
        keys = self._keys if self._provider is None else self._keys_now()
        lane = keys.lanes.get(route) if type(route) is str else None
        signer = lane[0] if lane is not None else self._route_signer(route, keys)  # validates the route
        return _request.build(route=route, token=token, status=status, body=body, fwd=fwd,
                              headers=headers, content_length=content_length, content_md5=content_md5,
                              date=date, signer=signer)

    # -------------------------------------------------------------- sending
    def write_get_object_response(
            self, route: str, token: str, status: Any = 200, body: Any = b"", *,
            accept_ranges: Optional[str] = None, cache_control: Optional[str] = None,
            content_disposition: Optional[str] = None, content_encoding: Optional[str] = None,
            content_language: Optional[str] = None, content_range: Optional[str] = None,
            content_type: Optional[str] = None, etag: Optional[str] = None, expires: Any = None,
            last_modified: Any = None, headers: Any = None, content_length: Optional[int] = None,
            content_md5: Any = False, progress: Optional[Callable[[int, int], Any]] = None) -> Result:
        """Send the transformed object back to OSS; returns a Result or raises.

        ``route`` and ``token``: outputRoute and outputToken of the FC event. ``status``: the
        status OSS forwards to the waiting client. ``body``: bytes-like, a binary file, or an
        iterable of buffers (with ``content_length``). The ten keywords ``accept_ranges`` ...
        ``last_modified`` become the forwarded ``x-oss-fwd-header-*`` headers; ``headers``:
        other request headers; ``content_md5``: True (computed) or the base64 value;
        ``progress(bytes_sent, total)``: called at most once per 4 MiB, and with 0 again when a
        retry sends the body anew. Success: OSS answered 2xx after the whole body was written.
        """
        if (progress is None and headers is None and content_length is None and content_md5 is False
                and content_range is None):
            # The common case in one C call: a known route, a plain status, a small bytes body
            # (or the rest of a small regular file, read whole), forwarded headers at most.
            # Anything unusual (and any error) goes the general way, which says what is wrong,
            # in prepare()'s order.
            fpos = -1
            if type(body) is bytes:
                data: Optional[bytes] = body if len(body) <= _FAST_BODY else None
            elif type(body) in _FAST_FILES:
                data, fpos = _small_file(body)
            else:
                data = None
            lane = (self._keys if self._provider is None else self._keys_now()).lanes.get(route) \
                if type(route) is str and data is not None else None
            if (lane is not None and type(status) is int and status in _FAST_STATUS
                    and type(token) is str and len(token) <= _MAX_TOKEN):
                try:
                    if (accept_ranges is None and cache_control is None and content_disposition is None
                            and content_encoding is None and content_language is None
                            and content_type is None and etag is None and expires is None
                            and last_modified is None):
                        fwd = b""
                    else:
                        fwd = _request.fwd_values((
                            accept_ranges, cache_control, content_disposition, content_encoding,
                            content_language, None, content_type, etag, expires, last_modified))
                    head, crc = lane[2](token.encode("ascii"), status, data, fwd)
                except (UnicodeEncodeError, InvalidRequestError):
                    pass
                else:
                    if len(head) <= _request.MAX_HEAD:
                        assert data is not None
                        return self._send_small(route, status, head, data, crc)
            if fpos >= 0:  # read for nothing: the general path takes the file from where it was
                body.seek(fpos)
        return self.send(self.prepare(
            route, token, status, body, accept_ranges=accept_ranges, cache_control=cache_control,
            content_disposition=content_disposition, content_encoding=content_encoding,
            content_language=content_language, content_range=content_range, content_type=content_type,
            etag=etag, expires=expires, last_modified=last_modified, headers=headers,
            content_length=content_length, content_md5=content_md5, progress=progress), progress)

    def send(self, prepared: _request.PreparedRequest,
             progress: Optional[Callable[[int, int], Any]] = None) -> Result:
        """Send a PreparedRequest (once: its body may be an iterator)."""
        return self._send(prepared, progress, time.perf_counter(), None)

    def _key(self, route: str) -> Tuple[str, str, int]:
        if self._endpoint is not None:
            return self._endpoint
        return (self.scheme, route, 443 if self.scheme == "https" else 80)

    def _send(self, prepared: _request.PreparedRequest, progress: Optional[Callable[[int, int], Any]],
              start: float, failed: Optional["_AttemptFailed"]) -> Result:
        """The attempts and the retry policy. ``failed``: how attempt 0 failed when the fast
        path made it (the loop then goes on from attempt 1)."""
        key = self._key(prepared.route)
        body = prepared.body
        retry = self._retry
        attempt = 0
        try:
            while True:
                try:
                    if failed is not None:
                        exc, failed = failed, None
                        raise exc
                    return self._attempt(key, prepared, progress, start, attempt)
                except _AttemptFailed as exc:
                    reason = _policy.retry_reason(exc.attempt, replayable=body.replayable,
                                                  retries_made=attempt, total=retry.total,
                                                  statuses=retry.statuses)
                    if reason is None:
                        raise exc.error from None
                    delay = retry.delay(attempt)
                    attempt += 1
                    log.info("retrying WriteGetObjectResponse to %s (attempt %d of %d) in %.3fs: %s",
                             prepared.route, attempt + 1, retry.total + 1, delay, reason)
                    if body.replayable:
                        body.rewind()
                    time.sleep(delay)
                    if progress is not None and body.length:
                        progress(0, body.length)  # the body starts again from its first byte
        finally:
            body.close()

    def _send_small(self, route: str, status: int, head: bytes, data: bytes, crc: int) -> Result:
        """The fast path's send: attempt 0 over an idle pooled connection, head and body in one
        write (``sendmsg`` on plain TCP; on TLS one ``SSL_write`` of both, so a small request
        is one TLS record), in as few steps as the success path allows. When there is no idle
        connection (the first request) the general path sends; when anything goes other than
        plainly well, the general machinery takes over from where this attempt stands (see
        _small_rest), so failures behave exactly as on the general path."""
        start = _perf_counter()
        key = self._endpoint if self._endpoint is not None else self._key(route)
        conn = self._pool.acquire_idle(key, self._timeout)
        if conn is None:
            return self._send(self._small_request(route, status, head, data, crc), None, start, None)
        if conn.plain:
            try:
                sent = conn.sock.sendmsg((head, data))
            except BaseException as exc:
                return self._small_rest(conn, route, status, head, data, crc, start, 0, exc)
        else:
            try:
                sent = conn.sock.send(head + data)  # all or an error: no partial SSL writes
            except BaseException as exc:
                # A failed SSL_write may have put part of its record on the wire: count the
                # request as sent (TransportError.request_sent), the body as not.
                return self._small_rest(conn, route, status, head, data, crc, start, len(head), exc)
        if sent != len(head) + len(data):
            return self._small_rest(conn, route, status, head, data, crc, start, sent, None)
        try:
            resp = _transport.read_response(conn, self._timeout.read)
        except TransportError as exc:
            conn.close(abort=True)
            exc.bytes_sent = len(data)  # the body went out whole; the reply failed
            raise
        except BaseException:
            conn.close(abort=True)
            raise
        if resp.keep_alive and 200 <= resp.status < 300:
            self._pool.release(conn)
            result = Result(resp.status, None, resp, len(data), crc, _perf_counter() - start, 1, True)
            if log.isEnabledFor(_DEBUG):
                log.debug("WriteGetObjectResponse to %s: status %d forwarded, %d body bytes, request id %s, "
                          "%.1f ms", route, status, len(data), result.request_id, result.elapsed * 1e3)
            return result
        prepared = self._small_request(route, status, head, data, crc)
        out = _transport.SendOutcome.whole(len(head), len(data), crc)
        try:
            return self._finish(conn, resp, prepared, out, start, 0, True)
        except _AttemptFailed as exc:
            return self._send(prepared, None, start, exc)
        finally:
            prepared.body.close()

    @staticmethod
    def _small_request(route: str, status: int, head: bytes, data: bytes, crc: int) -> _request.PreparedRequest:
        body = _body.MemoryBody(memoryview(data))
        body.crc = crc
        return _request.PreparedRequest(head, body.length, route, status, body)

    def _small_rest(self, conn: _transport.Connection, route: str, status: int, head: bytes, data: bytes,
                    crc: int, start: float, sent: int, error: Optional[BaseException]) -> Result:
        """Attempt 0 of the fast path after its write sent only ``sent`` bytes, or raised
        ``error`` (having sent at most ``sent``): the rest is sent (or the failure handled) as
        the general path does."""
        prepared = self._small_request(route, status, head, data, crc)
        try:
            def send_it() -> _transport.SendOutcome:
                out = _transport.SendOutcome()
                _transport.send_rest(conn, head, data, out, crc, sent, error, self._timeout.read)
                return out

            return self._exchange(conn, send_it, prepared, start, 0, True)
        except _AttemptFailed as exc:
            return self._send(prepared, None, start, exc)
        finally:
            prepared.body.close()

    def _attempt(self, key: Tuple[str, str, int], prepared: _request.PreparedRequest,
                 progress: Optional[Callable[[int, int], Any]], start: float, attempt: int) -> Result:
        try:
            conn, reused = self._pool.acquire(key, self._timeout)
        except TransportError as exc:
            raise _AttemptFailed(exc, _policy.Attempt(
                connected=False, certificate_rejected=isinstance(exc, _transport.CertificateError),
                client_closed=self._pool.closed, detail=str(exc))) from None
        return self._exchange(conn, lambda: _transport.send_request(conn, prepared.head, prepared.body, progress),
                              prepared, start, attempt, reused)

    def _exchange(self, conn: _transport.Connection, send: Callable[[], _transport.SendOutcome],
                  prepared: _request.PreparedRequest, start: float, attempt: int, reused: bool) -> Result:
        """``send()`` the request on ``conn``, then read and judge the reply; failures are
        handled as the retry policy needs (see _send_failed, _read, _finish)."""
        try:
            outcome = send()
        except TransportError as exc:
            self._send_failed(conn, exc, reused)
        except BaseException:
            conn.close(abort=True)
            raise
        resp = self._read(conn, outcome)
        return self._finish(conn, resp, prepared, outcome, start, attempt, reused)

    def _send_failed(self, conn: _transport.Connection, exc: TransportError, reused: bool) -> NoReturn:
        """Sending failed: close the connection and report what happened to the retry policy."""
        timeout = self._timeout
        # A reply sent before the server stopped reading is already here: no waiting
        # for one after a timeout, and only a moment after a reset.
        early = _transport.try_read_early_response(
            conn, min(1.0, timeout.read),
            wait=0.0 if isinstance(exc, TimeoutError) else min(0.25, timeout.read)) \
            if exc.request_sent else None
        conn.close(abort=True)
        if early is not None and early.status >= 300:  # the server's answer is the error to show
            raise _AttemptFailed(parse_error(early.status, early.body, early.headers), _policy.Attempt(
                True, reused, exc.request_sent, True, early.status, detail=str(exc))) from None
        raise _AttemptFailed(exc, _policy.Attempt(True, reused, exc.request_sent, True, 0,
                                                  detail=str(exc))) from None

    def _read(self, conn: _transport.Connection, outcome: _transport.SendOutcome) -> _transport.Response:
        try:
            return _transport.read_response(conn, self._timeout.read)
        except TransportError as exc:
            conn.close(abort=True)
            exc.bytes_sent = outcome.body_sent  # the body went out whole; the reply failed
            raise
        except BaseException:
            conn.close(abort=True)
            raise

    def _finish(self, conn: _transport.Connection, resp: _transport.Response,
                prepared: _request.PreparedRequest, outcome: _transport.SendOutcome, start: float,
                attempt: int, reused: bool) -> Result:
        if resp.keep_alive:
            self._pool.release(conn)
        else:
            conn.close()
        return judge_reply(resp, prepared, outcome, start, attempt, reused)

    # -------------------------------------------------------------- lifecycle
    @property
    def pool(self) -> _transport.Pool:
        return self._pool

    def close(self) -> None:
        """Close every pooled connection; the client cannot send afterwards."""
        self._pool.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def judge_reply(resp: Any, prepared: _request.PreparedRequest, outcome: Any, start: float,
                attempt: int, reused: bool) -> Result:
    """The Result of a complete reply, and its log line; a non-2xx reply raises _AttemptFailed
    (for the retry policy). Both drivers call it once the connection is released or closed."""
    elapsed = time.perf_counter() - start
    if not 200 <= resp.status < 300:
        raise _AttemptFailed(parse_error(resp.status, resp.body, resp.headers),
                             _policy.Attempt(True, reused, True, False, resp.status))
    result = Result(resp.status, None, resp, outcome.body_sent, outcome.crc64, elapsed, attempt + 1,
                    reused)
    if log.isEnabledFor(logging.DEBUG):
        log.debug("WriteGetObjectResponse to %s: status %d forwarded, %d body bytes, request id %s, %.1f ms",
                  prepared.route, prepared.status, outcome.body_sent, result.request_id, elapsed * 1e3)
    return result


class _AttemptFailed(Exception):
    """Internal: an attempt failed; ``error`` is what the caller sees unless the retry policy
    (_policy.retry_reason) repeats the attempt, judging by ``attempt``'s facts."""

    def __init__(self, error: Exception, attempt: _policy.Attempt) -> None:
        super().__init__(attempt.detail)
        self.error = error
        self.attempt = attempt


#: the fast path's bodies and statuses (206 needs a Content-Range, 304 no body: both go the general way)
_FAST_BODY = 64 * 1024
_FAST_FILES = (io.BufferedReader, io.FileIO)  # open(path, "rb"), with or without buffering


def _small_file(f: Any) -> Tuple[Optional[bytes], int]:
    """(the rest of ``f`` from its position, that position) when ``f`` is a readable regular
    file with at most _FAST_BODY bytes left, read to its end; else (None, -1) with the file
    where it was: the general path then takes it (and says what is wrong with it, if anything)."""
    try:
        fd = f.fileno()
        st = os.fstat(fd)
        if not _stat.S_ISREG(st.st_mode) or not f.readable():
            return None, -1
        pos = f.tell()
        n = st.st_size - pos
        if n < 0 or n > _FAST_BODY:
            return None, -1
        data = f.read(n)  # leaves the file at its end, as any file body sent does
        if type(data) is not bytes or len(data) != n:
            f.seek(pos)
            return None, -1
    except (OSError, ValueError):
        return None, -1
    return data, pos
_MAX_TOKEN = _request.MAX_HEADER_VALUE
_FAST_STATUS = _request.ALLOWED_STATUS - {206, 304}

#: how many distinct Credentials keep their signers (an FC instance alternates between few)
_KEY_SETS = 8


class _KeySet:
    """The signers made from one Credentials: V1, V4 by region, and the per-route head builders."""

    __slots__ = ("credentials", "v1", "v4", "lanes")

    def __init__(self, credentials: Credentials, signature_version: str) -> None:
        self.credentials = credentials
        self.v1 = SignerV1(credentials) if signature_version == "v1" else None
        self.v4: Dict[Optional[str], Any] = {}
        # route -> (its signer (V4: by the route's region), the route as bytes, the signer's
        # route_head for it), once validated
        self.lanes: Dict[str, Tuple[Any, bytes, Any]] = {}

    @classmethod
    def unset(cls) -> "_KeySet":
        """A placeholder that matches no Credentials (a provider has not been asked yet)."""
        keys = cls.__new__(cls)
        keys.credentials, keys.v1, keys.v4, keys.lanes = None, None, {}, {}
        return keys


def _check_credentials_arg(value: Any) -> None:
    if not isinstance(value, Credentials) and not callable(value):
        raise InvalidRequestError(
            f"credentials: must be an ossfast.Credentials or a provider (a callable returning one), "
            f"not {type(value).__name__}", field="credentials")


_default_client: Optional[Client] = None
_default_lock = threading.Lock()


def default_client() -> Client:
    """The module-level client, built from the environment on first use."""
    global _default_client
    if _default_client is None:
        with _default_lock:
            if _default_client is None:
                _default_client = Client()
    return _default_client


def write_get_object_response(
        route: str, token: str, status: Any = 200, body: Any = b"", *,
        accept_ranges: Optional[str] = None, cache_control: Optional[str] = None,
        content_disposition: Optional[str] = None, content_encoding: Optional[str] = None,
        content_language: Optional[str] = None, content_range: Optional[str] = None,
        content_type: Optional[str] = None, etag: Optional[str] = None, expires: Any = None,
        last_modified: Any = None, headers: Any = None, content_length: Optional[int] = None,
        content_md5: Any = False, progress: Optional[Callable[[int, int], Any]] = None) -> Result:
    """``Client.write_get_object_response`` on a shared client configured from the environment."""
    return default_client().write_get_object_response(
        route, token, status, body, accept_ranges=accept_ranges, cache_control=cache_control,
        content_disposition=content_disposition, content_encoding=content_encoding,
        content_language=content_language, content_range=content_range, content_type=content_type,
        etag=etag, expires=expires, last_modified=last_modified, headers=headers,
        content_length=content_length, content_md5=content_md5, progress=progress)
