"""oss2 on ossfast: ``Service.write_get_object_response`` sent by ossfast, and a ``Session``.

    from ossfast.integrations import oss2 as fast_oss2
    fast_oss2.write_get_object_response(service, route, token, "200", data, headers)
    fast_oss2.patch()     # every oss2.Service.write_get_object_response goes through ossfast
    fast_oss2.unpatch()   # back to oss2's own function (the very same object)
    bucket = oss2.Bucket(auth, endpoint, name, session=fast_oss2.Session())  # any operation

``Session`` is described in its docstring; the rest of this text is about
``write_get_object_response``.

Everything comes from the ``oss2.Service``: the credentials (``Auth``, ``AuthV4``,
``StsAuth``, ``ProviderAuth``/``ProviderAuthV4`` with any credentials provider, asked
before every request as oss2 does, so rotating keys and a reassigned ``service.auth``
are followed), the endpoint (where to connect; Host is the route), the signature
version, the region and the timeout. One ``ossfast.Client`` is kept per Service, so
connections are reused.

What ossfast cannot send as oss2 would goes through oss2's own function unchanged:
Signature V2 and anonymous auth, custom auth classes that sign differently, proxies,
a Service whose session is not a plain one (a custom requests adapter, a CA file, a proxy
or client certificate set on the requests session, an ossfast ``Session`` with its own
``verify``/``ssl_context``: oss2 sends through that session), cloud box, and headers ossfast writes itself (Host, Connection, Transfer-Encoding, Expect,
x-oss-security-token, and in V1 x-oss-date / x-oss-content-sha256).
"""
from __future__ import annotations

import copy
import functools
import threading
import weakref
from typing import Any, Dict, Optional, Tuple

import oss2 as _oss2
from oss2 import auth as _auth
from oss2 import exceptions as _exceptions
from oss2 import models as _models
from oss2 import utils as _utils
from oss2.api import Service as _Service
from oss2.http import Session as _OssHttpSession
from requests import Session as _RequestsSession
from requests.adapters import HTTPAdapter as _HTTPAdapter
from requests.structures import CaseInsensitiveDict as _CaseInsensitiveDict

from .. import client as _client
from ..credentials import Credentials
from ..errors import InvalidRequestError, ServerError, TransportError
from . import _common, _http

#: oss2's own function, as it was when this module was imported
ORIGINAL = _Service.__dict__["write_get_object_response"]

_V4_DROPPED = frozenset({"x-oss-date", "x-oss-content-sha256"})  # AuthV4 overwrites them


# ---------------------------------------------------------------- credentials


def _signing(auth: Any) -> Optional[Tuple[str, Any]]:
    """(signature version, the oss2 auth object that holds the credentials provider) when
    ossfast signs as this auth does, else None."""
    if type(auth) is _auth.StsAuth or (isinstance(auth, _auth.StsAuth)
                                        and type(auth)._sign_request is _auth.StsAuth._sign_request):
        auth = getattr(auth, "_StsAuth__auth", None)
    if isinstance(auth, _auth.ProviderAuthV4) and type(auth)._sign_request is _auth.ProviderAuthV4._sign_request:
        return "v4", auth
    if isinstance(auth, _auth.ProviderAuth) and type(auth)._sign_request is _auth.ProviderAuth._sign_request:
        return "v1", auth
    return None


def _provider(service: Any) -> Any:
    """An ossfast credentials provider reading ``service.auth`` now, as oss2 reads it for
    every request (a weak reference: the Service can go away)."""
    ref = weakref.ref(service)
    cache = _common.CredentialsCache()

    def credentials() -> Credentials:
        svc = ref()
        if svc is None:
            raise _exceptions.ClientError("the oss2.Service is gone")
        signing = _signing(svc.auth)
        if signing is None:
            raise _exceptions.ClientError("the Service's auth changed to one ossfast does not sign for")
        c = signing[1].credentials_provider.get_credentials()
        return cache.get(c.get_access_key_id(), c.get_access_key_secret(), c.get_security_token())

    return credentials


# ---------------------------------------------------------------- one client per Service

_clients: "weakref.WeakKeyDictionary[Any, Tuple[Tuple[Any, ...], _client.Client]]" = weakref.WeakKeyDictionary()
_clients_lock = threading.Lock()


