"""Building a WriteGetObjectResponse request without I/O.

``build()`` validates every argument and returns a ``PreparedRequest`` whose
``head`` is the exact request head as bytes (request line, headers,
CRLF CRLF) and whose body is classified (see body.py). Nothing here touches
a socket, so the output can be compared byte for byte.

Rules:
* every check runs before the head exists: bad input raises
  ``InvalidRequestError`` (field named) or ``TypeError`` and nothing is sent;
* header order on the wire is fixed: Host, Content-Length, Content-MD5,
  x-oss-request-route/-token, x-oss-fwd-status, the forwarded headers (spelled
  as in the API reference), extra headers, the signer's (Date, x-oss-date,
  x-oss-content-sha256, x-oss-security-token), Authorization;
* the head is signed once: the header lines are built, handed to the C core
  as one block, and the Authorization line is appended.
"""
from __future__ import annotations

import datetime as _dt
import re
import time
from collections.abc import Mapping
from urllib.parse import quote

from . import body as _body
from ._backend import impl
from .errors import InvalidRequestError
from .signing import _MONTHS as _MONTH_NAMES
from .signing import http_date

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a cold start pays ~3 ms for it)
if TYPE_CHECKING:
    from typing import Any, Callable, Iterable, List, Optional, Tuple

METHOD = "POST"
TARGET = "/?x-oss-write-get-object-response"
QUERY = "x-oss-write-get-object-response"

ALLOWED_STATUS = frozenset({200, 206, 301, 302, 303, 304, 400, 401, 403, 404, 405, 409, 411, 412, 416,
                            500, 503})

#: keyword argument -> forwarded header, spelled as in the API reference
FWD_HEADERS: Tuple[Tuple[str, str], ...] = (
    ("accept_ranges", "x-oss-fwd-header-Accept-Ranges"),
    ("cache_control", "x-oss-fwd-header-Cache-Control"),
    ("content_disposition", "x-oss-fwd-header-Content-Disposition"),
    ("content_encoding", "x-oss-fwd-header-Content-Encoding"),
    ("content_language", "x-oss-fwd-header-Content-Language"),
    ("content_range", "x-oss-fwd-header-Content-Range"),
    ("content_type", "x-oss-fwd-header-Content-Type"),
    ("etag", "x-oss-fwd-header-ETag"),
    ("expires", "x-oss-fwd-header-Expires"),
    ("last_modified", "x-oss-fwd-header-Last-Modified"),
)

#: headers the library writes itself; an extra header may not set them
_MANAGED = frozenset({
    "host", "date", "content-length", "authorization", "transfer-encoding", "connection",
    "x-oss-request-route", "x-oss-request-token", "x-oss-fwd-status", "x-oss-date",
    "x-oss-content-sha256", "x-oss-security-token", "content-md5", "expect", "upgrade", "te",
    "keep-alive", "proxy-connection",
} | {h.lower() for _, h in FWD_HEADERS})

#: how to set each header ossfast writes itself (said when ``headers`` tries to)
_MANAGED_HINT = {
    "content-length": "pass content_length=...", "content-md5": "pass content_md5=...",
    "x-oss-request-route": "it is the route argument", "host": "it is the route argument",
    "x-oss-request-token": "it is the token argument", "x-oss-fwd-status": "it is the status argument",
    "date": "prepare(date=...) fixes it", "x-oss-date": "prepare(date=...) fixes it",
    "authorization": "it comes from the credentials", "x-oss-security-token": "it comes from the credentials",
    "x-oss-content-sha256": "the V4 signer writes it",
    **{h.lower(): f"pass {kw}=..." for kw, h in FWD_HEADERS}}

_TOKEN_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_BAD_VALUE_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
_RANGE_RE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
_UNSAT_RE = re.compile(r"^bytes \*/(\d+)$")
_MD5_B64_RE = re.compile(r"^[A-Za-z0-9+/]{22}==$")
MAX_HEADER_VALUE = 8 * 1024
MAX_HEAD = 64 * 1024
#: header lines a request head may have besides Authorization (the signer's limit,
#: SIGN_MAX_LINES in csrc/sign.c and _pure.py); ossfast writes 6-10 of them itself
MAX_HEADER_LINES = 64


