"""``ossfast.Client``: validated, signed WriteGetObjectResponse over pooled sockets (the blocking
driver's client; its connections and the one send path are in connection.py)."""
from __future__ import annotations

import datetime as _dt
import io
import logging
import os
import stat as _stat
import threading
import time
from collections import OrderedDict
from urllib.parse import urlsplit

from .. import _policy
from .. import body as _body
from .. import request as _request
from .._outcome import (AttemptFailed, Progress, Result, Retry, SendOutcome, Timeout, judge_reply,
                        parse_error)
from ..credentials import Credentials
from ..errors import CertificateError, InvalidRequestError, TimeoutError, TransportError
from ..signing import SignerV1, SignerV4, region_from_route
from .connection import Connection, Pool, Response, read_reply, read_response, try_read_early_response

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a cold start pays for it)
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, NoReturn, Optional, Tuple, Union

_perf_counter = time.perf_counter
_DEBUG = logging.DEBUG
log = logging.getLogger("ossfast")


def _shown(endpoint: str) -> str:
    """``endpoint`` for a message, with any userinfo (it may hold a password) masked."""
    i = endpoint.find("://")
    j = endpoint.rfind("@")
    return endpoint[:i + 3] + "***" + endpoint[j:] if 0 <= i < j else endpoint


def _parse_endpoint(endpoint: str) -> Tuple[str, str, int]:
    if not endpoint.isascii() or any(c <= " " or c == "\x7f" for c in endpoint):
        # urlsplit would silently drop CR, LF and tabs
        raise InvalidRequestError("endpoint: contains blanks, control or non-ASCII characters",
                                  field="endpoint")
    try:
        parts = urlsplit(endpoint)
    except ValueError as exc:
        raise InvalidRequestError(f"endpoint: {_shown(endpoint)!r} does not parse: {exc}", field="endpoint") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequestError(
            f"endpoint: {_shown(endpoint)!r} must look like 'http://127.0.0.1:9000' or 'https://host'",
            field="endpoint")
    if parts.path not in ("", "/") or parts.query or parts.username:
        raise InvalidRequestError("endpoint: no path, query or userinfo allowed", field="endpoint")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InvalidRequestError(f"endpoint: {_shown(endpoint)!r} has a bad port", field="endpoint") from None
    return parts.scheme, parts.hostname, port


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
            self._timeout = Timeout.of(timeout)
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
        self._pool = Pool(maxsize=pool_maxsize, verify=verify)
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

    def _lane(self, route: Any, keys: "_KeySet") -> Tuple[Any, bytes, Any]:
        """The head builder's entry for a route (validated here): ``(HeadBuilder, route as
        bytes, the route's one-call head function)``, remembered for the next request."""
        lane = self._signer(_request.check_route(route), keys).heads.route(route)
        lanes = keys.lanes
        if len(lanes) >= 4096:
            lanes.clear()
        lanes[route] = lane
        return lane

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
        if (progress is None and headers is None and content_length is None and content_md5 is False
                and date is None and content_range is None and type(body) is bytes
                and len(body) <= _FAST_BODY and type(route) is str):
            # The common request: the fast path's one C call (forwarded values checked in C).
            fwd = _request.fwd_lines(accept_ranges, cache_control, content_disposition, content_encoding,
                                     content_language, content_type, etag, expires, last_modified)
            made = None if fwd is None else self._small_head(route, token, status, body, fwd)
            if made is not None:
                return _request.PreparedRequest(made[0], len(body), route, status, None, body, made[1])
        elif progress is not None and not callable(progress):
            raise InvalidRequestError("progress: must be callable as progress(bytes_sent, total)",
                                      field="progress")
        if (accept_ranges is None and cache_control is None and content_disposition is None
                and content_encoding is None and content_language is None and content_range is None
                and content_type is None and etag is None and expires is None and last_modified is None):
            fwd = b""
        else:
            fwd = _request.fwd_values((
                accept_ranges, cache_control, content_disposition, content_encoding, content_language,
                content_range, content_type, etag, expires, last_modified))
        keys = self._keys if self._provider is None else self._keys_now()
        lane = keys.lanes.get(route) if type(route) is str else None
        if lane is None:
            lane = self._lane(route, keys)  # validates the route
        prepared = _request.build_with(lane, route, token, status, body, fwd, content_range, headers,
                                       content_length, content_md5, date)
        prepared.progress = progress  # send(prepared) calls it
        return prepared

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
            if data is not None and type(route) is str:
                fwd = _request.fwd_lines(accept_ranges, cache_control, content_disposition, content_encoding,
                                         content_language, content_type, etag, expires, last_modified)
                made = None if fwd is None else self._small_head(route, token, status, data, fwd)
                if made is not None:
                    return self._send_small(route, status, made[0], data, made[1])
            if fpos >= 0:  # read for nothing: the general path takes the file from where it was
                body.seek(fpos)
        return self.send(self.prepare(
            route, token, status, body, accept_ranges=accept_ranges, cache_control=cache_control,
            content_disposition=content_disposition, content_encoding=content_encoding,
            content_language=content_language, content_range=content_range, content_type=content_type,
            etag=etag, expires=expires, last_modified=last_modified, headers=headers,
            content_length=content_length, content_md5=content_md5, progress=progress), progress)

    def _small_head(self, route: str, token: Any, status: Any, data: bytes,
                    fwd: Tuple[bytes, int]) -> Optional[Tuple[bytes, int]]:
        """The fast path's head, for both drivers and prepare(): ``(head, CRC-64 of data)``
        built and signed in one C call for a route seen before, or None when the request is not
        the common case or anything in it is wrong (the general path then says what, in
        prepare()'s order). ``fwd``: ``request.fwd_lines`` of the forwarded values (the core
        checks them), or ``request.NO_FWD``."""
        lane = (self._keys if self._provider is None else self._keys_now()).lanes.get(route)
        if (lane is None or type(status) is not int or status not in _FAST_STATUS
                or type(token) is not str or len(token) > _MAX_TOKEN):
            return None
        try:
            made = lane[2](token.encode("ascii"), status, data, fwd[0], fwd[1])
        except (UnicodeEncodeError, InvalidRequestError):
            return None
        return made if len(made[0]) <= _request.MAX_HEAD else None

    def send(self, prepared: _request.PreparedRequest,
             progress: Optional[Callable[[int, int], Any]] = None) -> Result:
        """Send a PreparedRequest, once (a second send() is refused: see PreparedRequest.take)."""
        progress = prepared.take(progress)
        return self._send(prepared, progress, _perf_counter())

    def _key(self, route: str) -> Tuple[str, str, int]:
        if self._endpoint is not None:
            return self._endpoint
        return (self.scheme, route, 443 if self.scheme == "https" else 80)

    # The one send path. _send_small (the fast path) makes attempt 0 of a small request on an
    # idle connection: one write, one read, a Result, nothing else allocated. Any other outcome
    # (no idle connection, a short or failed write, a failed read, a reply that is not a plain
    # 2xx with keep-alive) goes to _send, the general loop, which takes the attempt over from
    # where it stands (``conn``, ``sent``/``error``, ``resp``): every failure is handled, and
    # every retry decided (by _policy.retry_reason), in _send and _attempt only.

    def _send_small(self, route: str, status: int, head: bytes, data: bytes, crc: int) -> Result:
        """The fast path's send: attempt 0 over an idle pooled connection, head and body in one
        write (Connection.write_once), the reply in one read when it comes in one piece
        (read_reply)."""
        start = _perf_counter()
        key = self._endpoint
        timeout = self._timeout
        conn = self._pool.acquire_idle(key if key is not None else self._key(route), timeout)
        if conn is None:
            return self._send(self._small_request(route, status, head, data, crc), None, start)
        try:
            sent = conn.write_once(head, data)
        except BaseException as exc:
            return self._send(self._small_request(route, status, head, data, crc), None, start,
                              conn, error=exc)
        n = len(data)
        if sent != len(head) + n:
            return self._send(self._small_request(route, status, head, data, crc), None, start,
                              conn, sent=sent)
        try:
            resp = read_reply(conn, timeout.read, _perf_counter())  # the wait starts now
        except BaseException as exc:
            self._read_failed(conn, exc, n)
            raise
        if resp.keep_alive and 200 <= resp.status < 300:
            self._pool.release(conn)
            result = Result(resp.status, None, resp, n, crc, _perf_counter() - start, 1, True)
            if log.isEnabledFor(_DEBUG):
                log.debug("WriteGetObjectResponse to %s: status %d forwarded, %d body bytes, request id %s, "
                          "%.1f ms", route, status, n, result.request_id, result.elapsed * 1e3)
            return result
        return self._send(self._small_request(route, status, head, data, crc), None, start, conn, resp=resp)

    @staticmethod
    def _small_request(route: str, status: int, head: bytes, data: bytes, crc: int) -> _request.PreparedRequest:
        body = _body.MemoryBody(memoryview(data))
        body.crc = crc
        return _request.PreparedRequest(head, body.length, route, status, body)

    def _send(self, prepared: _request.PreparedRequest, progress: Optional[Callable[[int, int], Any]],
              start: float, conn: Optional[Connection] = None, *, sent: int = 0,
              error: Optional[BaseException] = None, resp: Optional[Response] = None) -> Result:
        """The attempts and the retry policy. ``conn``, ``sent``, ``error``, ``resp``: where the
        fast path left attempt 0 on a pooled connection (see _attempt)."""
        key = self._key(prepared.route)
        body = prepared.body
        retry = self._retry
        tick = Progress(progress, body.length) if progress is not None and body.length else None
        attempt = 0
        try:
            while True:
                try:
                    return self._attempt(key, prepared, tick, start, attempt, conn, sent, error, resp)
                except AttemptFailed as exc:
                    reason = _policy.retry_reason(exc.attempt, replayable=body.replayable,
                                                  retries_made=attempt, total=retry.total,
                                                  statuses=retry.statuses)
                    if reason is None:
                        raise exc.error from None
                    delay = retry.delay(attempt)
                    attempt += 1
                    conn, sent, error, resp = None, 0, None, None
                    log.info("retrying WriteGetObjectResponse to %s (attempt %d of %d) in %.3fs: %s",
                             prepared.route, attempt + 1, retry.total + 1, delay, reason)
                    if body.replayable:
                        body.rewind()
                    time.sleep(delay)
                    if tick is not None:
                        tick = Progress(progress, body.length)  # type: ignore[arg-type]
                        progress(0, body.length)  # type: ignore[misc]  # the body starts again
        finally:
            body.close()

    def _attempt(self, key: Tuple[str, str, int], prepared: _request.PreparedRequest, tick: Optional[Progress],
                 start: float, attempt: int, conn: Optional[Connection], sent: int,
                 error: Optional[BaseException], resp: Optional[Response]) -> Result:
        """One attempt: a connection, the request written (Connection.write), the reply read and
        judged (judge_reply). Failures become AttemptFailed with the facts _policy needs. With
        ``conn`` the attempt is already under way on that pooled connection: ``sent`` bytes
        written or the first write raised ``error``, or with ``resp`` it was sent whole and
        answered."""
        if conn is None:
            try:
                conn, reused = self._pool.acquire(key, self._timeout)
            except TransportError as exc:
                raise AttemptFailed(exc, _policy.Attempt(
                    connected=False, certificate_rejected=isinstance(exc, CertificateError),
                    client_closed=self._pool.closed, detail=str(exc))) from None
        else:
            reused = True
        if resp is None:
            out = SendOutcome()
            try:
                conn.write(prepared.head, prepared.body, out, tick, self._timeout.read, sent=sent, error=error)
            except TransportError as exc:
                if exc is not out.caller_error:  # the socket failed (not the body's source)
                    self._send_failed(conn, exc, reused)
                conn.close(abort=True)
                raise
            except BaseException:
                conn.close(abort=True)
                raise
            resp = self._read(conn, out.body_sent)
        else:
            body = prepared.body
            out = SendOutcome.whole(len(prepared.head), body.length, body.crc or 0)
        if resp.keep_alive:
            self._pool.release(conn)
        else:
            conn.close()
        return judge_reply(resp, prepared, out, start, attempt, reused)

    def _send_failed(self, conn: Connection, exc: TransportError, reused: bool) -> NoReturn:
        """Sending failed: close the connection and report what happened to the retry policy."""
        timeout = self._timeout
        # A reply sent before the server stopped reading is already here: no waiting
        # for one after a timeout, and only a moment after a reset.
        early = try_read_early_response(
            conn, min(1.0, timeout.read),
            wait=0.0 if isinstance(exc, TimeoutError) else min(0.25, timeout.read)) \
            if exc.request_sent else None
        conn.close(abort=True)
        if early is not None and early.status >= 300:  # the server's answer is the error to show
            raise AttemptFailed(parse_error(early.status, early.body, early.headers), _policy.Attempt(
                True, reused, exc.request_sent, True, early.status, detail=str(exc))) from None
        raise AttemptFailed(exc, _policy.Attempt(True, reused, exc.request_sent, True, 0,
                                                 detail=str(exc))) from None

    def _read(self, conn: Connection, body_sent: int) -> Response:
        """The reply, after the request went out whole; a failure to read it closes the
        connection and is raised as it is (never retried: the server may have taken the body)."""
        try:
            return read_response(conn, self._timeout.read)
        except BaseException as exc:
            self._read_failed(conn, exc, body_sent)
            raise

    @staticmethod
    def _read_failed(conn: Connection, exc: BaseException, body_sent: int) -> None:
        """Reading the reply raised ``exc`` (which the caller raises as it is): the connection
        is closed, and a TransportError says the body went out whole."""
        conn.close(abort=True)
        if isinstance(exc, TransportError):
            exc.bytes_sent = body_sent

    # -------------------------------------------------------------- lifecycle
    @property
    def pool(self) -> Pool:
        return self._pool

    def close(self) -> None:
        """Close every pooled connection; the client cannot send afterwards."""
        self._pool.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


