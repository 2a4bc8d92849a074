"""Load: one Client shared by many threads against a loopback server that checks every body.

The server (RecordingServer, h11-strict) compares the CRC-64 of each body it received with the
one the sender computed independently (crcmod, in an x-test-crc64 header): a corrupted,
truncated or interleaved body fails the request with a 400 and is listed. The pool is sampled
all along; file descriptors are counted before and after.
"""
from __future__ import annotations

import gc
import os
import socket
import random
import threading
import time

from refcrc import crc64 as ref_crc64
from srv_loopback import open_fds
from srv_recording import RecordingServer
from srv_replies import Reply

import ossfast
from ossfast import Credentials, transport

ROUTE = "fc-ap-01-1234-opap.oss-cn-qingdao-internal.oss-object-process.aliyuncs.com"
CREDS = Credentials("ak", "sk")

THREADS = 16
# 16 x 1,000 on the native backend. The pure-Python backend's CRC-64 and V4 signing make each
# request about 3x dearer, and the whole suite runs again on it in CI: there the same 16
# threads send 250 requests each (4,000 in all), which exercises the same races.
PER_THREAD = 1000 if ossfast.backend == "native" else 250
MAX_BODY = 4096


class CheckingServer:
    """Wraps a RecordingServer whose handler checks each body's CRC-64 against x-test-crc64."""

    def __init__(self, start_server):
        self.mismatches = []
        self.server = start_server(RecordingServer, body_limit=0, lifetime=600, idle_timeout=120,
                                   max_connections=64)
        self.server.handler = self.check

    def check(self, req):
        want = int(req.header("x-test-crc64"))
        if req.crc64 != want or req.body_length != int(req.header("Content-Length")):
            self.mismatches.append((req.header("x-oss-request-token"), req.body_length))
            return Reply(400, body=b"crc mismatch")
        return None


class PoolWatcher(threading.Thread):
    """Samples the pool's idle connections and the server's open ones until stopped."""

    def __init__(self, pool, server):
        super().__init__(name="pool-watcher", daemon=True)
        self.pool, self.server = pool, server
        self.max_idle = self.max_open = 0
        self.samples = 0
        self.done = threading.Event()

    def run(self):
        while not self.done.wait(0.002):
            self.max_idle = max(self.max_idle, self.pool.idle_count())
            self.max_open = max(self.max_open, self.server.active_connections)
            self.samples += 1


def _settle(server, timeout=5.0):
    """Wait until the server has closed every connection the client closed."""
    server.wait_until(lambda: server.active_connections == 0, timeout, "the server's connections to close")
    gc.collect()


