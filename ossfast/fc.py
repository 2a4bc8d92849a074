"""Function Compute helpers: the Object FC Access Point event, the instance's client, and a
handler decorator that turns a transform into a complete FC function.

::

    import ossfast

    @ossfast.fc.handler                      # handler(event, context) for FC
    def transform(obj):
        return obj.read().upper()            # bytes, a file, an iterator, or fc.Response(...)

The decorator parses the event, opens the original object (``inputOssUrl``) as a stream,
runs the transform and sends its result with WriteGetObjectResponse through the
instance's one client (``fc.client(context)``: connections kept between invocations,
each invocation signing with its own credentials). Whatever happens, the waiting client
is answered: a transform that raises gets it a 500 (or the status of ``fc.Abort``) with a
short body, and the traceback goes to the log.

Caching: with no ETag from the transform, the decorator forwards a strong ETag derived
with xxh3-128 from the original's ETag and the transform's identity (its qualified name
and ``version=``), known before the body exists; a client ``If-None-Match`` that
matches it is answered 304 without reading or transforming the original.
``Last-Modified`` and ``Content-Type`` are forwarded from the original unless the
transform sets them.

Ranges: a client ``Range`` (``bytes=a-b``, ``a-``, ``-n``) is applied to the transformed
body (206 with ``Content-Range``, 416 when it cannot be satisfied), unless the transform
answers with a status other than 200 or sets ``content_range`` itself (it can read the
request's ``obj.range``).
"""
from __future__ import annotations

import contextvars
import functools
import json
import logging
import re
import threading
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

from .credentials import Credentials
from .errors import InvalidRequestError, OssfastError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a cold start pays ~3 ms for it)
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Iterator, Optional, Tuple, Union

log = logging.getLogger("ossfast.fc")

__all__ = ["ObjectContext", "ObjectRequest", "Response", "Abort", "client", "handler", "run_local",
           "LocalResult", "client_from_context", "derive_etag", "parse_range", "if_none_match"]


