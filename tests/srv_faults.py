"""FaultServer: a raw-socket loopback server that misbehaves on purpose, as scripted.

The script is one behaviour per request slot, the last one repeating (see ``FaultServer``).
A behaviour is a ``Behaviour``: a named function of a ``FaultContext`` (bounded reads of the
head and body, sends, FIN or RST closes, holds), made by one of the factories listed in
``BEHAVIOURS``: never reading, stalling a TLS handshake, closing or resetting at a chosen point,
replying early, slowly, malformed, oversized, with a wrong Content-Length or chunked, or closing
a kept-alive connection once idle. What each slot received is recorded (``FaultExchange``):
head, body byte count and CRC-64, reply bytes sent. Test infrastructure, not part of ossfast.
"""

from __future__ import annotations

import collections
import dataclasses
import re
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence, Tuple, Union

from srv_loopback import Link, LoopbackServer
from srv_replies import Reply, new_request_id, oss_error


@dataclasses.dataclass
class FaultExchange:
    """What a FaultServer received in one request slot."""

    conn_id: int
    index_on_connection: int
    behaviour: str
    head: bytes = b""  # the head as received (partial if head_complete is False)
    head_complete: bool = False
    content_length: Optional[int] = None
    body_bytes: int = 0  # body bytes read by the server
    body_complete: bool = False  # content_length body bytes were read
    crc64: int = 0  # CRC-64/XZ of the body bytes read
    reply_bytes: int = 0  # bytes of reply we managed to send
    error: Optional[str] = None  # reset / broken pipe seen by the server, as repr
    finished: bool = False

    @property
    def head_bytes(self) -> int:
        return len(self.head)


@dataclasses.dataclass
class FaultConnection:
    """One connection the FaultServer accepted: its exchanges (request slots), its TLS outcome."""

    conn_id: int
    peer: Tuple[str, int]
    exchanges: List[FaultExchange] = dataclasses.field(default_factory=list)
    tls_error: Optional[str] = None
    tls_resumed: Optional[bool] = None  # the handshake resumed an earlier TLS session
    closed: bool = False


_CONTENT_LENGTH = re.compile(rb"^content-length[ \t]*:[ \t]*(\d+)[ \t]*\r?$", re.I | re.M)


class FaultContext:
    """Handed to a behaviour: bounded reads of the head and body, sends, closes, all recorded."""

    def __init__(self, server: "FaultServer", link: Link, exchange: FaultExchange, buf: bytearray):
        self.server = server
        self.link = link
        self.exchange = exchange
        self.buf = buf  # received, not yet consumed (shared between the slots of a connection)

    def _more(self) -> bool:
        data = self.link.recv()
        self.buf += data
        return bool(data)

    def read_head(self) -> bool:
        """Read until CRLF CRLF (at most max_head_size bytes); parse Content-Length."""
        ex, limit = self.exchange, self.server.max_head_size
        start = 0
        while True:
            i = self.buf.find(b"\r\n\r\n", start)
            if i >= 0:
                ex.head = bytes(self.buf[: i + 4])
                del self.buf[: i + 4]
                ex.head_complete = True
                m = _CONTENT_LENGTH.search(ex.head)
                ex.content_length = int(m.group(1)) if m else 0
                return True
            start = max(0, len(self.buf) - 3)
            if len(self.buf) > limit or not self._more():
                ex.head = bytes(self.buf[:limit])
                del self.buf[:limit]
                return False

    def read_body(self, limit: Optional[int] = None) -> bool:
        """Read the body (or only its first `limit` bytes), counting and CRC-ing; not storing."""
        ex = self.exchange
        want = ex.content_length or 0
        if limit is not None:
            want = min(want, limit)
        while ex.body_bytes < want:
            if not self.buf and not self._more():
                break
            take = min(len(self.buf), want - ex.body_bytes)
            if self.server.checksum is not None:
                with memoryview(self.buf) as view, view[:take] as part:
                    ex.crc64 = self.server.checksum(part, ex.crc64)
            ex.body_bytes += take
            del self.buf[:take]
        ex.body_complete = ex.body_bytes == (ex.content_length or 0)
        return ex.body_complete

    def read_request(self) -> bool:
        return self.read_head() and self.read_body()

    def send(self, data: bytes, byte_delay: float = 0.0) -> None:
        """Send data; with byte_delay, one byte at a time with that many seconds between."""
        if not byte_delay:
            self.link.send(data)
            self.exchange.reply_bytes += len(data)
            return
        for i in range(len(data)):
            if i:
                self.link.sleep(byte_delay)
            self.link.send(data[i : i + 1])
            self.exchange.reply_bytes += 1

    def close(self) -> None:
        self.link.close()

    def reset(self) -> None:
        self.link.close(reset=True)

    def hold(self, seconds: Optional[float] = None) -> None:
        self.link.hold(seconds)


