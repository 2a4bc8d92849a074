"""A fast loopback HTTP/1.1 sink for the sender benchmarks (not part of ossfast).

It runs in its own process, listens on 127.0.0.1 on a port the OS picks, reads every request
(httptools/llhttp finds the request boundaries: Content-Length or chunked; no body callback is
registered, so body bytes are skipped without being copied out of the receive buffer) and answers
each one with::

    HTTP/1.1 200 OK\\r\\nx-oss-request-id: <24 hex>\\r\\nContent-Length: 0\\r\\n\\r\\n

keeping the connection alive. One thread per connection with blocking ``recv_into`` on a large
reused buffer: no event-loop wake-ups on the request path, so a sequential client sees the
smallest possible round trip, and bulk bodies are drained at memory-copy speed.

With ``spin`` (``--spin-ms``), a connection's thread busy-polls (non-blocking ``recv_into``) for
up to that many milliseconds after each read before it blocks again. A sequential client's next
request then finds the sink already running: the client's send wakes no sleeping thread, and on
a VM no halted vCPU (waking one costs tens of microseconds of the *sender's* CPU time, measured
on the 2-vCPU VM this was written on). The spinning thread burns its CPU while a client is
active; after ``spin`` milliseconds of silence it goes back to sleeping in ``recv_into``. A
spinning sink pins itself to the last CPU (``SPIN_CPU``) and the client should keep off it
(``keep_off_spin_cpu()``): a client woken on the spinner's CPU waits for it to be preempted.

``GET /__stats`` answers a JSON body: requests answered, body bytes received, connections.

With ``tls`` (``--tls-cert``/``--tls-key``) it serves HTTPS on the same terms (the handshake in
the connection's thread; a busy-polling TLS connection polls the fd and OpenSSL's buffer).

The process stops by itself when its parent goes away (its stdin pipe reaches EOF, and on Linux
PR_SET_PDEATHSIG), after ``--lifetime`` seconds, or on SIGTERM.

Use::

    with Sink() as sink:          # starts the process, waits for its URL
        sink.url                  # "http://127.0.0.1:PORT"
        sink.stats()              # {"requests": ..., "body_bytes": ..., "connections": ...}

or run it by hand: ``python benches/sink.py [--lifetime SECONDS] [--spin-ms MS]`` prints its URL
on stdout.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from typing import Any, Dict, Iterator, Optional, Tuple

# Measured on loopback: a 64-128 KiB receive buffer (stays in L2) drains ~2.6 GB/s; 1-4 MiB
# buffers and a fixed SO_RCVBUF (which turns off autotuning) drop to ~1.5 GB/s.
RECV_BUFFER = 128 * 1024
DEFAULT_LIFETIME = 3600.0


# ----------------------------------------------------------------------------- server side

class _Counters:
    """Totals of closed connections, plus a [requests, bytes] list per live connection (each
    written only by its own thread, so the request path takes no lock)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.body_bytes = 0
        self.connections = 0
        self.live: Dict[int, list] = {}

    def snapshot(self) -> Dict[str, int]:
        with self.lock:
            live = list(self.live.values())
            return {"requests": self.requests + sum(x[0] for x in live),
                    "body_bytes": self.body_bytes + sum(x[1] for x in live),
                    "connections": self.connections}


class _Conn:
    """httptools protocol object for one connection: counts finished requests."""

    __slots__ = ("finished", "url", "stats_wanted", "parser")

    def __init__(self) -> None:
        import httptools

        self.finished = 0
        self.url = b""
        self.stats_wanted = 0
        self.parser = httptools.HttpRequestParser(self)

    def on_url(self, url: bytes) -> None:
        self.url = url

    def on_message_complete(self) -> None:
        if self.url == b"/__stats":
            self.stats_wanted += 1
        self.finished += 1