def _hide_query(url: str) -> str:
    """``url`` with its query (a presigned URL's signature) replaced by ``<hidden>``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    return urlunsplit(parts._replace(query="<hidden>" if parts.query else "", fragment=""))


class ObjectContext:
    """The ``getObjectContext`` of an Object FC Access Point event; immutable.

    ``input_oss_url`` (presigned: its query carries a read signature), ``output_route``,
    ``output_token`` (a single-use credential) and ``event`` (the whole event; ``{}`` when not
    given). ``repr`` hides the token and the presigned query of ``input_oss_url``.
    """

    # A plain class, not a dataclass: ``dataclasses`` imports ``inspect`` (with ``ast``, ``dis``
    # and ``tokenize``), a quarter of a cold ``import ossfast``. Frozen as a frozen dataclass
    # is: values in ``__dict__``, so copy and pickle work unchanged.
    input_oss_url: str
    output_route: str
    output_token: str
    event: Mapping[str, Any]

    def __init__(self, input_oss_url: str, output_route: str, output_token: str,
                 event: Optional[Mapping[str, Any]] = None) -> None:
        _set = object.__setattr__
        _set(self, "input_oss_url", input_oss_url)
        _set(self, "output_route", output_route)
        _set(self, "output_token", output_token)
        _set(self, "event", {} if event is None else event)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"ObjectContext is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"ObjectContext is immutable: cannot delete {name!r}")

    def _fields(self) -> Tuple[Any, ...]:
        return (self.input_oss_url, self.output_route, self.output_token, self.event)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._fields() == other._fields()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return (f"ObjectContext(input_oss_url={_hide_query(self.input_oss_url)!r}, "
                f"output_route={self.output_route!r}, output_token=<hidden>)")

    @classmethod
    def from_event(cls, event: Union[bytes, bytearray, str, Mapping[str, Any]]) -> "ObjectContext":
        """Parse the FC event (JSON bytes/str, or an already decoded mapping)."""
        if isinstance(event, (bytes, bytearray)):
            try:
                event = event.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidRequestError("event: not UTF-8 JSON", field="event") from None
        if isinstance(event, str):
            try:
                event = json.loads(event)
            except ValueError as exc:
                raise InvalidRequestError(f"event: not valid JSON ({exc.args[0] if exc.args else exc})",
                                          field="event") from None
        if not isinstance(event, Mapping):
            raise InvalidRequestError(f"event: expected a JSON object, got {type(event).__name__}",
                                      field="event")
        ctx = event.get("getObjectContext")
        if not isinstance(ctx, Mapping):
            raise InvalidRequestError("event: no getObjectContext object; is this an Object FC Access "
                                      "Point event?", field="getObjectContext")
        from .request import check_route, check_token

        values = {}
        for key, check in (("inputOssUrl", None), ("outputRoute", check_route), ("outputToken", check_token)):
            value = ctx.get(key)
            field = f"getObjectContext.{key}"
            if value is None or value == "":
                raise InvalidRequestError(f"event: {field} is missing or empty", field=field)
            if not isinstance(value, str):
                raise InvalidRequestError(f"event: {field} must be a string, not {type(value).__name__}",
                                          field=field)
            if check is not None:
                try:
                    check(value)  # what the sender would refuse, named as the event's field
                except InvalidRequestError as exc:
                    text = str(exc)
                    prefix = f"{exc.field}: "
                    text = text[len(prefix):] if text.startswith(prefix) else text
                    raise InvalidRequestError(f"event: {field}: {text}", field=field) from None
            values[key] = value
        return cls(values["inputOssUrl"], values["outputRoute"], values["outputToken"], event)

    @property
    def user_headers(self) -> Dict[str, str]:
        """The client's request headers (``userRequest.headers``), names lowercased; ``{}`` when
        the event has none (OSS documents only ``getObjectContext``; the emulator adds them)."""
        user = self.event.get("userRequest") if isinstance(self.event, Mapping) else None
        headers = user.get("headers") if isinstance(user, Mapping) else None
        if not isinstance(headers, Mapping):
            return {}
        return {str(k).lower(): str(v) for k, v in headers.items() if isinstance(v, (str, int))}


# ------------------------------------------------------------------- the instance's client

_client: Any = None
_client_lock = threading.Lock()
#: this invocation's credentials (a thread or task of its own per concurrent invocation)
_invocation: "contextvars.ContextVar[Optional[Credentials]]" = contextvars.ContextVar(
    "ossfast_fc_credentials", default=None)
_latest: Optional[Credentials] = None  # the newest seen, for a thread that never called client()
_known: Dict[Credentials, Credentials] = {}  # one object per distinct value: signers cached by it


def _invocation_credentials() -> Credentials:
    """The instance client's provider: the calling invocation's credentials."""
    creds = _invocation.get()
    if creds is None:
        creds = _latest
    if creds is None:  # pragma: no cover - client() sets both before the client exists
        raise InvalidRequestError("fc: no credentials yet; call ossfast.fc.client(context) first",
                                  field="credentials")
    return creds


def client(context: Any = None, **options: Any) -> Any:
    """The instance's one ``ossfast.Client``, made on first use (``options`` go to its
    constructor then, and are ignored afterwards).

    Every call takes this invocation's credentials from ``context.credentials`` (else the
    environment) for the requests the calling thread (or asyncio task) makes, so a
    long-lived instance keeps signing after its STS credentials rotate, concurrent
    invocations each sign with their own, and pooled connections are kept.
    """
    global _client, _latest
    creds = Credentials.from_fc_context(context) if context is not None else Credentials.from_env()
    with _client_lock:
        creds = _known.setdefault(creds, creds)
        if len(_known) > 16:  # credentials rotate: forget the oldest
            for stale in list(_known)[:-8]:
                del _known[stale]
        _invocation.set(creds)
        _latest = creds
        if _client is None:
            from .client import Client

            _client = Client(_invocation_credentials, **options)
        return _client


def _reset_client() -> None:
    """Close and forget the instance's client (tests; a new one is made on next use)."""
    global _client, _latest
    with _client_lock:
        old, _client, _latest = _client, None, None
        _known.clear()
    _invocation.set(None)
    if old is not None:
        old.close()


