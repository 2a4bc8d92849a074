"""Connections and the keep-alive pool of the asyncio driver.

One ``asyncio.Protocol`` per connection (plain TCP and TLS alike: asyncio's own SSL
support), fed straight into ``_http11.ReplyReader``: the reply is parsed as its bytes arrive,
so a reply the server sends early (before it read the whole body) is already known when a
send fails. State rules, as the blocking driver's (transport.py):

* a connection serves one exchange at a time, then goes back to the pool (complete reply,
  keep-alive, nothing unread) or is closed; never both;
* an idle connection that received bytes, saw EOF or was closed by the peer is stale: it is
  dropped before reuse (checked without a syscall: the protocol callbacks record it);
* after any error or cancellation mid-exchange the connection is *aborted*: SO_LINGER 0 then
  ``transport.abort()``, so the kernel sends a RST and drops whatever was not sent yet, and
  the peer never sees a cut body as complete;
* the pool belongs to one event loop at a time (``AsyncPool.bind``): when that loop shuts
  down (``asyncio.run`` ending: ``loop.shutdown_asyncgens()``) its idle connections are closed;
  on the next loop the pool starts afresh (connections and reply timer of a loop are never
  used on another); used from a second loop while the first still runs (another thread), it
  refuses with ``InvalidRequestError`` before any byte.
"""
from __future__ import annotations

import asyncio
import socket
import struct
import time
import weakref
from typing import Any, Dict, List, Optional, Tuple

from .._http11 import COMPLETE, HEAD_DONE, ProtocolError, ReplyReader
from ..errors import CertificateError, InvalidRequestError, TimeoutError, TransportError

_monotonic = time.monotonic
_LINGER0 = struct.pack("ii", 1, 0)
#: a streamed reply's body pieces held before reading from the socket pauses (llhttp hands
#: out at most what one recv gave, up to 256 KiB each)
STREAM_PIECES = 16


class ConnectionLost(Exception):
    """Internal: the peer closed or reset the connection while a request was being written."""


