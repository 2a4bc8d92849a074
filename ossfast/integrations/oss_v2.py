"""alibabacloud-oss-v2 on ossfast: signers computed by the C core, and WriteGetObjectResponse.

``SignerV1()`` / ``SignerV4()`` are the SDK's ``Signer`` (subclasses of its own
``SignerV1``/``SignerV4``, so ``isinstance`` checks in the SDK, such as the presigner's
seven-day limit, see them as the SDK's): ``oss.Client(cfg, signer=fast_v2.SignerV4())``.
They produce what the SDK's signers produce, for header signing and presigned URLs
(``auth_method_query``): the same headers, URL, ``string_to_sign``, ``signing_time`` and
``expiration_time`` on the context. One deliberate difference: ``SignerV1`` sends an STS
token as the signed ``x-oss-security-token`` header; the SDK's sends an unsigned
``security-token`` header, which OSS does not take (the token of a presigned V1 URL is
the ``security-token`` query parameter in both).

The canonical request (V4) or string to sign (V1) is built by the C core from the signed
headers; a header the core cannot take verbatim (blanks around the value, CR or LF, a
name that is not an HTTP token, more than 64 signed headers) sends that one request
through a Python twin of the SDK's algorithm, so the result is the same in every case.

``write_get_object_response(client, route, token, status, body, **keywords)`` and
``async_write_get_object_response(...)``: the operation the SDK lacks, sent by ossfast.

``HttpClient()`` / ``AsyncHttpClient()``: the SDK's transport interfaces over ossfast's
transport, for any operation: ``oss.Config(..., http_client=fast_v2.HttpClient())``.

CRC-64: with its checks on (the default) the SDK builds crcmod's table in Python for every
upload and download (about 300 us) and hashes at crcmod's speed (most of a 64 MiB
put_object). While an ``HttpClient(fast_crc=True)`` or ``AsyncHttpClient(fast_crc=True)`` (the
default) is open, ``alibabacloud_oss_v2.crc.Crc64`` is a subclass that computes the same values and, for a CRC
fed inside that client's ``send`` (the request body) or the streamed reply pieces its
``iter_bytes`` gives, shares one table and hashes with ossfast's ``crc64``; anywhere else
(the SDK's default transport in the same process, a ``fast_crc=False`` client) it is the
SDK's own object, built by the SDK. The class is put back exactly when the last such client
is closed or collected, unless something else replaced it meanwhile. ``fast_crc=False``
leaves the SDK untouched.
"""
from __future__ import annotations

import asyncio
import datetime as _dt
import http
import os as _os
import re
import threading
import weakref
from typing import Any, Dict, List, Tuple
from urllib.parse import SplitResult, quote, unquote, urlsplit

from alibabacloud_oss_v2 import exceptions as _exceptions
from alibabacloud_oss_v2 import defaults as _defaults
from alibabacloud_oss_v2 import types as _types
from alibabacloud_oss_v2 import serde as _serde
from alibabacloud_oss_v2.credentials import AnonymousCredentialsProvider as _Anonymous
from alibabacloud_oss_v2.signer import SignerV1 as _SdkSignerV1
from alibabacloud_oss_v2.signer import SignerV4 as _SdkSignerV4
from alibabacloud_oss_v2.types import CaseInsensitiveDict as _CaseInsensitiveDict

from .. import aio as _aio
from .. import client as _client
from .._backend import impl as _impl
from ..credentials import Credentials
from ..errors import InvalidRequestError, ServerError, TimeoutError, TransportError
from ..signing import request_dates
from . import _common, _http

_UTC = _dt.timezone.utc
_now = _dt.datetime.now
_FIFTEEN_MINUTES = _dt.timedelta(minutes=15)
_SIGN_MAX_LINES = 64  # the C core's limit on a header block
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_V4_KEYS = _impl.V4Cache()  # the V4 signing keys of these signers, kept (and wiped) in C

# ---------------------------------------------------------------- the signers


_UNPLAIN_VALUE = re.compile(r"^[ \t]|[ \t]\Z|[\r\n]").search
_plain_names: Dict[Any, bool] = {}


def _plain(name: Any, value: Any) -> bool:
    """Does the C core read ``name: value`` exactly as the SDK's code does?"""
    ok = _plain_names.get(name)
    if ok is None:
        ok = type(name) is str and _TOKEN.fullmatch(name) is not None
        if len(_plain_names) > 1024:
            _plain_names.clear()
        _plain_names[name] = ok
    return ok and type(value) is str and _UNPLAIN_VALUE(value) is None


def _items(headers: Any) -> Any:
    """(lower-cased name, name, value) of each header: read straight from a requests
    CaseInsensitiveDict's store (what its items() walks, one lookup each), else items()."""
    store = getattr(headers, "_store", None)
    if isinstance(store, dict):
        return [(lk, kv[0], kv[1]) for lk, kv in store.items()]
    return [(k.lower(), k, v) for k, v in headers.items()]


def _check_context(ctx: Any) -> None:
    if ctx is None:
        raise _exceptions.ParamNullError(field="SigningContext")
    if ctx.credentials is None or not ctx.credentials.has_keys():
        raise _exceptions.ParamNullOrEmptyError(field="SigningContext.credentials")
    if ctx.request is None:
        raise _exceptions.ParamNullOrEmptyError(field="SigningContext.request")


def _header_time(ctx: Any) -> _dt.datetime:
    if ctx.signing_time is None:
        return _now(_UTC) + _dt.timedelta(seconds=(ctx.clock_offset or 0))
    return ctx.signing_time.astimezone(_UTC)


def _query_times(ctx: Any) -> Tuple[_dt.datetime, _dt.datetime]:
    now = _now(_UTC) if ctx.signing_time is None else ctx.signing_time.astimezone(_UTC)
    if ctx.expiration_time is None:
        expiration = _now(_UTC) + _FIFTEEN_MINUTES
    else:
        expiration = ctx.expiration_time.astimezone(_UTC)
    return now, expiration


def _rebuild_query(url: str, drop: Tuple[str, ...], add: Dict[str, str]) -> str:
    """The SDK's presigning edit of the URL: its query's pairs kept as they are (encoded),
    ``drop`` removed, ``add`` set (in that order), pairs with an empty value written bare."""
    parts = urlsplit(url)
    pairs: Dict[str, str] = {}
    if parts.query:
        for pair in parts.query.split("&"):
            key, _, value = pair.partition("=")
            pairs[key] = value
    for key in drop:
        pairs.pop(key, None)
    pairs.update(add)
    query = "&".join(f"{k}={v}" if v else f"{k}" for k, v in pairs.items())
    return SplitResult(parts.scheme, parts.netloc, parts.path, query, parts.fragment).geturl()


