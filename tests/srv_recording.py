"""RecordingServer: a well-behaved loopback HTTP/1.1 server that records every request.

h11 parses every byte strictly (keep-alive, ``Expect: 100-continue``, a 400 for a malformed
request); each request is recorded exactly as received (``RecordedRequest``: the raw head, the
headers in order and case, the body up to ``body_limit``, its length and CRC-64), and answered
with scripted replies (``respond()``, a ``handler``, else 200). Plain TCP, or TLS with an
``ssl_context`` (see srv_tls). Test infrastructure, not part of ossfast.
"""

from __future__ import annotations

import collections
import dataclasses
import time
from typing import Any, Callable, Deque, List, Optional, Sequence, Tuple, Union

import h11
from srv_loopback import Link, LoopbackServer
from srv_replies import Reply, new_request_id


@dataclasses.dataclass
class RecordedRequest:
    """One request as the RecordingServer received it."""

    conn_id: int  # which connection (1, 2, ... in accept order)
    index: int  # position among all requests of the server (0-based)
    index_on_connection: int  # 0 for the first request on its connection
    method: str
    target: str
    http_version: str
    headers: List[Tuple[bytes, bytes]]  # as received: names keep their case, in order
    raw_head: bytes  # request line through the blank line, byte for byte
    body: bytes = b""  # the first body_limit bytes
    body_length: int = 0  # every body byte received, stored or not
    crc64: int = 0  # CRC-64/XZ of the whole body received
    complete: bool = False  # the whole body arrived
    reply: Optional[Reply] = None
    request_id: Optional[str] = None  # the x-oss-request-id we answered with
    started: float = 0.0  # time.monotonic() when the head was parsed
    finished: float = 0.0  # ... when the body ended

    @property
    def body_truncated(self) -> bool:
        return self.body_length > len(self.body)

    def header(self, name: str) -> Optional[str]:
        """The first value of a header, case-insensitively, decoded as latin-1; None if absent."""
        values = self.header_values(name)
        return values[0] if values else None

    def header_values(self, name: str) -> List[str]:
        n = name.lower().encode()
        return [v.decode("latin-1") for k, v in self.headers if k.lower() == n]

    @property
    def header_names(self) -> List[str]:
        return [k.decode("latin-1") for k, _ in self.headers]


@dataclasses.dataclass
class RecordedConnection:
    """One connection the RecordingServer accepted: its TLS outcome and how it ended."""

    conn_id: int
    peer: Tuple[str, int]
    tls_version: Optional[str] = None
    tls_resumed: Optional[bool] = None  # the handshake resumed an earlier TLS session
    requests: int = 0
    tls_error: Optional[str] = None
    error: Optional[str] = None  # reset, broken pipe ... as repr
    closed: bool = False


Responder = Union[Reply, Callable[[RecordedRequest], Optional[Reply]]]


