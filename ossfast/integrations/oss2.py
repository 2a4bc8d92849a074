"""oss2 on ossfast: ``Service.write_get_object_response`` sent by ossfast.

    from ossfast.integrations import oss2 as fast_oss2
    fast_oss2.write_get_object_response(service, route, token, "200", data, headers)
    fast_oss2.patch()     # every oss2.Service.write_get_object_response goes through ossfast
    fast_oss2.unpatch()   # back to oss2's own function (the very same object)

Everything comes from the ``oss2.Service``: the credentials (``Auth``, ``AuthV4``,
``StsAuth``, ``ProviderAuth``/``ProviderAuthV4`` with any credentials provider, asked
before every request as oss2 does, so rotating keys and a reassigned ``service.auth``
are followed), the endpoint (where to connect; Host is the route), the signature
version, the region and the timeout. One ``ossfast.Client`` is kept per Service, so
connections are reused.

What ossfast cannot send as oss2 would goes through oss2's own function unchanged:
Signature V2 and anonymous auth, custom auth classes that sign differently, proxies,
cloud box, and headers ossfast writes itself (Host, Connection, Transfer-Encoding, Expect,
x-oss-security-token, and in V1 x-oss-date / x-oss-content-sha256).
"""
from __future__ import annotations

import functools
import threading
import weakref
from typing import Any, Dict, Optional, Tuple

import oss2 as _oss2
from oss2 import auth as _auth
from oss2 import exceptions as _exceptions
from oss2 import models as _models
from oss2.api import Service as _Service
from requests.structures import CaseInsensitiveDict as _CaseInsensitiveDict

from .. import client as _client
from ..credentials import Credentials
from ..errors import InvalidRequestError, ServerError, TransportError
from . import _common

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
    """Close the ossfast client kept for ``service`` (the next call makes a new one)."""
    with _clients_lock:
        entry = _clients.pop(service, None)
    if entry is not None:
        entry[1].close()


# ---------------------------------------------------------------- bodies, results, errors


def _body(data: Any, kw: Dict[str, Any], extra: list) -> Tuple[Any, Any]:
    """oss2's body conversion for ossfast: (body, a spool file to close or None)."""
    if data is None:
        return b"", None
    if isinstance(data, str):
        return data.encode("utf-8"), None  # oss2's to_bytes
    if isinstance(data, (dict, list, tuple)):
        # requests form-encodes these, with a Content-Type unless one is given
        from requests.models import RequestEncodingMixin

        encoded = RequestEncodingMixin._encode_params(data)
        if data and not any(n.lower() == "content-type" for n, _ in extra):
            extra.append(("Content-Type", "application/x-www-form-urlencoded"))
        return (encoded.encode("utf-8") if isinstance(encoded, str) else encoded or b""), None
    if _common.has_length(data):
        return data, None
    if kw.get("content_length") is not None:
        return data, None  # the caller gave the length: streamed as is
    if hasattr(data, "read"):
        length = getattr(data, "len", None)  # oss2's adapters (SizedFileAdapter, progress, crc)
        if isinstance(length, int):
            kw["content_length"] = length
            return data, None
        data = iter(functools.partial(data.read, 64 * 1024), b"")
    elif hasattr(data, "__len__") and hasattr(data, "__iter__"):
        kw["content_length"] = len(data)
        return data, None
    f, _ = _common.spool(data)
    return f, f


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


def _fallback() -> Any:
    return _patched_from if _patched_from is not None else _Service.__dict__["write_get_object_response"]


def write_get_object_response(service: Any, route: Any, token: Any, fwd_status: Any, data: Any,
                              headers: Any = None) -> Any:
    """``service.write_get_object_response(route, token, fwd_status, data, headers)`` sent
    by ossfast; returns an ``oss2.models.RequestResult`` (``resp.result`` is ossfast's
    Result).

    Arguments as oss2's: ``data`` is bytes, str (sent as UTF-8), a file object (from its
    current position), an oss2 adapter with ``len``, or an iterable of bytes. oss2 sends an
    iterable of unknown length chunked; OSS requires a Content-Length, so ossfast first
    spools it to a temporary file (in memory up to 8 MiB) and sends it with its length,
    unless ``headers`` carries a Content-Length. ``headers``: oss2's, e.g.
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
            or getattr(service, "product", "oss") != "oss":
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
    spooled = None
    try:
        body, spooled = _body(data, kw, extra)
        if extra:
            kw["headers"] = extra
        fast = fast_client(service, version)
        result = fast.write_get_object_response(fields.get(_common.ROUTE), fields.get(_common.TOKEN),
                                                fields.get(_common.STATUS), body, **kw)
    except (ServerError, TransportError, InvalidRequestError) as exc:
        raise _oss2_error(exc) from exc
    finally:
        if spooled is not None:
            spooled.close()
    return _models.RequestResult(_Response(result))


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


__all__ = ["write_get_object_response", "patch", "unpatch", "is_patched", "fast_client", "close", "ORIGINAL"]
_ = _oss2  # imported first, so that oss2's own package initialisation runs before its submodules