def _object_uri(ctx: Any) -> str:
    uri = "/"
    if ctx.bucket is not None:
        uri = uri + ctx.bucket + "/"
    if ctx.key is not None:
        uri = uri + ctx.key
    return uri


class SignerV1(_SdkSignerV1):
    """Signature V1 for alibabacloud-oss-v2, computed by ossfast's C core.

    As the SDK's ``SignerV1``, except that an STS token goes in the signed
    ``x-oss-security-token`` header (header signing); presigned URLs are identical.
    """

    def __repr__(self) -> str:
        return "ossfast.integrations.oss_v2.SignerV1()"

    def sign(self, signing_ctx: Any) -> None:
        _check_context(signing_ctx)
        if signing_ctx.auth_method_query:
            return self._auth_query(signing_ctx)
        return self._auth_header(signing_ctx)

    def _auth_header(self, ctx: Any) -> None:
        request = ctx.request
        cred = ctx.credentials
        now = _header_time(ctx)
        headers = request.headers
        headers["Date"] = request_dates(now)[0]
        if cred.security_token:
            headers["x-oss-security-token"] = cred.security_token
        date = headers.get("x-oss-date", "") or headers.get("date", "")
        string_to_sign, signature = _v1_sign(ctx, request, cred.access_key_secret, date)
        headers["Authorization"] = f"OSS {cred.access_key_id}:{signature}"
        ctx.string_to_sign = string_to_sign
        ctx.signing_time = now

    def _auth_query(self, ctx: Any) -> None:
        request = ctx.request
        cred = ctx.credentials
        now, expiration = _query_times(ctx)
        expires = str(int(expiration.timestamp()))
        add = {"OSSAccessKeyId": cred.access_key_id, "Expires": expires}
        if cred.security_token:
            add["security-token"] = quote(cred.security_token, safe="")
        request.url = _rebuild_query(request.url, ("Signature", "security-token"), add)
        string_to_sign, signature = _v1_sign(ctx, request, cred.access_key_secret, expires)
        request.url = request.url + f'&Signature={quote(signature, safe="")}'
        ctx.string_to_sign = string_to_sign
        ctx.signing_time = now
        ctx.expiration_time = expiration


def _v1_resource(ctx: Any, url: str, subresources: frozenset) -> str:
    """The V1 canonical resource, as the SDK builds it (keys and values decoded)."""
    query = urlsplit(url).query
    if not query:
        return _object_uri(ctx)
    pairs = []
    extra = ctx.sub_resource or ()
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        key = unquote(key)
        value = unquote(value)
        if key in subresources or key in extra:
            pairs.append((key, value))
    if not pairs:
        return _object_uri(ctx)
    return _object_uri(ctx) + "?" + "&".join(f"{k}={v}" if len(v) > 0 else f"{k}" for k, v in sorted(pairs))


def _v1_sign(ctx: Any, request: Any, secret: str, date: str) -> Tuple[str, str]:
    """(string to sign, signature) of a V1 request whose date field is ``date``."""
    headers = request.headers
    resource = _v1_resource(ctx, request.url, _SdkSignerV1._subresource_key_set)
    md5 = headers.get("content-md5", "")
    ctype = headers.get("content-type", "")
    plain = _plain("content-md5", md5) and _plain("content-type", ctype) and _plain("date", date)
    lines: List[str] = []
    if plain:
        for lk, k, v in _items(headers):
            if lk.startswith("x-oss-"):
                if not _plain(k, v):
                    plain = False
                    break
                lines.append(f"{k}: {v}\r\n")
    if plain and len(lines) + 3 <= _SIGN_MAX_LINES:
        lines.append(f"content-md5: {md5}\r\ncontent-type: {ctype}\r\ndate: {date}\r\n")
        block = "".join(lines).encode("utf-8")
        method = request.method.encode("utf-8")
        res = resource.encode("utf-8")
        sts = _impl.v1_string_to_sign(method, block, res).decode("utf-8")
        return sts, _impl.v1_sign(secret.encode("utf-8"), method, block, res)
    # The SDK's own construction, for what the core cannot take verbatim.
    canon = []
    for k, v in headers.items():
        lower_key = k.lower()
        if lower_key.startswith("x-oss-"):
            canon.append((lower_key, v))
    canon.sort(key=lambda x: x[0])
    canonical_headers = "".join(v[0] + ":" + v[1] + "\n" for v in canon)
    sts = "{}\n{}\n{}\n{}\n{}".format(request.method, md5, ctype, date, canonical_headers + resource)
    mac = _impl.hmac_sha1(secret.encode(), sts.encode())
    return sts, _impl.base64_encode(mac).decode("ascii")


class SignerV4(_SdkSignerV4):
    """Signature V4 for alibabacloud-oss-v2, computed by ossfast's C core (signing keys
    cached in C per secret, day, region and product). Same output as the SDK's ``SignerV4``."""

    def __repr__(self) -> str:
        return "ossfast.integrations.oss_v2.SignerV4()"

    def sign(self, signing_ctx: Any) -> None:
        _check_context(signing_ctx)
        if signing_ctx.auth_method_query:
            return self._auth_query(signing_ctx)
        return self._auth_header(signing_ctx)

    def _auth_header(self, ctx: Any) -> None:
        request = ctx.request
        cred = ctx.credentials
        now = _header_time(ctx)
        date, iso = request_dates(now)
        headers = request.headers
        headers["x-oss-date"] = iso
        headers["Date"] = date
        if cred.security_token:
            headers["x-oss-security-token"] = cred.security_token
        headers["x-oss-content-sha256"] = "UNSIGNED-PAYLOAD"
        region = ctx.region or ""
        product = ctx.product or ""
        scope = f"{iso[:8]}/{region}/{product}/aliyun_v4_request"
        additional = _additional(request, ctx.additional_headers)
        string_to_sign, signature = _v4_sign(ctx, request, additional, cred.access_key_secret, iso, scope,
                                             region, product, header_mode=True)
        auth = f"OSS4-HMAC-SHA256 Credential={cred.access_key_id}/{scope}"
        if additional:
            auth = f'{auth},AdditionalHeaders={";".join(additional)}'
        headers["Authorization"] = f"{auth},Signature={signature}"
        ctx.string_to_sign = string_to_sign
        ctx.signing_time = now

    def _auth_query(self, ctx: Any) -> None:
        request = ctx.request
        cred = ctx.credentials
        now, expiration = _query_times(ctx)
        iso = request_dates(now)[1]
        expires = int((expiration - now).total_seconds())
        region = ctx.region or ""
        product = ctx.product or ""
        scope = f"{iso[:8]}/{region}/{product}/aliyun_v4_request"
        additional = _additional(request, ctx.additional_headers)
        add = {
            "x-oss-signature-version": "OSS4-HMAC-SHA256",
            "x-oss-date": iso,
            "x-oss-expires": str(expires),
            "x-oss-credential": quote(f"{cred.access_key_id}/{scope}", safe=""),
        }
        if cred.security_token:
            add["x-oss-security-token"] = quote(cred.security_token, safe="")
        if additional:
            add["x-oss-additional-headers"] = quote(";".join(additional), safe="")
        request.url = _rebuild_query(
            request.url, ("x-oss-signature", "x-oss-security-token", "x-oss-additional-headers"), add)
        string_to_sign, signature = _v4_sign(ctx, request, additional, cred.access_key_secret, iso, scope,
                                             region, product, header_mode=False)
        request.url = request.url + f'&x-oss-signature={quote(signature, safe="")}'
        ctx.string_to_sign = string_to_sign
        ctx.signing_time = now
        ctx.expiration_time = expiration


