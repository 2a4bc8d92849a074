"""Loopback servers the sender's tests run against (test infrastructure, not part of ossfast).

- ``RecordingServer``: a real HTTP/1.1 server (h11 parses every byte) that records each request
  exactly as received and answers with scripted replies; plain TCP or TLS.
- ``FaultServer``: a raw-socket server that misbehaves on purpose, one scripted behaviour per
  request slot (see ``FaultServer``; the behaviours are the functions listed in ``BEHAVIOURS``),
  recording how much of each request it received.
- ``TLSMaterial``: a trustme CA, a good server certificate and the bad variants (wrong host name,
  expired, not yet valid, self-signed, unknown CA).
- ``ClosedPort`` / ``UnacceptedListener``: a port that refuses connections, and one whose listening
  socket never accepts.

Every server listens on 127.0.0.1 on a port the OS picks, runs in daemon threads, and stops when
``stop()`` is called (context manager and fixtures do it), when nothing happened on it for
``idle_timeout`` seconds, or ``lifetime`` seconds after it started; so nothing can hang a test run.
All blocking calls poll at ``POLL`` seconds and every buffer has a bound.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import http
import ipaddress
import os
import re
import secrets
import select
import socket
import ssl
import struct
import threading
import time
import weakref
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence, Tuple, Union

import h11

POLL = 0.05
RECV_SIZE = 256 * 1024
THREAD_PREFIX = "ossfast-test-server"
HOST = "127.0.0.1"
_HANGUP = getattr(select, "POLLRDHUP", 0) | select.POLLHUP | select.POLLERR

# Every started server, so a guard can find those a test forgot to stop.
_LIVE: "weakref.WeakSet[_LoopbackServer]" = weakref.WeakSet()


# --------------------------------------------------------------------------------------------
# CRC-64/XZ, computed independently of the code under test.


def _pick_crc64() -> Tuple[Callable[[bytes, int], int], str]:
    try:
        import crcmod
        import crcmod.crcmod as _impl

        if getattr(_impl, "_usingExtension", False):
            fn = crcmod.mkCrcFun(
                0x142F0E1EBA9EA3693, initCrc=0, rev=True, xorOut=0xFFFFFFFFFFFFFFFF
            )
            return fn, "crcmod"
    except ImportError:
        pass
    from ossfast import _pure

    return _pure.crc64, "ossfast._pure"


_crc64_fn, CRC64_IMPL = _pick_crc64()


def crc64(data: Any, crc: int = 0) -> int:
    """CRC-64/XZ of any contiguous buffer, continuing from crc (crcmod's C extension, about
    450 MB/s, else ossfast._pure): independent of the code under test."""
    return _crc64_fn(data, crc)


assert crc64(b"123456789") == 0x995DC9BBDF1939FA, CRC64_IMPL
assert crc64(b"") == 0


# --------------------------------------------------------------------------------------------
# Replies shared by both servers.


def new_request_id() -> str:
    """A fresh OSS-style request id: 24 upper-case hex digits."""
    return secrets.token_hex(12).upper()


@dataclasses.dataclass
class Reply:
    """A scripted HTTP reply. Missing x-oss-request-id and Content-Length are added when sent."""

    status: int = 200
    headers: Sequence[Tuple[Union[str, bytes], Union[str, bytes]]] = ()
    body: bytes = b""
    reason: Optional[str] = None
    close: bool = False  # send "Connection: close" and close after the reply
    delay: float = 0.0  # seconds to wait before replying (stop-aware)
    request_id: Optional[str] = None  # default: a random one per reply

    def wire_headers(self, rid: str) -> List[Tuple[bytes, bytes]]:
        out = [(_b(k), _b(v)) for k, v in self.headers]
        names = {k.lower() for k, _ in out}
        if b"x-oss-request-id" not in names:
            out.append((b"x-oss-request-id", rid.encode()))
        if b"content-length" not in names and b"transfer-encoding" not in names:
            out.append((b"Content-Length", str(len(self.body)).encode()))
        if self.close and b"connection" not in names:
            out.append((b"Connection", b"close"))
        return out

    def phrase(self) -> bytes:
        if self.reason is not None:
            return self.reason.encode()
        try:
            return http.HTTPStatus(self.status).phrase.encode()
        except ValueError:
            return b""

    def to_bytes(self, rid: Optional[str] = None) -> bytes:
        """The whole reply as bytes, for the raw FaultServer."""
        rid = rid or self.request_id or new_request_id()
        lines = [b"HTTP/1.1 %d %s" % (self.status, self.phrase())]
        lines += [k + b": " + v for k, v in self.wire_headers(rid)]
        return b"\r\n".join(lines) + b"\r\n\r\n" + self.body


def oss_error_xml(
    code: str,
    message: str,
    request_id: str,
    host_id: str = "fc-ap.oss-cn-hangzhou-internal.oss-object-process.aliyuncs.com",
    ec: str = "0003-00000001",
) -> bytes:
    """The XML error document OSS sends with a 4xx/5xx status."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n'
        f"  <Code>{code}</Code>\n  <Message>{message}</Message>\n"
        f"  <RequestId>{request_id}</RequestId>\n  <HostId>{host_id}</HostId>\n"
        f"  <EC>{ec}</EC>\n</Error>\n"
    ).encode()