class Behaviour:
    """A named way to handle one request slot. run(ctx) returns True to keep the connection."""

    def __init__(
        self,
        name: str,
        run: Callable[..., bool],
        *,
        before_tls: bool = False,
        label: Optional[Dict[str, Any]] = None,
        **params: Any,
    ):
        self.name = name
        self._run = run
        self.before_tls = before_tls  # acts at accept, before any TLS handshake or read
        self.params = params  # passed to run()
        self.label = params if label is None else label  # shown by repr()

    def run(self, ctx: FaultContext) -> bool:
        return self._run(ctx, **self.params)

    def __repr__(self) -> str:
        return "%s(%s)" % (self.name, ", ".join("%s=%r" % kv for kv in self.label.items()))


# --------------------------------------------------------------------------------------------
# The behaviours: a runner taking the FaultContext, and the factory tests call.


def _ok_head(status: int = 200, extra: Sequence[bytes] = ()) -> bytes:
    lines = [b"HTTP/1.1 %d %s" % (status, Reply(status).phrase()), b"x-oss-request-id: " + new_request_id().encode()]
    return b"\r\n".join(lines + list(extra)) + b"\r\n"


def _run_never_read(ctx: FaultContext, hold: Optional[float], rcvbuf: Optional[int]) -> bool:
    if rcvbuf:
        ctx.link.set_rcvbuf(rcvbuf)
    ctx.hold(hold)
    return False


def accept_never_read(hold: Optional[float] = None, rcvbuf: int = 4096) -> Behaviour:
    """Accepts, shrinks SO_RCVBUF, never reads: the sender blocks once the buffers fill.

    On Linux loopback that is after ~3-5 MB (mostly the sender's own SO_SNDBUF): send bodies of
    16 MiB or more to be sure. FaultServer(rcvbuf=4096) also shrinks the window from the SYN on."""
    return Behaviour("accept_never_read", _run_never_read, before_tls=True, hold=hold, rcvbuf=rcvbuf)


def stall_tls_handshake(hold: Optional[float] = None) -> Behaviour:
    """Accepts TCP and never says a word: a TLS client waits for the ServerHello forever."""
    return Behaviour("stall_tls_handshake", _run_never_read, before_tls=True, hold=hold, rcvbuf=None)


def _run_close_immediately(ctx: FaultContext) -> bool:
    ctx.close()
    return False


def close_immediately() -> Behaviour:
    """Accepts and closes at once without reading (FIN): the peer sees EOF before any reply."""
    return Behaviour("close_immediately", _run_close_immediately, before_tls=True)


def _run_close_after_head(ctx: FaultContext) -> bool:
    ctx.read_head()
    ctx.close()
    return False


def close_after_head() -> Behaviour:
    """Reads the head, then closes without reply (FIN, or RST if body bytes sit unread)."""
    return Behaviour("close_after_head", _run_close_after_head)


def _run_reset_mid_body(ctx: FaultContext, after: int) -> bool:
    ctx.read_head()
    ctx.read_body(limit=after)
    ctx.reset()
    return False


def reset_mid_body(after: int = 1024) -> Behaviour:
    """Reads the head and `after` body bytes, then resets the connection (SO_LINGER 0)."""
    return Behaviour("reset_mid_body", _run_reset_mid_body, after=after)


def _run_read_body_then_close(ctx: FaultContext) -> bool:
    ctx.read_request()
    ctx.close()
    return False


def read_body_then_close() -> Behaviour:
    """Reads the whole request, then closes without a reply (FIN)."""
    return Behaviour("read_body_then_close", _run_read_body_then_close)


def _run_hold_after_body(ctx: FaultContext, hold: Optional[float]) -> bool:
    ctx.read_request()
    ctx.hold(hold)
    return False


def hold_after_body(hold: Optional[float] = None) -> Behaviour:
    """Reads the whole request and never replies (for response timeouts); closes after `hold`."""
    return Behaviour("hold_after_body", _run_hold_after_body, hold=hold)


def _run_early_reply(ctx: FaultContext, reply: Reply, then: str) -> bool:
    ctx.read_head()
    ctx.send(reply.to_bytes())
    if then == "drain":
        ctx.read_body()
    ctx.close()
    return False


