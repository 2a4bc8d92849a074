"""OSS request signing for the sender: Signature V1 and V4, one C call per request.

Fast path for WriteGetObjectResponse: build the request's own header lines, then
let the signer append the lines that sign it (Date, x-oss-date, x-oss-content-sha256,
x-oss-security-token as the version needs, and Authorization)::

    signer = SignerV4(credentials, "cn-qingdao")      # or SignerV1(credentials)
    block = b"Host: ...\r\nx-oss-request-route: ...\r\n..."   # each line ends CRLF
    head = b"POST /?x-oss-write-get-object-response HTTP/1.1\r\n" + block \
        + signer.wgor_signature_lines(block, now) + b"\r\n"

General path: ask for :meth:`signing_headers`, put them in the request with the
others, and hand the header block to :meth:`authorization`::

    headers = [("Host", route), ..., *signer.signing_headers(now)]
    block = b"".join(b"%s: %s\r\n" % (n.encode(), v.encode()) for n, v in headers)
    headers.append(("Authorization", signer.authorization("POST", "/", WGOR_QUERY, block)))

The block may be the whole header section of the head (Host, Content-Length,
... are ignored): V1 signs Content-MD5, Content-Type, Date and every x-oss-*
header; V4 signs x-oss-*, Content-Type, Content-MD5 and the ``additional``
names, and takes its time from x-oss-date. Date strings are formatted once per
second; V4 signing keys are cached in C per (secret, day, region, product).
The Authorization formats are those of the official SDKs: ``OSS <ak>:<sig>`` and
alibabacloud-oss-v2's ``OSS4-HMAC-SHA256 Credential=<ak>/<scope>[,AdditionalHeaders=<names>],Signature=<hex>``.
"""
from __future__ import annotations

import math
import re
import time
from collections import namedtuple
from datetime import datetime

from ._backend import impl
from .credentials import Credentials
from .errors import InvalidRequestError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a cold start pays ~3 ms for it)
if TYPE_CHECKING:
    from typing import Any, Callable, Iterable, List, Optional, Tuple, Union

    Headers = List[Tuple[str, str]]
    Now = Union[datetime, float, int, None]

WGOR_METHOD = "POST"
WGOR_URI = "/"
WGOR_QUERY = "x-oss-write-get-object-response"
WGOR_RESOURCE = "/?x-oss-write-get-object-response"
"""The V1 canonical resource of WriteGetObjectResponse."""

_WGOR_RESOURCE = WGOR_RESOURCE.encode("ascii")
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
V4_ALGORITHM = "OSS4-HMAC-SHA256"

_v1_sign = impl.v1_sign
_v4_sign = impl.v4_sign
_time = time.time
_gmtime = time.gmtime

# ---- dates -------------------------------------------------------------------

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _format_second(sec: int) -> Tuple[int, str, str]:
    t = _gmtime(sec)
    http = "%s, %02d %s %04d %02d:%02d:%02d GMT" % (
        _WEEKDAYS[t.tm_wday], t.tm_mday, _MONTHS[t.tm_mon], t.tm_year, t.tm_hour, t.tm_min, t.tm_sec)
    iso = "%04d%02d%02dT%02d%02d%02dZ" % (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)
    return sec, http, iso


_last_second = _format_second(0)  # (second, http date, x-oss-date); replaced as one tuple


def _second(now: Now) -> int:
    if now is None:
        return int(_time())
    if isinstance(now, datetime):
        if now.tzinfo is None or now.utcoffset() is None:
            raise InvalidRequestError("the signing time must be an aware datetime (e.g. tzinfo=timezone.utc)",
                                      "date")
        return math.floor(now.timestamp())
    if isinstance(now, (int, float)) and not isinstance(now, bool):
        return math.floor(now)
    raise InvalidRequestError(
        f"the signing time must be an aware datetime or POSIX seconds, not {type(now).__name__}", "date")


def request_dates(now: Now = None) -> Tuple[str, str]:
    """(Date header value, x-oss-date value) for ``now`` (default: the current time).

    ``now`` is an aware datetime or POSIX seconds; fractions of a second are dropped.
    """
    global _last_second
    sec = _second(now)
    last = _last_second
    if last[0] != sec:
        last = _last_second = _format_second(sec)
    return last[1], last[2]