def client_from_context(context: Any, **kwargs: Any) -> Any:
    """A new Client signed with the FC context's credentials (or the environment's).

    Prefer :func:`client`, which keeps one client per instance and follows credential rotation.
    """
    from .client import Client

    return Client(Credentials.from_fc_context(context), **kwargs)


# ------------------------------------------------------------------- responses

_FORWARDED = ("accept_ranges", "cache_control", "content_disposition", "content_encoding",
              "content_language", "content_range", "content_type", "etag", "expires", "last_modified")


class Response:
    """What a transform returns when it wants to set the status or forwarded headers.

    ``body``: bytes-like, a binary file, an iterator of bytes, or None. An iterator or a
    file without ``content_length`` is spooled (to a temporary file past 8 MiB) so that
    the Content-Length OSS requires can be sent; with ``content_length`` it streams.
    """

    __slots__ = ("status", "body", "content_length", "headers") + _FORWARDED

    def __init__(self, status: int = 200, body: Any = b"", *, content_length: Optional[int] = None,
                 headers: Optional[Mapping[str, str]] = None, accept_ranges: Optional[str] = None,
                 cache_control: Optional[str] = None, content_disposition: Optional[str] = None,
                 content_encoding: Optional[str] = None, content_language: Optional[str] = None,
                 content_range: Optional[str] = None, content_type: Optional[str] = None,
                 etag: Optional[str] = None, expires: Any = None, last_modified: Any = None) -> None:
        self.status = status
        self.body = b"" if body is None else body
        self.content_length = content_length
        self.headers = headers
        self.accept_ranges = accept_ranges
        self.cache_control = cache_control
        self.content_disposition = content_disposition
        self.content_encoding = content_encoding
        self.content_language = content_language
        self.content_range = content_range
        self.content_type = content_type
        self.etag = etag
        self.expires = expires
        self.last_modified = last_modified

    def forwarded(self) -> Dict[str, Any]:
        """The forwarded-header keywords that are set."""
        return {name: getattr(self, name) for name in _FORWARDED if getattr(self, name) is not None}

    def __repr__(self) -> str:
        return f"Response(status={self.status!r}, body={type(self.body).__name__}, {self.forwarded()!r})"


class Abort(Exception):
    """Raise in a transform to answer the client with ``status`` (4xx/5xx) and a short message."""

    def __init__(self, status: int, message: str = "") -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message

    def __str__(self) -> str:
        return f"{self.status} {self.message}".strip()


# ------------------------------------------------------------------- ETags and ranges

_ETAG_RE = re.compile(r'\s*(W/)?("[^"]*")\s*(?:,|$)')


def derive_etag(original_etag: str, name: str, version: str = "") -> str:
    """The strong ETag of a transformed object: xxh3-128 of the original's ETag, the
    transform's name and version, quoted. Stable across instances and runs."""
    import xxhash

    material = "\0".join(("ossfast-fc/1", original_etag.strip(), name, version)).encode("utf-8")
    return '"' + xxhash.xxh3_128_hexdigest(material) + '"'


def if_none_match(header: Optional[str], etag: str) -> bool:
    """True when an ``If-None-Match`` header matches ``etag`` (weak comparison, as RFC 9110 says)."""
    if not header:
        return False
    header = header.strip()
    if header == "*":
        return True
    tag = etag[2:] if etag.startswith("W/") else etag
    pos = 0
    while pos < len(header):
        m = _ETAG_RE.match(header, pos)
        if m is None:
            return False  # malformed: no match, the object is sent
        if m.group(2) == tag:
            return True
        pos = m.end()
    return False


_RANGE_RE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