class AsyncConnection(asyncio.Protocol):
    def __init__(self, key: Tuple[str, str, int]) -> None:
        self.key = key
        self.plain = key[0] == "http"
        self.transport: Optional[asyncio.Transport] = None
        self.reader = ReplyReader()
        self.waiter: Optional[asyncio.Future] = None  # the reply of the exchange under way
        self.busy = False
        self.lost = False
        self.lost_exc: Optional[BaseException] = None
        self.stale = False
        self.paused = False
        self._drain: Optional[asyncio.Future] = None
        self.uses = 0
        self.idle_since = 0.0
        self.deadline = 0.0  # of the reply awaited (AsyncPool.watch)
        self.streaming = False  # the reply's body is read as it comes (AsyncStreamedReply)
        self.body_waiter: Optional[asyncio.Future] = None
        self.body_error: Optional[TransportError] = None
        self.reading_paused = False

    # ---- protocol callbacks
    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        w = self.waiter
        if w is None or w.done():
            if self.streaming and w is not None:
                self._body_received(data)
                return
            self.stale = True  # bytes while idle, or after the reply: never reuse
            return
        try:
            state = self.reader.feed(data)
            if state == COMPLETE:
                w.set_result(self.reader.reply() if self.streaming else self.reader.take_reply())
            elif state == HEAD_DONE:
                w.set_result(self.reader.reply())
                self._wake_body()
        except ProtocolError as exc:
            w.set_exception(TransportError(str(exc), request_sent=True))

    # ---- a streamed reply's body (after its head was handed out)
    def _body_received(self, data: bytes) -> None:
        try:
            self.reader.feed(data)
        except ProtocolError as exc:
            self.body_error = TransportError(str(exc), request_sent=True)
        pieces = self.reader.pieces
        if pieces is not None and len(pieces) >= STREAM_PIECES and not self.reading_paused:
            t = self.transport
            if t is not None and not t.is_closing():
                t.pause_reading()  # the reader is behind: let TCP push back on the server
                self.reading_paused = True
        self._wake_body()

    def _wake_body(self) -> None:
        b = self.body_waiter
        if b is not None and not b.done():
            b.set_result(None)

    def take_pieces(self) -> List[bytes]:
        """A streamed reply's body bytes received so far (reading resumes if it was paused)."""
        pieces = self.reader.take_pieces()
        if self.reading_paused:
            self.reading_paused = False
            t = self.transport
            if t is not None and not t.is_closing():
                t.resume_reading()
        return pieces

    def _reply_at_eof(self) -> None:
        """The peer closed: a reply framed by the close completes; a cut one fails the waiter."""
        w = self.waiter
        if w is not None and not w.done():
            try:
                self.reader.feed_eof()
                w.set_result(self.reader.reply() if self.streaming else self.reader.take_reply())
            except ProtocolError as exc:
                w.set_exception(TransportError(str(exc), request_sent=True))
        elif w is not None and self.streaming and not self.reader.done:
            try:
                self.reader.feed_eof()
            except ProtocolError as exc:
                self.body_error = TransportError(str(exc), request_sent=True)
            self._wake_body()

    def eof_received(self) -> Optional[bool]:
        self.stale = True
        self._reply_at_eof()
        return False

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self.lost = True
        self.lost_exc = exc
        self.stale = True
        self._reply_at_eof()
        d = self._drain
        if d is not None and not d.done():
            d.set_exception(ConnectionLost(str(exc) if exc else "the connection was closed"))

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        d = self._drain
        if d is not None and not d.done():
            d.set_result(None)

    # ---- driver API
    def begin(self, loop: Optional[asyncio.AbstractEventLoop] = None) -> asyncio.Future:
        """Start an exchange: the future of its reply (``loop``: the running loop, if known)."""
        if loop is None:
            loop = asyncio.get_running_loop()
        if self.reader.received:
            self.reader.reset()
        self.waiter = loop.create_future()
        return self.waiter

    def begin_any(self, *, stream: bool, no_body: bool, max_body: Optional[int]) -> asyncio.Future:
        """Start an exchange of any request: the future of its reply, or with ``stream`` of
        its head (the body then comes in ``take_pieces``; ``body_waiter`` wakes on more)."""
        self.reader.reset()
        self.reader.configure(max_body=max_body, stream=stream, no_body=no_body)
        self.streaming = stream
        self.body_error = None
        self.waiter = asyncio.get_running_loop().create_future()
        return self.waiter

    def end_stream(self) -> None:
        """The streamed reply is done with (read whole, or dropped)."""
        self.streaming = False
        self.body_waiter = None
        if self.reading_paused:
            self.reading_paused = False
            t = self.transport
            if t is not None and not t.is_closing():
                t.resume_reading()

    def write(self, data: Any) -> None:
        if self.lost or self.transport is None or self.transport.is_closing():
            raise ConnectionLost(str(self.lost_exc) if self.lost_exc else "the connection was closed")
        self.transport.write(data)

    async def drain(self, wait: float) -> None:
        """Wait until the transport takes more (the no-progress rule: ``wait`` seconds)."""
        if self.lost:
            raise ConnectionLost(str(self.lost_exc) if self.lost_exc else "the connection was closed")
        if not self.paused:
            return
        loop = asyncio.get_running_loop()
        fut = self._drain = loop.create_future()
        # A timer, not wait_for: no task per wait, and a cancellation is never swallowed.
        timer = loop.call_later(wait, _no_progress, fut)
        try:
            await fut
        finally:
            timer.cancel()
            self._drain = None

    def is_stale(self, idle_timeout: float) -> bool:
        t = self.transport
        return (self.stale or self.lost or t is None or t.is_closing()
                or _monotonic() - self.idle_since > idle_timeout)

    def close(self, abort: bool = False) -> None:
        t = self.transport
        self.waiter = None
        if t is None:
            return
        if abort:
            # RST instead of FIN, and unsent bytes dropped: a cut body never looks complete.
            sock = t.get_extra_info("socket")
            if sock is not None:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER0)
                except OSError:
                    pass
            t.abort()
        elif not self.plain:
            # No close_notify exchange: asyncio would keep the socket until the peer answers it
            # (or 30 s), past the end of the loop; every exchange is framed, so nothing is lost.
            t.abort()
        else:
            t.close()


def drop_reply(fut: asyncio.Future) -> None:
    """An exchange given up (error or cancellation): its reply's future cancelled, or, when it
    already failed, its error marked as seen (asyncio would log it as never retrieved)."""
    if not fut.done():
        fut.cancel()
    elif not fut.cancelled():
        fut.exception()