def early_reply(
    status: int = 403, code: str = "AccessDenied", message: str = "early reply", *, then: str = "close"
) -> Behaviour:
    """Answers an OSS XML error with Connection: close as soon as the head arrives, before
    reading the body; then closes at once (then="close") or first reads the body (then="drain")."""
    if then not in ("close", "drain"):
        raise ValueError("then must be 'close' or 'drain'")
    return Behaviour("early_reply", _run_early_reply, label={"status": status, "then": then},
                     reply=oss_error(status, code, message, close=True), then=then)


def _run_reply(ctx: FaultContext, reply: Reply, byte_delay: float = 0.0) -> bool:
    ctx.read_request()
    if reply.delay:
        ctx.link.sleep(reply.delay)
    ctx.send(reply.to_bytes(), byte_delay=byte_delay)
    if reply.close:
        ctx.close()
        return False
    return True


def reply(
    status: Union[int, Reply] = 200,
    headers: Sequence[Tuple[Union[str, bytes], Union[str, bytes]]] = (),
    body: bytes = b"",
    *,
    close: bool = False,
    delay: float = 0.0,
) -> Behaviour:
    """Reads the request, sends a valid reply (or the given Reply), keeps the connection unless close."""
    r = status if isinstance(status, Reply) else Reply(status, headers, body, close=close, delay=delay)
    return Behaviour("reply", _run_reply, label={"status": r.status, "close": r.close}, reply=r)


def slow_reply(byte_delay: float = 0.01, status: int = 200, body: bytes = b"") -> Behaviour:
    """Reads the request, sends a valid reply one byte at a time, byte_delay seconds apart."""
    return Behaviour("slow_reply", _run_reply, label={"byte_delay": byte_delay, "status": status},
                     reply=Reply(status, body=body), byte_delay=byte_delay)


def _run_raw(ctx: FaultContext, data: bytes, close: bool) -> bool:
    ctx.read_request()
    ctx.send(data)
    if close:
        ctx.close()
    return not close


def raw(data: bytes, close: bool = True) -> Behaviour:
    """Reads the request, sends `data` verbatim, then closes (unless close=False)."""
    return Behaviour("raw", _run_raw, label={"close": close}, data=data, close=close)


def malformed_status_line(line: bytes = b"HTTP/1.1 2OO OK") -> Behaviour:
    """Reads the request, replies with an unparsable status line, then closes."""
    return Behaviour("malformed_status_line", _run_raw, label={"line": line},
                     data=line + b"\r\nContent-Length: 0\r\n\r\n", close=True)


def malformed_header(line: bytes = b"x-oss-request-id 5C3D9A1B2E4F6A7B8C9D0E1F") -> Behaviour:
    """Reads the request, replies 200 with a header line that has no colon, then closes."""
    return Behaviour("malformed_header", _run_raw, label={"line": line},
                     data=b"HTTP/1.1 200 OK\r\n" + line + b"\r\nContent-Length: 0\r\n\r\n", close=True)


def _run_oversized(ctx: FaultContext, size: int) -> bool:
    ctx.read_request()
    line = b"x-oss-filler-%06d: " + b"f" * 100 + b"\r\n"
    ctx.send(_ok_head(200))
    sent, i = 0, 0
    try:
        while sent < size:
            block = b"".join(line % (i + k) for k in range(64))
            ctx.send(block)
            sent += len(block)
            i += 64
        ctx.send(b"Content-Length: 0\r\n\r\n")
    except OSError as e:  # the client gave up reading: that is the point
        ctx.exchange.error = repr(e)
    ctx.close()
    return False


def oversized_headers(size: int = 1024 * 1024) -> Behaviour:
    """Reads the request, replies 200 followed by `size` bytes of header lines, then closes."""
    return Behaviour("oversized_headers", _run_oversized, size=size)


def wrong_content_length(declared: int = 100, sent: int = 10) -> Behaviour:
    """Reads the request, replies 200 declaring Content-Length `declared`, sends `sent` bytes, closes."""
    data = _ok_head(200, [b"Content-Length: %d" % declared]) + b"\r\n" + b"x" * sent
    return Behaviour("wrong_content_length", _run_raw, label={"declared": declared, "sent": sent},
                     data=data, close=True)


def _run_chunked(ctx: FaultContext, chunks: Sequence[bytes]) -> bool:
    ctx.read_request()
    out = [_ok_head(200, [b"Transfer-Encoding: chunked"]), b"\r\n"]
    for c in chunks:
        if c:
            out.append(b"%x\r\n%s\r\n" % (len(c), c))
    out.append(b"0\r\n\r\n")
    ctx.send(b"".join(out))
    return True