def parse_range(header: Optional[str], length: int) -> Optional[Tuple[int, int]]:
    """The ``(first, last)`` bytes (inclusive) a single ``Range`` header asks of a body of
    ``length`` bytes; None when there is no usable range (absent, malformed, or several
    ranges: the whole body is sent, as HTTP allows). Raises ``ValueError`` when the range
    cannot be satisfied (answer 416)."""
    if not header:
        return None
    m = _RANGE_RE.match(header)
    if m is None:
        return None
    first_s, last_s = m.groups()
    if not first_s and not last_s:
        return None
    if not first_s:  # suffix: the last n bytes
        n = int(last_s)
        if n == 0:
            raise ValueError("empty suffix range")
        return (max(0, length - n), length - 1) if length else _unsatisfiable()
    first = int(first_s)
    last = int(last_s) if last_s else length - 1
    if last_s and last < first:
        return None  # invalid: ignored, as RFC 9110 says
    if first >= length:
        raise ValueError("range starts past the end")
    return first, min(last, length - 1)


def _unsatisfiable() -> Tuple[int, int]:
    raise ValueError("range of an empty body")


# ------------------------------------------------------------------- the request object


_LOOPBACK = frozenset({"localhost", "::1"})


class _Original:
    """The original object, streamed from the presigned ``inputOssUrl`` (one GET, opened lazily)."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.timeout = timeout
        self.resp: Any = None

    def _open(self) -> Any:
        if self.resp is None:
            if urlsplit(self.url).scheme.lower() not in ("http", "https"):
                # a presigned OSS URL is http(s); urllib would also open file:, ftp: and data:
                # URLs, so a forged event could have a local file (the keys in
                # /proc/self/environ) read and sent out transformed
                log.error("getObjectContext.inputOssUrl is not an http(s) URL; the original is not read")
                raise Abort(500, "reading the original object failed: inputOssUrl is not an http(s) URL")
            import urllib.error
            import urllib.request  # here: it imports ssl and http.client, which FC cold starts pay for

            req = urllib.request.Request(self.url, method="GET")
            # a loopback URL (the emulator's) never goes through an http_proxy of the environment:
            # its query is a read signature
            host = urlsplit(self.url).hostname or ""
            handlers = [urllib.request.ProxyHandler({})] if host in _LOOPBACK or host.startswith("127.") else []
            try:
                self.resp = urllib.request.build_opener(*handlers).open(req, timeout=self.timeout)
            except urllib.error.HTTPError as exc:
                status = exc.code
                exc.close()
                raise Abort(status if status in (403, 404) else 502,
                            f"reading the original object failed: HTTP {status}") from None
            except (OSError, ValueError) as exc:
                raise Abort(502, f"reading the original object failed: {type(exc).__name__}") from None
        return self.resp

    @property
    def opened(self) -> bool:
        return self.resp is not None

    @property
    def headers(self) -> Mapping[str, str]:
        return self._open().headers

    def stream(self) -> Any:
        return self._open()

    def close(self) -> None:
        if self.resp is not None:
            self.resp.close()


class _LocalOriginal:
    """A local file standing in for the original object (``run_local``)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.file: Any = None
        self._headers: Optional[Dict[str, str]] = None

    @property
    def opened(self) -> bool:
        return self._headers is not None or self.file is not None

    @property
    def headers(self) -> Mapping[str, str]:
        if self._headers is None:
            import email.message
            import email.utils
            import hashlib
            import mimetypes
            import os

            md5 = hashlib.md5()
            with open(self.path, "rb") as f:
                for chunk in iter(lambda: f.read(_CHUNK), b""):
                    md5.update(chunk)
            st = os.stat(self.path)
            msg = email.message.Message()
            msg["Content-Length"] = str(st.st_size)
            msg["Content-Type"] = mimetypes.guess_type(self.path)[0] or "application/octet-stream"
            msg["ETag"] = '"%s"' % md5.hexdigest().upper()
            msg["Last-Modified"] = email.utils.formatdate(st.st_mtime, usegmt=True)
            self._headers = msg  # type: ignore[assignment]
        return self._headers  # type: ignore[return-value]

    def stream(self) -> Any:
        self.file = open(self.path, "rb")
        return self.file

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