def _receiver(sock: socket.socket, buf: bytearray, spin: float):
    """``recv_into(buf)``; with ``spin`` > 0 seconds, busy-poll that long before blocking."""
    recv_into = sock.recv_into
    if spin <= 0:
        return lambda: recv_into(buf)
    clock = time.monotonic
    if isinstance(sock, ssl.SSLSocket):
        # No MSG_DONTWAIT on TLS sockets: poll the fd (and OpenSSL's buffer) instead.
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        pending, poll = sock.pending, poller.poll

        def receive_tls() -> int:
            if not (pending() or poll(0)):
                deadline = clock() + spin
                while not (pending() or poll(0)) and clock() < deadline:
                    pass
            return recv_into(buf)

        return receive_tls
    dontwait = socket.MSG_DONTWAIT

    def receive() -> int:
        try:
            return recv_into(buf, 0, dontwait)
        except BlockingIOError:
            pass
        deadline = clock() + spin
        while clock() < deadline:
            try:
                return recv_into(buf, 0, dontwait)
            except BlockingIOError:
                pass
        return recv_into(buf)

    return receive


def _serve_conn(sock: socket.socket, counters: _Counters, spin: float = 0.0,
                tls: Optional[ssl.SSLContext] = None) -> None:
    import httptools

    if tls is not None:
        try:
            sock = tls.wrap_socket(sock, server_side=True)
        except (OSError, ssl.SSLError):
            sock.close()
            return

    rid = 0
    pid = os.getpid() & 0xFFFF
    buf = bytearray(RECV_BUFFER)
    mv = memoryview(buf)
    proto = _Conn()
    parser = proto.parser
    receive = _receiver(sock, buf, spin)
    sendall = sock.sendall
    feed = parser.feed_data
    live = [0, 0]  # requests answered, bytes received (heads included)
    with counters.lock:
        counters.live[id(live)] = live
    try:
        while True:
            n = receive()
            if not n:
                break
            live[1] += n
            feed(mv[:n])
            done = proto.finished
            if done:
                proto.finished = 0
                replies = []
                for _ in range(done):
                    if proto.stats_wanted:
                        proto.stats_wanted -= 1
                        body = json.dumps(counters.snapshot()).encode()
                        replies.append(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                       b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
                        continue
                    rid += 1
                    replies.append(b"HTTP/1.1 200 OK\r\nx-oss-request-id: %04X%020X\r\n"
                                   b"Content-Length: 0\r\n\r\n" % (pid, rid))
                live[0] += done  # counted before the reply goes: a client may ask stats() next
                sendall(replies[0] if len(replies) == 1 else b"".join(replies))
    except httptools.HttpParserError as exc:
        try:
            sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                    % (len(str(exc)), str(exc).encode()))
        except OSError:
            pass
    except OSError:
        pass
    finally:
        with counters.lock:
            del counters.live[id(live)]
            counters.requests += live[0]
            counters.body_bytes += live[1]
        try:
            sock.close()
        except OSError:
            pass


def _watch_parent(lifetime: float) -> None:
    def stdin_eof() -> None:
        try:
            while sys.stdin.buffer.read(65536):
                pass
        except (OSError, ValueError):
            pass
        os._exit(0)

    def deadline() -> None:
        time.sleep(lifetime)
        os._exit(0)

    if not sys.stdin.isatty():
        threading.Thread(target=stdin_eof, daemon=True).start()
    threading.Thread(target=deadline, daemon=True).start()
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            PR_SET_PDEATHSIG = 1
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except Exception:
            pass