def fast_client(service: Any, version: str) -> _client.Client:
    """The ``ossfast.Client`` kept for ``service`` (remade when its endpoint, region,
    timeout or signature version changed; closed when the Service is collected)."""
    key = (version, service.endpoint, service.region, service.timeout)
    entry = _clients.get(service)
    if entry is not None and entry[0] == key:
        return entry[1]
    with _clients_lock:
        entry = _clients.get(service)
        if entry is not None and entry[0] == key:
            return entry[1]
        t = service.timeout  # requests' meaning: one number for both, or (connect, read)
        timeout = tuple(float(x) for x in t) if isinstance(t, (tuple, list)) else (float(t), float(t))
        fast = _client.Client(_provider(service), signature_version=version, region=service.region or None,
                              endpoint=service.endpoint, timeout=timeout)
        if entry is not None:
            entry[1].close()
        _clients[service] = (key, fast)
        weakref.finalize(service, fast.close)
        return fast


def close(service: Any) -> None:
    """Close the ossfast client (and session) kept for ``service`` (the next call makes new ones)."""
    with _clients_lock:
        entry = _clients.pop(service, None)
        session = _sessions.pop(service, None)
    if entry is not None:
        entry[1].close()
    if session is not None:
        session.close()


# ---------------------------------------------------------------- bodies, results, errors


class _Chunked(Exception):
    """The body has no length: oss2 (requests) sends it chunked."""


def _body(data: Any, kw: Dict[str, Any], extra: list) -> Any:
    """oss2's body conversion for ossfast: the body to send; raises _Chunked for one that
    oss2 sends ``Transfer-Encoding: chunked`` (an iterable or reader of unknown length)."""
    if data is None:
        return b""
    if isinstance(data, str):
        return data.encode("utf-8")  # oss2's to_bytes
    if isinstance(data, (dict, list, tuple)):
        # requests form-encodes these, with a Content-Type unless one is given
        from requests.models import RequestEncodingMixin

        encoded = RequestEncodingMixin._encode_params(data)
        if data and not any(n.lower() == "content-type" for n, _ in extra):
            extra.append(("Content-Type", "application/x-www-form-urlencoded"))
        return encoded.encode("utf-8") if isinstance(encoded, str) else encoded or b""
    if _common.has_length(data):
        return data
    if kw.get("content_length") is not None:
        return data  # the caller gave the length: streamed as is
    if hasattr(data, "read"):
        length = getattr(data, "len", None)  # oss2's adapters (SizedFileAdapter, progress, crc)
        if isinstance(length, int):
            kw["content_length"] = length
            return data
        raise _Chunked
    if hasattr(data, "__len__") and hasattr(data, "__iter__"):
        kw["content_length"] = len(data)
        return data
    raise _Chunked


_sessions: "weakref.WeakKeyDictionary[Any, Session]" = weakref.WeakKeyDictionary()


def _send_chunked(service: Any, route: Any, token: Any, fwd_status: Any, data: Any, headers: Any) -> Any:
    """A body of unknown length, sent as oss2 sends it: oss2 builds and signs its own request
    (``Transfer-Encoding: chunked``, Host the endpoint's), and ossfast's transport sends it
    through a :class:`Session` kept per Service (never retried: the body cannot be replayed)."""
    session = _sessions.get(service)
    if session is None:
        with _clients_lock:
            session = _sessions.get(service)
            if session is None:
                session = _sessions[service] = Session(fast_crc=False)
                weakref.finalize(service, session.close)
    svc = copy.copy(service)  # the same auth, endpoint and timeout; ossfast's transport
    svc.session = session
    return _fallback()(svc, route, token, fwd_status, data, headers)


class _Response:
    """What oss2.models.RequestResult reads from oss2.http.Response, from an ossfast Result."""

    def __init__(self, result: Any) -> None:
        self.result = result  # the ossfast Result: bytes_sent, crc64, elapsed, attempts
        self.response = None  # oss2's is the requests.Response; there is none here
        self.status = result.status
        self.headers = _CaseInsensitiveDict(result.headers)
        self.request_id = self.headers.get("x-oss-request-id", "")

    def read(self, amt: Optional[int] = None) -> bytes:
        return b""  # WriteGetObjectResponse answers with an empty body

    def __iter__(self) -> Any:
        return iter(())