def oss_error(
    status: int = 403,
    code: str = "AccessDenied",
    message: str = "You have no right to access this object.",
    *,
    ec: str = "0003-00000001",
    request_id: Optional[str] = None,
    host_id: str = "fc-ap.oss-cn-hangzhou-internal.oss-object-process.aliyuncs.com",
    close: bool = False,
    delay: float = 0.0,
) -> Reply:
    """A Reply carrying an OSS XML error (with x-oss-request-id and x-oss-ec headers)."""
    rid = request_id or new_request_id()
    body = oss_error_xml(code, message, rid, host_id, ec)
    headers = [
        ("Content-Type", "application/xml"),
        ("x-oss-request-id", rid),
        ("x-oss-ec", ec),
    ]
    return Reply(status, headers, body, close=close, delay=delay, request_id=rid)


def _b(x: Union[str, bytes]) -> bytes:
    return x if isinstance(x, bytes) else str(x).encode("latin-1")


# --------------------------------------------------------------------------------------------
# The common machinery: listening socket, accept loop, one thread per connection, deadlines.


class _Stop(Exception):
    """The server is stopping, or a connection outlived its inactivity deadline."""


class _Link:
    """One accepted connection: stop-aware, deadline-bounded recv/send/sleep over a socket."""

    def __init__(self, server: "_LoopbackServer", sock: socket.socket, conn_id: int, peer):
        self.server = server
        self.sock = sock
        self.conn_id = conn_id
        self.peer = peer
        self.closed = False

    def _deadline(self) -> float:
        return time.monotonic() + self.server.conn_timeout

    def _check(self, deadline: float) -> None:
        if self.server._stopping.is_set():
            raise _Stop("server stopping")
        if time.monotonic() > deadline:
            raise _Stop("connection inactive for %.1fs" % self.server.conn_timeout)

    def recv(self, n: int = RECV_SIZE) -> bytes:
        deadline = self._deadline()
        while True:
            self._check(deadline)
            try:
                data = self.sock.recv(n)
            except socket.timeout:
                continue
            self.server._touch()
            return data

    def send(self, data: bytes) -> None:
        view = memoryview(data)
        deadline = self._deadline()
        while view:
            self._check(deadline)
            try:
                n = self.sock.send(view[:RECV_SIZE])
            except socket.timeout:
                continue
            view = view[n:]
            deadline = self._deadline()
            self.server._touch()

    def sleep(self, seconds: float) -> None:
        if self.server._stopping.wait(seconds):
            raise _Stop("server stopping")

    def hold(self, seconds: Optional[float] = None) -> None:
        """Read nothing, send nothing, for `seconds` (default conn_timeout), until the server
        stops or the peer closes its side (seen by POLLRDHUP without reading the data)."""
        end = time.monotonic() + (self.server.conn_timeout if seconds is None else seconds)
        poller = select.poll()
        poller.register(self.sock, _HANGUP)
        while time.monotonic() < end:
            if poller.poll(int(POLL * 1000)):
                return
            if self.server._stopping.is_set():
                raise _Stop("server stopping")

    def start_tls(self, context: ssl.SSLContext) -> None:
        ssock = context.wrap_socket(self.sock, server_side=True, do_handshake_on_connect=False)
        with self.server._lock:
            self.sock = ssock
        deadline = self._deadline()
        while True:
            self._check(deadline)
            try:
                ssock.do_handshake()
                return
            except socket.timeout:
                continue

    def set_rcvbuf(self, size: int) -> None:
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)

    def close(self, reset: bool = False) -> None:
        """Close; with reset=True the kernel sends RST instead of FIN (SO_LINGER 0)."""
        with self.server._lock:
            if self.closed:
                return
            self.closed = True
            if reset:
                try:
                    self.sock.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                except OSError:
                    pass
            self.sock.close()

    def _wake(self) -> None:
        # Called under the server lock. Bypass SSLSocket.shutdown, which would drop the TLS
        # object under the feet of the thread reading it.
        if not self.closed:
            try:
                socket.socket.shutdown(self.sock, socket.SHUT_RDWR)
            except OSError:
                pass