def http_date(now: Now = None) -> str:
    """RFC 1123 date in GMT (``Tue, 31 Oct 2023 03:17:58 GMT``), independent of the locale."""
    return request_dates(now)[0]


def region_from_route(route: str) -> Optional[str]:
    """The region in a WGOR route (``...opap.oss-cn-qingdao-internal.oss-object-process...``
    gives ``cn-qingdao``), or None when the route does not name one."""
    m = _ROUTE_REGION.search(route)
    return m.group(1) if m else None


_ROUTE_REGION = re.compile(r"(?:^|\.)oss-([a-z0-9-]+?)(?:-internal)?\.oss-object-process\.", re.I)

# ---- request parts: str or bytes in, canonical bytes out, memoized ---------------

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _as_bytes(value: Any, field: str) -> bytes:
    if type(value) is bytes:
        return value
    if isinstance(value, str):
        try:
            return value.encode("ascii")
        except UnicodeEncodeError:
            raise InvalidRequestError(f"{field} must be ASCII (already canonical)", field) from None
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise InvalidRequestError(f"{field} must be str or bytes, not {type(value).__name__}", field)


def normalize_additional(additional: Union[str, bytes, Iterable[str], None]) -> bytes:
    """The V4 AdditionalHeaders list: lowercased, sorted, without repeats and without
    the headers V4 signs anyway (x-oss-*, content-type, content-md5), ";"-joined."""
    if not additional:
        return b""
    if isinstance(additional, bytes):
        additional = additional.decode("latin-1")
    names = additional.split(";") if isinstance(additional, str) else list(additional)
    out = set()
    for name in names:
        if not isinstance(name, str):
            raise InvalidRequestError("additional header names must be str", "additional")
        name = name.strip().lower()
        if not name:
            continue
        if not _TOKEN.fullmatch(name):
            raise InvalidRequestError(f"additional header name {name!r} is not a valid header name",
                                      "additional")
        if name.startswith("x-oss-") or name in ("content-type", "content-md5"):
            continue
        out.add(name)
    return ";".join(sorted(out)).encode("ascii")


_parts_memo: dict = {}


def _request_parts(method: Any, uri: Any, query: Any, additional: Any) -> Tuple[bytes, bytes, bytes, bytes]:
    """(method, uri, query, normalized additional) as bytes; memoized, since a sender
    signs the same few shapes of request over and over."""
    key = (method, uri, query, additional)
    try:
        return _parts_memo[key]
    except (KeyError, TypeError):
        pass
    parts = (_as_bytes(method, "method"), _as_bytes(uri, "uri"), _as_bytes(query, "query"),
             normalize_additional(additional))
    if not parts[0] or not parts[1]:
        raise InvalidRequestError("method and uri must not be empty", "method" if not parts[0] else "uri")
    try:
        if len(_parts_memo) > 256:
            _parts_memo.clear()
        _parts_memo[key] = parts
    except TypeError:  # an unhashable additional list
        pass
    return parts


def _is_wgor(method: Any, uri: Any, query: Any) -> bool:
    """Is this ("POST", "/", WGOR_QUERY) as str? (Type checks first: no bytes/str compare.)"""
    return (type(query) is str and type(uri) is str and type(method) is str
            and query == WGOR_QUERY and uri == "/" and method == "POST")


def _block(headers_block: Any) -> bytes:
    if type(headers_block) is bytes:
        return headers_block
    if isinstance(headers_block, (bytearray, memoryview)):
        return bytes(headers_block)
    raise InvalidRequestError(
        f"headers_block must be bytes (the request head's header lines), not {type(headers_block).__name__}",
        "headers")


def _credentials(credentials: Any) -> Credentials:
    if not isinstance(credentials, Credentials):
        raise InvalidRequestError(
            f"credentials must be an ossfast.Credentials, not {type(credentials).__name__}", "credentials")
    return credentials


# ---- signers -------------------------------------------------------------------