def chunked_reply(chunks: Sequence[bytes] = (b"<ok>", b"</ok>")) -> Behaviour:
    """Reads the request, sends a valid chunked 200 reply, keeps the connection."""
    return Behaviour("chunked_reply", _run_chunked, chunks=tuple(chunks))


def _run_idle_close(ctx: FaultContext, delay: float) -> bool:
    ctx.read_request()
    ctx.send(Reply(200).to_bytes())
    ctx.link.sleep(delay)
    ctx.close()
    return False


def idle_close(delay: float = 0.1) -> Behaviour:
    """Serves one request with keep-alive, then closes the idle connection after `delay` s."""
    return Behaviour("idle_close", _run_idle_close, delay=delay)


BEHAVIOURS: Dict[str, Callable[[], Behaviour]] = {
    f.__name__: f
    for f in (
        accept_never_read, stall_tls_handshake, close_immediately, close_after_head, reset_mid_body,
        read_body_then_close, hold_after_body, early_reply, reply, slow_reply, malformed_status_line,
        malformed_header, oversized_headers, wrong_content_length, chunked_reply, idle_close,
    )
}

BehaviourSpec = Union[str, Behaviour, Reply]


def as_behaviour(spec: BehaviourSpec) -> Behaviour:
    """A behaviour from its name (default arguments), a Behaviour, or a Reply to send."""
    if isinstance(spec, Behaviour):
        return spec
    if isinstance(spec, Reply):
        return reply(spec)
    if isinstance(spec, str):
        return BEHAVIOURS[spec]()
    raise TypeError("not a behaviour: %r" % (spec,))


# --------------------------------------------------------------------------------------------
# The server.


class FaultServer(LoopbackServer):
    """A raw-socket server that misbehaves as scripted.

    The script is a list of behaviours, one per request slot, the last one repeating. A new
    connection draws its behaviour as soon as it is accepted (so accept_never_read and
    stall_tls_handshake can act before any read or TLS handshake); once a behaviour that keeps
    the connection is done, the next one is drawn when the next request's first byte arrives.
    So [reply(500), reply(200)] gives 500 then 200 whether the retry reuses the connection or not.
    Bodies are counted and CRC-ed, never stored. Request bodies must use Content-Length.
    """

    def __init__(self, behaviours: Sequence[BehaviourSpec] = ("reply",), *, max_head_size: int = 256 * 1024, **kw: Any):
        super().__init__(**kw)
        self.max_head_size = max_head_size
        self.connections: List[FaultConnection] = []
        self.exchanges: List[FaultExchange] = []  # every slot, in the order they were drawn
        self._script: Deque[Behaviour] = collections.deque()
        self.set_behaviours(*behaviours)

    def set_behaviours(self, *behaviours: BehaviourSpec) -> "FaultServer":
        """Replace the script (names, Behaviour objects or Reply objects)."""
        script = [as_behaviour(b) for b in behaviours] or [reply()]
        with self._lock:
            self._script = collections.deque(script)
        return self

    @property
    def full_bodies(self) -> int:
        """How many request bodies arrived whole."""
        with self._lock:
            return sum(1 for e in self.exchanges if e.body_complete)

    def wait_for(self, n: int, timeout: float = 5.0) -> List[FaultExchange]:
        """Block until n exchanges are finished; return all exchanges (AssertionError on timeout)."""
        self._wait(lambda: sum(e.finished for e in self.exchanges) >= n, timeout, "%d exchanges" % n)
        with self._lock:
            return list(self.exchanges)

    def _draw(self) -> Behaviour:
        with self._lock:
            return self._script.popleft() if len(self._script) > 1 else self._script[0]

    def _serve(self, link: Link) -> None:
        conn = FaultConnection(link.conn_id, link.peer)
        with self._lock:
            self.connections.append(conn)
        buf = bytearray()
        try:
            behaviour = self._draw()
            if not behaviour.before_tls and self.ssl_context is not None:
                if not self._start_tls(link, conn):
                    return
            while True:
                ex = FaultExchange(link.conn_id, len(conn.exchanges), repr(behaviour))
                with self._lock:
                    conn.exchanges.append(ex)
                    self.exchanges.append(ex)
                try:
                    keep = behaviour.run(FaultContext(self, link, ex, buf))
                except OSError as e:  # reset or broken pipe: the peer's doing
                    ex.error = repr(e)
                    return
                finally:
                    with self._lock:
                        ex.finished = True
                        self._lock.notify_all()
                if not keep or link.closed:
                    return
                if not buf:
                    data = link.recv()
                    if not data:
                        return
                    buf += data
                behaviour = self._draw()
        finally:
            conn.closed = True