class _ErrorResponse:
    """The part of a response oss2.exceptions.make_exception reads."""

    def __init__(self, err: ServerError) -> None:
        self.status = err.status
        self.headers = _CaseInsensitiveDict(err.headers or {})
        body = getattr(err, "body", None)
        if not body and (err.code or err.message):
            from xml.sax.saxutils import escape

            body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>"
                    + "".join(f"<{t}>{escape(v)}</{t}>" for t, v in (
                        ("Code", err.code), ("Message", err.message), ("RequestId", err.request_id),
                        ("HostId", err.host_id), ("EC", err.ec)) if v)
                    + "</Error>").encode("utf-8")
        self._body = body or b""

    def read(self, amt: Optional[int] = None) -> bytes:
        return self._body if amt is None else self._body[:amt]


def _oss2_error(exc: BaseException) -> Exception:
    if isinstance(exc, ServerError):
        return _exceptions.make_exception(_ErrorResponse(exc))
    if isinstance(exc, TransportError):
        return _exceptions.RequestError(exc)
    return _exceptions.ClientError(str(exc))


# ---------------------------------------------------------------- the operation


def _plain_session(session: Any) -> bool:
    """Does ``session`` (the Service's) send as ossfast's own client does, so that bypassing it
    changes nothing but speed? oss2's default ``oss2.http.Session`` (requests' HTTPAdapter
    mounted, no session-level proxies, CA or client certificate), or an ossfast
    :class:`Session` with the default TLS settings. Anything else (a custom adapter, a CA
    file, a proxy set on the requests session) is the caller's transport: oss2's own
    function sends through it."""
    if isinstance(session, Session):
        return session._default_tls
    if type(session) is not _OssHttpSession:
        return session is None
    s = getattr(session, "session", None)
    if type(s) is not _RequestsSession or s.proxies or s.verify is not True or s.cert is not None:
        return False
    return all(type(a) is _HTTPAdapter for a in s.adapters.values())


def _fallback() -> Any:
    return _patched_from if _patched_from is not None else _Service.__dict__["write_get_object_response"]


def write_get_object_response(service: Any, route: Any, token: Any, fwd_status: Any, data: Any,
                              headers: Any = None) -> Any:
    """``service.write_get_object_response(route, token, fwd_status, data, headers)`` sent
    by ossfast; returns an ``oss2.models.RequestResult`` (``resp.result`` is ossfast's
    Result).

    Arguments as oss2's: ``data`` is bytes, str (sent as UTF-8), a file object (from its
    current position), an oss2 adapter with ``len``, or an iterable of bytes. An iterable
    (or a reader) of unknown length goes out ``Transfer-Encoding: chunked`` as oss2 sends
    it: oss2 builds and signs that request itself and ossfast's transport sends it (see
    ``_send_chunked``), unless ``headers`` carries a Content-Length, with which ossfast
    streams it as it is. ``headers``: oss2's, e.g.
    ``x-oss-fwd-header-Content-Type``; Date and Authorization are overwritten as oss2 does.

    Differences from oss2: the request has no User-Agent or Accept-Encoding header; with
    AuthV4 and no ``service.region``, the region is read from the route (oss2 raises
    ClientError); a V4 Authorization is written as alibabacloud-oss-v2 writes it (no blanks
    after the commas, the same signature); headers are validated before anything is sent
    (``oss2.exceptions.ClientError``); 5xx answers are retried when the body can be sent
    again (ossfast's retry policy).

    Errors: OSS errors raise the matching ``oss2.exceptions`` class (AccessDenied, ...),
    transport failures and timeouts ``oss2.exceptions.RequestError``.
    """
    signing = _signing(service.auth)
    if signing is None or service.proxies or getattr(service, "cloudbox_id", None) is not None \
            or getattr(service, "product", "oss") != "oss" or not _plain_session(getattr(service, "session", None)) \
            or _http.environ_proxy(service.endpoint if "://" in service.endpoint else "http://" + service.endpoint):
        return _fallback()(service, route, token, fwd_status, data, headers)
    version = signing[0]
    hdrs = _CaseInsensitiveDict(headers)
    if route:
        hdrs[_common.ROUTE] = route
    if token:
        hdrs[_common.TOKEN] = token
    if fwd_status:
        hdrs[_common.STATUS] = fwd_status
    if version == "v4":
        for name in _V4_DROPPED:
            hdrs.pop(name, None)
    try:
        kw, extra, fields = _common.split_headers(hdrs, _common.MANAGED)
    except _common.Unsupported:
        return _fallback()(service, route, token, fwd_status, data, headers)
    try:
        body = _body(data, kw, extra)
    except _Chunked:
        return _send_chunked(service, route, token, fwd_status, data, headers)
    try:
        if extra:
            kw["headers"] = extra
        fast = fast_client(service, version)
        result = fast.write_get_object_response(fields.get(_common.ROUTE), fields.get(_common.TOKEN),
                                                fields.get(_common.STATUS), body, **kw)
    except (ServerError, TransportError, InvalidRequestError) as exc:
        raise _oss2_error(exc) from exc
    return _models.RequestResult(_Response(result))


