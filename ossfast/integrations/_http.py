"""Any SDK request over ossfast's transport: what ``oss2.Session`` and ``oss_v2.HttpClient`` share.

An SDK hands over (method, URL, headers, body); this sends it as ``requests`` would frame it
(the transport both SDKs use by default), so the bytes on the wire stay the SDK's:

* Host is the URL's host, with the port when it is not the scheme's default;
* the body is framed by requests' rules (``requests.models.PreparedRequest.prepare_body``):
  a str is sent as UTF-8; a buffer goes with its Content-Length; a file, a file-like object with ``len`` or an iterable with ``__len__``
  goes with the length requests finds for it (``requests.utils.super_len``: from the file's
  current position), and an iterable or file of unknown (or zero) length goes out
  ``Transfer-Encoding: chunked``; no body, or a falsy one (an empty iterable with
  ``__len__``: requests takes ``data or {}``), and a method other than GET/HEAD gets
  ``Content-Length: 0``; a dict or a list of pairs is form-encoded, with a Content-Type;
* headers whose value is None are not sent (requests drops them); others are sent as given.

requests' own defaults are sent too, where the SDK set none: ``Accept-Encoding: identity``,
``Accept: */*``, ``Connection: keep-alive``. Reply bodies are never decoded (requests would undo a ``Content-Encoding: gzip``; OSS answers with what
was stored, and the SDKs' CRC checks are over those bytes).

The transport is imported here only (``_transport()``), so that moving it is a one-line fix.
"""
from __future__ import annotations

import http
import os
import re
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import urlsplit

from .. import _http11
from .. import body as _body
from .. import transport as _transport_module  # the one import of the transport
from ..errors import InvalidRequestError, TransportError

Pool = _transport_module.Pool
Timeout = _transport_module.Timeout
StreamedReply = _transport_module.StreamedReply
request = _transport_module.request

_DEFAULT_PORT = {"http": 80, "https": 443}
_PHRASES = {s.value: s.phrase for s in http.HTTPStatus}
_GET_HEAD = ("GET", "HEAD")
SMALL_BODY = 64 * 1024  # an adapter or iterator body up to this size is read first: one write


def reason(status: int) -> str:
    """The reason phrase of ``status`` (the standard one: ossfast does not keep the line)."""
    return _PHRASES.get(status, "")


_endpoints: Dict[Tuple[str, str], Tuple[Tuple[str, str, int], str]] = {}


#: a character requests would percent-encode in a URL's path or query, or a '%' (whose escapes
#: requests normalises): such a target is requoted as requests does; any other is sent as is
_NEEDS_REQUOTE = re.compile(r"[^A-Za-z0-9\-._~!$&'()*+,/:;=?@\[\]]").search


def _requote(target: str) -> str:
    """The request target as requests sends it (``requests.utils.requote_uri``): blanks,
    CR/LF, control and non-ASCII characters percent-encoded (as UTF-8), so that none of them
    reaches the request line raw (a CR LF in a URL was a header of its own on the wire)."""
    try:
        from requests.utils import requote_uri
    except ImportError:  # pragma: no cover - both SDKs depend on requests
        from urllib.parse import quote

        return quote(target, safe="!#$%&'()*+,/:;=?@[]~")
    return requote_uri(target)


def _shown_url(url: str) -> str:
    """``url`` as an error message may show it: without its query and fragment (a presigned
    URL carries its signature, and an STS token, there)."""
    cut = min(i for i in (url.find("?"), url.find("#"), len(url)) if i >= 0)
    return url[:cut] + ("?..." if cut < len(url) else "")