class ObjectRequest:
    """What a transform gets: the event, the client's request, and the original object.

    ``context``: the ObjectContext; ``event``: the whole event; ``fc_context``: FC's context;
    ``range``: the client's ``Range`` header or None; ``user_headers``: the client's request
    headers (lowercased names); ``headers``: the original object's response headers;
    ``open()``: the original as a binary file, streamed (a context manager; bounded
    memory whatever its size); ``read()``: all of it.
    """

    def __init__(self, context: ObjectContext, fc_context: Any, original: Any) -> None:
        self.context = context
        self.event = context.event
        self.fc_context = fc_context
        self.user_headers = context.user_headers
        self.range: Optional[str] = self.user_headers.get("range")
        self._original = original
        self._handed_out = False

    def __repr__(self) -> str:
        return f"ObjectRequest({self.context!r}, range={self.range!r})"

    @property
    def headers(self) -> Mapping[str, str]:
        """The original object's headers (ETag, Last-Modified, Content-Type, Content-Length,
        x-oss-hash-crc64ecma, ...); case-insensitive."""
        return self._original.headers

    def open(self) -> Any:
        """The original object as a readable binary stream (read it once)."""
        if self._handed_out:
            raise OssfastError("the original object was already opened; read it once")
        self._handed_out = True
        return self._original.stream()

    def read(self) -> bytes:
        """The whole original object."""
        with self.open() as f:
            return f.read()

    def close(self) -> None:
        self._original.close()


# ------------------------------------------------------------------- the decorator

_SPOOL_MEMORY = 8 * 1024 * 1024
_CHUNK = 1024 * 1024


def _spool(chunks: Any) -> Tuple[Any, int]:
    """Gather an iterator (or an unsized stream) into bytes, or a temporary file past 8 MiB:
    (body, length)."""
    parts = []
    size = 0
    spill = None
    try:
        for chunk in chunks:
            if isinstance(chunk, str):
                raise TypeError("the transform yielded str; yield bytes (encode it first)")
            chunk = memoryview(chunk).cast("B")
            if not len(chunk):
                continue
            size += len(chunk)
            if spill is not None:
                spill.write(chunk)
                continue
            parts.append(bytes(chunk))
            if size > _SPOOL_MEMORY:
                import tempfile

                spill = tempfile.TemporaryFile(prefix="ossfast-")
                for part in parts:
                    spill.write(part)
                parts = []
        if spill is None:
            return b"".join(parts), size
        spill.flush()
        spill.seek(0)
        return spill, size
    except BaseException:
        if spill is not None:
            spill.close()
        raise


def _file_chunks(f: Any) -> Iterator[bytes]:
    while True:
        data = f.read(_CHUNK)
        if not data:
            return
        yield data


def _sized(body: Any, content_length: Optional[int]) -> Tuple[Any, Optional[int]]:
    """The body in a form the client sends with a known length: (body, length or None for
    a buffer), spooling iterators and unseekable files that declare no length."""
    if isinstance(body, (bytes, bytearray, memoryview)):
        return body, None
    if hasattr(body, "read"):
        seekable = False
        try:
            seekable = bool(body.seekable())
        except (AttributeError, OSError, ValueError):
            pass
        if content_length is not None or seekable:
            return body, content_length
        return _spool(_file_chunks(body))
    if isinstance(body, str):
        raise TypeError("the transform returned str; return bytes (encode it first)")
    if content_length is not None:
        return body, content_length
    return _spool(body)


def _length_of(body: Any, content_length: Optional[int]) -> int:
    if content_length is not None:
        return content_length
    if isinstance(body, (bytes, bytearray, memoryview)):
        return memoryview(body).nbytes
    pos = body.tell()
    end = body.seek(0, 2)
    body.seek(pos)
    return end - pos


def _slice_iter(chunks: Any, first: int, count: int) -> Iterator[Any]:
    """Bytes ``first`` .. ``first+count-1`` of an iterator of buffers."""
    skip = first
    left = count
    for chunk in chunks:
        mv = memoryview(chunk).cast("B")
        if skip >= len(mv):
            skip -= len(mv)
            continue
        mv = mv[skip:skip + left]
        skip = 0
        left -= len(mv)
        if len(mv):
            yield mv
        if not left:
            return