class _LoopbackServer:
    """Listening socket on 127.0.0.1:0, accept loop and bounded thread-per-connection."""

    def __init__(
        self,
        *,
        ssl_context: Optional[ssl.SSLContext] = None,
        max_connections: int = 64,
        conn_timeout: float = 10.0,
        idle_timeout: float = 20.0,
        lifetime: float = 60.0,
        backlog: int = 128,
        rcvbuf: Optional[int] = None,
        checksum: Optional[Callable[[Any, int], int]] = crc64,
    ):
        self.ssl_context = ssl_context
        # CRC-64/XZ of bodies, crc64 by default. crcmod caps the server near 200 MB/s: a test of
        # throughput may pass ossfast.crc64 (native), or None to skip (crc64 fields stay 0).
        self.checksum = checksum
        self.rcvbuf = rcvbuf  # SO_RCVBUF of the listening socket, inherited by accepted ones
        self.max_connections = max_connections
        self.conn_timeout = conn_timeout
        self.idle_timeout = idle_timeout
        self.lifetime = lifetime
        self.backlog = backlog
        self.port: Optional[int] = None
        self.accepted = 0  # connections accepted so far
        self.errors: List[BaseException] = []  # unexpected exceptions: a bug in server or test
        self.stop_reason: Optional[str] = None  # "stop", "idle" or "lifetime"
        self._lock = threading.Condition()
        self._stopping = threading.Event()
        self._slots = threading.BoundedSemaphore(max_connections)
        self._links: "set[_Link]" = set()
        self._handlers: "set[threading.Thread]" = set()
        self._listener: Optional[socket.socket] = None
        self._thread: Optional[threading.Thread] = None
        self._started = self._last_activity = 0.0

    # -- public ----------------------------------------------------------------------------
    host = HOST

    @property
    def address(self) -> Tuple[str, int]:
        return (HOST, self.port)

    @property
    def url(self) -> str:
        """Where to connect: "http://127.0.0.1:PORT" (https with an ssl_context)."""
        return "%s://%s:%d" % ("https" if self.ssl_context else "http", HOST, self.port)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def active_connections(self) -> int:
        with self._lock:
            return len(self._links)

    def start(self):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if self.rcvbuf:
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
            listener.bind((HOST, 0))
            listener.listen(self.backlog)
            listener.settimeout(POLL)
        except BaseException:
            listener.close()
            raise
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._started = self._last_activity = time.monotonic()
        self._thread = threading.Thread(
            target=self._accept_loop,
            name="%s:%s:%d" % (THREAD_PREFIX, type(self).__name__, self.port),
            daemon=True,
        )
        self._thread.start()
        _LIVE.add(self)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, wake and close every connection, join every thread."""
        self._begin_stop("stop")
        me = threading.current_thread()
        if self._thread is not None and self._thread is not me:
            self._thread.join(timeout)
        with self._lock:
            handlers = list(self._handlers)
        for t in handlers:
            if t is not me:
                t.join(timeout)
        _LIVE.discard(self)

    def __repr__(self) -> str:
        where = self.url if self.port else "not started"
        return "<%s %s %s>" % (type(self).__name__, where, self.stop_reason or "running")

    def __enter__(self):
        if self._thread is None:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def threads(self) -> List[threading.Thread]:
        """The server's threads still alive."""
        with self._lock:
            ts = list(self._handlers)
        if self._thread is not None:
            ts.append(self._thread)
        return [t for t in ts if t.is_alive()]

    # -- internals -------------------------------------------------------------------------
    def _touch(self) -> None:
        self._last_activity = time.monotonic()

    def _begin_stop(self, reason: str) -> None:
        with self._lock:
            if self.stop_reason is None:
                self.stop_reason = reason
            self._stopping.set()
            for link in self._links:
                link._wake()
            if self._listener is not None and threading.current_thread() is not self._thread:
                try:  # wakes accept() at once on Linux
                    self._listener.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._lock.notify_all()

    def _accept_loop(self) -> None:
        listener = self._listener
        try:
            while not self._stopping.is_set():
                now = time.monotonic()
                if now - self._started > self.lifetime:
                    self._begin_stop("lifetime")
                    break
                if now - self._last_activity > self.idle_timeout:
                    self._begin_stop("idle")
                    break
                if not self._slots.acquire(timeout=POLL):
                    continue
                try:
                    sock, peer = listener.accept()
                except socket.timeout:
                    self._slots.release()
                    continue
                except OSError:
                    self._slots.release()
                    if self._stopping.is_set():
                        break
                    raise
                self._touch()
                sock.settimeout(POLL)
                with self._lock:
                    if self._stopping.is_set():
                        sock.close()
                        self._slots.release()
                        break
                    self.accepted += 1
                    link = _Link(self, sock, self.accepted, peer)
                    self._links.add(link)
                    t = threading.Thread(
                        target=self._run_link,
                        args=(link,),
                        name="%s:%s:%d:conn%d"
                        % (THREAD_PREFIX, type(self).__name__, self.port, link.conn_id),
                        daemon=True,
                    )
                    self._handlers.add(t)
                    self._lock.notify_all()
                t.start()
        except BaseException as e:  # pragma: no cover - a bug in this file
            self.errors.append(e)
        finally:
            with self._lock:
                listener.close()

    def _run_link(self, link: _Link) -> None:
        try:
            self._serve(link)
        except _Stop:
            pass
        except OSError as e:  # resets, broken pipes, TLS failures: the peer's doing
            self._connection_error(link, e)
        except BaseException as e:
            self.errors.append(e)
        finally:
            link.close()
            with self._lock:
                self._links.discard(link)
                self._handlers.discard(threading.current_thread())
                self._lock.notify_all()
            self._slots.release()

    def _serve(self, link: _Link) -> None:
        raise NotImplementedError

    def _connection_error(self, link: _Link, exc: OSError) -> None:
        pass

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
        """Block until predicate() (evaluated under the server lock) is true; AssertionError on timeout."""
        self._wait(predicate, timeout, what or getattr(predicate, "__name__", "a condition"))

    def _wait(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        with self._lock:
            if not self._lock.wait_for(predicate, timeout):
                raise AssertionError(
                    "%s: timed out after %.1fs waiting for %s (errors: %r)"
                    % (type(self).__name__, timeout, what, self.errors)
                )


# --------------------------------------------------------------------------------------------
# RecordingServer


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
    conn_id: int
    peer: Tuple[str, int]
    tls_version: Optional[str] = None
    tls_resumed: Optional[bool] = None  # the handshake resumed an earlier TLS session
    requests: int = 0
    tls_error: Optional[str] = None
    error: Optional[str] = None  # reset, broken pipe ... as repr
    closed: bool = False


Responder = Union[Reply, Callable[[RecordedRequest], Optional[Reply]]]


class RecordingServer(_LoopbackServer):
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
        self.tls_errors: List[str] = []  # failed TLS handshakes
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

    def wait_for_connections(self, n: int, timeout: float = 5.0) -> None:
        self._wait(lambda: self.accepted >= n, timeout, "%d connections" % n)

    @property
    def last(self) -> RecordedRequest:
        return self.requests[-1]

    # -- per connection --------------------------------------------------------------------
    def _connection_error(self, link: _Link, exc: OSError) -> None:
        info = getattr(link, "record", None)
        if info is not None:
            info.error = repr(exc)

    def _serve(self, link: _Link) -> None:
        info = link.record = RecordedConnection(link.conn_id, link.peer)
        with self._lock:
            self.connections.append(info)
            self.connections.sort(key=lambda c: c.conn_id)
        if self.ssl_context is not None:
            try:
                link.start_tls(self.ssl_context)
            except (OSError, ValueError) as e:
                info.tls_error = repr(e)
                with self._lock:
                    self.tls_errors.append(repr(e))
                    self._lock.notify_all()
                return
            info.tls_version = link.sock.version()
            info.tls_resumed = link.sock.session_reused
        try:
            self._serve_http(link, info)
        finally:
            info.closed = True

    def _serve_http(self, link: _Link, info: RecordedConnection) -> None:
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

    def _reply(self, link: _Link, conn: h11.Connection, rec: RecordedRequest) -> None:
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


# --------------------------------------------------------------------------------------------
# FaultServer


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
    conn_id: int
    peer: Tuple[str, int]
    exchanges: List[FaultExchange] = dataclasses.field(default_factory=list)
    tls_error: Optional[str] = None
    tls_resumed: Optional[bool] = None  # the handshake resumed an earlier TLS session
    closed: bool = False


_CONTENT_LENGTH = re.compile(rb"^content-length[ \t]*:[ \t]*(\d+)[ \t]*\r?$", re.I | re.M)


class FaultContext:
    """Handed to a behaviour: bounded reads of the head and body, sends, closes, all recorded."""

    def __init__(self, server: "FaultServer", link: _Link, exchange: FaultExchange, buf: bytearray):
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


class FaultServer(_LoopbackServer):
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
        self.tls_errors: List[str] = []
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

    def wait_for_connections(self, n: int, timeout: float = 5.0) -> None:
        self._wait(lambda: self.accepted >= n, timeout, "%d connections" % n)

    def _draw(self) -> Behaviour:
        with self._lock:
            return self._script.popleft() if len(self._script) > 1 else self._script[0]

    def _serve(self, link: _Link) -> None:
        conn = FaultConnection(link.conn_id, link.peer)
        with self._lock:
            self.connections.append(conn)
        buf = bytearray()
        try:
            behaviour = self._draw()
            if not behaviour.before_tls and self.ssl_context is not None:
                try:
                    link.start_tls(self.ssl_context)
                except (OSError, ValueError) as e:
                    conn.tls_error = repr(e)
                    with self._lock:
                        self.tls_errors.append(repr(e))
                    return
                conn.tls_resumed = link.sock.session_reused
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


# --------------------------------------------------------------------------------------------
# Ports that refuse or never accept.


class ClosedPort:
    """A port nothing listens on: a socket bound but not listening holds it, so connect() gets
    ECONNREFUSED for as long as this object is open (no other process can take the port)."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind((HOST, 0))
        self.port: int = self._sock.getsockname()[1]
        self.url = "http://%s:%d" % (HOST, self.port)

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> "ClosedPort":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class UnacceptedListener(ClosedPort):
    """A listening socket that never accepts: connect() succeeds (the kernel queues up to
    `backlog` + 1 connections), a few KiB of request go into its buffer, and nothing answers."""

    def __init__(self, backlog: int = 1, rcvbuf: int = 4096) -> None:
        super().__init__()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self._sock.listen(backlog)


# --------------------------------------------------------------------------------------------
# TLS material.


class TLSMaterial:
    """A trustme CA (written to `ca_file`, for the client's verify=) and server contexts.

    server_context(variant): "valid" (localhost and 127.0.0.1), "wrong_host" (other.example),
    "expired", "not_yet_valid", "self_signed" (not issued by the CA), "unknown_ca" (issued by
    another CA). Every variant but "valid" must fail the client's verification.
    """

    VARIANTS = ("valid", "wrong_host", "expired", "not_yet_valid", "self_signed", "unknown_ca")
    HOSTS = ("localhost", "127.0.0.1")

    def __init__(self, directory: Union[str, os.PathLike]) -> None:
        import trustme

        self.directory = os.fspath(directory)
        self.ca = trustme.CA()
        self.ca_file = os.path.join(self.directory, "ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_file)
        now = datetime.datetime.now(datetime.timezone.utc)
        day = datetime.timedelta(days=1)
        self._leaves = {
            "valid": self.ca.issue_cert(*self.HOSTS),
            "wrong_host": self.ca.issue_cert("other.example"),
            "expired": self.ca.issue_cert(*self.HOSTS, not_before=now - 30 * day, not_after=now - day),
            "not_yet_valid": self.ca.issue_cert(*self.HOSTS, not_before=now + day, not_after=now + 30 * day),
            "unknown_ca": trustme.CA().issue_cert(*self.HOSTS),
        }
        self._files: Dict[str, Tuple[str, str]] = {}

    def cert_files(self, variant: str = "valid") -> Tuple[str, str]:
        """(certificate chain PEM path, private key PEM path) of a variant."""
        if variant not in self.VARIANTS:
            raise ValueError("unknown variant %r" % variant)
        if variant not in self._files:
            cert_path = os.path.join(self.directory, variant + ".crt")
            key_path = os.path.join(self.directory, variant + ".key")
            if variant == "self_signed":
                cert_pem, key_pem = _self_signed(self.HOSTS)
            else:
                leaf = self._leaves[variant]
                cert_pem = b"".join(b.bytes() for b in leaf.cert_chain_pems)
                key_pem = leaf.private_key_pem.bytes()
            with open(cert_path, "wb") as f:
                f.write(cert_pem)
            with open(key_path, "wb") as f:
                f.write(key_pem)
            self._files[variant] = (cert_path, key_path)
        return self._files[variant]

    def server_context(self, variant: str = "valid") -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*self.cert_files(variant))
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts the CA (for tests of the servers themselves)."""
        return ssl.create_default_context(cafile=self.ca_file)


def _self_signed(hosts: Sequence[str]) -> Tuple[bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
    sans: List[x509.GeneralName] = []
    for h in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


# --------------------------------------------------------------------------------------------
# Leak checks for the conftest guard.


def live_servers() -> List[_LoopbackServer]:
    """Servers started and not stopped."""
    return list(_LIVE)


def server_threads(exclude_ports: Sequence[int] = ()) -> List[threading.Thread]:
    """Alive threads of the servers in this file, but those of servers on exclude_ports.
    Thread names are "ossfast-test-server:<class>:<port>[:conn<n>]"."""
    out = []
    for t in threading.enumerate():
        parts = t.name.split(":")
        if parts[0] == THREAD_PREFIX and int(parts[2]) not in exclude_ports:
            out.append(t)
    return out


def open_fds() -> Optional[int]:
    """How many file descriptors the process has open (None where /proc is missing)."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None