def split_url(url: str) -> Tuple[Tuple[str, str, int], str, str]:
    """(transport key (scheme, host, port), Host header, request target) of an absolute URL.
    Raises InvalidRequestError, whose message never shows the URL's query."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise InvalidRequestError(f"URL {_shown_url(url)!r}: not absolute (http:// or https://)", field="url")
    slash = rest.find("/")
    qmark = rest.find("?")
    cut = min(i for i in (slash, qmark, len(rest)) if i >= 0)
    netloc, target = rest[:cut], rest[cut:]
    if not target.startswith("/"):
        target = "/" + target
    hash_at = target.find("#")
    if hash_at >= 0:
        target = target[:hash_at]
    if _NEEDS_REQUOTE(target):
        target = _requote(target)
    cached = _endpoints.get((scheme, netloc))
    if cached is None:
        parts = urlsplit(f"{scheme}://{netloc}")
        s = parts.scheme.lower()
        if s not in _DEFAULT_PORT:
            raise InvalidRequestError(f"URL scheme {scheme!r}: only http and https", field="url")
        host = parts.hostname
        if not host:
            raise InvalidRequestError(f"URL {_shown_url(url)!r}: no host", field="url")
        try:
            port = parts.port
        except ValueError:
            raise InvalidRequestError(f"URL {_shown_url(url)!r}: bad port", field="url") from None
        shown = f"[{host}]" if ":" in host else host
        if port is not None and port != _DEFAULT_PORT[s]:
            shown = f"{shown}:{port}"
        cached = ((s, host, port or _DEFAULT_PORT[s]), shown)
        if len(_endpoints) > 256:
            _endpoints.clear()
        _endpoints[(scheme, netloc)] = cached
    return cached[0], cached[1], target


_PROXY_VARS = ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY")
_ENVIRON_DATA = getattr(os.environ, "_data", None)
if not isinstance(_ENVIRON_DATA, dict):
    _ENVIRON_DATA = None
_PROXY_KEYS = tuple(os.environ.encodekey(n) for n in _PROXY_VARS) if _ENVIRON_DATA is not None else ()


def any_proxy_variable() -> bool:
    """Is any of the proxy variables requests reads set (perhaps empty)? A fraction of a
    microsecond: CPython's os.environ keeps its encoded copy in ``_data``, looked up as is."""
    data = _ENVIRON_DATA
    if data is not None:
        for key in _PROXY_KEYS:
            if key in data:
                return True
        return False
    return any(os.environ.get(name) for name in _PROXY_VARS)


def environ_proxy(url: str) -> Optional[str]:
    """The proxy requests (the SDKs' default transport, ``trust_env``) would take for ``url``
    from the environment (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``, less ``NO_PROXY``), or
    None. ossfast connects directly, so a caller either sends such a request through the SDK's
    own transport or refuses it: never bypasses the proxy unasked. With none of those variables
    set (the usual case) this costs a few dictionary look-ups."""
    if not any_proxy_variable():
        return None
    try:
        from requests.utils import get_environ_proxies, select_proxy
    except ImportError:  # pragma: no cover - both SDKs depend on requests
        return None
    return select_proxy(url, get_environ_proxies(url)) or None


def _super_len(data: Any) -> Optional[int]:
    try:
        from requests.utils import super_len
    except ImportError:  # pragma: no cover - both SDKs depend on requests
        return len(data) if hasattr(data, "__len__") else None
    try:
        return super_len(data)
    except Exception:
        return None


def frame(method: str, data: Any, headers: List[Tuple[str, str]]) -> Tuple[Any, Optional[int], bool]:
    """requests' framing of ``data``: (body or None, Content-Length or None, chunked).
    May add a Content-Type to ``headers`` (form-encoded data, as requests does)."""
    if type(data) is bytes:  # the common case, first
        if data:
            return data, len(data), False
        return (None if method in _GET_HEAD else b""), None, False
    if isinstance(data, str):
        data = data.encode("utf-8") if data else b""
        return frame(method, data, headers)
    try:
        empty = not data  # requests.Session.request takes ``data or {}``: a falsy body is none
    except Exception:
        empty = False
    if empty:
        return (None if method in _GET_HEAD else b""), None, False
    try:  # any other buffer (bytearray, memoryview, mmap): sent as it is, with its length
        nbytes = memoryview(data).nbytes
    except TypeError:
        pass
    else:
        return data, nbytes, False
    from collections.abc import Mapping

    if hasattr(data, "__iter__") and not isinstance(data, (list, tuple, Mapping)):  # requests' "stream"
        length = _super_len(data)
        if length:
            return _small(data, length), length, False
        return data, None, True
    if hasattr(data, "read"):
        length = _super_len(data)
        if length:
            return _small(data, length), length, False
        return data, None, True  # no length known: urllib3 sends it chunked
    from requests.models import RequestEncodingMixin

    encoded = RequestEncodingMixin._encode_params(data)
    if isinstance(encoded, str):
        encoded = encoded.encode("utf-8")
    if not any(n.lower() == "content-type" for n, _ in headers):
        headers.append(("Content-Type", "application/x-www-form-urlencoded"))
    return frame(method, encoded, headers)


def _small(data: Any, length: int) -> Any:
    """A small body that is not a real file (an SDK's CRC or progress adapter, an iterator),
    read into bytes now, so that it goes out with the head in one write (the transport sends
    a file or an iterator after its head). What it gives must be ``length`` bytes: requests
    would send more than it declared (the SDK's tee of a non-ASCII str does that); ossfast
    refuses to."""
    if length > SMALL_BODY or isinstance(data, memoryview) or _real_file(data):
        return data
    pieces = Gather(length)
    read = getattr(data, "read", None)
    if read is not None:  # as urllib3 sends a body with read(): blocks of it
        while True:
            piece = read(SMALL_BODY)
            if not piece or pieces.add(piece):
                break
    else:
        for piece in data:
            if pieces.add(piece):
                break
    return pieces.joined()