_V4_CACHE = impl.V4Cache()  # shared by every SignerV4 of the process
_X_OSS_DATE = re.compile(rb"(?im)^[ \t]*x-oss-date[ \t]*:[ \t]*([0-9]{8})")


def _encode_lines(headers: "Iterable[Tuple[str, str]]") -> bytes:
    return b"".join(b"%s: %s\r\n" % (n.encode("ascii"), v.encode("ascii")) for n, v in headers)


def _v4_day(block: bytes) -> bytes:
    """YYYYMMDD of the block's x-oss-date, which the C core has already validated
    (so there is exactly one such line)."""
    i = block.rfind(b"\nx-oss-date: ")  # the usual spelling; rfind: signing headers come last
    if i >= 0:
        day = block[i + 13:i + 21]
        if day.isdigit():
            return day
    m = _X_OSS_DATE.search(block)
    if m is None:  # unreachable: signing succeeded, so the header is there
        raise InvalidRequestError("cannot sign with V4: the request has no x-oss-date header", "x-oss-date")
    return m.group(1)


# What a signer needs for every request signed within one second: ``sec``, ``headers`` (the
# signing headers), ``lines`` (the same, as header lines), ``auth_lines`` (lines +
# b"Authorization: " + the Authorization value up to the signature), ``auth_prefix`` (the
# Authorization value up to the signature) and ``auth_prefix_b`` (the same, as bytes).
_Second = namedtuple("_Second", "sec headers lines auth_lines auth_prefix auth_prefix_b")


_NO_SECOND = _Second(-1, (), b"", b"", "", b"")


class _SignerBase:
    __slots__ = ("credentials", "_secret", "_token", "_wgor", "_second", "_heads")
    _wgor: Callable[[bytes], bytes]  # the bound one-call signer, set by each subclass
    version: str

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = _credentials(credentials)
        self._secret = credentials.access_key_secret.encode("ascii")
        self._token = credentials.security_token
        self._second = _NO_SECOND
        self._heads: Any = None

    def _signing_pairs(self, sec: int) -> Tuple[Tuple[str, str], ...]:
        raise NotImplementedError

    def _auth_prefix_of(self, headers: Tuple[Tuple[str, str], ...]) -> str:
        raise NotImplementedError

    def _at(self, now: Now) -> _Second:
        sec = int(_time()) if now is None else _second(now)
        cached = self._second
        if cached.sec != sec:
            headers = self._signing_pairs(sec)
            lines = _encode_lines(headers)
            prefix = self._auth_prefix_of(headers)
            prefix_b = prefix.encode("ascii")
            cached = self._second = _Second(sec, headers, lines, lines + b"Authorization: " + prefix_b,
                                            prefix, prefix_b)
        return cached

    def signing_headers(self, now: Now = None) -> Headers:
        """The headers the request must carry for this signature, as (name, value) pairs;
        ``now`` (default: the current time) gives Date and x-oss-date."""
        return list(self._at(now).headers)

    def wgor_signature_lines(self, headers_block: bytes, now: Now = None) -> bytes:
        """The header lines that sign ``POST /?x-oss-write-get-object-response``:
        the :meth:`signing_headers` and Authorization, each ending CRLF, to append to
        ``headers_block`` (the request's other header lines). One call per request."""
        if type(headers_block) is not bytes:
            headers_block = _block(headers_block)
        cached = self._second  # inlined _at(): this is the per-request path
        if now is not None or cached[0] != int(_time()):
            cached = self._at(now)
        return cached[3] + self._wgor(headers_block + cached[2]) + b"\r\n"

    @property
    def heads(self) -> Any:
        """The WriteGetObjectResponse head builder made from this signer's keys
        (``request.HeadBuilder``; one per signer, made on first use)."""
        heads = self._heads
        if heads is None:
            from .request import HeadBuilder

            heads = self._heads = HeadBuilder(self)
        return heads

    def wgor_head(self, route: bytes, token: bytes, status: int, content_length: int, md5: bytes = b"",
                  extra: bytes = b"", body: Any = None, now: Now = None) -> Tuple[bytes, Optional[int]]:
        """``self.heads.wgor_head(...)``: the whole signed head of a WriteGetObjectResponse (see
        ``request.HeadBuilder``), and the CRC-64 of ``body`` when one is given (else None)."""
        return self.heads.wgor_head(route, token, status, content_length, md5, extra, body, now)

    def route_head(self, route: bytes) -> Callable[..., Tuple[bytes, Optional[int]]]:
        """``head(token, status, body, fwd=b"", nfwd=-1)`` for one (validated) route: see
        ``request.HeadBuilder.route``."""
        return self.heads.route(route.decode("ascii"))[2]

    def wgor_sign(self, headers_block: bytes, now: Now = None) -> Tuple[Headers, bytes]:
        """Like :meth:`wgor_signature_lines`, but also gives the same headers as
        (name, value) pairs: ``(signing headers + [("Authorization", ...)], lines)``."""
        if type(headers_block) is not bytes:
            headers_block = _block(headers_block)
        cached = self._second
        if now is not None or cached[0] != int(_time()):
            cached = self._at(now)
        sig = self._wgor(headers_block + cached[2])
        headers = list(cached[1])
        headers.append(("Authorization", cached[4] + sig.decode("ascii")))
        return headers, cached[3] + sig + b"\r\n"


