"""Sans-IO HTTP/1.1 for any request: a head writer and a reply reader, no socket in sight.

``request_head(method, target, headers)`` writes a request head as bytes. ``ReplyReader`` is
fed the bytes a connection received and says when the reply is complete (or, for a streamed
body, when its head is in and which body bytes came); the drivers (_sync/ and
_async/) only move bytes, keep connections and bound the waits. llhttp (httptools)
parses; the rules below are ossfast's.

Rules (as h11's _state.py states its tables):

* Framing: a reply body ends where its ``Content-Length`` says, at the end of its last chunk
  (``Transfer-Encoding: chunked``), or, with neither, at the connection's close (the reply
  is then complete at EOF, and the connection not reusable). A reply to HEAD, and a 204 or
  304 reply, has no body whatever its head says.
* Size caps: the reply head may be at most ``MAX_HEAD`` (64 KiB) received bytes, else the
  reply is refused. A reply read whole keeps at most ``max_body`` body bytes (default
  ``MAX_BODY``, 1 MiB: what an error document needs); ``max_body=None`` lifts the cap, and a
  streamed reply (``stream=True``) hands its body out piece by piece and keeps none of it.
* Interim replies: a 1xx reply is refused ("unexpected interim reply"); ossfast never sends
  ``Expect: 100-continue``. A protocol upgrade is refused.
* Keep-alive: a connection is reusable after a reply only when llhttp says the reply allows
  it (HTTP/1.1 without ``Connection: close``, or HTTP/1.0 with keep-alive), the reply was
  framed, and no byte came after it.
* Trailing bytes: bytes after a complete reply (a body longer than its Content-Length, a
  second reply, junk) are discarded (RFC 9112 9.3); the reply stands, the connection is not
  reused. A malformed byte before the reply is complete refuses the reply.
"""
from __future__ import annotations

import httptools

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a cold start pays ~3 ms for it)
if TYPE_CHECKING:
    from typing import Any, Dict, Iterable, List, Optional, Tuple

MAX_HEAD = 64 * 1024
MAX_BODY = 1024 * 1024

#: what ReplyReader.feed returns
NEED_DATA, HEAD_DONE, COMPLETE = 0, 1, 2


class ProtocolError(Exception):
    """The reply breaks HTTP/1.1 or a rule above; the driver raises it as a TransportError."""