class Gather:
    """A body read whole from its pieces, which must come to its declared ``length``: what
    ``_small`` (an SDK's adapter or iterator) and the async client (an async iterable) share.
    ``add(piece)`` (a str is taken as UTF-8) says when there are already more bytes than
    ``length`` (stop reading); ``joined()`` gives the bytes, or raises InvalidRequestError
    when they are more or fewer than ``length``."""

    __slots__ = ("length", "parts", "n")

    def __init__(self, length: int) -> None:
        self.length = length
        self.parts: List[Any] = []
        self.n = 0

    def add(self, piece: Any) -> bool:
        if isinstance(piece, str):
            piece = piece.encode("utf-8")
        self.parts.append(piece)
        self.n += memoryview(piece).nbytes
        return self.n > self.length

    def joined(self) -> bytes:
        n, length = self.n, self.length
        if n != length:
            raise InvalidRequestError(f"body: {n if n <= length else 'more than ' + str(length)} bytes "
                                      f"where its length says {length}", field="body")
        return b"".join(self.parts)


def _real_file(data: Any) -> bool:
    try:
        data.fileno()
        return True
    except Exception:
        return False


def send(pool: Any, method: str, url: str, headers: List[Tuple[str, str]], data: Any, timeout: Any,
         *, stream: bool) -> Any:
    """Send one request; the reply read whole (``Reply``: status, raw_headers, body) or, with
    ``stream``, a ``StreamedReply``. Raises ossfast's TransportError/TimeoutError (the caller
    maps them to its SDK's), InvalidRequestError for what cannot be sent."""
    key, host, target = split_url(url)
    hdrs = [("Host", host)]
    declared = None
    for name, value in headers:
        if len(name) == 14 and name.lower() == "content-length":
            declared = value  # the transport writes the one Content-Length line
        else:
            if len(name) == 6 and name.lower() == "expect":
                refuse_expect(value)
            hdrs.append((name, value))
    body, length, chunked = frame(method, data, hdrs)
    if declared is not None:
        body, length, chunked = _declared(declared, body, length, chunked)
    if chunked:
        return _send_chunked(pool, key, timeout, method, target, hdrs, body, stream)
    return request(pool, key, timeout, method, target, hdrs, body, content_length=length, stream=stream)


def refuse_expect(value: str) -> None:
    """An ``Expect`` header (``100-continue``) in the SDK's request: refused before anything is
    sent. The server then answers ``100 Continue`` before its reply; requests (http.client)
    skips that interim reply, ossfast's reply reader refuses it, so the request would fail
    after its body went (and the SDK's retryer would send it again)."""
    raise InvalidRequestError(f"Expect: {value} header: ossfast's transport does not take the "
                              "interim reply it asks for; leave the header out (requests does not wait "
                              "for it either)", field="headers")


def _declared(declared: str, body: Any, length: Optional[int], chunked: bool) -> Tuple[Any, Optional[int], bool]:
    """A Content-Length the SDK put in the headers, against the body's own framing. As
    requests does, a body of known length goes with its own length (requests overwrites the
    header). A body of unknown length goes with the declared one (requests would send both
    headers). No body with a non-zero declared length is refused (requests would send a
    request the server waits on for ever)."""
    try:
        n = int(declared)
        if n < 0 or str(n) != declared.strip():
            raise ValueError
    except ValueError:
        raise InvalidRequestError(f"Content-Length header {declared!r}: not a length", field="headers") from None
    if chunked:
        return body, n, False
    if (body is None or length is None) and n:
        raise InvalidRequestError(f"Content-Length header says {n} bytes, and there is no body", field="body")
    return body, length, chunked


def _chunks(body: Any) -> Any:
    """What requests (urllib3) sends of a body of unknown length: read() blocks, or the items."""
    read = getattr(body, "read", None)
    if read is not None:
        while True:
            piece = read(_http11.SMALL_CHUNK)
            if not piece:
                return
            yield piece
    else:
        yield from body