def _spin_cpu() -> Optional[int]:
    """The CPU a spinning sink runs on: the last one this process may use (None: only one)."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None
    return cpus[-1] if len(cpus) > 1 else None


SPIN_CPU = _spin_cpu()


@contextlib.contextmanager
def keep_off_spin_cpu() -> Iterator[None]:
    """Run the calling process off the spinning sink's CPU for the block (restored after)."""
    if SPIN_CPU is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, before - {SPIN_CPU})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def serve(lifetime: float = DEFAULT_LIFETIME, port: int = 0, spin_ms: float = 0.0,
          tls_cert: Optional[str] = None, tls_key: Optional[str] = None) -> None:
    _watch_parent(lifetime)
    tls = None
    if tls_cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(tls_cert, tls_key)
    if spin_ms > 0 and SPIN_CPU is not None:
        os.sched_setaffinity(0, {SPIN_CPU})
    counters = _Counters()
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", port))
    lsock.listen(128)
    print(f"{'https' if tls else 'http'}://127.0.0.1:{lsock.getsockname()[1]}", flush=True)
    while True:
        conn, _ = lsock.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with counters.lock:
            counters.connections += 1
        threading.Thread(target=_serve_conn, args=(conn, counters, spin_ms / 1000.0, tls), daemon=True).start()


# ----------------------------------------------------------------------------- client side

def clean_env() -> Dict[str, str]:
    """The environment without Python's dev mode / debug allocator (``make`` exports dev mode)."""
    env = dict(os.environ)
    for k in ("PYTHONDEVMODE", "PYTHONMALLOC", "PYTHONASYNCIODEBUG", "PYTHONTRACEMALLOC"):
        env.pop(k, None)
    return env


class Sink:
    """The sink in a child process: ``url``, ``stats()``, ``stop()``; a context manager."""

    def __init__(self, lifetime: float = DEFAULT_LIFETIME, start_timeout: float = 20.0,
                 spin_ms: float = 0.0, tls: Optional[Tuple[str, str]] = None) -> None:
        """``tls``: (certificate chain file, key file) to serve HTTPS instead of HTTP."""
        self.spin_ms = spin_ms
        self.tls = tls
        args = [sys.executable, os.path.abspath(__file__), "--lifetime", str(lifetime), "--spin-ms", str(spin_ms)]
        if tls:
            args += ["--tls-cert", tls[0], "--tls-key", tls[1]]
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=clean_env(), close_fds=True)
        assert self.proc.stdout is not None
        line = self._readline(start_timeout)
        if not line.startswith((b"http://", b"https://")):
            self.stop()
            raise RuntimeError(f"the sink did not start: {line!r}")
        self.url = line.decode().strip()
        self.host, port = self.url.split("://", 1)[1].rsplit(":", 1)
        self.port = int(port)

    def _readline(self, timeout: float) -> bytes:
        out: list = []
        t = threading.Thread(target=lambda: out.append(self.proc.stdout.readline()), daemon=True)
        t.start()
        t.join(timeout)
        return out[0] if out else b""

    def stats(self) -> Dict[str, Any]:
        sock = socket.create_connection((self.host, self.port), timeout=10)
        if self.tls:
            # Our own sink on loopback, asked for counters only: no certificate check.
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            sock = ctx.wrap_socket(sock)
        with sock as s:
            s.sendall(b"GET /__stats HTTP/1.1\r\nHost: sink\r\n\r\n")
            data = b""
            while b"\r\n\r\n" not in data:
                data += s.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            while len(body) < length:
                body += s.recv(65536)
        return json.loads(body)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()  # type: ignore[union-attr]
            except OSError:
                pass
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()  # type: ignore[union-attr]
            except (OSError, AttributeError):
                pass

    def __enter__(self) -> "Sink":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def main(argv: Optional[list] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lifetime", type=float, default=DEFAULT_LIFETIME,
                    help="exit after this many seconds (default %(default)s)")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--tls-cert", help="serve HTTPS with this certificate chain (PEM)")
    ap.add_argument("--tls-key", help="... and this key (PEM)")
    ap.add_argument("--spin-ms", type=float, default=0.0,
                    help="busy-poll each connection this long before blocking (default: block)")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    try:
        serve(args.lifetime, args.port, args.spin_ms, args.tls_cert, args.tls_key)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