# ---------------------------------------------------------------- CRC-64 inside Session calls
#
# With ``enable_crc`` (its default) oss2 makes an ``oss2.utils.Crc64`` for every upload and
# download, and its constructor builds crcmod's 256-entry table in Python: about 200 us, more
# than the whole request costs through ``Session``; and crcmod hashes at about 0.4 GB/s.
# While a ``Session(fast_crc=True)`` is open ``oss2.utils.Crc64`` is ``_ScopedCrc64``, a
# subclass computing the same values: fed inside a Session call on this thread
# (``do_request`` reading the request body, or the bytes ``SessionResponse.read`` just
# returned) it shares one table and hashes with ossfast's ``crc64``; anywhere else it is
# exactly oss2's object. The machinery (``_common.CrcScope``) is shared with
# ``oss_v2.HttpClient``.

_CRC = _common.CrcScope(_utils, "Crc64", "crc64")
_OSS2_CRC64 = _CRC.original  # oss2's own class, as it was at import
_combine_funs: Dict[int, Any] = {}


class _ScopedCrc64(_common.ScopedCrc, _OSS2_CRC64):  # type: ignore[misc, valid-type]
    """``oss2.utils.Crc64`` with the same values; cheap when started inside a Session call."""

    _SCOPE = _CRC
    _LAZY = ("crc64", "crc64_combineFun")

    def _start_fast(self) -> None:
        init = self.crc64.initCrc
        fun = _combine_funs.get(init)
        if fun is None:
            from oss2.crc64_combine import mkCombineFun

            fun = mkCombineFun(self._POLY, initCrc=init, rev=True, xorOut=self._XOROUT)
            if len(_combine_funs) < 64:
                _combine_funs[init] = fun
        self.crc64_combineFun = fun

    def __call__(self, data: Any) -> None:
        self.update(data)

    @property
    def crc(self) -> int:
        return self._value()


_CRC.scoped = _ScopedCrc64


# ---------------------------------------------------------------- Session