class ChunkedBody(_body.IterBody):
    """A body of unknown length as its ``Transfer-Encoding: chunked`` framing, handed to the
    transport's one send path (``Connection.write``) as an iterable body whose pieces are the
    framed chunks (``_http11.chunk_frames``: up to 64 KiB a chunk goes with its size line and
    CRLF in one piece, a bigger one as size line, the chunk itself (not copied), CRLF); then
    the last chunk. Empty items are skipped (an empty chunk would end the body). ``sent``: the body's own bytes
    handed over so far (framing not counted). Never replayable: it reads the SDK's iterator or
    file once. Not hashed on the way (``crc`` UNHASHED): no one reads its CRC-64 here (the SDK
    checks its own), and the pure-Python backend hashes at about 9 MB/s."""

    kind = "chunked"
    crc = _body.UNHASHED

    def __init__(self, body: Any) -> None:  # no IterBody.__init__: no length, no prefetch
        self.length = 0  # unknown: not sent as a Content-Length
        self._body = body
        self.sent = 0
        self.taken = 0

    @property
    def replayable(self) -> bool:  # type: ignore[override]
        return False

    def chunks(self) -> Any:
        for piece in _chunks(self._body):
            view = _body.chunk_view(piece)
            if view.nbytes:
                yield from _http11.chunk_frames(view)
                self.sent += view.nbytes
                self.taken += 1
        yield _http11.LAST_CHUNK


def _send_chunked(pool: Any, key: Tuple[str, str, int], timeout: Any, method: str, target: str,
                  hdrs: List[Tuple[str, str]], body: Any, stream: bool) -> Any:
    """A body of unknown length, ``Transfer-Encoding: chunked`` as requests sends it, through
    ``Connection.write`` (``ChunkedBody``). Never retried (the body cannot be sent twice); the
    pool's staleness check guards reuse. A failed send's ``bytes_sent`` counts the body's own
    bytes, not the framing."""
    t = _transport_module
    hdrs.append(("Transfer-Encoding", "chunked"))
    head = t.request_head(method, target, hdrs)
    chunked = ChunkedBody(body)
    conn, _reused = pool.acquire(key, timeout)
    wait = timeout.read
    try:
        try:
            out = t.SendOutcome()
            conn.write(head, chunked, out, None, wait)
        except TransportError as exc:
            if exc is not out.caller_error:  # the SDK body's own error stays as it raised it
                exc.bytes_sent = chunked.sent
            raise
        resp = t.read_response(conn, wait, max_body=None, stream=stream, no_body=method == "HEAD")
    except BaseException:
        conn.close(abort=True)
        raise
    if stream:
        return StreamedReply(pool, conn, resp, wait)
    if resp.keep_alive:
        pool.release(conn)
    else:
        conn.close()
    return resp


#: what requests adds where the SDK set nothing: its session's defaults (an SDK's None value
#: removes them) and http.client's Accept-Encoding (added even where None removed requests')
REQUESTS_DEFAULTS = (("accept-encoding", "Accept-Encoding", "identity", True), ("accept", "Accept", "*/*", False),
                     ("connection", "Connection", "keep-alive", False))


def header_pairs(headers: Any) -> List[Tuple[str, str]]:
    """An SDK's header mapping as the (name, value) pairs requests would send: None values
    dropped, bytes read as Latin-1, anything else as str; ``REQUESTS_DEFAULTS`` added."""
    out = []
    store = getattr(headers, "_store", None)  # requests' CaseInsensitiveDict: lower -> (name, value)
    if isinstance(store, dict):
        items: Any = store.values()
        given = {low: store[low][1] for low in _DEFAULT_NAMES if low in store}
    else:
        items = list(headers.items())
        given = {n.lower(): v for n, v in items if isinstance(n, str) and n.lower() in _DEFAULT_NAMES}
    for name, value in items:
        if value is None:
            continue
        if type(value) is not str:
            value = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        if type(name) is not str:
            name = name.decode("latin-1") if isinstance(name, bytes) else str(name)
        out.append((name, value))
    for low, name, value, even_if_removed in REQUESTS_DEFAULTS:
        if low not in given or (given[low] is None and even_if_removed):
            out.append((name, value))
    return out


_DEFAULT_NAMES = frozenset(d[0] for d in REQUESTS_DEFAULTS)


def reply_headers(raw: List[Tuple[bytes, bytes]], cls: Any) -> Any:
    """The reply's headers in ``cls`` (a case-insensitive dict), names as received, repeated
    headers joined with ", " (as requests does)."""
    store: Dict[str, Tuple[str, str]] = {}  # lower-case name -> (name as received, value)
    for name, value in raw:
        n = name.decode("latin-1")
        v = value.decode("latin-1")
        low = n.lower()
        first = store.get(low)
        store[low] = (n, v) if first is None else (first[0], f"{first[1]}, {v}")
    out = cls()
    if type(getattr(out, "_store", None)) in _STORE_TYPES:  # requests' CaseInsensitiveDict: filled as is
        out._store = store
    else:
        out.update(store.values())
    return out


_STORE_TYPES = (dict, OrderedDict)


__all__ = ["Pool", "Timeout", "StreamedReply", "send", "split_url", "frame", "reason", "header_pairs",
           "reply_headers"]