def run_load(start_server, threads, per_thread, pool_maxsize):
    checking = CheckingServer(start_server)
    server = checking.server
    gc.collect()
    fds_before = open_fds()
    errors = []
    expected = {}
    lock = threading.Lock()
    client = ossfast.Client(CREDS, endpoint=server.url, timeout=10, retries=0, pool_maxsize=pool_maxsize)
    watcher = PoolWatcher(client.pool, server)
    watcher.start()
    barrier = threading.Barrier(threads)

    def work(n):
        rng = random.Random(n)
        mine = {}
        barrier.wait()
        for i in range(per_thread):
            data = rng.randbytes(rng.randint(0, MAX_BODY))
            want = ref_crc64(data)
            token = f"t{n}-{i}"
            mine[token] = want
            try:
                r = client.write_get_object_response(ROUTE, token, 200, data,
                                                     headers={"x-test-crc64": str(want)})
                if r.crc64 != want or r.bytes_sent != len(data) or r.status != 200:
                    errors.append((token, "result", r.crc64, r.bytes_sent))
            except Exception as exc:  # counted and shown below
                errors.append((token, repr(exc)))
        with lock:
            expected.update(mine)

    started = time.perf_counter()
    workers = [threading.Thread(target=work, args=(n,), name=f"load-{n}") for n in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    elapsed = time.perf_counter() - started
    watcher.done.set()
    watcher.join()
    client.close()
    _settle(server)
    fds_after = open_fds()

    total = threads * per_thread
    assert errors == [], errors[:5]
    assert checking.mismatches == []
    reqs = server.wait_for(total, timeout=10)
    assert len(reqs) == total and server.aborted == [] and server.protocol_errors == []
    tokens = {r.header("x-oss-request-token"): r.crc64 for r in reqs}
    assert tokens == expected  # every body arrived once, whole, under its own token
    assert all(r.complete for r in reqs)
    assert watcher.samples > 0 and watcher.max_idle <= pool_maxsize
    if fds_before is not None:
        assert fds_after == fds_before, f"file descriptors: {fds_before} before, {fds_after} after"
    return server, watcher, elapsed


def test_16_threads_share_one_client(start_server):
    server, watcher, elapsed = run_load(start_server, THREADS, PER_THREAD, pool_maxsize=THREADS)
    # A thread holds one connection at a time, and the pool keeps every one it gets back:
    # never more connections than threads, all of them reused.
    assert server.accepted <= THREADS and watcher.max_open <= THREADS
    assert len(server.connections) == server.accepted
    print(f"{THREADS * PER_THREAD} requests in {elapsed:.1f}s on {server.accepted} connections "
          f"({ossfast.backend} backend)")


def test_pool_smaller_than_the_thread_count(start_server):
    """With more threads than idle slots the pool closes the surplus instead of keeping it."""
    server, watcher, _ = run_load(start_server, THREADS, 60, pool_maxsize=4)
    assert watcher.max_idle <= 4
    assert server.accepted >= 5  # connections beyond the four were opened, then closed


def test_threads_with_mixed_body_kinds_and_errors(start_server, tmp_path):
    """Iterators, files and rejected calls interleaved across threads leave no trace on the
    connections the others use."""
    server = start_server(RecordingServer, body_limit=None, lifetime=120)
    path = tmp_path / "f.bin"
    blob = os.urandom(50_000)
    path.write_bytes(blob)
    errors = []
    with ossfast.Client(CREDS, endpoint=server.url, timeout=10, pool_maxsize=8) as client:
        def work(n):
            rng = random.Random(1000 + n)
            try:
                for i in range(40):
                    kind = rng.choice(["bytes", "iter", "file", "bad-first", "bad-later"])
                    data = rng.randbytes(rng.randint(1, 20_000))
                    if kind == "bytes":
                        client.write_get_object_response(ROUTE, f"ok{n}-{i}", 200, data)
                    elif kind == "iter":
                        parts = [data[j:j + 999] for j in range(0, len(data), 999)]
                        client.write_get_object_response(ROUTE, f"ok{n}-{i}", 200, iter(parts),
                                                         content_length=len(data))
                    elif kind == "file":
                        with open(path, "rb") as f:
                            f.seek(len(data) % 1000)
                            client.write_get_object_response(ROUTE, f"ok{n}-{i}", 200, f)
                    elif kind == "bad-first":
                        try:
                            client.write_get_object_response(ROUTE, f"bad{n}-{i}", 200, iter(["str"]),
                                                             content_length=3)
                        except ossfast.InvalidRequestError:
                            pass
                    else:
                        try:
                            client.write_get_object_response(ROUTE, f"bad{n}-{i}", 200,
                                                             iter([data, b"!"]), content_length=len(data))
                        except ossfast.InvalidRequestError:
                            pass
            except Exception as exc:  # shown below
                errors.append(repr(exc))

        workers = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
    assert errors == []
    time.sleep(0.1)
    reqs = list(server.requests)
    assert reqs and all(r.header("x-oss-request-token").startswith("ok") for r in reqs)
    for r in reqs:
        assert r.complete and r.body_length == int(r.header("Content-Length"))
    assert all(a.header("x-oss-request-token").startswith("bad") for a in server.aborted)


def test_many_clients_closed_leak_nothing(start_server):
    n = 3
    server = start_server(RecordingServer)
    gc.collect()
    before = open_fds()
    for _ in range(n):
        with ossfast.Client(CREDS, endpoint=server.url, pool_maxsize=2) as c:
            threads = [threading.Thread(target=c.write_get_object_response, args=(ROUTE, "t", 200, b"x"))
                       for _ in range(6)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    server.wait_for(6 * n)
    _settle(server)
    if before is not None:
        assert open_fds() == before


def test_close_while_threads_send_on_the_fast_path(start_server):
    """Threads keep sending small bytes bodies (the fast path: pool pops and releases without
    the lock) while the main thread closes the client. Every call either succeeds or raises
    TransportError; nothing is left in the pool; once the threads are done, no socket is open."""
    server = start_server(RecordingServer)
    gc.collect()
    before = open_fds()
    for round_ in range(5):
        c = ossfast.Client(CREDS, endpoint=server.url, pool_maxsize=3)
        c.write_get_object_response(ROUTE, "warm", 200, b"x")  # the route is known: fast path
        outcomes: list = []
        stop = threading.Event()

        def worker(c: ossfast.Client, outcomes: list, stop: threading.Event) -> None:
            while not stop.is_set():
                try:
                    c.write_get_object_response(ROUTE, "t", 200, b"abc")
                    outcomes.append("ok")
                except ossfast.TransportError:
                    outcomes.append("failed")
                except Exception as exc:  # anything else is a bug
                    outcomes.append(repr(exc))

        threads = [threading.Thread(target=worker, args=(c, outcomes, stop)) for _ in range(6)]
        for t in threads:
            t.start()
        time.sleep(0.05 + 0.02 * round_)
        c.close()
        time.sleep(0.02)  # calls after close() must fail cleanly too
        stop.set()
        for t in threads:
            t.join(10)
        assert not any(t.is_alive() for t in threads)
        assert outcomes.count("ok") > 0 and set(outcomes) <= {"ok", "failed"}, set(outcomes)
        assert "failed" in outcomes  # the calls after close()
        assert c.pool.idle_count() == 0
    _settle(server)
    if before is not None:
        assert open_fds() == before


def test_release_racing_close_closes_the_connection():
    """Pool.release() puts a connection back without the lock; a close() that runs between its
    check and its append must not leave that connection open in a closed pool."""
    pool = transport.Pool()
    key = ("http", "127.0.0.1", 9)

    class CloseFirst(list):
        def append(self, item):  # close() runs right before the append lands
            pool.close()
            super().append(item)

    a, b = socket.socketpair()
    try:
        conn = transport.Connection(a, key, True)
        pool._idle[key] = CloseFirst()
        pool.release(conn)
        assert pool.closed and pool.idle_count() == 0
        assert a.fileno() == -1  # closed by release()
    finally:
        a.close()
        b.close()