#: the fast path's bodies and statuses (206 needs a Content-Range, 304 no body: both go the general way)
_FAST_BODY = 64 * 1024
_FAST_FILES = (io.BufferedReader, io.FileIO)  # open(path, "rb"), with or without buffering


def _small_file(f: Any) -> Tuple[Optional[bytes], int]:
    """(the rest of ``f`` from its position, that position) when ``f`` is a readable regular
    file with at most _FAST_BODY bytes left, read to its end; else (None, -1) with the file
    where it was: the general path then takes it (and says what is wrong with it, if anything)."""
    try:
        if type(f) is not io.FileIO and type(f.raw) is not io.FileIO:
            return None, -1  # io.BufferedReader(gzip.open(...)): fileno() is the compressed file's
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
    """The signers made from one Credentials: V1, V4 by region, and which head builder each route uses."""

    __slots__ = ("credentials", "v1", "v4", "lanes")

    def __init__(self, credentials: Credentials, signature_version: str) -> None:
        self.credentials = credentials
        self.v1 = SignerV1(credentials) if signature_version == "v1" else None
        self.v4: Dict[Optional[str], Any] = {}
        # route -> its entry in the head builder of its signer (V4: by the route's region):
        # (HeadBuilder, the route as bytes, the route's one-call head function), once validated
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