def request_head(method: str, target: str, headers: Iterable[Tuple[str, str]]) -> bytes:
    """``METHOD target HTTP/1.1`` and the header lines, as bytes (ASCII; values are the
    caller's to check: no CR or LF may be in them)."""
    lines = [f"{method} {target} HTTP/1.1"]
    for name, value in headers:
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
            raise ValueError(f"header {name!r}: CR, LF (or ':' in a name) not allowed")
        lines.append(f"{name}: {value}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("latin-1")


#: a chunk up to this size goes with its size line and CRLF as one piece (one write)
SMALL_CHUNK = 64 * 1024
#: the end of a ``Transfer-Encoding: chunked`` body (the last chunk, no trailers)
LAST_CHUNK = b"0\r\n\r\n"


def chunk_frames(view: memoryview) -> Tuple[Any, ...]:
    """One chunk of a ``Transfer-Encoding: chunked`` body, ``view`` a non-empty flat byte
    view (an empty chunk would end the body: the caller skips empty pieces), as what to write:
    size line, data and CRLF in one bytes up to SMALL_CHUNK, else the three apart (the data
    not copied)."""
    n = view.nbytes
    if n <= SMALL_CHUNK:
        return (b"%x\r\n%s\r\n" % (n, view),)
    return (b"%x\r\n" % n, view, b"\r\n")


class Reply:
    """A reply read by ReplyReader: ``status``, ``raw_headers`` (bytes pairs as received),
    ``body`` (bytes; empty for a streamed reply), ``keep_alive``; ``headers`` is a dict with
    lower-cased names. The header list is read out of the received head on first use (the
    request path only needs the status and the framing, which llhttp gives without a
    callback per header)."""

    __slots__ = ("status", "_raw", "_head", "body", "keep_alive", "_headers")

    def __init__(self, status: int, raw_headers: Optional[List[Tuple[bytes, bytes]]], body: bytes,
                 keep_alive: bool, head: Optional[List[bytes]] = None) -> None:
        self.status = status
        self._raw = raw_headers
        self._head = head  # the bytes received up to the end of the head, when _raw is None
        self.body = body
        self.keep_alive = keep_alive
        self._headers: Optional[Dict[str, str]] = None

    @property
    def raw_headers(self) -> List[Tuple[bytes, bytes]]:
        raw = self._raw
        if raw is None:
            raw = self._raw = parse_head_headers(self._head or [])
            self._head = None
        return raw

    @property
    def headers(self) -> Dict[str, str]:
        h = self._headers
        if h is None:
            h = self._headers = headers_dict(self.raw_headers)
        return h

    def header(self, name: bytes, default: str = "") -> str:
        """One header's value by its lower-case name, without building the dict."""
        for k, v in self.raw_headers:
            if len(k) == len(name) and k.lower() == name:
                return v.decode("latin-1")
        return default


class _HeaderCollector:
    __slots__ = ("raw", "done")

    def __init__(self) -> None:
        self.raw: List[Tuple[bytes, bytes]] = []
        self.done = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.raw.append((name, value))

    def on_headers_complete(self) -> None:
        self.done = True


def parse_head_headers(chunks: List[bytes]) -> List[Tuple[bytes, bytes]]:
    """The (name, value) pairs of a reply head that llhttp has already accepted, read
    again by llhttp from the bytes received (which may run on into the body)."""
    collector = _HeaderCollector()
    parser = httptools.HttpResponseParser(collector)
    for data in chunks:
        try:
            parser.feed_data(data)
        except httptools.HttpParserError:
            break  # past the head (an upgrade, a body error): the headers are all in
        if collector.done:
            break
    return collector.raw


def headers_dict(raw: List[Tuple[bytes, bytes]]) -> Dict[str, str]:
    """Lower-cased names; repeated headers joined with ", "."""
    out: Dict[str, str] = {}
    for name, value in raw:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        prev = out.get(key)
        out[key] = text if prev is None else f"{prev}, {text}"
    return out


def framed(raw: List[Tuple[bytes, bytes]]) -> bool:
    """Does the head give the body's end (Content-Length or chunked)?"""
    for name, value in raw:
        if len(name) == 14 and name.lower() == b"content-length":
            return True
        if len(name) == 17 and name.lower() == b"transfer-encoding" and b"chunked" in value.lower():
            return True
    return False


class ReplyReader:
    """Reads one reply at a time from the bytes fed to it; reusable for the next reply on the
    same connection (``take_reply`` readies it, else ``reset``). llhttp keeps its state
    between replies.

    ``feed(data)`` returns COMPLETE when the reply is complete, HEAD_DONE (streamed replies
    only) once the head is in, else NEED_DATA; ``feed_eof()`` at the connection's close
    returns COMPLETE or raises. ProtocolError for anything the rules refuse. A streamed
    reply's body pieces collect in ``pieces`` (the caller takes them after each feed).
    """

    __slots__ = ("head", "body", "done", "headers_done", "parser", "keep_alive", "trailing", "status",
                 "received", "max_body", "stream", "no_body", "pieces", "_feed_data", "ready")

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self._feed_data = self.parser.feed_data
        self.max_body: Optional[int] = MAX_BODY
        self.stream = False
        self.no_body = False
        self.reset()

    def reset(self) -> None:
        """Ready for the next reply, read whole with the default cap (the WGOR reply)."""
        self.head: List[bytes] = []
        self.body: Optional[bytearray] = None
        self.done = False
        self.headers_done = False
        self.keep_alive = False
        self.trailing = False
        self.status = 0
        self.received = 0
        self.pieces: Optional[List[bytes]] = None
        if self.stream or self.no_body or self.max_body is not MAX_BODY:
            self.configure()
        self.ready = True

    def configure(self, *, max_body: Optional[int] = MAX_BODY, stream: bool = False,
                  no_body: bool = False) -> None:
        """How to read the next reply (after ``reset``): ``max_body`` caps a body read whole
        (None: no cap); ``stream``: hand the body out in ``pieces``; ``no_body``: the request
        was HEAD, so the reply has no body."""
        self.max_body = max_body
        self.stream = stream
        self.no_body = no_body
        self.ready = False

    # ---- llhttp callbacks
    def on_message_begin(self) -> None:
        if self.done:  # bytes after the reply: the connection is not clean to reuse
            self.trailing = True

    def on_headers_complete(self) -> None:
        if self.done:  # a second reply's head (trailing bytes): the first one's values stand
            return
        self.headers_done = True
        # Asked here: once the message is complete llhttp has reset its state, and bytes
        # after the reply may already have started another message.
        self.keep_alive = self.parser.should_keep_alive()
        self.status = self.parser.get_status_code()

    def on_body(self, data: bytes) -> None:
        if self.done:  # the body of a message after the reply: not ours
            return
        if self.stream:
            if self.pieces is None:
                self.pieces = []
            self.pieces.append(data)
            return
        if self.body is None:
            self.body = bytearray()
        if self.max_body is not None and len(self.body) + len(data) > self.max_body:
            raise ProtocolError(f"the reply body is larger than {self.max_body} bytes")
        self.body += data

    def on_message_complete(self) -> None:
        self.done = True

    # ---- feeding
    def feed(self, data: bytes) -> int:
        self.ready = False
        if not self.headers_done:
            self.head.append(data)
            self.received += len(data)  # counted until the head is in (for its cap)
            if self.received > MAX_HEAD and not self._head_complete_in(data):
                raise ProtocolError(f"the reply head is larger than {MAX_HEAD} bytes")
        try:
            self._feed_data(data)
        except httptools.HttpParserError as exc:  # upgrades and callback errors too
            self._parser_error(exc)
        if self.done:
            if self.trailing or self.status < 200:
                return self._check_done()
            return COMPLETE
        if self.no_body or self.stream:
            return self._partial()
        return NEED_DATA

    def first(self, data: bytes) -> Optional[Reply]:
        """``feed(data)`` for the first bytes of a reply read whole with the default cap (the
        reader ``ready``: reset, nothing fed since): the reply, the reader then ready for the
        next one, when ``data`` holds all of it (what ``take_reply`` would give); else None,
        and the caller goes on feeding. Same rules as ``feed``, with less bookkeeping for the
        common reply that comes in one piece."""
        if len(data) > MAX_HEAD:
            return self.take_reply() if self.feed(data) == COMPLETE else None
        self.ready = False
        self.head.append(data)
        self.received = len(data)
        try:
            self._feed_data(data)
        except httptools.HttpParserError as exc:
            self._parser_error(exc)
        if not self.done:
            return None
        if self.trailing or self.status < 200:
            self._check_done()
        body = self.body
        reply = Reply(self.status, None, bytes(body) if body else b"", self.keep_alive, self.head)
        # reset(), for what a reply read whole changes
        self.head = []
        if body is not None:
            self.body = None
        self.done = self.headers_done = self.keep_alive = self.trailing = False
        self.status = self.received = 0
        self.ready = True
        return reply

    def _parser_error(self, exc: Exception) -> None:
        if isinstance(exc, httptools.HttpParserUpgrade):
            raise ProtocolError("the server asked for a protocol upgrade") from None
        if isinstance(exc, httptools.HttpParserCallbackError) and isinstance(exc.__context__, ProtocolError):
            raise exc.__context__ from None
        if not self.done:
            raise ProtocolError(f"malformed reply: {exc}") from None
        self.trailing = True  # junk after a complete reply: the reply stands, the connection goes

    def _check_done(self) -> int:
        if not self.headers_done:
            raise ProtocolError("malformed reply")
        if self.trailing:
            self.keep_alive = False
        if 100 <= self.status < 200:
            raise ProtocolError(f"unexpected interim reply {self.status}")
        return COMPLETE

    def _partial(self) -> int:
        """A reply not complete yet, to HEAD or streamed."""
        if not self.headers_done:
            return NEED_DATA
        if self.no_body:
            self._bodiless()
            return self._check_done()
        if 100 <= self.status < 200:
            raise ProtocolError(f"unexpected interim reply {self.status}")
        return HEAD_DONE

    def _head_complete_in(self, data: bytes) -> bool:
        """Is the end of the head within the first MAX_HEAD bytes received?"""
        return b"\r\n\r\n" in b"".join(self.head)[:MAX_HEAD + 4]

    def _bodiless(self) -> None:
        """The reply to HEAD (or a 204/304) is complete at the end of its head; bytes after
        the head are trailing."""
        joined = b"".join(self.head)
        end = joined.find(b"\r\n\r\n")
        if end >= 0 and len(joined) > end + 4:
            self.trailing = True
        self.done = True
        self.pieces = None
        self.body = None
        # llhttp may be waiting for a body that never comes: the next reply needs a new one
        self.parser = httptools.HttpResponseParser(self)
        self._feed_data = self.parser.feed_data

    def feed_eof(self) -> int:
        """The connection closed: COMPLETE for a reply whose body runs to the close, else
        ProtocolError (closed before or in the middle of the reply)."""
        self.ready = False
        if self.done:
            return COMPLETE
        if self.headers_done and not framed(parse_head_headers(self.head)):
            # A reply whose body runs to the close: complete now, but not reusable.
            self.keep_alive = False
            self.done = True
            if 100 <= self.status < 200:
                raise ProtocolError(f"unexpected interim reply {self.status}")
            return COMPLETE
        what = "before replying" if self.received == 0 else "in the middle of the reply"
        raise ProtocolError(f"the server closed the connection {what}")

    def take_reply(self) -> Reply:
        """The complete reply, read whole; the reader is then ready for the next one."""
        body = self.body
        reply = Reply(self.status, None, bytes(body) if body else b"", self.keep_alive, self.head)
        self.reset()
        return reply

    def reply(self) -> Reply:
        """The reply (once COMPLETE, or once HEAD_DONE for a streamed one: its body is then
        read with ``pieces``)."""
        body = self.body
        return Reply(self.status, None, bytes(body) if body else b"", self.keep_alive, self.head)

    def take_pieces(self) -> List[bytes]:
        pieces = self.pieces
        self.pieces = None
        return pieces or []