def _additional(request: Any, names: Any) -> List[str]:
    """The SDK's AdditionalHeaders: the named headers present with a value, lower-cased, sorted."""
    keys = set()
    if names is None or request is None:
        return []
    for k in names:
        lk = k.lower()
        if lk.startswith("x-oss-") or lk in ("content-type", "content-md5"):
            continue
        elif len(request.headers.get(lk, "")) > 0:
            keys.add(lk)
    return sorted(keys)


_memo: Dict[Any, str] = {}  # (kind, input) -> canonical URI or query: a client repeats them


def _memoized(kind: str, value: Any, make: Any) -> str:
    key = (kind, value)
    out = _memo.get(key)
    if out is None:
        out = make(value)
        if len(_memo) > 512:
            _memo.clear()
        _memo[key] = out
    return out


def _canonical_uri(bucket_key: Tuple[Any, Any]) -> str:
    bucket, key = bucket_key
    uri = "/"
    if bucket is not None:
        uri = uri + bucket + "/"
    if key is not None:
        uri = uri + key
    return quote(uri, safe="/")


def _v4_query(url: str) -> str:
    query = urlsplit(url).query
    if not query:
        return ""
    pairs = []
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        pairs.append((key, value))
    return "&".join(f"{k}={v}" if len(v) > 0 else f"{k}" for k, v in sorted(pairs))


def _v4_sign(ctx: Any, request: Any, additional: List[str], secret: str, iso: str, scope: str,
             region: str, product: str, header_mode: bool) -> Tuple[str, str]:
    """(string to sign, hex signature) of a V4 request."""
    headers = request.headers
    uri = _memoized("uri", (ctx.bucket, ctx.key), _canonical_uri)
    query = _memoized("query", request.url, _v4_query)
    extra = frozenset(additional)
    lines: List[str] = []
    plain = True
    for lk, k, v in _items(headers):
        if lk.startswith("x-oss-") or lk in ("content-type", "content-md5") or lk in extra:
            if not _plain(k, v):
                plain = False
                break
            lines.append(f"{k}: {v}\r\n")
    secret_b = secret.encode("utf-8")
    if plain and len(lines) <= _SIGN_MAX_LINES:
        block = "".join(lines).encode("utf-8")
        method = request.method.encode("utf-8")
        uri_b = uri.encode("utf-8")
        query_b = query.encode("utf-8")
        add_b = ";".join(additional).encode("utf-8")
        if header_mode:  # the block's x-oss-date is ``iso``: one call signs, one gives the string
            region_b = region.encode("utf-8")
            product_b = product.encode("utf-8")
            sts = _impl.v4_string_to_sign(method, uri_b, query_b, block, add_b, region_b, product_b)
            sig = _impl.v4_sign(_V4_KEYS, secret_b, method, uri_b, query_b, block, add_b, region_b, product_b)
            return sts.decode("utf-8"), sig
        canonical = _impl.v4_canonical_request(method, uri_b, query_b, block, add_b)
    else:
        # The SDK's own construction, for what the core cannot take verbatim.
        canon = []
        for k, v in headers.items():
            lower_key = k.lower()
            if lower_key.startswith("x-oss-") or lower_key in ("content-type", "content-md5") \
                    or lower_key in extra:
                canon.append((lower_key, v))
        canon.sort(key=lambda x: x[0])
        canonical_headers = "".join(v[0] + ":" + v[1] + "\n" for v in canon)
        payload = headers.get("x-oss-content-sha256", "UNSIGNED-PAYLOAD")
        canonical = (f"{request.method}\n{uri}\n{query}\n{canonical_headers}\n{';'.join(additional)}\n"
                     f"{payload}").encode("utf-8")
    sts = "\n".join(("OSS4-HMAC-SHA256", iso, scope, _impl.sha256(canonical).hex()))
    key = _impl.v4_signing_key(secret_b, iso[:8].encode("ascii"), region.encode("utf-8"),
                               product.encode("utf-8"))
    return sts, _impl.hmac_sha256(key, sts.encode("utf-8")).hex()


# ---------------------------------------------------------------- WriteGetObjectResponse

OPERATION = "WriteGetObjectResponse"


class WriteGetObjectResponseResult(_serde.ResultModel):
    """The result of WriteGetObjectResponse, shaped as the SDK's results: ``status``
    (reason phrase), ``status_code``, ``request_id``, ``headers``; and ``result``, the
    ossfast ``Result`` (``bytes_sent``, ``crc64``, ``elapsed``, ``attempts``)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.result: Any = None


class _Setup:
    """What the ossfast client of one SDK client is made from (compared on every call, so
    a changed configuration gets a new client)."""

    __slots__ = ("provider", "version", "region", "product", "endpoint", "scheme", "timeout", "verify")

    def __init__(self, sdk_client: Any) -> None:
        impl = getattr(sdk_client, "_client", None)
        options = getattr(impl, "_options", None)
        config = getattr(impl, "_config", None)
        if options is None or config is None:
            raise TypeError(
                f"client: expected an alibabacloud_oss_v2.Client or aio.AsyncClient, not {type(sdk_client).__name__}")
        if getattr(config, "proxy_host", None) or getattr(getattr(options, "http_client", None), "_proxies", None):
            # ossfast connects to the route (or the endpoint) itself: a proxy is refused, not bypassed
            raise _exceptions.ParamInvalidError(
                field="proxy_host (ossfast's write_get_object_response connects directly, never through a proxy)")
        self.provider = options.credentials_provider
        signer = options.signer
        self.version = "v1" if isinstance(signer, _SdkSignerV1) else "v4"
        self.region = options.region or None
        self.product = options.product or "oss"
        scheme = "http" if bool(config.disable_ssl) else "https"
        endpoint = None
        if config.endpoint and options.endpoint is not None:
            ep = options.endpoint
            scheme = ep.scheme or scheme
            host = (ep.hostname or "").lower()
            # An aliyuncs.com host (the route itself, or a regional endpoint): connect to the
            # route. Anything else (an IP, an emulator, a proxy of one's own): connect there.
            if not (host.endswith(".aliyuncs.com") or host == "aliyuncs.com"):
                endpoint = f"{scheme}://{ep.netloc}"
        self.endpoint = endpoint
        self.scheme = scheme
        connect = config.connect_timeout or 10
        rw = options.readwrite_timeout or config.readwrite_timeout or 20
        self.timeout = (float(connect), float(rw))
        self.verify = not bool(config.insecure_skip_verify)

    def key(self) -> Tuple[Any, ...]:
        return (id(self.provider), self.version, self.region, self.product, self.endpoint, self.scheme,
                self.timeout, self.verify)


def _provider_of(sdk_provider: Any) -> Any:
    """An ossfast credentials provider reading the SDK's, as the SDK does before each request."""
    cache = _common.CredentialsCache()

    def credentials() -> Credentials:
        try:
            cred = sdk_provider.get_credentials()
        except Exception as e:
            raise _exceptions.CredentialsFetchError(error=e) from e
        if cred is None or not cred.has_keys():
            raise _exceptions.CredentialsEmptyError()
        return cache.get(cred.access_key_id, cred.access_key_secret, cred.security_token)

    return credentials