class Session:
    """An oss2 session whose requests all go over ossfast's transport:
    ``oss2.Bucket(auth, endpoint, name, session=fast_oss2.Session())`` (or ``Service``).

    Any oss2 operation works through it, with oss2's own results and exceptions: the
    request oss2 signed is sent as oss2's default session (requests) sends it (see
    ``ossfast/integrations/_http.py`` for the framing rules: bodies of unknown length go
    out chunked, as they do there), every reply is streamed as oss2 asks for, so
    ``get_object`` reads the object as it arrives. A reply that is already whole when its
    head is read (most replies but downloads), and every error reply, is read at once and
    its connection goes back to the pool.

    Transport failures (refused or reset connections, timeouts, malformed replies), also
    while a streamed body is read, raise ``oss2.exceptions.RequestError`` as oss2's session
    does; its ``exception`` is ossfast's error.

    ``pool_size``: idle connections kept per host (oss2's ``defaults.connection_pool_size``
    when None). ``verify``: True (the system's CA store, not certifi's bundle as requests
    uses), False, or a CA file or directory; ``ssl_context`` replaces it. Requests with
    ``proxies``, or for a URL that the environment (``HTTPS_PROXY``, ``HTTP_PROXY``,
    ``ALL_PROXY``, less ``NO_PROXY``) sends through a proxy, go through an
    ``oss2.http.Session`` made for them (ossfast speaks to the host directly). Reply bodies are never decoded (requests would gunzip a
    ``Content-Encoding: gzip`` object). Thread-safe; ``close()`` closes the pooled
    connections (also a context manager).

    ``fast_crc`` (default True): oss2's CRC-64 checks (``enable_crc``) cost more than the
    request itself, because oss2 builds crcmod's table in Python for every upload and
    download. While any Session made with ``fast_crc`` is open (until ``close()`` or garbage
    collection), ``oss2.utils.Crc64`` is a subclass that computes the same values and, for a
    CRC fed inside this Session's calls (the request body; the reply as it is read), reuses
    one table and hashes with ossfast's ``crc64``. Elsewhere it is oss2's own object, built as
    oss2 builds it. The last Session to close puts oss2's class back (unless something else
    replaced it meanwhile). ``fast_crc=False`` leaves oss2 untouched.
    """

    def __init__(self, pool_size: Optional[int] = None, *, verify: Any = True, ssl_context: Any = None,
                 fast_crc: bool = True) -> None:
        from oss2 import defaults

        self._pool = _http.Pool(maxsize=pool_size or defaults.connection_pool_size, verify=verify,
                                ssl_context=ssl_context)
        # what oss2.Service.write_get_object_response through ossfast's own client also does
        self._default_tls = verify is True and ssl_context is None
        self._fallback: Any = None
        self._timeouts: Dict[Any, Any] = {}
        self._crc_lease: Any = None
        self._fast_crc = bool(fast_crc)
        if fast_crc:
            self._crc_lease = _CRC.lease(self)

    def __repr__(self) -> str:
        return f"ossfast.integrations.oss2.Session(pool_size={self._pool.maxsize})"

    def _timeout(self, timeout: Any) -> Any:
        t = self._timeouts.get(timeout) if isinstance(timeout, (int, float, tuple)) else None
        if t is None:
            t = _http.Timeout.of(tuple(timeout) if isinstance(timeout, list) else timeout)
            if isinstance(timeout, (int, float, tuple)) and len(self._timeouts) < 64:
                self._timeouts[timeout] = t
        return t

    def do_request(self, req: Any, timeout: Any) -> Any:
        """Send an ``oss2.http.Request``; an ``oss2.http.Response``-shaped reply."""
        if req.proxies or _http.environ_proxy(req.url):  # oss2's session honours both
            if self._fallback is None:
                from oss2.http import Session as _Oss2Session

                self._fallback = _Oss2Session(pool_size=self._pool.maxsize)
            return self._fallback.do_request(req, timeout)
        url = req.url
        if req.params:
            from requests.models import RequestEncodingMixin

            query = RequestEncodingMixin._encode_params(req.params)
            if query:
                url = f"{url}&{query}" if "?" in url else f"{url}?{query}"
        fast = 1 if self._fast_crc else 0  # fast_crc=False: oss2's CRC as it is, whatever others do
        _CRC.enter(fast)
        try:
            reply = _http.send(self._pool, req.method, url, _http.header_pairs(req.headers), req.data,
                               self._timeout(timeout), stream=True)
            return SessionResponse(reply, fast)
        except (TransportError, InvalidRequestError) as exc:
            raise _exceptions.RequestError(exc) from None
        except ValueError as exc:  # a header with CR or LF (requests: InvalidHeader)
            raise _exceptions.RequestError(exc) from None
        finally:
            _CRC.exit(fast)

    def close(self) -> None:
        self._pool.close()
        if self._crc_lease is not None:
            self._crc_lease()  # once: the finalizer runs at most one time
        if self._fallback is not None:
            self._fallback.session.close()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class SessionResponse:
    """What oss2 reads of ``oss2.http.Response``: ``status``, ``headers`` (requests'
    CaseInsensitiveDict, names as received), ``request_id``, ``read(amt=None)`` (``amt``
    bytes unless the body ends first, as urllib3 reads: oss2's progress adapter relies on
    it), iteration, and ``response.close()`` (``response`` is this object). The connection
    goes back to the pool as soon as the body's last byte is read."""

    __slots__ = ("response", "status", "headers", "request_id", "_reply", "_buf", "_done", "_mark", "__weakref__")

    def __init__(self, reply: Any, fast_crc: Any = True) -> None:
        self.response = self
        self.status = reply.status
        self.headers = _http.reply_headers(reply.raw_headers, _CaseInsensitiveDict)
        self.request_id = self.headers.get("x-oss-request-id", "")
        self._reply = reply
        self._buf = b""
        self._done = False
        self._mark = bool(fast_crc)  # the bytes read are marked for oss2's CRC (Session(fast_crc=True))
        if reply.complete or reply.status // 100 != 2:  # whole already, or an error document
            try:
                self._buf = reply.read()
            finally:
                reply.close()
            self._reply = None

    def _more(self) -> bytes:
        reply = self._reply
        if reply is None:
            return b""
        try:
            piece = reply.read_some()
        except TransportError as exc:
            self._reply = None
            raise _exceptions.RequestError(exc) from None
        if not piece:
            self._reply = None
        elif reply.complete:  # the last bytes: the connection goes back to the pool now (oss2's
            self._reply = None  # progress adapter stops at Content-Length, never reading b"")
            reply.close()
        return piece

    def read(self, amt: Optional[int] = None) -> bytes:
        piece = self._read(amt)
        if piece and self._mark:
            _CRC.mark(piece, self)  # an oss2 CRC fed these bytes next is part of this Session's call
            # (until a CRC asks, the next read, or this reply is closed)
        return piece

    def _read(self, amt: Optional[int]) -> bytes:
        if self._done:
            return b""
        if amt is None:
            parts = [self._buf]
            self._buf = b""
            while True:
                piece = self._more()
                if not piece:
                    break
                parts.append(piece)
            self._done = True
            return b"".join(parts)
        buf = self._buf or self._more()
        if not buf:
            self._done = True
            return b""
        if len(buf) < amt:  # amt bytes unless the body ends first, as urllib3's read(amt):
            parts = [buf]  # oss2's progress adapter counts amt as read
            n = len(buf)
            while n < amt:
                piece = self._more()
                if not piece:
                    break
                parts.append(piece)
                n += len(piece)
            buf = b"".join(parts)
        if len(buf) > amt:
            self._buf = buf[amt:]
            return buf[:amt]
        self._buf = b""
        return buf

    def __iter__(self) -> Any:
        while True:
            piece = self.read(64 * 1024)
            if not piece:
                return
            yield piece

    def close(self) -> None:
        """Give the connection back (the body was read whole) or close it. What was not
        read is dropped: a read after ``close()`` gives b"", as a closed requests reply does
        (never the bytes already buffered here, which would look like a short body)."""
        reply, self._reply = self._reply, None
        self._buf = b""
        self._done = True
        if reply is not None:
            reply.close()
        _CRC.unmark(self)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        return f"<SessionResponse {self.status}>"