class SignerV1(_SignerBase):
    """Signature V1 (``Authorization: OSS <ak>:<base64 HMAC-SHA1>``).

    The request must carry the ``Date`` (and, for STS, the ``x-oss-security-token``)
    from :meth:`signing_headers`. Thread-safe; cheap to make.
    """

    version = "v1"
    __slots__ = ("_prefix",)

    def __init__(self, credentials: Credentials) -> None:
        super().__init__(credentials)
        self._prefix = f"OSS {credentials.access_key_id}:"
        self._wgor = impl.v1_signer(self._secret, b"POST", _WGOR_RESOURCE)

    def __repr__(self) -> str:
        return f"SignerV1(access_key_id={self.credentials.access_key_id!r})"

    def _signing_pairs(self, sec: int) -> Tuple[Tuple[str, str], ...]:
        headers: Tuple[Tuple[str, str], ...] = (("Date", request_dates(sec)[0]),)
        if self._token is not None:
            headers += (("x-oss-security-token", self._token),)
        return headers

    def _auth_prefix_of(self, headers: Tuple[Tuple[str, str], ...]) -> str:
        return self._prefix

    def authorization(self, method: Any, uri: Any, query: Any, headers_block: bytes,
                      additional: Any = b"") -> str:
        """The Authorization value for a request. V1 signs the canonical resource
        ``uri`` + "?" + ``query``; it has no additional headers (``additional`` must be empty)."""
        if additional:
            raise InvalidRequestError("Signature V1 cannot sign additional headers; use V4", "additional")
        if _is_wgor(method, uri, query):
            return self.wgor_authorization(headers_block)
        m, u, q, _ = _request_parts(method, uri, query, b"")
        resource = u + b"?" + q if q else u
        return self._prefix + _v1_sign(self._secret, m, _block(headers_block), resource)

    def wgor_authorization(self, headers_block: bytes) -> str:
        """:meth:`authorization` for ``POST /?x-oss-write-get-object-response``."""
        if type(headers_block) is not bytes:
            headers_block = _block(headers_block)
        return self._prefix + self._wgor(headers_block).decode("ascii")