class PreparedRequest:
    """A request ready to go: ``head`` is sent as is, then ``content_length`` body bytes.

    ``headers`` lists (name, value) in send order, read back from ``head``.
    """

    __slots__ = ("head", "content_length", "route", "status", "_body", "_data", "_crc", "_sent", "progress")
    method = METHOD
    target = TARGET

    def __init__(self, head: bytes, content_length: int, route: str, status: int,
                 body: Optional[_body.Body], data: Optional[bytes] = None, crc: Optional[int] = None) -> None:
        # ``body`` None: a bytes body ``data`` with its CRC-64 ``crc``, made a MemoryBody when
        # first asked for (prepare() of a small request leaves that to the sender).
        self.head = head
        self.content_length = content_length
        self.route = route
        self.status = status
        self._body = body
        self._data = data
        self._crc = crc
        self._sent = False
        #: the ``progress`` given to prepare(): what send() calls when it is given none
        self.progress: Optional[Callable[[int, int], Any]] = None

    def take(self, progress: Optional[Callable[[int, int], Any]] = None) -> Optional[Callable[[int, int], Any]]:
        """What both clients' ``send()`` call before a byte goes; returns the ``progress`` to
        call (the one given, else prepare()'s). Refused with InvalidRequestError: a
        ``progress`` that is not callable; a file body closed since prepare() (its descriptor
        may name another file by now); a second send: a prepared request goes once, whether
        the first send succeeded or not (its token is single use, its body may be an iterator
        or a file read to its end)."""
        if progress is None:
            progress = self.progress
        elif not callable(progress):
            raise InvalidRequestError("progress: must be callable as progress(bytes_sent, total)",
                                      field="progress")
        if self._sent:
            raise InvalidRequestError(
                "prepared: this request was sent already (a PreparedRequest goes once: its token is "
                "single use); prepare() a new one", field="prepared")
        body = self._body
        if type(body) is _body.FileBody:
            body.check_open()
        self._sent = True
        return progress

    @property
    def body(self) -> _body.Body:
        """The body to send (a ``body.Body``)."""
        b = self._body
        if b is None:
            b = _body.MemoryBody(memoryview(self._data))  # type: ignore[arg-type]
            b.crc = self._crc
            self._body = b
            self._data = None
        return b

    @body.setter
    def body(self, value: _body.Body) -> None:
        self._body = value
        self._data = None

    @property
    def headers(self) -> List[Tuple[str, str]]:
        lines = self.head.decode("ascii").split("\r\n")[1:-2]
        return [tuple(line.split(": ", 1)) for line in lines]  # type: ignore[misc]

    def __repr__(self) -> str:  # the head carries the signature: never show it
        return (f"PreparedRequest(method={self.method!r}, target={self.target!r}, route={self.route!r}, "
                f"status={self.status}, content_length={self.content_length}, body={self.body.kind})")


# ---------------------------------------------------------------- validators

def _fail(fieldname: str, message: str) -> InvalidRequestError:
    return InvalidRequestError(f"{fieldname}: {message}", field=fieldname)


def check_value(fieldname: str, value: Any, *, allow_empty: bool = False) -> str:
    """A header value: a str without CR, LF, NUL or other controls, ASCII only."""
    if not isinstance(value, str):
        raise _fail(fieldname, f"must be a str, not {type(value).__name__}")
    if not value and not allow_empty:
        raise _fail(fieldname, "must not be empty")
    if _BAD_VALUE_RE.search(value):
        raise _fail(fieldname, "contains a control character (CR, LF, NUL...); header injection refused")
    if not value.isascii():
        raise _fail(fieldname, "must be ASCII (percent-encode it, or use RFC 5987 for filenames)")
    if len(value) > MAX_HEADER_VALUE:
        raise _fail(fieldname, f"is {len(value)} characters long; the limit is {MAX_HEADER_VALUE}")
    if value != value.strip(" \t"):
        raise _fail(fieldname, "has leading or trailing blanks")
    return value


def check_status(status: Any) -> int:
    if isinstance(status, bool):
        raise _fail("status", "must be an int such as 200, not a bool")
    if isinstance(status, str):
        s = status.strip()
        if not s.isdigit() or not s.isascii():
            raise _fail("status", f"{status!r} is not a number")
        status = int(s)
    elif not isinstance(status, int):
        raise _fail("status", f"must be an int, not {type(status).__name__}")
    if status not in ALLOWED_STATUS:
        raise _fail("status", f"{status} is not one OSS forwards; allowed: "
                    + " ".join(str(s) for s in sorted(ALLOWED_STATUS)))
    return int(status)