def _apply_range(body: Any, length: int, first: int, last: int) -> Any:
    count = last - first + 1
    if isinstance(body, (bytes, bytearray, memoryview)):
        return memoryview(body).cast("B")[first:last + 1]
    if hasattr(body, "read"):
        try:
            if body.seekable():
                body.seek(first, 1)
                return body
        except (OSError, ValueError):
            pass
        return _slice_iter(_file_chunks(body), first, count)
    return _slice_iter(body, first, count)


def _error_body(status: int, message: str, request_id: str) -> bytes:
    text = message or ("the transform failed" if status >= 500 else "refused by the transform")
    return f"{status} {text} (FC request {request_id or '-'})\n".encode("utf-8", "replace")


class _Plan:
    """What to answer: status, body (with its length, or None for a buffer), forwarded
    keywords and extra headers; ``closers``: files to close once it is sent."""

    __slots__ = ("status", "body", "length", "fwd", "headers", "closers")

    def __init__(self, status: int, body: Any = b"", length: Optional[int] = None,
                 fwd: Optional[Dict[str, Any]] = None, headers: Any = None) -> None:
        self.status, self.body, self.length = status, body, length
        self.fwd = fwd or {}
        self.headers = headers
        self.closers = [body] if hasattr(body, "read") else []

    def close(self) -> None:
        for f in self.closers:
            close = getattr(f, "close", None)
            if close is not None:
                close()
        self.closers = []


_ETAG_SYNTAX = re.compile(r'^(W/)?"[\x21\x23-\x7e\x80-\xff]*"$')


def _quoted_etag(value: Any) -> Any:
    """An entity tag in its quotes: ``abc`` becomes ``"abc"`` (a bare value would never match
    an If-None-Match); anything else is left for the sender to check."""
    if isinstance(value, str) and not _ETAG_SYNTAX.match(value) and '"' not in value:
        return f'"{value}"'
    return value


def _error_plan(status: int, message: str, request_id: str) -> _Plan:
    return _Plan(status, _error_body(status, message, request_id),
                 fwd={"content_type": "text/plain; charset=utf-8"})


def _identity(func: Callable[..., Any]) -> str:
    """What names a transform in its derived ETag: its file's name and its qualified name
    (FC names most functions "handler"; the file tells them apart). The module's name is
    left out: it depends on how the file was loaded (FC imports "index", a test may not)."""
    import os

    code = getattr(func, "__code__", None)
    where = os.path.basename(code.co_filename) if code is not None else type(func).__module__
    return f"{where}:{getattr(func, '__qualname__', None) or type(func).__qualname__}"


class _Transform:
    """A transform and what names its output: (identity, version, derive ETags?)."""

    def __init__(self, func: Callable[..., Any], version: str, etag: bool) -> None:
        if not callable(func):
            raise TypeError("fc.handler decorates a function: transform(obj)")
        if not isinstance(version, str):
            raise TypeError("fc.handler: version must be a str")
        self.func = func
        self.name = _identity(func)
        self.version = version
        self.etag = etag

    def plan(self, obj: ObjectRequest, request_id: str) -> _Plan:
        """Run the transform for ``obj``; every outcome (a 304, an error) becomes a plan."""
        inherited: Dict[str, Any] = {}
        try:
            if self.etag:
                headers = obj.headers  # opens the original (one GET): its ETag names the output
                _inherit(headers, inherited)
                original_etag = headers.get("ETag")
                if original_etag:
                    inherited["etag"] = derive_etag(original_etag, self.name, self.version)
                    if if_none_match(obj.user_headers.get("if-none-match"), inherited["etag"]):
                        return _Plan(304, fwd={k: inherited[k] for k in ("etag", "last_modified")
                                               if k in inherited})
            out = self.func(obj)
            response = out if isinstance(out, Response) else Response(200, out)
            body, length = _sized(response.body, response.content_length)
        except Abort as exc:
            status = exc.status if exc.status in _ERROR_STATUS else 500
            log.warning("transform %s refused the request: %s", self.name, exc)
            return _error_plan(status, exc.message, request_id)
        except Exception:
            log.exception("transform %s failed", self.name)
            return _error_plan(500, "", request_id)
        if not self.etag and obj._original.opened:  # the transform read the original
            _inherit(obj.headers, inherited)
        if response.status not in (200, 206):
            inherited = {}  # the original's headers describe the object, not an error or redirect
        fwd = {**inherited, **response.forwarded()}
        if "etag" in fwd:
            fwd["etag"] = _quoted_etag(fwd["etag"])
        plan = _Plan(response.status, body, length, fwd, response.headers)
        if hasattr(response.body, "read") and response.body is not body:
            plan.closers.append(response.body)  # spooled: the transform's own file
        if plan.status == 200 and obj.range and response.content_range is None:
            _range_plan(plan, obj.range)
        return plan