def _drop_connecting(making: "asyncio.Task[Any]") -> None:
    """A connection attempt given up: cancelled, or closed once made (its error marked seen)."""
    if making.done():
        _close_made(making)
    else:
        making.cancel()
        making.add_done_callback(_close_made)


def _close_made(making: "asyncio.Task[Any]") -> None:
    if not making.cancelled() and making.exception() is None:
        making.result()[1].close(abort=True)


def _no_progress(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_exception(socket.timeout("the send made no progress"))


class AsyncPool:
    """Idle connections per (scheme, host, port) on one event loop, at most ``maxsize`` each.

    It also bounds the wait for replies: ``watch(conn, wait)`` gives the connection's reply
    ``wait`` seconds; one timer for the whole pool (not one per request) fires at the earliest
    deadline, fails every reply that is late with ``TimeoutError`` and is set again for the
    next deadline. ``unwatch`` when the wait is over (reply, error or cancellation)."""

    def __init__(self, *, maxsize: int, ssl_context_factory: Any, idle_timeout: float = 50.0) -> None:
        self.maxsize = maxsize
        self.idle_timeout = idle_timeout
        self._ssl_context_factory = ssl_context_factory  # the sync Pool's: the same verify rules
        self._idle: Dict[Tuple[str, str, int], List[AsyncConnection]] = {}
        self.closed = False
        self.connections_opened = 0
        self._watched: Dict[AsyncConnection, float] = {}  # connection -> wait; its deadline on it
        self._sweep_at = 0.0                               # when the timer fires (0: no timer)
        self._sweep_handle: Optional[asyncio.TimerHandle] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None  # the loop the pool is bound to
        self._guard: Any = None  # an async generator of that loop: closed when the loop shuts down

    # ---- the event loop
    def bind(self) -> asyncio.AbstractEventLoop:
        """The running loop, the pool bound to it (see the module docstring)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._rebind(loop)
        return loop

    def _rebind(self, loop: asyncio.AbstractEventLoop) -> None:
        old = self._loop
        if old is not None and old.is_running() and not old.is_closed():
            raise InvalidRequestError(
                "this AsyncClient is in use on another event loop, running in another thread: "
                "use one AsyncClient per event loop", field="loop")
        self._end_guard()
        # What belonged to the old loop: its connections and its reply timer (which will never
        # fire now), and the replies it awaited.
        self._drop_idle()
        handle, self._sweep_handle, self._sweep_at = self._sweep_handle, None, 0.0
        if handle is not None:
            handle.cancel()
        self._watched.clear()
        self._loop = loop
        # The loop's shutdown (loop.shutdown_asyncgens(), as asyncio.run does) closes every
        # async generator first iterated on it: this one then closes the idle connections while
        # the loop can still do it (else their transports outlive it, unclosed).
        guard = _loop_guard(weakref.ref(self))
        try:
            guard.asend(None).send(None)
        except StopIteration:
            pass
        self._guard = guard

    def _end_guard(self) -> None:
        guard, self._guard = self._guard, None
        if guard is not None:
            try:
                guard.aclose().send(None)
            except StopIteration:
                pass

    def _loop_ending(self) -> None:
        """(the guard) The loop shuts down its async generators: idle connections closed. The
        pool stays bound to it (a reply still awaited there keeps its deadline): the next loop
        rebinds it."""
        self._guard = None
        self._drop_idle()
        if not self._watched and self._sweep_handle is not None:
            self._sweep_handle.cancel()
            self._sweep_at, self._sweep_handle = 0.0, None

    def _drop_idle(self) -> None:
        conns = [c for idle in self._idle.values() for c in idle]
        self._idle.clear()
        for c in conns:
            try:
                c.close()
            except RuntimeError:  # its loop is closed: nothing can close the transport now
                pass

    # ---- reply deadlines
    def watch(self, conn: AsyncConnection, wait: float,
              loop: Optional[asyncio.AbstractEventLoop] = None) -> None:
        if loop is None:
            loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._rebind(loop)
        deadline = conn.deadline = loop.time() + wait
        self._watched[conn] = wait
        at = self._sweep_at
        if not at or deadline < at:
            if self._sweep_handle is not None:
                self._sweep_handle.cancel()
            self._sweep_at = deadline
            self._sweep_handle = loop.call_at(deadline, self._sweep, loop)

    def unwatch(self, conn: AsyncConnection) -> None:
        self._watched.pop(conn, None)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        self._sweep_at, self._sweep_handle = 0.0, None
        now = loop.time()
        nxt = 0.0
        for conn, wait in list(self._watched.items()):
            w = conn.waiter
            if w is None or w.done():
                del self._watched[conn]
            elif conn.deadline <= now:
                del self._watched[conn]
                w.set_exception(TimeoutError(f"no complete reply within {wait}s", request_sent=True))
            elif not nxt or conn.deadline < nxt:
                nxt = conn.deadline
        if nxt:
            self._sweep_at = nxt
            self._sweep_handle = loop.call_at(nxt, self._sweep, loop)

    def take_idle(self, key: Tuple[str, str, int],
                  loop: Optional[asyncio.AbstractEventLoop] = None) -> Optional[AsyncConnection]:
        """An idle connection to ``key`` that is not stale, or None (``loop``: the running
        loop, if known)."""
        if loop is None:
            loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._rebind(loop)
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if conn.is_stale(self.idle_timeout):
                conn.close()
                continue
            return conn
        return None

    async def acquire(self, key: Tuple[str, str, int], connect_timeout: float) -> Tuple[AsyncConnection, bool]:
        if self.closed:
            raise TransportError("the client is closed")
        conn = self.take_idle(key)
        if conn is not None:
            return conn, True
        return await self._connect(key, connect_timeout), False

    async def _connect(self, key: Tuple[str, str, int], timeout: float) -> AsyncConnection:
        scheme, host, port = key
        loop = self.bind()
        ctx = self._ssl_context_factory() if scheme == "https" else None
        # Not asyncio.wait_for: up to Python 3.11 it returns a connection made in the very loop
        # iteration the call is cancelled in, and drops the cancellation (the call then sends).
        making = loop.create_task(loop.create_connection(
            lambda: AsyncConnection(key), host, port, ssl=ctx,
            server_hostname=host if ctx is not None else None,
            ssl_handshake_timeout=timeout if ctx is not None else None))
        try:
            await asyncio.wait((making,), timeout=timeout)
        except BaseException:  # cancelled: the connection, made or still being made, is dropped
            _drop_connecting(making)
            raise
        if not making.done():
            _drop_connecting(making)
            raise TimeoutError(f"connecting to {host}:{port} timed out after {timeout}s")
        try:
            _, conn = making.result()
        except OSError as exc:
            import ssl

            if isinstance(exc, ssl.SSLCertVerificationError):
                raise CertificateError(
                    f"TLS certificate of {host}:{port} rejected: {exc.verify_message}") from None
            if isinstance(exc, ssl.SSLError):
                raise TransportError(f"TLS handshake with {host}:{port} failed: {exc}") from None
            raise TransportError(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from None
        sock = conn.transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        if self.closed:
            conn.close()
            raise TransportError("the client is closed")
        self.connections_opened += 1
        return conn

    def release(self, conn: AsyncConnection) -> None:
        conn.waiter = None
        if conn.streaming:
            conn.end_stream()
        conn.uses += 1
        conn.idle_since = _monotonic()
        if self.closed or conn.stale or conn.lost:
            conn.close()
            return
        idle = self._idle.setdefault(conn.key, [])
        if len(idle) < self.maxsize:
            idle.append(conn)
        else:
            conn.close()

    def idle_count(self) -> int:
        return sum(len(v) for v in self._idle.values())

    def close(self) -> None:
        self.closed = True
        if self._sweep_handle is not None and not self._watched:  # else replies still awaited
            self._sweep_handle.cancel()
            self._sweep_at, self._sweep_handle = 0.0, None
        guard, self._guard = self._guard, None
        self._drop_idle()
        if guard is not None:
            try:
                guard.aclose().send(None)  # (closing again with no idle connection)
            except StopIteration:
                pass


async def _loop_guard(pool_ref: "weakref.ReferenceType[AsyncPool]") -> Any:
    """Iterated once on the pool's loop (AsyncPool._rebind); its ``finally`` runs when the loop
    shuts down its async generators, or when the pool leaves the loop."""
    try:
        yield
    finally:
        pool = pool_ref()
        if pool is not None and pool._guard is not None:
            pool._loop_ending()