def check_route(route: Any) -> str:
    if not isinstance(route, str):
        raise _fail("route", f"must be a str host name, not {type(route).__name__}")
    if not route:
        raise _fail("route", "must not be empty (outputRoute of the FC event)")
    if _BAD_VALUE_RE.search(route) or not route.isascii():
        raise _fail("route", "contains control or non-ASCII characters")
    if "://" in route:
        raise _fail("route", "must be a bare host name, without a scheme")
    if "@" in route:
        raise _fail("route", "must be a bare host name, without userinfo")
    if "/" in route or "?" in route or "#" in route:
        raise _fail("route", "must be a bare host name, without a path")
    if ":" in route:
        raise _fail("route", "must be a bare host name, without a port")
    if len(route) > 253 or not _HOST_RE.match(route):
        raise _fail("route", f"{route[:80]!r} is not a valid host name")
    return route


def check_token(token: Any) -> str:
    if not isinstance(token, str):
        raise _fail("token", f"must be a str, not {type(token).__name__}")
    if not token:
        raise _fail("token", "must not be empty (outputToken of the FC event)")
    if _BAD_VALUE_RE.search(token) or not token.isascii():
        raise _fail("token", "contains control or non-ASCII characters; header injection refused")
    if " " in token or "\t" in token:
        raise _fail("token", "must not contain blanks")
    if len(token) > MAX_HEADER_VALUE:
        raise _fail("token", f"is {len(token)} characters long; the limit is {MAX_HEADER_VALUE}")
    return token


# IMF-fixdate with every field in range; only days 29-31 still need the calendar.
_IMF_FIXDATE = re.compile(r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (0[1-9]|[12]\d|3[01]) "
                          r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                          r"(\d{4}) (?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d GMT")
_MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES) if m}
_LONG_MONTHS = frozenset("Jan Mar May Jul Aug Oct Dec".split())


def check_http_date(fieldname: str, value: Any) -> str:
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
            raise _fail(fieldname, "a datetime must be timezone-aware (e.g. tzinfo=timezone.utc)")
        return http_date(value)
    if type(value) is str:
        # The usual form (IMF-fixdate, as http_date writes it) without the email parser: a
        # real date in it is what parsedate_to_datetime would accept too.
        m = _IMF_FIXDATE.fullmatch(value)
        if m is not None:
            day, mon, year = m.groups()
            if year != "0000" and (day <= "28" or (mon != "Feb" and (day != "31" or mon in _LONG_MONTHS))):
                return value
            try:
                _dt.date(int(year), _MONTHS[mon], int(day))
            except ValueError:
                pass  # the general parser below decides
            else:
                return value
    check_value(fieldname, value)
    from email.utils import parsedate_to_datetime  # only for dates not in the usual form

    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        parsed = None
    if parsed is None:
        raise _fail(fieldname, f"{value!r} is not an HTTP date such as 'Tue, 31 Oct 2023 03:17:58 GMT'")
    return value


def content_disposition(value: Any) -> str:
    """Validate, and encode a non-ASCII filename per RFC 6266 / RFC 5987."""
    if not isinstance(value, str):
        raise _fail("content_disposition", f"must be a str, not {type(value).__name__}")
    if _BAD_VALUE_RE.search(value):
        raise _fail("content_disposition", "contains a control character (CR, LF, NUL...); header injection refused")
    if value.isascii():
        return check_value("content_disposition", value)
    m = re.match(r'^\s*([A-Za-z-]+)\s*;\s*filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*?))\s*(;.*)?$', value)
    if not m or (m.group(4) and not m.group(4).isascii()):
        raise _fail("content_disposition",
                    "non-ASCII text is allowed only as the filename: 'attachment; filename=\"…\"'")
    dtype = m.group(1)
    name = m.group(2) if m.group(2) is not None else m.group(3)
    name = re.sub(r"\\(.)", r"\1", name)
    fallback = name.encode("ascii", "replace").decode("ascii").replace("\\", "_").replace('"', "_")
    encoded = quote(name, safe="!#$&+-.^_`|~")
    rest = m.group(4) or ""
    return check_value("content_disposition",
                       f"{dtype}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}{rest}")