def _inherit(headers: Mapping[str, str], into: Dict[str, Any]) -> None:
    for key, header in (("last_modified", "Last-Modified"), ("content_type", "Content-Type")):
        if headers.get(header):
            into[key] = headers[header]


def _range_plan(plan: _Plan, range_header: str) -> None:
    """Narrow a 200 plan to the client's range: 206, or 416 when it cannot be satisfied."""
    total = _length_of(plan.body, plan.length)
    try:
        span = parse_range(range_header, total)
    except ValueError:
        plan.close()
        plan.status, plan.body, plan.length = 416, b"", None
        plan.fwd = {k: v for k, v in plan.fwd.items() if k in ("etag", "last_modified")}
        plan.fwd["content_range"] = f"bytes */{total}"
        return
    if span is not None:
        first, last = span
        plan.body = _apply_range(plan.body, total, first, last)
        plan.length = None if isinstance(plan.body, memoryview) else last - first + 1
        plan.status = 206
        plan.fwd["content_range"] = f"bytes {first}-{last}/{total}"
    plan.fwd.setdefault("accept_ranges", "bytes")


def _prepare(sender: Any, ctx: "ObjectContext", plan: _Plan, request_id: str) -> Tuple[Any, _Plan]:
    """The request for a plan, checked by the sender before any byte goes out; a plan the
    sender refuses (the transform's bad status, header or length) becomes a 500, so the
    client is still answered."""
    try:
        return sender.prepare(ctx.output_route, ctx.output_token, plan.status, plan.body,
                              content_length=plan.length, headers=plan.headers, **plan.fwd), plan
    except (InvalidRequestError, TypeError) as exc:
        field = getattr(exc, "field", None)
        if field and field.startswith("getObjectContext") or field in ("route", "token", "credentials"):
            raise  # the event's or the keys' fault: no answer can be signed
        log.error("the transform's response cannot be sent (%s); answering 500", exc)
        plan.close()
        plan = _error_plan(500, "", request_id)
        return sender.prepare(ctx.output_route, ctx.output_token, plan.status, plan.body,
                              **plan.fwd), plan


def handler(func: Optional[Callable[..., Any]] = None, *, version: str = "", etag: bool = True,
            timeout: float = 60.0, client_options: Optional[Mapping[str, Any]] = None) -> Any:
    """Make ``handler(event, context)`` for FC from ``transform(obj) -> body or Response``.

    ``version``: part of the derived ETag: change it when the transform's output changes.
    ``etag=False``: no derived ETag and no 304 shortcut (nor the original's ETag, which is
    wrong for changed bytes); a transform that sets its own ETag should use it.
    ``timeout``: for reading the original. ``client_options``: for the instance's client
    (see :func:`client`).
    """
    if func is None:
        return functools.partial(handler, version=version, etag=etag, timeout=timeout,
                                 client_options=client_options)
    transform = _Transform(func, version, etag)
    options = dict(client_options or {})

    @functools.wraps(func)
    def fc_handler(event: Any, context: Any = None) -> Dict[str, Any]:
        ctx = ObjectContext.from_event(event)
        sender = client(context, **options)
        request_id = str(getattr(context, "request_id", "") or "")
        obj = ObjectRequest(ctx, context, _Original(ctx.input_oss_url, timeout))
        try:
            plan = transform.plan(obj, request_id)
            try:
                prepared, plan = _prepare(sender, ctx, plan, request_id)
                result = sender.send(prepared)
            finally:
                plan.close()
        finally:
            obj.close()
        log.info("answered %d, %d bytes, request id %s", plan.status, result.bytes_sent,
                 result.request_id)
        return {"status": plan.status, "bytes": result.bytes_sent, "requestId": result.request_id}

    fc_handler.transform = transform  # type: ignore[attr-defined]
    return fc_handler


