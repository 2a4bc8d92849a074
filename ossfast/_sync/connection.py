"""The blocking driver's connections: sockets, the keep-alive pool, TLS, the one send path
(``Connection.write``) and reading replies.

The transport knows nothing of OSS: it moves a prepared head and a body (see body.py) over a
pooled connection, and feeds the reply's bytes to _http11.ReplyReader (sans-IO: framing, size
caps, keep-alive and trailing-bytes rules are stated there).

Internal API for other requests (the SDK backends build on it)::

    resp = request(pool, ("https", host, 443), Timeout(10, 60), "GET", "/key",
                   [("Host", host), ("Authorization", ...)], body=None, stream=True)
    resp.status, resp.headers; resp.iter_bytes() / resp.read_some() / resp.read(); resp.close()

``body``: None, a buffer, a binary file or an iterable of buffers (``content_length``);
without ``stream`` the reply is read whole (``max_body``: None, no cap). HEAD replies have no
body. See ``request`` for its retry rule.

State rules of a connection:
* a connection is checked out of the pool by one thread, used for one
  request/response exchange, and either returned (the reply was complete,
  keep-alive allowed, nothing left unread) or closed; never both;
* before a pooled connection is reused it must not be readable (``poll(0)``):
  a readable idle socket means the peer closed it or sent garbage, so it is
  closed and another one taken;
* after any error mid-exchange the connection is closed (aborted with a
  reset when the body was cut short, so the peer never sees it as complete);
* when a send fails, a reply the server sent before it stopped reading (an
  early 4xx/5xx) is read if it is already there; no time goes to waiting for one;
* a TLS certificate that fails verification raises ``CertificateError`` (a
  ``TransportError``), which the client never retries;
* waits are bounded by the kernel on plain TCP (a blocking socket with
  SO_RCVTIMEO/SO_SNDTIMEO: no poll() before every send and receive) and by
  Python's socket timeout on TLS; either way a wait that runs out is a
  ``TimeoutError``.
"""
from __future__ import annotations

import logging
import os
import select
import socket
import struct
import sys
import threading
import time
import weakref

from .. import _http11
from .. import body as _body
from .._backend import impl
from .._backend import name as _backend_name
from .._http11 import ProtocolError, ReplyReader, headers_dict, parse_head_headers, request_head
from .._http11 import Reply as Response
from .._outcome import SMALL_BODY, CallerRaised as _CallerRaised, Progress, SendOutcome, Timeout
from .._outcome import guarded as _guarded
from ..errors import CertificateError, InvalidRequestError, TimeoutError, TransportError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a cold start pays for it)
if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor
    from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union
    import ssl  # imported when the first TLS connection is made: plain-HTTP users never load it

log = logging.getLogger("ossfast.transport")

MAX_REPLY_HEAD = _http11.MAX_HEAD
RECV_SIZE = 16 * 1024  # per recv of a reply: a WGOR reply is a few hundred bytes
MAX_REPLY_BODY = _http11.MAX_BODY  # a reply read whole (WGOR's: an error document at most)
PARALLEL_CRC = 8 * 1024 * 1024  # memory bodies at least this big are hashed in another thread
# ... only when the C core does it: it releases the GIL. Pure-Python hashing in a thread just
# competes with the sender, and a failed send would wait for the whole body to be hashed.
_PARALLEL_OK = _backend_name == "native"
FILE_BUFFER = 1024 * 1024       # reused read buffer for files on TLS

_HAS_SENDMSG = hasattr(socket.socket, "sendmsg")
_HAS_SENDFILE = hasattr(os, "sendfile")
_MSG_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0)
_POLLBAD = select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP | getattr(select, "POLLRDHUP", 0)

_monotonic = time.monotonic
_perf_counter = time.perf_counter  # reply deadlines (the client's start times are perf_counter's)
_executor_lock = threading.Lock()
_executor: Optional[ThreadPoolExecutor] = None


def _hash_pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        with _executor_lock:
            if _executor is None:
                from concurrent.futures import ThreadPoolExecutor

                _executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ossfast-crc")
    return _executor