def check_content_range(value: Optional[str], status: int, length: int) -> None:
    if value is None:
        if status == 206:
            raise _fail("content_range", "status 206 needs content_range, e.g. 'bytes 0-99/1000'")
        return
    if status not in (206, 416):
        raise _fail("content_range", f"is only sent with status 206 or 416, not {status}")
    if status == 416:
        if not _UNSAT_RE.match(value):
            raise _fail("content_range", f"{value!r}: with status 416 it must be 'bytes */<size>'")
        return
    m = _RANGE_RE.match(value)
    if not m:
        raise _fail("content_range", f"{value!r} does not parse; expected 'bytes <first>-<last>/<size or *>'")
    first, last = int(m.group(1)), int(m.group(2))
    if last < first:
        raise _fail("content_range", f"{value!r}: the last byte comes before the first")
    if m.group(3) != "*" and last >= int(m.group(3)):
        raise _fail("content_range", f"{value!r}: the range runs past the object size")
    if last - first + 1 != length:
        raise _fail("content_range",
                    f"{value!r} covers {last - first + 1} bytes but the body has {length}")


def normalize_extra_headers(headers: Any) -> List[Tuple[str, str]]:
    if headers is None:
        return []
    if isinstance(headers, Mapping):
        items: Iterable[Any] = headers.items()
    elif isinstance(headers, (list, tuple)):
        items = headers
    else:
        raise _fail("headers", f"must be a mapping or a list of (name, value) pairs, not {type(headers).__name__}")
    out = []
    seen = set()
    for item in items:
        try:
            name, value = item
        except (TypeError, ValueError):
            raise _fail("headers", f"{item!r} is not a (name, value) pair") from None
        if not isinstance(name, str) or not _TOKEN_RE.match(name):
            raise _fail("headers", f"{name!r} is not a valid header name (an HTTP token)")
        low = name.lower()
        if low in _MANAGED:
            raise _fail("headers", f"{name} is set by ossfast itself; "
                        + _MANAGED_HINT.get(low, "it cannot be set"))
        if low in seen:
            raise _fail("headers", f"{name} is given twice")
        seen.add(low)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        out.append((name, check_value(f"headers[{name}]", value, allow_empty=True)))
    return out


# ---------------------------------------------------------------- building

_ROUTES: dict = {}     # route -> its ASCII bytes, once validated
_time = time.time
_SMALL_CRC = 64 * 1024  # in-memory bodies up to this are hashed by the head's own C call
_ROUTES_MAX = 4096


def _route_bytes(route: Any) -> bytes:
    rb = _ROUTES.get(route) if type(route) is str else None
    if rb is None:
        rb = check_route(route).encode("ascii")
        if len(_ROUTES) >= _ROUTES_MAX:
            _ROUTES.clear()
        _ROUTES[route] = rb
    return rb


def _token_bytes(token: Any) -> bytes:
    """The token as ASCII bytes. Its bytes are checked by the C core while the head is
    built (printable ASCII without blanks is exactly what check_token allows), so only
    the type, the encoding and the length are checked here."""
    if type(token) is str and len(token) <= MAX_HEADER_VALUE:
        try:
            return token.encode("ascii")
        except UnicodeEncodeError:
            pass
    return check_token(token).encode("ascii")


def _lines(pairs: Iterable[Tuple[str, str]]) -> bytes:
    return "".join([f"{n}: {v}\r\n" for n, v in pairs]).encode("ascii")


def check_expires(fieldname: str, value: Any) -> str:
    """An HTTP date, or "0" / "-1": origins send these for "already expired", and RFC 9111
    (5.3) has caches read them so; oss2 and alibabacloud-oss-v2 forward them as they are."""
    if value == "0" or value == "-1":
        return value
    return check_http_date(fieldname, value)


# (keyword, line prefix, the validator of values that need more than check_value)
_FWD_ITEMS = tuple((kw, name.encode("ascii") + b": ",
                    {"content_disposition": lambda _kw, v: content_disposition(v),
                     "expires": check_expires, "last_modified": check_http_date}.get(kw))
                   for kw, name in FWD_HEADERS)


_FWD_KW = tuple(kw for kw, _, _ in _FWD_ITEMS)
_FWD_PREFIX = tuple(name + ": " for _, name in FWD_HEADERS)
_FWD_SPECIAL = tuple(special for _, _, special in _FWD_ITEMS)


def fwd_block(fwd: Mapping[str, Any]) -> bytes:
    """The forwarded-header lines of ``fwd`` (keyword -> value, None: absent), validated, as
    ``build`` writes them. InvalidRequestError names a bad one."""
    return _fwd_block(fwd)[0]