class LocalResult:
    """What ``run_local`` answered: the status, the forwarded headers (keyword names) and the body."""

    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: Dict[str, Any], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return (self.status, self.headers, self.body) == (other.status, other.headers, other.body)  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass it was

    def __repr__(self) -> str:
        return f"LocalResult(status={self.status!r}, headers={self.headers!r}, body={self.body!r})"


def run_local(transform: Callable[..., Any], path: str, *, range: Optional[str] = None,
              headers: Optional[Mapping[str, str]] = None, version: str = "",
              etag: bool = True, out: Any = None) -> LocalResult:
    """Run a transform (or an ``@fc.handler``) on a local file, exactly as the handler would,
    and return what it would send: for unit tests and for checking an emulator's answers.

    ``range`` / ``headers``: the client's request (``Range``, ``If-None-Match``, ...).
    ``out``: a writable binary stream that takes the body piece by piece (bounded memory for
    large objects; the result's ``body`` is then empty).
    """
    spec = getattr(transform, "transform", None)
    if not isinstance(spec, _Transform):
        spec = _Transform(transform, version, etag)
    user = dict(headers or {})
    if range is not None:
        user["Range"] = range
    event = {"getObjectContext": {"inputOssUrl": "file://" + path, "outputRoute": _LOCAL_ROUTE,
                                  "outputToken": "local"},
             "userRequest": {"url": "local", "headers": user}}
    ctx = ObjectContext.from_event(event)
    obj = ObjectRequest(ctx, None, _LocalOriginal(path))
    try:
        plan = spec.plan(obj, "local")
        try:
            # the body gathered first (bounded: spooled past 8 MiB), so the sender's checks
            # can run on it as they do in the handler
            body, size = _spool(_plan_chunks(plan))
            if plan.length is not None and size != plan.length:
                raise OssfastError(
                    f"the transform's body has {size} bytes but declares content_length={plan.length}: "
                    "the handler's WriteGetObjectResponse would fail mid-body")
            plan.close()
            plan = _Plan(plan.status, body, None if isinstance(body, bytes) else size, plan.fwd,
                         plan.headers)
            plan = _prepare(_local_sender(), ctx, plan, "local")[1]
            if out is None:
                data = b"".join(bytes(c) for c in _plan_chunks(plan))
            else:
                data = b""
                for chunk in _plan_chunks(plan):
                    out.write(chunk)
        finally:
            plan.close()
    finally:
        obj.close()
    return LocalResult(plan.status, dict(plan.fwd), data)


_LOCAL_ROUTE = "fc-ap-01-0000000000000000-opap.oss-cn-hangzhou-internal.oss-object-process.aliyuncs.com"
_local: Any = None


def _local_sender() -> Any:
    """A client that only prepares (never connects): run_local's checks are the sender's."""
    global _local
    if _local is None:
        from .client import Client

        _local = Client(Credentials("local", "local"), signature_version="v1",
                        endpoint="http://127.0.0.1:9")
    return _local


def _plan_chunks(plan: _Plan) -> Iterator[Any]:
    body = plan.body
    if isinstance(body, (bytes, bytearray, memoryview)):
        return iter((body,))
    if hasattr(body, "read"):
        chunks = _file_chunks(body)
        return chunks if plan.length is None else _slice_iter(chunks, 0, plan.length)
    return iter(body)


_ERROR_STATUS = frozenset({400, 401, 403, 404, 405, 409, 411, 412, 416, 500, 503})