# ---------------------------------------------------------------- patching

_patch_lock = threading.Lock()
_patched_from: Any = None  # the function patch() replaced, while patched


@functools.wraps(ORIGINAL)
def _patched(self: Any, route: Any, token: Any, fwd_status: Any, data: Any, headers: Any = None) -> Any:
    return write_get_object_response(self, route, token, fwd_status, data, headers)


def patch() -> None:
    """Send every ``oss2.Service.write_get_object_response`` of the process through
    ossfast. Idempotent and thread-safe."""
    global _patched_from
    with _patch_lock:
        current = _Service.__dict__["write_get_object_response"]
        if current is _patched:
            return
        _patched_from = current
        _Service.write_get_object_response = _patched


def unpatch() -> None:
    """Put back exactly the function :func:`patch` replaced. Idempotent and thread-safe."""
    global _patched_from
    with _patch_lock:
        if _patched_from is None:
            return
        if _Service.__dict__.get("write_get_object_response") is _patched:
            _Service.write_get_object_response = _patched_from
        _patched_from = None


def is_patched() -> bool:
    return _Service.__dict__.get("write_get_object_response") is _patched


__all__ = ["write_get_object_response", "patch", "unpatch", "is_patched", "fast_client", "close", "ORIGINAL",
           "Session", "SessionResponse"]
_ = _oss2  # imported first, so that oss2's own package initialisation runs before its submodules