def fwd_values(values: Tuple[Any, ...]) -> bytes:
    """``fwd_block`` for the ten values in FWD_HEADERS order (None: absent), without a dict.
    (Per request: the absent ones cost one test each, the values are written into one str
    and encoded once.)"""
    text = ""
    i = -1
    for value in values:
        i += 1
        if value is not None:
            special = _FWD_SPECIAL[i]
            if special is not None:
                value = special(_FWD_KW[i], value)
            elif not (type(value) is str and value.isascii() and value.isprintable() and value
                      and value[0] != " " and value[-1] != " " and len(value) <= MAX_HEADER_VALUE):
                value = check_value(_FWD_KW[i], value)
            text += f"{_FWD_PREFIX[i]}{value}\r\n"
    return text.encode("ascii")


#: no forwarded headers, for the route head function (``fwd``, ``nfwd``)
NO_FWD = (b"", 0)


def fwd_lines(ar: Any, cc: Any, cd: Any, ce: Any, cl: Any, ct: Any, et: Any, ex: Any,
              lm: Any) -> Optional[Tuple[bytes, int]]:
    """The forwarded headers of the common request (FWD_HEADERS order, no Content-Range) as
    ``(lines, count)`` for the core to check (``extra_lines``), or None when a value is not a
    plain ASCII str or is refused (the general way then converts it or says what is wrong).
    The plain values are not checked here: the core checks every one of them (1 to 8192
    printable ASCII characters, no blank at either end) and that there are exactly ``count``
    lines, so a CR LF in a value is refused, not taken for a second header. Dates and
    Content-Disposition are checked (and written) by their validators, as the general way
    does. Never raises. (Written out header by header on purpose: a loop over the nine costs
    more than the rest of the Python side of prepare().)"""
    t = ""
    n = 0
    if ar is not None:
        if type(ar) is not str:
            return None
        t += "x-oss-fwd-header-Accept-Ranges: " + ar + "\r\n"
        n += 1
    if cc is not None:
        if type(cc) is not str:
            return None
        t += "x-oss-fwd-header-Cache-Control: " + cc + "\r\n"
        n += 1
    if cd is not None:
        try:
            t += "x-oss-fwd-header-Content-Disposition: " + content_disposition(cd) + "\r\n"
        except InvalidRequestError:
            return None
        n += 1
    if ce is not None:
        if type(ce) is not str:
            return None
        t += "x-oss-fwd-header-Content-Encoding: " + ce + "\r\n"
        n += 1
    if cl is not None:
        if type(cl) is not str:
            return None
        t += "x-oss-fwd-header-Content-Language: " + cl + "\r\n"
        n += 1
    if ct is not None:
        if type(ct) is not str:
            return None
        t += "x-oss-fwd-header-Content-Type: " + ct + "\r\n"
        n += 1
    if et is not None:
        if type(et) is not str:
            return None
        t += "x-oss-fwd-header-ETag: " + et + "\r\n"
        n += 1
    try:
        if ex is not None:
            t += "x-oss-fwd-header-Expires: " + check_expires("expires", ex) + "\r\n"
            n += 1
        if lm is not None:
            t += "x-oss-fwd-header-Last-Modified: " + check_http_date("last_modified", lm) + "\r\n"
            n += 1
        return (t.encode("ascii"), n) if n else NO_FWD
    except (InvalidRequestError, UnicodeEncodeError):
        return None


def _fwd_block(fwd: Mapping[str, Any]) -> Tuple[bytes, Optional[str]]:
    """The forwarded headers as bytes, in API-reference order, and the Content-Range value."""
    parts = []
    get = fwd.get
    for kw, prefix, special in _FWD_ITEMS:
        value = get(kw)
        if value is None:
            continue
        if special is not None:
            value = special(kw, value)
        elif not (type(value) is str and value.isascii() and value.isprintable() and value
                  and value[0] != " " and value[-1] != " " and len(value) <= MAX_HEADER_VALUE):
            value = check_value(kw, value)
        parts.append(prefix + value.encode("ascii") + b"\r\n")
    return b"".join(parts), get("content_range")