class Connection:
    __slots__ = ("sock", "key", "plain", "uses", "idle_since", "_poller", "reply_parser", "wait",
                 "__weakref__")

    def __init__(self, sock: socket.socket, key: Tuple[str, str, int], plain: bool) -> None:
        self.sock = sock
        self.key = key
        self.plain = plain
        self.uses = 0
        self.idle_since = 0.0
        self._poller: Optional[Any] = None  # made on first use; the fd is fixed for life
        self.reply_parser: Optional[ReplyReader] = None  # reused across keep-alive replies
        self.wait: Optional[float] = None  # what set_wait() last set

    def set_wait(self, seconds: float) -> None:
        """How long one send or receive may wait (a syscall, so only when it changes)."""
        if seconds == self.wait:
            return
        if self.plain:
            # At least 1 ms: a zero timeval would mean "wait forever".
            us = max(1000, int(seconds * 1e6))
            tv = struct.pack("ll", us // 1000000, us % 1000000)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)
        else:
            self.sock.settimeout(seconds)
        self.wait = seconds

    def is_stale(self) -> bool:
        """True when the idle socket is readable: closed by the peer, or unexpected data (one
        ``poll(0)``; on TLS, bytes OpenSSL already holds count too)."""
        try:
            poll = self._poller  # the bound poll() of this socket's poll object
            if poll is None:
                p = select.poll()
                p.register(self.sock.fileno(), _POLLBAD)
                poll = self._poller = p.poll
            if not self.plain and self.sock.pending():  # type: ignore[attr-defined]
                return True
            return bool(poll(0))
        except (OSError, ValueError):
            return True

    # -- sending: the one send path (see "sending" below for the rules)
    def write_once(self, head: bytes, data: Any) -> int:
        """One write of ``head`` and ``data`` (a small body): ``sendmsg`` on plain TCP, one
        ``SSL_write`` of both on TLS (so a small request is one TLS record). Returns the bytes
        written, which may be short of both on plain TCP; raises what the socket raises. Plain
        TCP's sendmsg sends nothing when it fails; a failed SSL_write may have put part of its
        record on the wire (``write`` counts the head as sent then)."""
        if self.plain:
            return self.sock.sendmsg((head, data))
        return self.sock.send(head + data)  # all or an error: no partial SSL writes

    def write_all(self, data: Any, wait: float) -> None:
        """Write all of ``data`` (any buffer) under the no-progress rule: each wait for the
        socket to take a byte is at most ``wait`` seconds (else socket.timeout)."""
        sock = self.sock
        view = data if type(data) is memoryview else memoryview(data)
        n = view.nbytes
        if not self.plain:
            if self.wait != wait:
                self.set_wait(wait)
            if n <= TLS_PIECE:
                sock.sendall(view)
            else:
                for off in range(0, n, TLS_PIECE):
                    sock.sendall(view[off:off + TLS_PIECE])
            return
        off = 0
        since = 0.0  # when the current wait began (0: not waiting)
        while True:
            try:
                off += sock.send(view[off:] if off else view, _MSG_DONTWAIT)
            except BlockingIOError:
                if not since:
                    since = _monotonic()
                _wait_writable(sock, since, wait)
                continue
            if off >= n:
                return
            since = 0.0

    def write(self, head: bytes, body: _body.Body, out: SendOutcome, tick: Optional[Progress] = None,
              wait: Optional[float] = None, *, sent: int = 0, error: Optional[BaseException] = None) -> None:
        """Send ``head`` and ``body``, computing the body's CRC-64 on the way, filling ``out``
        (bytes sent, CRC, complete); TransportError (from ``out``: whether the request went
        out, how much of the body) when the socket fails.

        ``wait``: the no-progress limit in seconds (default: the connection's, Timeout.read).
        ``sent``/``error``: where a first ``write_once(head, data)`` of a small memory body left
        it (``sent`` bytes written; or it raised ``error``): this goes on from there."""
        if wait is None:
            wait = self.wait or 60.0
        if tick is not None:
            tick = _guarded(tick)
        try:
            if error is not None:
                # sendmsg sends nothing when it fails; a failed SSL_write may have sent a part.
                out.head_sent = 0 if self.plain else len(head)
                raise error
            if type(body) is _body.MemoryBody:
                self._write_memory(head, body.view, out, tick, body.crc, wait, sent)
            elif (type(body) is _body.FileBody and body.fd is not None
                  and body.length + len(head) <= SMALL_BODY):
                # A small regular file: one pread, then sent and hashed as a memory body (head
                # and body in one sendmsg, one C call for the CRC; no thread, no sendfile).
                self._write_memory(head, memoryview(_read_small_file(body)), out, tick, body.crc, wait, 0)
                body.seek_past()
            else:
                self.write_all(head, wait)
                out.head_sent = len(head)
                total = body.length
                if isinstance(body, _body.FileBody):
                    if self.plain and body.fd is not None and total:
                        _send_file_plain(self, body, out, tick, wait)
                    else:
                        _send_chunks(self, body.read_chunks(bytearray(min(FILE_BUFFER, max(total, 1)))),
                                     out, tick, body.crc, wait)
                else:
                    assert isinstance(body, _body.IterBody)
                    _send_chunks(self, body.chunks(), out, tick, body.crc, wait)
        except OSError as exc:  # ssl.SSLError is an OSError
            raise _io_error(exc, "sending the request", out) from None
        except _CallerRaised as carried:
            theirs = carried.error
        else:
            out.complete = True
            return
        out.caller_error = theirs
        raise theirs  # unchanged (outside the handler: nothing of ours chained to it)

    def _write_memory(self, head: bytes, view: memoryview, out: SendOutcome, tick: Optional[Progress],
                      known_crc: Optional[int], wait: float, sent: int) -> None:
        n = len(view)
        nhead = len(head)
        if n + nhead > SMALL_BODY:
            _send_big_memory(self, head, view, out, tick, known_crc, wait, sent)
            return
        out.crc64 = known_crc if known_crc is not None else impl.crc64(view) if n else 0
        if not sent:
            sent = self.write_once(head, view)
        # the rest of a short write: the head's, then the body's
        out.head_sent = min(sent, nhead)
        if sent < nhead:
            self.write_all(memoryview(head)[sent:], wait)
            out.head_sent = nhead
            sent = nhead
        if sent - nhead < n:
            self.write_all(view[sent - nhead:], wait)
        out.body_sent = n
        if tick is not None:
            tick(n)

    def close(self, abort: bool = False) -> None:
        sock = self.sock
        try:
            if abort:
                # RST instead of FIN: the peer must not take a cut body as a complete request.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            sock.close()
        except OSError:
            pass


def _cert_error() -> type:
    """ssl.SSLCertVerificationError, or a class nothing raises when ssl was never imported."""
    ssl = sys.modules.get("ssl")
    return ssl.SSLCertVerificationError if ssl is not None else _NeverRaised


class _NeverRaised(Exception):
    pass


#: Before these versions, every read of ``SSLSocket.session`` leaks a copy of the session in
#: CPython's ssl module (gh-116810, a few KiB each): there, pools keep no TLS sessions.
TLS_SESSIONS_SAFE = sys.version_info >= (3, 13, 1) or (3, 12, 8) <= sys.version_info < (3, 13)


class Pool:
    """Thread-safe keep-alive pool per (scheme, host, port), at most ``maxsize`` idle each.

    Fork-safe: in os.fork()'s child the pool starts with no idle connections (the parent's
    stay the parent's) and kept TLS sessions only."""

    def __init__(self, *, maxsize: int = 32, verify: Union[bool, str] = True,
                 idle_timeout: float = 50.0, ssl_context: Optional[ssl.SSLContext] = None) -> None:
        if maxsize < 1:
            raise ValueError("pool maxsize must be at least 1")
        self.maxsize = maxsize
        self.idle_timeout = idle_timeout
        self._idle: Dict[Tuple[str, str, int], List[Connection]] = {}
        self._lock = threading.Lock()
        self._verify = verify
        self._ssl_context = ssl_context
        self._closed = False
        self.connections_opened = 0
        # The newest TLS session (with a resumption ticket) per key: a new connection resumes
        # it, skipping the certificate exchange and its public-key work. Each came from a
        # handshake that verified the server, with the same context. Off where reading a
        # session leaks memory (TLS_SESSIONS_SAFE); ``tls_resume`` can say otherwise.
        self.tls_resume = TLS_SESSIONS_SAFE
        self._tls_sessions: Dict[Tuple[str, str, int], Tuple[ssl.SSLContext, ssl.SSLSession]] = {}
        _pools.add(self)

    def _after_fork(self) -> None:
        """In os.fork()'s child: the idle connections are the parent's (two processes writing
        one TCP stream would interleave their requests): this process lets go of its copies
        of their descriptors (a close here sends nothing: the parent's socket stays as it
        is). A lock another thread held at the fork would never be released here."""
        self._lock = threading.Lock()
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                try:
                    conn.sock.close()
                except OSError:
                    pass

    # -- TLS
    def ssl_context(self) -> ssl.SSLContext:
        ctx = self._ssl_context
        if ctx is None:
            with self._lock:  # one context per pool: TLS sessions resume only within it
                ctx = self._ssl_context
                if ctx is None:
                    ctx = self._ssl_context = self._new_ssl_context()
        return ctx

    def _new_ssl_context(self) -> ssl.SSLContext:
        import ssl

        verify = self._verify
        if verify is False:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif isinstance(verify, (str, os.PathLike)):
            ctx = ssl.create_default_context(cafile=os.fspath(verify)) if os.path.isfile(verify) \
                else ssl.create_default_context(capath=os.fspath(verify))
        else:
            ctx = ssl.create_default_context()
        # TLS 1.2 or newer, as documented (Python 3.9's default context still allowed 1.0).
        if ctx.minimum_version < ssl.TLSVersion.TLSv1_2:
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        return ctx

    @property
    def closed(self) -> bool:
        return self._closed

    def idle_count(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._idle.values())

    def acquire(self, key: Tuple[str, str, int], timeout: Timeout) -> Tuple[Connection, bool]:
        """A connection for ``key``: (conn, reused). Stale idle connections are dropped."""
        conn = self._take_idle(key, timeout)
        if conn is not None:
            return conn, True
        if self._closed:
            raise TransportError("the client is closed")
        return self._connect(key, timeout), False

    def _take_idle(self, key: Tuple[str, str, int], timeout: Timeout) -> Optional[Connection]:
        """An idle connection for ``key`` that passed the staleness check, or None (no
        connecting here: the caller's general path does that). No lock: ``list.pop`` is
        atomic, and a connection taken while close() runs is closed by release()."""
        now = _monotonic()
        while True:
            idle = self._idle.get(key)
            if not idle or self._closed:
                return None
            try:
                conn = idle.pop()
            except IndexError:  # another thread took the last one
                return None
            if now - conn.idle_since > self.idle_timeout or conn.is_stale():
                log.debug("dropping a stale pooled connection to %s:%s", key[1], key[2])
                conn.close()
                continue
            if conn.wait != timeout.read:
                conn.set_wait(timeout.read)
            return conn

    #: what the fast path calls: an idle connection or None (the general path connects)
    acquire_idle = _take_idle

    def _connect(self, key: Tuple[str, str, int], timeout: Timeout) -> Connection:
        scheme, host, port = key
        if scheme == "https":
            import ssl
        try:
            sock = socket.create_connection((host, port), timeout=timeout.connect)
        except socket.timeout:
            raise TimeoutError(f"connecting to {host}:{port} timed out after {timeout.connect}s") from None
        except OSError as exc:
            raise TransportError(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                ctx = self.ssl_context()
                kept = self._tls_sessions.get(key)
                # A session resumes only in the context that made it (else wrap_socket raises).
                session = kept[1] if kept is not None and kept[0] is ctx else None
                sock = ctx.wrap_socket(sock, server_hostname=host, session=session)
                if session is not None:
                    log.debug("TLS session to %s:%s %s", host, port,
                              "resumed" if sock.session_reused else "not resumed: full handshake")
        except socket.timeout:
            sock.close()
            self._tls_sessions.pop(key, None)  # after any failed handshake the next try starts afresh
            raise TimeoutError(f"TLS handshake with {host}:{port} timed out after {timeout.connect}s") from None
        except _cert_error() as exc:
            sock.close()
            self._tls_sessions.pop(key, None)
            raise CertificateError(f"TLS certificate of {host}:{port} rejected: {exc.verify_message}") from None
        except OSError as exc:  # ssl.SSLError is an OSError
            sock.close()
            self._tls_sessions.pop(key, None)
            raise TransportError(f"TLS handshake with {host}:{port} failed: {exc}") from None
        plain = scheme == "http"
        conn = Connection(sock, key, plain)
        try:
            if plain:
                sock.settimeout(None)  # blocking: the kernel bounds each wait (set_wait)
            conn.set_wait(timeout.read)
        except OSError as exc:
            conn.close()
            raise TransportError(f"cannot set up the connection to {host}:{port}: {exc}") from None
        with self._lock:
            self.connections_opened += 1
        return conn

    def release(self, conn: Connection) -> None:
        if not conn.uses and not conn.plain and self.tls_resume:
            # After the first reply: a TLS 1.3 server's tickets come right after its handshake,
            # so they have been read by now.
            self._keep_tls_session(conn)
        conn.uses += 1
        conn.idle_since = _monotonic()
        idle = self._idle.get(conn.key)
        if idle is not None and not self._closed and len(idle) < self.maxsize:
            # No lock on the common path: list.append is atomic. A close() that ran since
            # the check has already emptied the lists, so look again and take it back.
            idle.append(conn)
            if self._closed or len(idle) > self.maxsize:
                try:
                    idle.remove(conn)
                except ValueError:
                    return  # close() (or another thread) has it now
                conn.close()
            return
        with self._lock:
            if not self._closed:
                idle = self._idle.get(conn.key)
                if idle is None:
                    idle = self._idle[conn.key] = []
                if len(idle) < self.maxsize:
                    idle.append(conn)
                    return
        conn.close()

    def _keep_tls_session(self, conn: Connection) -> None:
        try:
            session = conn.sock.session  # type: ignore[attr-defined]
        except (AttributeError, ValueError, OSError):  # ssl.SSLError is an OSError
            return
        if session is not None and session.has_ticket and not self._closed:
            self._tls_sessions[conn.key] = (conn.sock.context, session)  # type: ignore[attr-defined]

    def close(self) -> None:
        conns = []
        with self._lock:
            self._closed = True
            for idle in self._idle.values():
                while idle:  # one atomic pop at a time: acquire_idle() pops without the lock
                    try:
                        conns.append(idle.pop())
                    except IndexError:
                        break
            self._idle.clear()
            self._tls_sessions.clear()
        for c in conns:
            c.close()


_pools: "weakref.WeakSet[Pool]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """os.fork()'s child starts without the parent's pooled connections, and with no CRC
    worker threads (the parent's do not exist here: a job given to their executor would
    wait for ever)."""
    global _executor, _executor_lock
    _executor = None
    _executor_lock = threading.Lock()
    for pool in list(_pools):
        pool._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# ------------------------------------------------------------------ sending
#
# Connection.write(head, body, out) is the one send path of the blocking driver: a small body
# goes with its head in one write (write_once: sendmsg on plain TCP, one SSL_write on TLS), the
# rest of a partial write follows (write_all), big memory bodies go in pieces (hashed here, or
# in another thread), files by pread pieces or sendfile, iterables piece by piece. The client's
# fast path makes the first write itself (write_once, nothing allocated) and, when that write
# was short or failed, hands the rest to write(..., sent=, error=), which goes on from there.

def _io_error(exc: BaseException, what: str, outcome: SendOutcome) -> TransportError:
    sent = outcome.head_sent > 0
    if isinstance(exc, (socket.timeout, BlockingIOError)):  # the send made no progress in time
        return TimeoutError(f"{what} timed out", request_sent=sent, bytes_sent=outcome.body_sent)
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return TransportError(f"{what} failed: {reason}", request_sent=sent, bytes_sent=outcome.body_sent)


# The no-progress rule of sending: a send fails (socket.timeout, then TimeoutError) once it has
# waited ``wait`` seconds (Timeout.read) for the socket to take a byte of the request. On plain TCP
# each write is non-blocking and waits in poll(POLLOUT), so progress is seen byte by byte (the
# kernel's SO_SNDTIMEO bounds each call instead, and a call that took a few bytes at the end of its
# wait restarts the clock: a never-reading server was detected after about 3x ``wait``). On TLS,
# where a write is all or nothing, the request goes in pieces of at most TLS_PIECE bytes, and each
# piece must go within ``wait`` seconds. Time spent elsewhere (hashing, reading a file) is not
# waiting.
TLS_PIECE = 256 * 1024


def _wait_writable(sock: socket.socket, since: float, wait: float) -> None:
    remaining = since + wait - _monotonic()
    if remaining > 0:
        p = select.poll()
        p.register(sock.fileno(), select.POLLOUT)
        if p.poll(max(1, int(remaining * 1000 + 0.999))):
            return
    raise socket.timeout("the send made no progress")


def _file_ended(missing: int) -> InvalidRequestError:
    """A file body that ended ``missing`` bytes early (truncated while it was sent): the
    caller's mistake, as for an unseekable file (body.FileBody.read_chunks), never retried."""
    return InvalidRequestError(f"body: the file ended {missing} bytes before the declared length",
                               field="body")


def write_all(conn: Connection, data: Any, wait: float) -> None:
    """``conn.write_all(data, wait)`` (kept for callers of the old module function)."""
    conn.write_all(data, wait)


def send_request(conn: Connection, head: bytes, body: _body.Body,
                 progress: Optional[Callable[[int, int], Any]] = None,
                 wait: Optional[float] = None) -> SendOutcome:
    """Send head and body on ``conn`` (``Connection.write``); the SendOutcome, or TransportError."""
    out = SendOutcome()
    conn.write(head, body, out, Progress(progress, body.length) if progress is not None and body.length
               else None, wait)
    return out


def _send_big_memory(conn: Connection, head: bytes, view: memoryview, out: SendOutcome,
                     tick: Optional[Progress], known_crc: Optional[int], wait: float, sent: int = 0) -> None:
    """A memory body over SMALL_BODY: the head, then CHUNK pieces, hashed on the way (or in
    another thread for a big one). ``known_crc``: the body's CRC when already computed.
    ``sent``: bytes of head + body a first write (the fast path's write_once, for a body of
    up to 64 KiB whose head takes it over SMALL_BODY) already put on the wire: this goes on
    from there."""
    n = len(view)
    nhead = len(head)
    fut: Optional[Future] = None
    hash_here = known_crc is None
    if hash_here and n >= PARALLEL_CRC and _PARALLEL_OK:
        # Hash in another thread (the C call releases the GIL) while this one sends.
        fut = _hash_pool().submit(impl.crc64, view)
        hash_here = False
    crc = 0
    out.head_sent = min(sent, nhead)
    if sent < nhead:
        conn.write_all(memoryview(head)[sent:] if sent else head, wait)
        out.head_sent = nhead
        sent = nhead
    off = sent - nhead  # body bytes that left already
    if off:
        out.body_sent = off
        if hash_here:
            crc = impl.crc64(view[:off])
    chunk = _body.CHUNK
    try:
        while off < n:
            end = min(n, off - off % chunk + chunk)
            piece = view[off:end]
            if hash_here:
                crc = impl.crc64(piece, crc)
            conn.write_all(piece, wait)
            out.body_sent += len(piece)
            off = end
            if tick is not None:
                tick(out.body_sent)
    finally:
        if fut is not None:
            crc = fut.result()
    out.crc64 = known_crc if known_crc is not None else crc


def _send_chunks(conn: Connection, chunks: Any, out: SendOutcome, tick: Optional[Progress],
                 known_crc: Optional[int], wait: float) -> None:
    crc = 0
    digest = impl.crc64 if known_crc is None else None
    pieces = iter(chunks)
    while True:
        try:
            piece = next(pieces)  # the caller's iterator, or reading the caller's file
        except StopIteration:
            break
        except OSError as exc:
            raise _CallerRaised(exc) from None
        if digest is not None:
            crc = digest(piece, crc)
        conn.write_all(piece, wait)
        out.body_sent += len(piece)
        if tick is not None:
            tick(out.body_sent)
    out.crc64 = known_crc if known_crc is not None else crc


# A file body on plain TCP (issue 10, measured on 2 vCPUs with the receiver on the other one):
# pread into one reused FILE_PIECE buffer, hash the piece while it is in L2, send it. Against
# sendfile plus a thread re-reading the file for its CRC (three threads contending for two
# CPUs), and against sendmsg of mmap slices hashed just before (page-table set-up and unmaps
# cost what the saved copy gains, and a file truncated meanwhile would be a SIGBUS), it was the
# fastest. When the CRC is already known (Content-MD5 computed it), sendfile sends it, no copy.
FILE_PIECE = 256 * 1024


def _read_small_file(body: _body.FileBody) -> bytes:
    """The whole of a small regular file body, read with pread (the file position is unused)."""
    assert body.fd is not None
    total = body.length
    try:
        data = os.pread(body.fd, total, body.start)
    except OSError as exc:
        raise _CallerRaised(exc) from None
    if len(data) < total:
        parts = [data]
        got = len(data)
        while got < total:
            try:
                more = os.pread(body.fd, total - got, body.start + got)
            except OSError as exc:
                raise _CallerRaised(exc) from None
            if not more:
                raise InvalidRequestError(
                    f"body: the file ended {total - got} bytes before the declared length", field="body")
            parts.append(more)
            got += len(more)
        data = b"".join(parts)
    return data


def _sendfile_all(sock: socket.socket, fd: int, off: int, n: int, out: SendOutcome, wait: float,
                  end: int) -> None:
    """sendfile ``n`` bytes from ``off`` on a non-blocking socket, under the no-progress rule
    (``end``: where the body ends in the file, for the message when the file ends first)."""
    sfd = sock.fileno()
    since = 0.0
    while n:
        try:
            k = os.sendfile(sfd, fd, off, n)
        except BlockingIOError:
            if not since:
                since = _monotonic()
            _wait_writable(sock, since, wait)
            continue
        if k == 0:
            raise _file_ended(end - off)
        since = 0.0
        off += k
        n -= k
        out.body_sent += k


def _send_file_plain(conn: Connection, body: _body.FileBody, out: SendOutcome,
                     tick: Optional[Progress], wait: float) -> None:
    fd = body.fd
    assert fd is not None
    pos, end = body.start, body.start + body.length
    sock = conn.sock
    if body.crc is not None and _HAS_SENDFILE:
        os.set_blocking(sock.fileno(), False)  # progress is watched with poll() (no-progress rule)
        try:
            while pos < end:
                n = min(_body.CHUNK, end - pos)
                _sendfile_all(sock, fd, pos, n, out, wait, end)
                pos += n
                if tick is not None:
                    tick(out.body_sent)
        finally:
            try:
                os.set_blocking(sock.fileno(), True)
            except OSError:
                pass
        out.crc64 = body.crc
    else:
        crc64 = impl.crc64
        crc = 0
        buf = bytearray(min(FILE_PIECE, body.length))
        mv = memoryview(buf)
        try:
            while pos < end:
                try:
                    n = os.preadv(fd, [mv[:min(len(buf), end - pos)]], pos)
                except OSError as exc:
                    raise _CallerRaised(exc) from None
                if n <= 0:
                    raise _file_ended(end - pos)
                piece = mv[:n] if n < len(buf) else mv
                crc = crc64(piece, crc)
                conn.write_all(piece, wait)
                pos += n
                out.body_sent += n
                if tick is not None:
                    tick(out.body_sent)
        finally:
            mv.release()
        out.crc64 = crc
    body.seek_past()


# ------------------------------------------------------------------ replies

def read_response(conn: Connection, timeout: float, *, max_body: Optional[int] = MAX_REPLY_BODY,
                  stream: bool = False, no_body: bool = False, since: Optional[float] = None) -> Response:
    """Read one reply within ``timeout`` seconds in all (``stream``: its head only; the body is
    then read with StreamedReply). Raises TransportError/TimeoutError. The reading rules are
    _http11's; this only moves bytes and bounds the waits. ``since``: when the ``timeout``
    began (a ``time.perf_counter()`` value; default: now)."""
    rp = conn.reply_parser
    if rp is None:
        rp = conn.reply_parser = ReplyReader()
    elif not rp.ready:  # not readied by take_reply (a streamed or failed reply)
        rp.reset()
    if max_body is not MAX_REPLY_BODY or stream or no_body:
        rp.configure(max_body=max_body, stream=stream, no_body=no_body)
    deadline = (_perf_counter() if since is None else since) + timeout
    # The first wait needs no syscall when the socket already waits ``timeout``: the deadline
    # was set a moment ago. Later waits get what is left of it.
    if conn.wait != timeout:
        conn.set_wait(timeout)
    return _read_until_complete(conn, rp, timeout, deadline)


def _read_until_complete(conn: Connection, rp: ReplyReader, timeout: float, deadline: float) -> Response:
    """read_response's loop: ``rp`` is fed what each recv gives until the reply is complete
    (the first recv waits what the socket is set to; later ones what is left until
    ``deadline``, a ``time.perf_counter()`` value)."""
    sock = conn.sock
    feed = rp.feed
    try:
        while True:
            try:
                data = sock.recv(RECV_SIZE)
            except (socket.timeout, BlockingIOError):  # BlockingIOError: SO_RCVTIMEO ran out
                raise TimeoutError(f"no complete reply within {timeout}s", request_sent=True) from None
            except OSError as exc:  # ssl.SSLError too
                raise TransportError(f"reading the reply failed: {getattr(exc, 'strerror', None) or exc}",
                                     request_sent=True) from None
            if not data:
                rp.feed_eof()
                break
            if feed(data):
                break
            remaining = deadline - _perf_counter()
            if remaining <= 0:
                raise TimeoutError(f"no complete reply within {timeout}s", request_sent=True)
            conn.set_wait(remaining)
    except ProtocolError as exc:
        raise TransportError(str(exc), request_sent=True) from None
    return rp.reply() if rp.stream else rp.take_reply()


def read_reply(conn: Connection, timeout: float, since: float) -> Response:
    """``read_response(conn, timeout, since=since)`` for a reply read whole with the default
    cap (the WGOR reply): the common reply, in the first recv, with one parser call and no
    loop. ``since``: when the ``timeout`` began (a ``time.perf_counter()`` value, a moment
    ago: the first wait is the socket's, ``timeout``, as read_response's)."""
    rp = conn.reply_parser
    if rp is None or not rp.ready or conn.wait != timeout:
        return read_response(conn, timeout, since=since)
    try:
        data = conn.sock.recv(RECV_SIZE)
    except (socket.timeout, BlockingIOError):  # BlockingIOError: SO_RCVTIMEO ran out
        raise TimeoutError(f"no complete reply within {timeout}s", request_sent=True) from None
    except OSError as exc:  # ssl.SSLError too
        raise TransportError(f"reading the reply failed: {getattr(exc, 'strerror', None) or exc}",
                             request_sent=True) from None
    try:
        if data:
            reply = rp.first(data)
            if reply is not None:
                return reply
        else:
            rp.feed_eof()  # raises: the reader was ready, so nothing of a reply came
    except ProtocolError as exc:
        raise TransportError(str(exc), request_sent=True) from None
    remaining = since + timeout - _perf_counter()
    if remaining <= 0:
        raise TimeoutError(f"no complete reply within {timeout}s", request_sent=True)
    conn.set_wait(remaining)
    return _read_until_complete(conn, rp, timeout, since + timeout)


class StreamedReply:
    """A reply whose body is read as it comes (``request(..., stream=True)``): ``status``,
    ``headers``, ``raw_headers``, ``keep_alive``; ``read_some()`` (b"" at the end),
    ``iter_bytes()``, ``read()``; ``close()`` gives the connection back to the pool once the
    body was read whole (else closes it). Each wait for body bytes is bounded by ``timeout``.
    Also a context manager."""

    def __init__(self, pool: "Pool", conn: Connection, reply: Response, timeout: float) -> None:
        self._pool = pool
        self._conn: Optional[Connection] = conn
        self._reply = reply
        self._timeout = timeout
        self.status = reply.status

    @property
    def headers(self) -> Dict[str, str]:
        return self._reply.headers

    @property
    def raw_headers(self) -> List[Tuple[bytes, bytes]]:
        return self._reply.raw_headers

    @property
    def complete(self) -> bool:
        conn = self._conn
        return conn is None or bool(conn.reply_parser and conn.reply_parser.done)

    def read_some(self) -> bytes:
        conn = self._conn
        if conn is None:
            return b""
        rp = conn.reply_parser
        assert rp is not None
        while True:
            pieces = rp.take_pieces()
            if pieces:
                return pieces[0] if len(pieces) == 1 else b"".join(pieces)
            if rp.done:
                self._finish()
                return b""
            if conn.wait != self._timeout:
                conn.set_wait(self._timeout)
            try:
                data = conn.sock.recv(RECV_SIZE * 4)
            except (socket.timeout, BlockingIOError):
                self.close()
                raise TimeoutError(f"no reply body bytes within {self._timeout}s", request_sent=True) from None
            except OSError as exc:
                self.close()
                raise TransportError(f"reading the reply failed: {getattr(exc, 'strerror', None) or exc}",
                                     request_sent=True) from None
            try:
                if not data:
                    rp.feed_eof()
                else:
                    rp.feed(data)
            except ProtocolError as exc:
                self.close()
                raise TransportError(str(exc), request_sent=True) from None

    def iter_bytes(self) -> Iterator[bytes]:
        while True:
            data = self.read_some()
            if not data:
                return
            yield data

    def read(self) -> bytes:
        return b"".join(self.iter_bytes())

    def _finish(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            rp = conn.reply_parser
            if rp is not None and rp.done and rp.keep_alive:
                self._pool.release(conn)
            else:
                conn.close()

    def close(self) -> None:
        """Give the connection back (the body was read whole) or close it."""
        conn = self._conn
        if conn is not None:
            if conn.reply_parser is not None and conn.reply_parser.done:
                self._finish()
            else:
                self._conn = None
                conn.close()

    def __enter__(self) -> "StreamedReply":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def request(pool: "Pool", key: Tuple[str, str, int], timeout: Timeout, method: str, target: str,
            headers: List[Tuple[str, str]], body: Any = None, *, content_length: Optional[int] = None,
            stream: bool = False, max_body: Optional[int] = None) -> Union[Response, StreamedReply]:
    """Any HTTP/1.1 request over the pool: the generic path the SDK backends build on.

    ``key``: (scheme, host, port) to connect to; ``headers``: (name, value) pairs, Host
    included, already signed (Content-Length is added for a body, or for PUT/POST without
    one). ``body``: None, a buffer, a binary file or an iterable of buffers (with
    ``content_length``), sent as WGOR bodies are (memoryview slices, sendfile). The reply:
    a Response read whole (``max_body`` caps its body; None: no cap) or, with ``stream``, a
    StreamedReply. A HEAD reply has no body. Retried once, on a fresh connection, when a
    pooled connection turns out stale before any reply (and the body can be replayed, or
    nothing of it left) or the connection cannot be made; never otherwise.
    """
    b = _body.classify(body, content_length) if body is not None else None
    if b is not None:
        b.crc = _body.UNHASHED  # the reply is what counts here: no CRC-64 of the body
    hdrs = list(headers)
    if b is not None or method in ("PUT", "POST", "PATCH"):
        hdrs.append(("Content-Length", str(b.length if b is not None else 0)))
    head = request_head(method, target, hdrs)
    no_body = method == "HEAD"
    from .._policy import Attempt, retry_request

    try:
        retries = 0
        while True:
            try:
                conn, reused = pool.acquire(key, timeout)
            except TransportError as exc:
                facts = Attempt(False, certificate_rejected=isinstance(exc, CertificateError),
                                client_closed=pool.closed, detail=str(exc))
                if not retry_request(facts, replayable=True, retries_made=retries):
                    raise
                retries += 1
                continue
            out = SendOutcome()
            try:
                conn.write(head, b if b is not None else _body.MemoryBody(_body.EMPTY), out, None,
                           timeout.read)
                resp = read_response(conn, timeout.read, max_body=max_body, stream=stream,
                                     no_body=no_body)
            except TransportError as exc:
                conn.close(abort=True)
                if exc is out.caller_error:  # the body's own source failed, not the connection
                    raise
                facts = Attempt(True, reused, exc.request_sent, True, detail=str(exc))
                replayable = b is None or b.replayable
                if not retry_request(facts, replayable=replayable, retries_made=retries):
                    raise
                retries += 1
                if b is not None and b.replayable:
                    b.rewind()
                continue
            except BaseException:
                conn.close(abort=True)
                raise
            if stream:
                return StreamedReply(pool, conn, resp, timeout.read)
            if resp.keep_alive:
                pool.release(conn)
            else:
                conn.close()
            return resp
    finally:
        if b is not None:
            b.close()


def try_read_early_response(conn: Connection, timeout: float, wait: float = 0.0) -> Optional[Response]:
    """After a failed send: the reply the server may have sent before it stopped reading.

    Such a reply was sent before the failure was seen (it precedes the peer's close,
    or the send timed out long after it), so it is already here or never comes: only
    ``wait`` seconds go to waiting for it to start, ``timeout`` bounds reading it.
    """
    try:
        if conn.plain or not conn.sock.pending():  # type: ignore[attr-defined]
            p = select.poll()
            p.register(conn.sock.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
            if not p.poll(max(0, int(wait * 1000))):
                return None
        return read_response(conn, timeout)
    except (TransportError, OSError, ValueError):
        return None


def close_executor() -> None:
    global _executor
    with _executor_lock:
        if _executor is not None:
            _executor.shutdown(wait=False)
            _executor = None