_sync_clients: "weakref.WeakKeyDictionary[Any, Tuple[Tuple[Any, ...], _client.Client]]" = weakref.WeakKeyDictionary()
_async_clients: "weakref.WeakKeyDictionary[Any, weakref.WeakKeyDictionary]" = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _make(setup: _Setup, cls: Any) -> Any:
    if isinstance(setup.provider, _Anonymous) or setup.provider is None:
        raise _exceptions.CredentialsEmptyError()
    if setup.product != "oss":
        raise _exceptions.ParamInvalidError(
            field=f"product {setup.product!r} (ossfast signs for 'oss' only; cloud box is not supported)")
    return cls(_provider_of(setup.provider), signature_version=setup.version, region=setup.region,
               scheme=setup.scheme, endpoint=setup.endpoint, timeout=setup.timeout, verify=setup.verify)


def fast_client(sdk_client: Any) -> _client.Client:
    """The ``ossfast.Client`` kept for ``sdk_client`` (made on first use; closed when the
    SDK client is collected, or by :func:`close`)."""
    setup = _Setup(sdk_client)
    key = setup.key()
    entry = _sync_clients.get(sdk_client)
    if entry is not None and entry[0] == key:
        return entry[1]
    with _lock:
        entry = _sync_clients.get(sdk_client)
        if entry is not None and entry[0] == key:
            return entry[1]
        fast = _make(setup, _client.Client)
        if entry is not None:
            entry[1].close()
        _sync_clients[sdk_client] = (key, fast)
        weakref.finalize(sdk_client, fast.close)
        return fast


def fast_async_client(sdk_client: Any) -> _aio.AsyncClient:
    """The ``ossfast.AsyncClient`` kept for ``sdk_client`` on the running event loop."""
    loop = asyncio.get_running_loop()
    setup = _Setup(sdk_client)
    key = setup.key()
    with _lock:
        per_loop = _async_clients.get(sdk_client)
        if per_loop is None:
            per_loop = _async_clients[sdk_client] = weakref.WeakKeyDictionary()
        entry = per_loop.get(loop)
        if entry is not None and entry[0] == key:
            return entry[1]
        fast = _make(setup, _aio.AsyncClient)
        per_loop[loop] = (key, fast)
        return fast


def close(sdk_client: Any) -> None:
    """Close the ossfast client kept for ``sdk_client`` (the next call makes a new one)."""
    with _lock:
        entry = _sync_clients.pop(sdk_client, None)
    if entry is not None:
        entry[1].close()


async def aclose(sdk_client: Any) -> None:
    """Close the ossfast AsyncClient kept for ``sdk_client`` on the running loop."""
    loop = asyncio.get_running_loop()
    with _lock:
        per_loop = _async_clients.get(sdk_client)
        entry = per_loop.pop(loop, None) if per_loop is not None else None
    if entry is not None:
        await entry[1].close()