class RecordingServer(LoopbackServer):
    """HTTP/1.1 server (strict h11 parsing, keep-alive) that records every request.

    Replies come from the queue filled by respond() (oldest first), else from `handler`
    (a callable taking the RecordedRequest and returning a Reply or None), else default_reply():
    200, empty body, a random x-oss-request-id. Queue entries may be callables too.
    """

    def __init__(
        self,
        *,
        responses: Union[None, Sequence[Responder], Callable[[RecordedRequest], Optional[Reply]]] = None,
        body_limit: Optional[int] = 64 * 1024 * 1024,
        max_head_size: int = 64 * 1024,
        send_continue: bool = True,
        strict: bool = True,
        **kw: Any,
    ):
        super().__init__(**kw)
        self.body_limit = body_limit  # store at most this many body bytes per request (None: all)
        self.max_head_size = max_head_size
        self.send_continue = send_continue  # answer "Expect: 100-continue" with a 100
        self.strict = strict  # the conftest fixtures fail the test on protocol errors
        self.handler: Optional[Callable[[RecordedRequest], Optional[Reply]]] = None
        self.requests: List[RecordedRequest] = []  # complete requests, in completion order
        self.aborted: List[RecordedRequest] = []  # requests cut off before their body ended
        self.protocol_errors: List[str] = []  # what h11 rejected (we answered 400 if we could)
        self.connections: List[RecordedConnection] = []
        self._queue: Deque[Responder] = collections.deque()
        self._index = 0
        if callable(responses):
            self.handler = responses
        elif responses:
            self._queue.extend(responses)

    def respond(self, *replies: Responder) -> "RecordingServer":
        """Queue replies (Reply objects or callables) for the next requests, in order."""
        with self._lock:
            self._queue.extend(replies)
        return self

    def default_reply(self, request: RecordedRequest) -> Reply:
        return Reply(200)

    def wait_for(self, n: int, timeout: float = 5.0) -> List[RecordedRequest]:
        """Block until n requests are complete; return them all (AssertionError on timeout)."""
        self._wait(lambda: len(self.requests) >= n, timeout, "%d requests" % n)
        with self._lock:
            return list(self.requests)

    @property
    def last(self) -> RecordedRequest:
        return self.requests[-1]

    # -- per connection --------------------------------------------------------------------
    def _connection_error(self, link: Link, exc: OSError) -> None:
        info = getattr(link, "record", None)
        if info is not None:
            info.error = repr(exc)

    def _serve(self, link: Link) -> None:
        info = link.record = RecordedConnection(link.conn_id, link.peer)
        with self._lock:
            self.connections.append(info)
            self.connections.sort(key=lambda c: c.conn_id)
        if self.ssl_context is not None:
            if not self._start_tls(link, info):
                return
            info.tls_version = link.sock.version()
        try:
            self._serve_http(link, info)
        finally:
            info.closed = True

    def _serve_http(self, link: Link, info: RecordedConnection) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self.max_head_size)
        head_buf = bytearray()  # bytes not yet known to belong to a body
        mark = 0  # stream offset where head_buf starts
        fed = 0  # stream bytes given to h11
        in_body = False
        eof = False
        rec: Optional[RecordedRequest] = None
        try:
            while True:
                try:
                    event = conn.next_event()
                except h11.RemoteProtocolError as e:
                    if eof or rec is not None:
                        return  # cut off mid-head or mid-body: recorded as aborted below
                    with self._lock:
                        self.protocol_errors.append("%s (conn %d)" % (e, link.conn_id))
                        self._lock.notify_all()
                    if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                        body = str(e).encode()
                        link.send(
                            conn.send(h11.Response(status_code=e.error_status_hint, headers=[
                                (b"Content-Length", str(len(body)).encode()),
                                (b"Connection", b"close")]))
                            + conn.send(h11.Data(data=body))
                            + conn.send(h11.EndOfMessage())
                        )
                    return
                if event is h11.NEED_DATA:
                    data = link.recv()
                    eof = not data
                    if not in_body:
                        head_buf += data
                    fed += len(data)
                    conn.receive_data(data)
                elif isinstance(event, h11.Request):
                    consumed = fed - len(conn.trailing_data[0])
                    raw_head = bytes(head_buf[: consumed - mark])
                    head_buf.clear()
                    mark = consumed
                    in_body = True
                    with self._lock:
                        index = self._index
                        self._index += 1
                    rec = RecordedRequest(
                        conn_id=link.conn_id,
                        index=index,
                        index_on_connection=info.requests,
                        method=event.method.decode("ascii"),
                        target=event.target.decode("latin-1"),
                        http_version=event.http_version.decode("ascii"),
                        headers=list(event.headers.raw_items()),
                        raw_head=raw_head,
                        started=time.monotonic(),
                    )
                    info.requests += 1
                    body = bytearray()
                    if self.send_continue and conn.they_are_waiting_for_100_continue:
                        link.send(conn.send(h11.InformationalResponse(status_code=100, headers=[])))
                elif isinstance(event, h11.Data):
                    data = event.data
                    if self.checksum is not None:
                        rec.crc64 = self.checksum(data, rec.crc64)
                    rec.body_length += len(data)
                    room = len(data) if self.body_limit is None else self.body_limit - len(body)
                    if room > 0:
                        body += data[:room]
                elif isinstance(event, h11.EndOfMessage):
                    tail = conn.trailing_data[0]
                    mark = fed - len(tail)
                    head_buf = bytearray(tail)
                    in_body = False
                    rec.body = bytes(body)
                    rec.complete = True
                    rec.finished = time.monotonic()
                    done, rec = rec, None
                    self._reply(link, conn, done)
                    if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                        return
                    conn.start_next_cycle()
                elif isinstance(event, h11.ConnectionClosed):
                    return
                else:  # pragma: no cover - PAUSED cannot happen: we reply before the next cycle
                    raise AssertionError("unexpected h11 event %r" % (event,))
        finally:
            if rec is not None:
                rec.body = bytes(body)
                rec.finished = time.monotonic()
                with self._lock:
                    self.aborted.append(rec)
                    self._lock.notify_all()

    def _reply(self, link: Link, conn: h11.Connection, rec: RecordedRequest) -> None:
        with self._lock:
            responder: Optional[Responder] = self._queue.popleft() if self._queue else self.handler
        reply = responder(rec) if callable(responder) else responder
        if reply is None:
            reply = self.default_reply(rec)
        rid = reply.request_id or new_request_id()
        rec.reply, rec.request_id = reply, rid
        # Recorded before replying, so a client that has its reply finds the request recorded.
        with self._lock:
            self.requests.append(rec)
            self._lock.notify_all()
        if reply.delay:
            link.sleep(reply.delay)
        out = conn.send(
            h11.Response(status_code=reply.status, headers=reply.wire_headers(rid), reason=reply.phrase())
        )
        if reply.body:
            out += conn.send(h11.Data(data=reply.body))
        out += conn.send(h11.EndOfMessage())
        link.send(out)
