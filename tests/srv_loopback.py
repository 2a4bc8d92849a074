"""The machinery every loopback server shares, and the leak checks of the conftest guard.

- ``LoopbackServer``: a listening socket on 127.0.0.1 on a port the OS picks, an accept loop,
  one daemon thread per connection (bounded by ``max_connections``), deadlines, ``stop()``,
  ``wait_until``; subclasses implement ``_serve(link)`` (``RecordingServer`` in srv_recording,
  ``FaultServer`` in srv_faults).
- ``Link``: one accepted connection, with stop-aware, deadline-bounded recv/send/sleep/hold,
  a server-side TLS handshake, and close with FIN or RST.
- ``live_servers`` / ``server_threads`` / ``open_fds``: what a test left running or open.

A server stops when ``stop()`` is called (context manager and fixtures do it), when nothing
happened on it for ``idle_timeout`` seconds, or ``lifetime`` seconds after it started; so nothing
can hang a test run. All blocking calls poll at ``POLL`` seconds and every buffer has a bound.
"""

from __future__ import annotations

import os
import select
import socket
import ssl
import struct
import threading
import time
import weakref
from typing import Any, Callable, List, Optional, Sequence, Tuple

from refcrc import crc64

POLL = 0.05
RECV_SIZE = 256 * 1024
THREAD_PREFIX = "ossfast-test-server"
HOST = "127.0.0.1"
_HANGUP = getattr(select, "POLLRDHUP", 0) | select.POLLHUP | select.POLLERR

# Every started server, so a guard can find those a test forgot to stop.
_LIVE: "weakref.WeakSet[LoopbackServer]" = weakref.WeakSet()


class _Stop(Exception):
    """The server is stopping, or a connection outlived its inactivity deadline."""


class Link:
    """One accepted connection: stop-aware, deadline-bounded recv/send/sleep over a socket."""

    def __init__(self, server: "LoopbackServer", sock: socket.socket, conn_id: int, peer):
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


class LoopbackServer:
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
        self.tls_errors: List[str] = []  # failed TLS handshakes
        self.stop_reason: Optional[str] = None  # "stop", "idle" or "lifetime"
        self._lock = threading.Condition()
        self._stopping = threading.Event()
        self._slots = threading.BoundedSemaphore(max_connections)
        self._links: "set[Link]" = set()
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
                    link = Link(self, sock, self.accepted, peer)
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

    def _run_link(self, link: Link) -> None:
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

    def _serve(self, link: Link) -> None:
        raise NotImplementedError

    def _connection_error(self, link: Link, exc: OSError) -> None:
        pass

    def _start_tls(self, link: Link, record: Any) -> bool:
        """The server side of the TLS handshake on link. A failure sets record.tls_error, is
        appended to tls_errors and returns False; a success sets record.tls_resumed."""
        try:
            link.start_tls(self.ssl_context)
        except (OSError, ValueError) as e:
            record.tls_error = repr(e)
            with self._lock:
                self.tls_errors.append(repr(e))
                self._lock.notify_all()
            return False
        record.tls_resumed = link.sock.session_reused
        return True

    def wait_for_connections(self, n: int, timeout: float = 5.0) -> None:
        """Block until n connections were accepted (AssertionError on timeout)."""
        self._wait(lambda: self.accepted >= n, timeout, "%d connections" % n)

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
# Leak checks for the conftest guard.


def live_servers() -> List[LoopbackServer]:
    """Servers started and not stopped."""
    return list(_LIVE)


def server_threads(exclude_ports: Sequence[int] = ()) -> List[threading.Thread]:
    """Alive threads of the loopback servers, but those of servers on exclude_ports.
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