class HeadBuilder:
    """The WriteGetObjectResponse head builder of one signer: every WGOR head is made here, in one
    call to the core (``ossfast_wgor_head``: the header lines, the signature and the CRC-64 of a
    small body), by ``prepare()`` and by the client's fast path alike.

    It owns what that call needs besides the request: the core's builder handle (the signer's
    keys; for V4 the per-day signing keys are cached in C), the signing lines and Authorization
    prefix of the current second, and the validated routes with their one-route head functions.
    The signer only signs: it gives the keys and, once per second, the signing headers.
    Thread-safe (per-second lines are replaced as one tuple; the route cache is a dict).
    """

    __slots__ = ("signer", "_head", "_second", "_routes", "__weakref__")

    def __init__(self, signer: Any) -> None:
        self.signer = signer
        if signer.version == "v1":
            self._head = impl.wgor_head_builder(1, signer._secret)
        else:
            self._head = impl.wgor_head_builder(4, signer._secret, signer._region, signer._product,
                                                signer._cache)
        # (second, signing headers, their lines, len(lines), len(prefix), prefix: the
        # Authorization value up to the signature): the layout impl.wgor_route_head reads
        self._second: Tuple[Any, ...] = (-1, (), b"", 0, 0, b"")
        self._routes: dict = {}

    def _at(self, now: Any) -> Tuple[Any, ...]:
        signed = self.signer._at(now)  # the signing headers of that second (the signer's clock)
        cached = self._second
        if cached[0] != signed.sec:
            cached = self._second = (signed.sec, signed.headers, signed.lines, len(signed.lines),
                                     len(signed.auth_prefix_b), signed.auth_prefix_b)
        return cached

    def wgor_head(self, route: bytes, token: bytes, status: int, content_length: int, md5: bytes = b"",
                  extra: bytes = b"", body: Any = None, now: Any = None) -> Tuple[bytes, Optional[int]]:
        """The whole signed head, request line to blank line, and the CRC-64 of ``body`` when
        one is given (else None). ``route``: a validated host name; ``token`` is checked by the
        core; ``md5``: the Content-MD5 value or empty; ``extra``: header lines, each ending CRLF."""
        cached = self._second
        if now is not None or cached[0] != int(_time()):
            cached = self._at(now)
        return self._head(route, token, status, content_length, md5, extra, cached[2], cached[5], body)

    def route(self, route: Any) -> Tuple["HeadBuilder", bytes, Callable[..., Tuple[bytes, Optional[int]]]]:
        """``(self, route as bytes, head)`` for a route, validated once and remembered:
        ``head(token, status, body, fwd=b"", nfwd=-1)`` is ``wgor_head`` for that route, a ``bytes``
        body, no Content-MD5 and the current time, in one Python frame and one C call. ``fwd``:
        header lines (``fwd_values``); or, with ``nfwd`` >= 0, ``fwd_lines``' unchecked
        forwarded lines, whose values the core checks (InvalidRequestError if one is bad)."""
        entry = self._routes.get(route) if type(route) is str else None
        if entry is None:
            rb = check_route(route).encode("ascii")
            entry = (self, rb, impl.wgor_route_head(self, rb))
            if len(self._routes) >= _ROUTES_MAX:
                self._routes.clear()
            self._routes[route] = entry
        return entry


def build(*, route: Any, token: Any, status: Any, body: Any, fwd: Optional[Mapping[str, Any]],
          headers: Any, content_length: Any, content_md5: Any, date: Any,
          signer: Any) -> PreparedRequest:
    """Validate everything, classify the body, build and sign the head.

    ``fwd`` maps keyword names of forwarded headers to values (None: absent). ``signer``: a
    SignerV1/SignerV4 (its HeadBuilder makes the head).
    """
    fwd_b, content_range = _fwd_block(fwd) if fwd else (b"", None)
    return build_with(signer.heads.route(route), route, token, status, body, fwd_b, content_range,
                      headers, content_length, content_md5, date)


#: what prepare() builds with the route's one-call head function, as the fast path does
_ONE_CALL_STATUS = ALLOWED_STATUS - {206, 304}