class SignerV4(_SignerBase):
    """Signature V4 (``Authorization: OSS4-HMAC-SHA256 Credential=<ak>/<scope>,Signature=<hex>``).

    The request must carry ``x-oss-date``, ``x-oss-content-sha256: UNSIGNED-PAYLOAD``
    (and, for STS, ``x-oss-security-token``) from :meth:`signing_headers`; they also
    give it a ``Date``, which V4 does not sign but every OSS request carries.
    ``region`` is the OSS region id (``cn-qingdao``). Thread-safe; cheap to make.
    """

    version = "v4"
    __slots__ = ("region", "product", "_region", "_product", "_scope_head", "_prefixes", "_cache")

    def __init__(self, credentials: Credentials, region: str, product: str = "oss") -> None:
        super().__init__(credentials)
        for field, value in (("region", region), ("product", product)):
            if not isinstance(value, str) or not _TOKEN.fullmatch(value) or "/" in value:
                raise InvalidRequestError(
                    f"{field} must be a non-empty name such as 'cn-hangzhou' (got {value!r})", field)
        self.region = region
        self.product = product
        self._region = region.encode("ascii")
        self._product = product.encode("ascii")
        self._scope_head = f"{V4_ALGORITHM} Credential={credentials.access_key_id}/"
        self._prefixes: dict = {}
        self._cache = _V4_CACHE
        self._wgor = impl.v4_signer(_V4_CACHE, self._secret, b"POST", b"/", WGOR_QUERY.encode("ascii"), b"",
                                    self._region, self._product)

    def __repr__(self) -> str:
        return (f"SignerV4(access_key_id={self.credentials.access_key_id!r}, region={self.region!r}, "
                f"product={self.product!r})")

    def _signing_pairs(self, sec: int) -> Tuple[Tuple[str, str], ...]:
        date, iso = request_dates(sec)
        headers: Tuple[Tuple[str, str], ...] = (
            ("Date", date), ("x-oss-date", iso), ("x-oss-content-sha256", UNSIGNED_PAYLOAD))
        if self._token is not None:
            headers += (("x-oss-security-token", self._token),)
        return headers

    def _auth_prefix_of(self, headers: Tuple[Tuple[str, str], ...]) -> str:
        return self._prefix(headers[1][1][:8].encode("ascii"), b"")

    def _prefix(self, day: bytes, additional: bytes) -> str:
        """The Authorization value up to the signature, for a day and AdditionalHeaders list."""
        key = (day, additional)
        prefix = self._prefixes.get(key)
        if prefix is None:
            scope = f"{day.decode('ascii')}/{self.region}/{self.product}/aliyun_v4_request"
            prefix = self._scope_head + scope
            if additional:
                prefix += ",AdditionalHeaders=" + additional.decode("ascii")
            prefix += ",Signature="
            if len(self._prefixes) > 16:
                self._prefixes.clear()
            self._prefixes[key] = prefix
        return prefix

    def authorization(self, method: Any, uri: Any, query: Any, headers_block: bytes,
                      additional: Any = b"") -> str:
        """The Authorization value for a request. ``uri`` and ``query`` are canonical
        (for WGOR "/" and "x-oss-write-get-object-response"); ``additional`` names extra
        headers to sign (";"-joined or a list), which the block must contain."""
        if not additional and _is_wgor(method, uri, query):
            return self.wgor_authorization(headers_block)
        m, u, q, a = _request_parts(method, uri, query, additional)
        block = _block(headers_block)
        sig = _v4_sign(self._cache, self._secret, m, u, q, block, a, self._region, self._product)
        return self._prefix(_v4_day(block), a) + sig

    def wgor_authorization(self, headers_block: bytes) -> str:
        """:meth:`authorization` for ``POST /?x-oss-write-get-object-response``."""
        if type(headers_block) is not bytes:
            headers_block = _block(headers_block)
        sig = self._wgor(headers_block)
        return self._prefix(_v4_day(headers_block), b"") + sig.decode("ascii")


if TYPE_CHECKING:
    Signer = Union[SignerV1, SignerV4]


def make_signer(credentials: Credentials, version: str = "v4", region: Optional[str] = None,
                product: str = "oss") -> Signer:
    """A signer for ``version`` "v1" or "v4" (V4 needs ``region``)."""
    v = str(version).lower()
    if v in ("v1", "1"):
        return SignerV1(credentials)
    if v in ("v4", "4"):
        if not region:
            raise InvalidRequestError("Signature V4 needs a region (e.g. 'cn-hangzhou')", "region")
        return SignerV4(credentials, region, product)
    raise InvalidRequestError(f"signature_version must be 'v1' or 'v4', not {version!r}", "signature_version")


__all__ = [
    "SignerV1", "SignerV4", "Signer", "make_signer", "normalize_additional", "request_dates", "http_date",
    "region_from_route", "WGOR_METHOD", "WGOR_URI", "WGOR_QUERY", "WGOR_RESOURCE", "UNSIGNED_PAYLOAD",
]