def _keywords(kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """The SDK's spelling of forwarded headers (``fwd_header_content_type``) as ossfast's."""
    if not kwargs:
        return kwargs
    out = {}
    for k, v in kwargs.items():
        if k.startswith("fwd_header_"):
            k = k[len("fwd_header_"):]
        if k in out:
            raise TypeError(f"write_get_object_response() got {k!r} twice")
        out[k] = v
    return out


def _body(body: Any, kwargs: Dict[str, Any]) -> Tuple[Any, Any]:
    """(body to send, a spool file to close or None): str as UTF-8; an iterable of
    unknown length spooled so it goes out with a Content-Length."""
    if isinstance(body, str):
        return body.encode("utf-8"), None
    if body is None or kwargs.get("content_length") is not None or _common.has_length(body):
        return body, None
    if hasattr(body, "__iter__") and not isinstance(body, (dict, set)):
        f, _ = _common.spool(body)
        return f, f
    return body, None


def _service_error(err: ServerError, route: Any) -> Any:
    headers = _CaseInsensitiveDict(err.headers or {})
    timestamp = None
    if headers.get("Date"):
        try:
            timestamp = _serde.deserialize_httptime(headers["Date"])
        except Exception:
            timestamp = None
    fields = {k: v for k, v in (("Code", err.code), ("Message", err.message), ("RequestId", err.request_id),
                                ("HostId", err.host_id), ("EC", err.ec)) if v}
    return _exceptions.ServiceError(
        status_code=err.status, code=err.code or "BadErrorResponse", message=err.message,
        request_id=err.request_id, ec=err.ec, timestamp=timestamp,
        request_target=f"POST https://{route}/?x-oss-write-get-object-response",
        snapshot=getattr(err, "body", b""), headers=headers, error_fileds=fields)


def _operation_error(exc: BaseException, route: Any) -> Exception:
    """The SDK's exception for an ossfast failure: OperationError wrapping what the SDK's
    pipeline would have raised."""
    if isinstance(exc, _exceptions.BaseError):
        inner: Any = exc
    elif isinstance(exc, ServerError):
        inner = _service_error(exc, route)
    elif isinstance(exc, TimeoutError) and exc.request_sent:
        inner = _exceptions.ResponseError(error=exc)  # as the SDK maps a read timeout
    elif isinstance(exc, TransportError):
        inner = _exceptions.RequestError(error=exc)
    elif isinstance(exc, InvalidRequestError):
        inner = _exceptions.ParamInvalidError(field=str(exc))
    else:
        inner = _exceptions.RequestError(error=exc)
    err = _exceptions.OperationError(name=OPERATION, error=inner)
    err.__cause__ = exc
    return err


def _result(res: Any) -> WriteGetObjectResponseResult:
    out = WriteGetObjectResponseResult()
    out.status_code = res.status
    try:
        out.status = http.HTTPStatus(res.status).phrase
    except ValueError:
        out.status = ""
    out.headers = _CaseInsensitiveDict(res.headers)
    out.request_id = res.request_id
    out.result = res
    return out


def _refuse_wgor_environ_proxy(sdk_client: Any, route: Any) -> None:
    """WriteGetObjectResponse to where the environment (``HTTPS_PROXY``, ...) would send
    through a proxy: refused (ossfast connects directly). Costs nothing without such variables."""
    if not _http.any_proxy_variable():
        return
    env = _os.environ
    setup = _Setup(sdk_client)
    url = setup.endpoint or env.get("OSSFAST_ENDPOINT") or f"{setup.scheme}://{route}/"
    _refuse_environ_proxy(url if "://" in url else f"http://{url}")


def write_get_object_response(client: Any, route: str, token: str, status: Any = 200, body: Any = b"",
                              **forwarded_keywords: Any) -> WriteGetObjectResponseResult:
    """Send WriteGetObjectResponse with the credentials provider, region and signature
    version of ``client`` (an ``alibabacloud_oss_v2.Client``), through ossfast's own client
    kept for it: never through the SDK's retryer (the token is single use; ossfast retries
    only when no body can be delivered twice).

    ``status``: the status forwarded to the waiting client (int or str). ``body``: bytes,
    str (sent as UTF-8), a binary file, or an iterable of bytes (spooled to a temporary
    file first when no ``content_length`` is given, since OSS needs a Content-Length).
    Keywords: ossfast's (``content_type``, ``etag``, ..., ``headers``, ``content_length``,
    ``content_md5``, ``progress``), also spelled as the SDK would (``fwd_header_content_type``).

    Connection: to the route (https, or http when the config disables SSL); a configured
    endpoint that is not an aliyuncs.com host (an IP, the emulator) is connected to instead,
    with Host still the route; ``OSSFAST_ENDPOINT`` applies as for ``ossfast.Client``.

    Errors: ``alibabacloud_oss_v2.exceptions.OperationError`` wrapping ``ServiceError``
    (OSS answered an error), ``RequestError`` (connection failed, or timed out before the
    request went out), ``ResponseError`` (timed out waiting for the reply),
    ``CredentialsFetchError``/``CredentialsEmptyError`` or ``ParamInvalidError`` (bad input,
    nothing sent); the ossfast exception is its ``__cause__``.
    """
    spooled = None
    try:
        kw = _keywords(forwarded_keywords)
        fast = fast_client(client)
        _refuse_wgor_environ_proxy(client, route)
        data, spooled = _body(body, kw)
        res = fast.write_get_object_response(route, token, status, data, **kw)
    except (TypeError, _exceptions.OperationError):
        raise
    except Exception as exc:
        raise _operation_error(exc, route) from exc
    finally:
        if spooled is not None:
            spooled.close()
    return _result(res)


async def async_write_get_object_response(client: Any, route: str, token: str, status: Any = 200,
                                          body: Any = b"", **forwarded_keywords: Any
                                          ) -> WriteGetObjectResponseResult:
    """:func:`write_get_object_response` for asyncio code, through an ``ossfast.AsyncClient``
    kept per SDK client (``Client`` or ``aio.AsyncClient``) and event loop."""
    spooled = None
    try:
        kw = _keywords(forwarded_keywords)
        fast = fast_async_client(client)
        _refuse_wgor_environ_proxy(client, route)
        data, spooled = _body(body, kw)
        res = await fast.write_get_object_response(route, token, status, data, **kw)
    except (TypeError, _exceptions.OperationError):
        raise
    except Exception as exc:
        raise _operation_error(exc, route) from exc
    finally:
        if spooled is not None:
            spooled.close()
    return _result(res)


# ---------------------------------------------------------------- the transport


def _transport_error(exc: BaseException) -> Exception:
    """The SDK's exception for a failed exchange, as its requests transport maps them: a
    timeout waiting for the reply is a ResponseError, everything else a RequestError (the
    SDK's retryer retries both)."""
    if isinstance(exc, TimeoutError) and exc.request_sent:
        err: Exception = _exceptions.ResponseError(error=exc)
    else:
        err = _exceptions.RequestError(error=exc)
    err.__cause__ = exc
    return err


# ---------------------------------------------------------------- CRC-64 inside HttpClient calls
#
# With its CRC-64 checks on (the default) the SDK makes an ``alibabacloud_oss_v2.crc.Crc64``
# for every upload and download: its constructor builds crcmod's 256-entry table in Python
# (about 300 us) and crcmod hashes at about 0.4 GB/s, most of a 64 MiB put_object. While an
# ``HttpClient(fast_crc=True)`` exists, ``alibabacloud_oss_v2.crc.Crc64`` is ``_ScopedCrc64``,
# a subclass computing the same values: fed inside an ``HttpClient.send`` on this thread or an
# ``AsyncHttpClient.send`` in this task (the request body as the transport reads it) or the streamed reply bytes ``iter_bytes`` just
# gave, it shares one table and hashes with ossfast's ``crc64``; anywhere else (the SDK's
# default transport, a ``fast_crc=False`` client) it is exactly the SDK's own object, built by
# the SDK's ``__init__``. The class is put back when the last such HttpClient is closed or
# collected, unless something else replaced it meanwhile (``_common.CrcScope``, shared with
# the oss2 ``Session``).

_crc_scope: Any = None
_crc_scope_lock = threading.Lock()


def _v2_crc_scope() -> Any:
    """The CrcScope of ``alibabacloud_oss_v2.crc.Crc64`` (crcmod imported on first use, as the SDK does)."""
    global _crc_scope
    scope = _crc_scope
    if scope is None:
        with _crc_scope_lock:
            scope = _crc_scope
            if scope is None:
                from alibabacloud_oss_v2 import crc as _crc

                scope = _common.CrcScope(_crc, "Crc64", "_crc")

                class _ScopedCrc64(_common.ScopedCrc, scope.original):  # type: ignore[misc, valid-type]
                    """``alibabacloud_oss_v2.crc.Crc64`` with the same values; cheap inside HttpClient calls."""

                    _SCOPE = scope
                    _LAZY = ("_crc",)

                    def write(self, data: bytes) -> None:
                        self.update(data)

                    def sum64(self) -> int:
                        return self._value()

                scope.scoped = _ScopedCrc64
                _crc_scope = scope
    return scope


def _refuse_send_options(kwargs: Dict[str, Any]) -> None:
    """What ``send`` was given beyond ``stream``, ``connect_timeout`` and ``readwrite_timeout``
    (the SDK passes nothing else; the SDK's RequestsHttpClient hands the rest to requests, e.g.
    ``proxies``, ``verify``, ``cert``): refused, never silently dropped. None, and
    ``allow_redirects=False`` (what ossfast does anyway), are accepted."""
    refused = sorted(k for k, v in kwargs.items()
                     if v is not None and not (k == "allow_redirects" and not v))
    if refused:
        raise _exceptions.ParamInvalidError(
            field=f"{', '.join(refused)} (not an option of ossfast's HttpClient.send)")


def _refuse_environ_proxy(url: Any) -> None:
    """A URL the environment sends through a proxy (``HTTPS_PROXY``, ...; the SDK's default
    transport honours it): refused, as ``proxy_host`` is, rather than connected to directly."""
    if isinstance(url, str) and _http.environ_proxy(url):
        raise _exceptions.ParamInvalidError(
            field="url: the environment (HTTPS_PROXY, HTTP_PROXY or ALL_PROXY) sends it through a proxy, and "
                  "ossfast connects directly (list the host in NO_PROXY, or use the SDK's own transport)")


class HttpClient(_types.HttpClient):
    """alibabacloud-oss-v2's ``HttpClient`` over ossfast's transport:
    ``oss.Config(..., http_client=fast_v2.HttpClient())``. Any operation works through it.

    Keywords as the SDK's ``RequestsHttpClient``: ``connect_timeout`` (10 s),
    ``readwrite_timeout`` (20 s; also per call, as the SDK passes it), ``max_connections``
    (idle connections kept per host, 20), ``insecure_skip_verify``, ``block_size`` (what
    ``iter_bytes`` of a reply read whole is cut into). ``proxy_host`` and
    ``enabled_redirect=True`` are refused (``ParamInvalidError``): ossfast connects to the
    host and never follows redirects; so are ``session`` and ``adapter`` (requests objects),
    and ``send`` options other than ``stream``, ``connect_timeout`` and ``readwrite_timeout``
    (the SDK's transport hands them to requests). ``verify``: also a CA file or directory; ossfast
    uses the system's CA store where requests uses certifi's bundle. ``ssl_context``
    replaces both.

    ``fast_crc`` (default True): the SDK's CRC-64 checks (``enable_crc``, on by default) build
    crcmod's table in Python for every upload and download and hash at crcmod's speed, most
    of the time of a large put_object. While any HttpClient made with ``fast_crc`` exists
    (until ``close()`` or garbage collection), ``alibabacloud_oss_v2.crc.Crc64`` is a subclass
    that computes the same values and, for a CRC fed inside this client's ``send`` (the
    request body) or the streamed reply bytes its ``iter_bytes`` gives, shares one table and
    hashes with ossfast's ``crc64``. Elsewhere (the SDK's default transport in the same
    process) it is the SDK's own object, built as the SDK builds it; the class is put back
    exactly when the last such client goes (unless something else replaced it meanwhile).
    ``fast_crc=False`` leaves the SDK untouched. A closed client that sends again holds the
    swap again until it is closed again.

    Requests go on the wire as the SDK's default transport sends them (the same headers and
    framing: see ``ossfast/integrations/_http.py``). ``send(request, stream=True)`` gives a
    reply whose body is read as it arrives (``iter_bytes``/``read``); without ``stream`` the
    body is read before ``send`` returns. Reply bodies are never decoded, and ``reason`` is
    the standard phrase of the status. Transport failures raise the SDK's
    ``RequestError`` (connection refused or reset, timeout before the request went out,
    malformed reply) or ``ResponseError`` (no reply in time), which its retryer retries when
    the body can be sent again; ossfast's own error is the ``__cause__``. A body that is not
    what it declares (more or fewer bytes than its length, a closed file) raises
    ``ParamInvalidError`` before anything is sent: no retry can help it. The SDK owns the
    retries: the transport itself retries only a request that met a stale pooled
    connection. Thread-safe.
    """

    def __init__(self, **kwargs: Any) -> None:
        self._connect_timeout = float(kwargs.get("connect_timeout") or _defaults.DEFAULT_CONNECT_TIMEOUT)
        self._read_timeout = float(kwargs.get("readwrite_timeout") or _defaults.DEFAULT_READWRITE_TIMEOUT)
        self._max_connections = int(kwargs.get("max_connections") or _defaults.DEFAULT_MAX_CONNECTIONS)
        self._block_size = int(kwargs.get("block_size") or _defaults.DEFAULT_BLOCK_SIZE)
        if kwargs.get("proxy_host"):
            raise _exceptions.ParamInvalidError(field="proxy_host (ossfast's HttpClient connects directly)")
        if kwargs.get("enabled_redirect"):
            raise _exceptions.ParamInvalidError(field="enabled_redirect (ossfast's HttpClient never redirects)")
        for name in ("session", "adapter"):  # the SDK's RequestsHttpClient sends through these
            if kwargs.get(name) is not None:
                raise _exceptions.ParamInvalidError(
                    field=f"{name} (a requests object: ossfast's HttpClient has its own transport)")
        verify = kwargs.get("verify", True)
        self._verify = False if kwargs.get("insecure_skip_verify") is True else verify
        self._ssl_context = kwargs.get("ssl_context")
        self._pool: Any = None
        self._lock = threading.Lock()
        self._timeouts: Dict[Any, Any] = {}
        self._fast_crc = 1 if kwargs.get("fast_crc", True) else 0
        self._crc: Any = _v2_crc_scope() if self._fast_crc else None
        self._crc_lease: Any = None

    def __repr__(self) -> str:
        return f"ossfast.integrations.oss_v2.HttpClient(max_connections={self._max_connections})"

    def open(self) -> Any:
        """Make the connection pool (``send`` does it on first use); idempotent."""
        pool = self._pool
        if pool is None:
            with self._lock:
                pool = self._pool
                if pool is None:
                    if self._crc is not None and self._crc_lease is None:
                        self._crc_lease = self._crc.lease(self)
                    pool = self._pool = _http.Pool(maxsize=self._max_connections, verify=self._verify,
                                                   ssl_context=self._ssl_context)
        return pool

    def close(self) -> None:
        """Close the pooled connections (a later ``send`` opens a new pool) and give back
        the CRC swap (see ``fast_crc``)."""
        with self._lock:
            pool, self._pool = self._pool, None
            lease, self._crc_lease = self._crc_lease, None
        if pool is not None:
            pool.close()
        if lease is not None:
            lease()  # once: the finalizer runs at most one time

    def __enter__(self) -> "HttpClient":
        self.open()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _timeout(self, connect: Any, read: Any) -> Any:
        key = (connect, read)
        t = self._timeouts.get(key)
        if t is None:
            t = _http.Timeout(float(connect), float(read))
            if len(self._timeouts) < 64:
                self._timeouts[key] = t
        return t

    def send(self, request: Any, **kwargs: Any) -> "HttpResponse":
        return self._send(request, request.body, kwargs)

    def _send(self, request: Any, body: Any, kwargs: Dict[str, Any]) -> "HttpResponse":
        pool = self._pool or self.open()
        connect = kwargs.pop("connect_timeout", None) or self._connect_timeout
        read = kwargs.pop("readwrite_timeout", None) or self._read_timeout
        stream = bool(kwargs.pop("stream", False))
        _refuse_send_options(kwargs)
        _refuse_environ_proxy(request.url)
        crc, fast = self._crc, self._fast_crc
        if crc is not None:
            crc.enter(fast)
        try:
            reply = _http.send(pool, request.method, request.url, _http.header_pairs(request.headers),
                               body, self._timeout(connect, read), stream=stream)
        except InvalidRequestError as exc:  # a body that is not what it says: not worth a retry
            err = _exceptions.ParamInvalidError(field=str(exc))
            raise err from exc
        except (TransportError, ValueError) as exc:  # ValueError: CR/LF in a header (requests: RequestError)
            raise _transport_error(exc) from exc
        finally:
            if crc is not None:
                crc.exit(fast)
        return HttpResponse(request, reply, stream, self._block_size, crc)


class HttpResponse(_types.HttpResponse):
    """A reply through :class:`HttpClient`: the SDK's ``HttpResponse``."""

    def __init__(self, request: Any, reply: Any, stream: bool, block_size: int, crc: Any = None) -> None:
        self._request = request
        self._crc = crc  # HttpClient(fast_crc=True): the streamed pieces are marked for the SDK's CRC
        self._status = reply.status
        self._headers = _http.reply_headers(reply.raw_headers, _CaseInsensitiveDict)
        self._block_size = block_size
        if stream:
            self._reply = reply
            self._content: Any = None
            self._closed = False
            self._consumed = False
        else:
            self._reply = None
            self._content = reply.body
            self._closed = True
            self._consumed = True

    @property
    def request(self) -> Any:
        return self._request

    @property
    def status_code(self) -> int:
        return self._status

    @property
    def headers(self) -> Any:
        return self._headers

    @property
    def reason(self) -> str:
        return _http.reason(self._status)

    @property
    def is_closed(self) -> bool:
        return self._closed

    @property
    def is_stream_consumed(self) -> bool:
        return self._consumed

    @property
    def content(self) -> bytes:
        if self._content is None:
            raise _exceptions.ResponseNotReadError()
        return self._content

    def __repr__(self) -> str:
        ctype = self._headers.get("Content-Type", "")
        return f"<HttpResponse: {self._status} {self.reason}, Content-Type: {ctype}>"

    def __enter__(self) -> "HttpResponse":
        return self

    def __exit__(self, *args: Any) -> None:
        self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            reply, self._reply = self._reply, None
            if reply is not None:
                reply.close()
            if self._crc is not None:
                self._crc.unmark(self)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def read(self) -> bytes:
        if self._content is None:
            reply = self._reply
            if reply is None:
                raise _exceptions.StreamClosedError()
            try:
                self._content = reply.read()
            except TransportError as exc:
                self.close()
                raise _transport_error(exc) from exc
        self._consumed = True
        self.close()
        return self._content

    def iter_bytes(self, **kwargs: Any) -> Any:
        """The body: a streamed reply's pieces as they arrive (up to 64 KiB each, not cut to
        ``block_size``); a reply read whole in ``block_size`` pieces."""
        block_size = kwargs.pop("block_size", None) or self._block_size
        content = self._content
        if content is not None:
            return (content[i:i + block_size] for i in range(0, len(content), block_size))
        return self._stream()

    def _stream(self) -> Any:
        reply = self._reply
        if reply is None:
            raise _exceptions.StreamClosedError()
        self._consumed = True
        try:
            while True:
                try:
                    piece = reply.read_some()
                except TransportError as exc:
                    raise _transport_error(exc) from exc
                if not piece:
                    return
                if self._crc is not None:
                    self._crc.mark(piece, self)  # a Crc64 fed this piece next is part of this call
                yield piece
        finally:
            self.close()


class AsyncHttpClient(_types.AsyncHttpClient):
    """alibabacloud-oss-v2's ``AsyncHttpClient`` over ossfast's asyncio driver:
    ``oss.Config(..., http_client=fast_v2.AsyncHttpClient())`` for ``oss.aio.AsyncClient``.

    Same keywords, replies, exceptions and wire bytes as :class:`HttpClient`, on the running
    event loop: its own connection pool there (``ossfast/_async/``), no worker thread for
    buffer bodies or replies (a regular file body is read in the loop's default executor).
    ``send(request, stream=True)`` gives a reply whose body is read as it arrives. An async
    iterable body (the SDK's CRC tee) is awaited piece by piece and goes with a
    Content-Length when it has a ``len()`` (aiohttp, the SDK's default, sends those
    chunked; OSS takes both); without one it goes chunked. A cancelled ``send`` aborts its
    connection (a cut body never looks complete to the server). Use one instance on one
    event loop at a time (another loop gets a new pool).

    ``fast_crc`` (default True) as :class:`HttpClient`'s: while the client is open the SDK's
    ``Crc64`` is the scoped subclass, and a CRC fed inside this client's ``send`` (the SDK's
    CRC tee over the request body) or the streamed reply pieces its ``iter_bytes`` gives
    shares one table and hashes with ossfast's ``crc64``. "Inside" follows the asyncio task
    (a context variable), so another task on the same loop, e.g. one using the SDK's default
    aiohttp transport, keeps the SDK's own CRC objects. ``close()`` gives the swap back.
    """

    def __init__(self, **kwargs: Any) -> None:
        self._sync = HttpClient(**kwargs)  # the keywords, timeouts and TLS settings; no I/O
        self._apool: Any = None
        self._loop: Any = None

    def __repr__(self) -> str:
        return f"ossfast.integrations.oss_v2.AsyncHttpClient(max_connections={self._sync._max_connections})"

    def _pool(self) -> Any:
        loop = asyncio.get_running_loop()
        pool = self._apool
        if pool is None or self._loop is not loop or pool.closed:
            from .._async.connection import AsyncPool

            if pool is not None:
                pool.close()
            tls = self._sync.open()  # only its TLS context is used: the verify rules are HttpClient's
            pool = self._apool = AsyncPool(maxsize=self._sync._max_connections,
                                           ssl_context_factory=tls.ssl_context)
            self._loop = loop
        return pool

    async def open(self) -> None:
        self._pool()

    async def close(self) -> None:
        pool, self._apool = self._apool, None
        if pool is not None:
            pool.close()
        self._sync.close()

    async def __aenter__(self) -> "AsyncHttpClient":
        await self.open()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def send(self, request: Any, **kwargs: Any) -> "AsyncHttpResponse":
        from .._async.request import request as _arequest

        pool = self._pool()
        sync = self._sync
        connect = kwargs.pop("connect_timeout", None) or sync._connect_timeout
        read = kwargs.pop("readwrite_timeout", None) or sync._read_timeout
        stream = bool(kwargs.pop("stream", False))
        _refuse_send_options(kwargs)
        _refuse_environ_proxy(request.url)
        method = request.method
        crc, fast = sync._crc, sync._fast_crc
        if crc is not None:
            crc.enter(fast)  # a context variable: this task's, across the awaits below
        try:
            key, host, target = _http.split_url(request.url)
            hdrs = [("Host", host)]
            declared = None
            for name, value in _http.header_pairs(request.headers):
                if len(name) == 14 and name.lower() == "content-length":
                    declared = value  # the transport writes the one Content-Length line
                else:
                    if len(name) == 6 and name.lower() == "expect":
                        _http.refuse_expect(value)
                    hdrs.append((name, value))
            body = request.body
            if body is not None and hasattr(body, "__aiter__"):
                length = len(body) if hasattr(body, "__len__") else None
                if length is None:
                    data, chunked = body, True
                elif length <= _http.SMALL_BODY:  # read now: head and body in one write
                    data, length, chunked = _http.frame(method, await _collect(body, length), hdrs)
                else:
                    data, chunked = body, False
            else:
                data, length, chunked = _http.frame(method, body, hdrs)
            if declared is not None:  # as HttpClient (_http.send): the body's own length wins
                data, length, chunked = _http._declared(declared, data, length, chunked)
            reply = await _arequest(pool, key, sync._timeout(connect, read), method, target, hdrs, data,
                                    content_length=length, stream=stream, chunked=chunked)
        except InvalidRequestError as exc:  # a body that is not what it says: not worth a retry
            err = _exceptions.ParamInvalidError(field=str(exc))
            raise err from exc
        except (TransportError, ValueError) as exc:  # ValueError: CR/LF in a header (requests: RequestError)
            raise _transport_error(exc) from exc
        finally:
            if crc is not None:
                crc.exit(fast)
        return AsyncHttpResponse(request, reply, stream, sync._block_size, crc)


async def _collect(body: Any, length: int) -> bytes:
    """A small async iterable body read whole; it must give exactly ``length`` bytes."""
    pieces = _http.Gather(length)
    async for piece in body:
        if pieces.add(piece):
            break
    return pieces.joined()


class AsyncHttpResponse(_types.AsyncHttpResponse):
    """A reply through :class:`AsyncHttpClient`: the SDK's ``AsyncHttpResponse``."""

    def __init__(self, request: Any, reply: Any, stream: bool, block_size: int, crc: Any = None) -> None:
        self._request = request
        self._crc = crc  # AsyncHttpClient(fast_crc=True): the streamed pieces are marked for the SDK's CRC
        self._status = reply.status
        self._headers = _http.reply_headers(reply.raw_headers, _CaseInsensitiveDict)
        self._block_size = block_size
        if stream:
            self._reply = reply
            self._content: Any = None
            self._closed = False
            self._consumed = False
            self._loop: Any = asyncio.get_running_loop()  # the reply's connection lives there
        else:
            self._reply = None
            self._content = reply.body
            self._closed = True
            self._consumed = True

    @property
    def request(self) -> Any:
        return self._request

    @property
    def status_code(self) -> int:
        return self._status

    @property
    def headers(self) -> Any:
        return self._headers

    @property
    def reason(self) -> str:
        return _http.reason(self._status)

    @property
    def is_closed(self) -> bool:
        return self._closed

    @property
    def is_stream_consumed(self) -> bool:
        return self._consumed

    @property
    def content(self) -> bytes:
        if self._content is None:
            raise _exceptions.ResponseNotReadError()
        return self._content

    def __repr__(self) -> str:
        return f"<AsyncHttpResponse: {self.status_code} {self.reason}>"

    async def __aenter__(self) -> "AsyncHttpResponse":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            reply, self._reply = self._reply, None
            if reply is not None:
                reply.close()
            if self._crc is not None:
                self._crc.unmark(self)

    async def close(self) -> None:
        self._close()

    def __del__(self) -> None:
        """Collected with its stream neither read to the end nor closed: as the blocking
        HttpResponse (and aiohttp's reply) does, the connection is not kept checked out. It is
        given back (a body that had nothing left to read) or aborted (a body left unread),
        on its event loop: here when the loop collecting it is that one, else scheduled there
        (nothing when that loop is closed). No warning, as HttpResponse gives none."""
        if self.__dict__.get("_closed", True):
            return
        try:
            loop = self._loop
            try:
                here = asyncio.get_running_loop() is loop
            except RuntimeError:  # no loop running in this thread
                here = False
            if here:
                self._close()
            elif not loop.is_closed():
                loop.call_soon_threadsafe(self._close)
        except Exception:
            pass

    async def read(self) -> bytes:
        if self._content is None:
            reply = self._reply
            if reply is None:
                raise _exceptions.StreamClosedError()
            try:
                self._content = await reply.read()
            except TransportError as exc:
                self._close()
                raise _transport_error(exc) from exc
        self._consumed = True
        self._close()
        return self._content

    async def iter_bytes(self, **kwargs: Any) -> Any:
        """The body: a streamed reply's pieces as they arrive (not cut to ``block_size``); a
        reply read whole in ``block_size`` pieces."""
        block_size = kwargs.pop("block_size", None) or self._block_size
        content = self._content
        if content is not None:
            for i in range(0, len(content), block_size):
                yield content[i:i + block_size]
            return
        reply = self._reply
        if reply is None:
            raise _exceptions.StreamClosedError()
        self._consumed = True
        try:
            while True:
                try:
                    piece = await reply.read_some()
                except TransportError as exc:
                    raise _transport_error(exc) from exc
                if not piece:
                    return
                if self._crc is not None:
                    self._crc.mark(piece, self)  # a Crc64 fed this piece next (in this task) is this call's
                yield piece
        finally:
            self._close()


__all__ = ["HttpClient", "HttpResponse", "AsyncHttpClient", "AsyncHttpResponse", "SignerV1", "SignerV4", "write_get_object_response", "async_write_get_object_response",
           "WriteGetObjectResponseResult", "fast_client", "fast_async_client", "close", "aclose", "OPERATION"]