def build_with(lane: Tuple[HeadBuilder, bytes, Callable[..., Tuple[bytes, Optional[int]]]], route: str,
               token: Any, status: Any, body: Any, fwd_b: bytes, content_range: Optional[str], headers: Any,
               content_length: Any, content_md5: Any, date: Any) -> PreparedRequest:
    """``build`` for a route already validated (``lane``: ``HeadBuilder.route(route)``) and the
    forwarded headers already written (``fwd_b``: ``fwd_values``; ``content_range`` checked here).
    The common request (a small bytes body, a plain status, nothing else) is one call to the
    route's head function, as on the client's fast path."""
    if (type(body) is bytes and len(body) <= _SMALL_CRC and headers is None and content_length is None
            and content_md5 is False and date is None and content_range is None and type(status) is int
            and status in _ONE_CALL_STATUS and type(token) is str and len(token) <= MAX_HEADER_VALUE):
        try:
            head, crc = lane[2](token.encode("ascii"), status, body, fwd_b)
        except (UnicodeEncodeError, InvalidRequestError):
            pass  # the general way below says exactly what is wrong
        else:
            if len(head) <= MAX_HEAD:
                return PreparedRequest(head, len(body), route, status, None, body, crc)
    heads, rb = lane[0], lane[1]
    tb = _token_bytes(token)
    if type(status) is not int or status not in ALLOWED_STATUS:
        status = check_status(status)
    extra = _lines(normalize_extra_headers(headers)) if headers is not None else b""

    if date is not None and not (isinstance(date, _dt.datetime) and date.tzinfo is not None
                                 and date.tzinfo.utcoffset(date) is not None):
        raise _fail("date", "must be a timezone-aware datetime")
    if content_md5 is not False and content_md5 is not True and content_md5 is not None and not (
            isinstance(content_md5, str) and _MD5_B64_RE.match(content_md5)):
        raise _fail("content_md5", "must be True, False, or the base64 of a 16-byte MD5")

    if type(body) is bytes and content_length is None:
        b: _body.Body = _body.MemoryBody(memoryview(body))
    else:
        b = _body.classify(body, content_length)
    try:
        n = b.length
        if status == 304 and n:
            raise _fail("body", "a 304 reply carries no body")
        if content_range is not None or status == 206:
            check_content_range(content_range, status, n)
        md5 = b""
        if content_md5 is True:
            md5 = _compute_md5(b).encode("ascii")
        elif content_md5:
            md5 = content_md5.encode("ascii")
        # One C call: the head, signed, and the CRC-64 of a small in-memory body (so the send
        # does not hash it again). Big bodies are hashed while they are sent.
        small = type(b) is _body.MemoryBody and b.crc is None and n <= _SMALL_CRC
        try:
            head, crc = heads.wgor_head(rb, tb, status, n, md5, fwd_b + extra if extra else fwd_b,
                                        b.view if small else None, date)
        except InvalidRequestError as exc:
            if exc.field == "token":
                check_token(token)  # says exactly what is wrong
            if exc.field == "headers" and f"more than {MAX_HEADER_LINES} lines" in str(exc):
                own = heads.wgor_head(rb, tb, status, n, md5, b"", None, date)[0].count(b"\r\n") - 3
                added = fwd_b.count(b"\n") + extra.count(b"\n")
                raise _fail("headers", f"{added} forwarded and extra header lines are too many: a request "
                            f"head may have at most {MAX_HEADER_LINES} header lines besides Authorization, "
                            f"ossfast writes {own} of them here, so at most {MAX_HEADER_LINES - own} "
                            "can be added") from None
            raise
        if small:
            b.crc = crc
        if len(head) > MAX_HEAD:
            raise _fail("headers", f"the request head would be {len(head)} bytes; the limit is {MAX_HEAD}")
    except BaseException:
        b.close()
        raise
    return PreparedRequest(head, n, route, status, b)


def _compute_md5(b: _body.Body) -> str:
    """Content-MD5 of the body, with its CRC-64 from the same pass (one C call per chunk):
    the CRC is kept on the body so that sending does not hash it again."""
    import base64

    from ._backend import impl

    if isinstance(b, _body.MemoryBody):
        h = impl.Md5()
        b.crc = impl.digest([b.view], 0, h)
        return base64.b64encode(h.digest()).decode("ascii")
    if isinstance(b, _body.FileBody) and b.replayable:
        h = impl.Md5()
        crc = 0
        buf = bytearray(min(_body.CHUNK, max(b.length, 1)))
        for chunk in b.read_chunks(buf):
            crc = impl.digest([chunk], crc, h)
        b.rewind()
        b.crc = crc
        return base64.b64encode(h.digest()).decode("ascii")
    raise _fail("content_md5", "needs an in-memory or seekable body; give the base64 value instead")

