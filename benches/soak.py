"""Soak run (not in CI): mixed small and large requests from many threads sharing one Client,
against a loopback FaultServer (tests/srv_faults.py) that misbehaves at random.

The server runs in a child process, so the memory reported is the sender's alone. At the end
every success is checked against what the server received: a success whose body did not arrive
whole (same token, complete, same CRC-64) is a *false success*, and the run fails.

    .venv/bin/python benches/soak.py                   # 10 minutes, 8 threads, 20 % faults
    .venv/bin/python benches/soak.py --duration 60 --threads 16 --fault-rate 0.5
    .venv/bin/python benches/soak.py --tls              # the same over HTTPS (a trustme CA)

Bodies: memoryview slices, ``bytes`` of at most 64 KiB (what the client's fast path takes;
half of them with forwarded headers), iterators and file objects. The report says how many attempts the fast path made.

Reports requests, successes, failures by kind, retries, memory (RSS) and open file descriptors
at start and end, and a progress line every --every seconds. Exits 1 on a false success, an
exception outside ossfast's hierarchy, or descriptors left open.
"""
from __future__ import annotations

import argparse
import array
import collections
import gc
import logging
import multiprocessing as mp
import os
import random
import re
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, os.path.join(HERE, ".."))

import ossfast  # noqa: E402
import srv_faults  # noqa: E402
from refcrc import crc64 as ref_crc64  # noqa: E402
from srv_ports import ClosedPort  # noqa: E402
from srv_replies import oss_error  # noqa: E402
from srv_tls import TLSMaterial  # noqa: E402
from ossfast import Credentials, OssfastError, ServerError  # noqa: E402

ROUTE = "fc-ap-01-1234-opap.oss-cn-qingdao-internal.oss-object-process.aliyuncs.com"
MiB = 1024 * 1024


# ---- the misbehaving server (child process) ----------------------------------------------


def _faults(timeout):
    """Fault behaviours with weights; each is made fresh (some take random arguments)."""
    s = srv_faults
    return [
        (3, lambda: s.close_after_head()),
        (3, lambda: s.reset_mid_body(after=random.randint(0, 256 * 1024))),
        (3, lambda: s.read_body_then_close()),
        (3, lambda: s.early_reply(random.choice([400, 403, 404]), "Early", "early reply")),
        (3, lambda: s.early_reply(503, "Busy", "early busy")),
        (6, lambda: s.reply(oss_error(random.choice([500, 502, 503, 504]), "InternalError", "try again"))),
        (2, lambda: s.reply(oss_error(403, "AccessDenied", "denied"))),
        (2, lambda: s.slow_reply(byte_delay=0.002)),
        (1, lambda: s.slow_reply(byte_delay=timeout / 20)),  # past the deadline
        (2, lambda: s.malformed_status_line()),
        (2, lambda: s.malformed_header()),
        (1, lambda: s.oversized_headers(200_000)),
        (2, lambda: s.wrong_content_length()),
        (3, lambda: s.chunked_reply()),
        (4, lambda: s.idle_close(delay=random.uniform(0.0, 0.05))),
        (1, lambda: s.hold_after_body(hold=timeout + 1)),
        (1, lambda: s.accept_never_read(hold=timeout + 1)),
        (1, lambda: s.close_immediately()),
    ]


class RandomFaultServer(srv_faults.FaultServer):
    """Draws a fault with probability fault_rate, else a plain 200 (keep-alive)."""

    def __init__(self, fault_rate, timeout, seed, **kw):
        super().__init__(**kw)
        self.fault_rate = fault_rate
        self.rng = random.Random(seed)
        faults = _faults(timeout)
        self.weights = [w for w, _ in faults]
        self.makers = [m for _, m in faults]
        self.drawn = collections.Counter()
        self.seen = {}  # token -> [(body_complete, crc64, body_bytes), ...]

    def _draw(self):
        with self._lock:
            if self.rng.random() < self.fault_rate:
                behaviour = self.rng.choices(self.makers, self.weights)[0]()
            else:
                behaviour = srv_faults.reply(200)
            self.drawn[behaviour.name] += 1
            return behaviour

    def compact(self):
        """Fold finished exchanges into `seen` and forget them, so memory stays flat."""
        with self._lock:
            keep = []
            for ex in self.exchanges:
                if not ex.finished:
                    keep.append(ex)
                    continue
                m = re.search(rb"\r\nx-oss-request-token: ([^\r]+)\r\n", ex.head)
                if m:
                    self.seen.setdefault(m.group(1).decode(), []).append(
                        (ex.body_complete, ex.crc64, ex.body_bytes))
            self.exchanges = keep
            self.connections = [c for c in self.connections if not c.closed]


def serve(conn, fault_rate, timeout, seed, lifetime, tls):
    ssl_context, ca_file = None, None
    if tls:
        material = TLSMaterial(tempfile.mkdtemp(prefix="ossfast-soak-tls-"))
        ssl_context, ca_file = material.server_context(), material.ca_file
    server = RandomFaultServer(fault_rate, timeout, seed, lifetime=lifetime, idle_timeout=lifetime,
                               conn_timeout=timeout + 5, max_connections=256,
                               ssl_context=ssl_context).start()
    url = server.url.replace("http://", "https://") if tls else server.url
    conn.send((url, ca_file))
    while not conn.poll(2.0):
        server.compact()
    conn.recv()
    server.stop()
    server.compact()
    conn.send({"seen": server.seen, "drawn": dict(server.drawn), "accepted": server.accepted,
               "errors": [repr(e) for e in server.errors]})


# ---- the sender (this process) -----------------------------------------------------------


def rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def open_fds():
    return len(os.listdir("/proc/self/fd"))


def failure_kind(exc):
    if isinstance(exc, ServerError):
        return f"ServerError {exc.status} {exc.code}"
    text = re.sub(r"\d+(\.\d+)?", "N", str(exc))
    text = re.sub(r"[0-9A-F]{24}", "ID", text)
    return f"{type(exc).__name__}: {text[:70]}"


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = 0
        self.ok = 0
        self.bytes_ok = 0
        self.failures = collections.Counter()
        self.unexpected = []
        # (thread << 32 | request number, crc64) of every success, 16 bytes each, so that the
        # bookkeeping does not show up as the sender's memory growth
        self.success_keys = array.array("Q")
        self.success_crcs = array.array("Q")

    def success(self, key, crc, n):
        with self.lock:
            self.requests += 1
            self.ok += 1
            self.bytes_ok += n
            self.success_keys.append(key)
            self.success_crcs.append(crc)

    def successes(self):
        for key, crc in zip(self.success_keys, self.success_crcs):
            yield token_of(key >> 32, key & 0xFFFFFFFF), crc

    def failure(self, exc):
        with self.lock:
            self.requests += 1
            if isinstance(exc, OssfastError):
                self.failures[failure_kind(exc)] += 1
            else:
                self.failures["UNEXPECTED " + type(exc).__name__] += 1
                self.unexpected.append(repr(exc))


class RetryCounter(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.reasons = collections.Counter()

    def emit(self, record):
        msg = record.getMessage()
        if "retrying" in msg:
            reason = msg.split(": ", 1)[-1]
            self.reasons[re.sub(r"\d+(\.\d+)?", "N", reason)[:60]] += 1


def token_of(n, i):
    return f"s{n}-{i}"


def worker(n, client, refused, blob, path, args, deadline, stats):
    rng = random.Random(args.seed * 1000 + n)
    i = 0
    with open(path, "rb") as f:
        while time.monotonic() < deadline:
            i += 1
            token = token_of(n, i)
            large = rng.random() < args.large_share
            size = rng.randint(1 * MiB, args.max_large) if large else rng.randint(0, 64 * 1024)
            start = rng.randint(0, len(blob) - size)
            view = memoryview(blob)[start:start + size]  # a slice, not a copy
            kind = rng.choices(["view", "bytes", "iterator", "file"], [3, 3, 2, 2])[0]
            target = refused if rng.random() < args.refused_share else client
            want = ref_crc64(view)
            try:
                if kind == "bytes" and size <= 64 * 1024:
                    body, kw = bytes(view), {}  # the fast path's kind of body
                    if rng.random() < 0.5:  # forwarded headers keep it there
                        kw = {"content_type": "application/octet-stream", "etag": f'"{token}"'}
                elif kind in ("view", "bytes"):
                    body, kw = view, {}
                elif kind == "iterator":
                    step = rng.choice([4096, 65536, 1 * MiB])
                    body = (view[j:j + step] for j in range(0, size, step))
                    kw = {"content_length": size}
                else:
                    f.seek(start)
                    body, kw = f, {"content_length": size}
                r = target.write_get_object_response(ROUTE, token, 200, body, **kw)
                if r.crc64 != want or r.bytes_sent != size:
                    stats.unexpected.append(f"{token}: result crc/bytes wrong")
                stats.success(n << 32 | i, want, size)
            except Exception as exc:  # counted by kind
                stats.failure(exc)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=600.0, help="seconds (default 600)")
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--fault-rate", type=float, default=0.2, help="share of exchanges with a fault")
    p.add_argument("--large-share", type=float, default=0.05, help="share of 1 MiB+ bodies")
    p.add_argument("--max-large", type=int, default=32 * MiB)
    p.add_argument("--refused-share", type=float, default=0.01, help="share sent to a closed port")
    p.add_argument("--timeout", type=float, default=3.0, help="the client's read timeout")
    p.add_argument("--retries", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--every", type=float, default=30.0, help="seconds between progress lines")
    p.add_argument("--tls", action="store_true", help="HTTPS (the server's certificate from a test CA)")
    args = p.parse_args(argv)

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=serve, args=(child, args.fault_rate, args.timeout, args.seed,
                                           args.duration + 300, args.tls), daemon=True)
    proc.start()
    url, ca_file = parent.recv()

    retries = RetryCounter()
    logging.getLogger("ossfast").addHandler(retries)
    logging.getLogger("ossfast").setLevel(logging.INFO)
    blob = random.Random(args.seed).randbytes(args.max_large + 64 * 1024)
    fd, path = tempfile.mkstemp(prefix="ossfast-soak-")
    with os.fdopen(fd, "wb") as f:
        f.write(blob)
    closed_port = ClosedPort()
    retry = ossfast.Retry(total=args.retries, backoff=0.01, max_backoff=0.2)
    creds = Credentials("soak-ak", "soak-sk")
    client = ossfast.Client(creds, endpoint=url, timeout=(2.0, args.timeout), retries=retry,
                            pool_maxsize=args.threads, verify=ca_file or True)
    # Count the fast path's attempts: each one starts with an idle connection from acquire_idle.
    fast_attempts = collections.Counter()
    real_acquire_idle = client.pool.acquire_idle

    def counting_acquire_idle(key, timeout):
        conn = real_acquire_idle(key, timeout)
        fast_attempts["with a connection" if conn is not None else "none idle"] += 1
        return conn

    client.pool.acquire_idle = counting_acquire_idle
    refused = ossfast.Client(creds, endpoint=closed_port.url, timeout=1.0, retries=retry)
    gc.collect()
    rss0, fds0 = rss_mib(), open_fds()
    print(f"soak: {args.duration:.0f}s, {args.threads} threads, faults {args.fault_rate:.0%}, "
          f"{'HTTPS' if args.tls else 'HTTP'}, "
          f"backend {ossfast.backend}, server {url}")
    print(f"start: RSS {rss0:.1f} MiB, {fds0} fds")

    stats = Stats()
    started = time.monotonic()
    deadline = started + args.duration
    threads = [threading.Thread(target=worker, name=f"soak-{n}",
                                args=(n, client, refused, blob, path, args, deadline, stats))
               for n in range(args.threads)]
    for t in threads:
        t.start()
    next_report = started + args.every
    while any(t.is_alive() for t in threads):
        time.sleep(0.5)
        now = time.monotonic()
        if now >= next_report:
            next_report += args.every
            with stats.lock:
                print(f"  {now - started:6.0f}s  requests {stats.requests}  ok {stats.ok}  "
                      f"failed {sum(stats.failures.values())}  RSS {rss_mib():.1f} MiB  "
                      f"fds {open_fds()}", flush=True)
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    client.close()
    refused.close()
    gc.collect()
    rss1, fds1 = rss_mib(), open_fds()  # before the server's summary is loaded here
    closed_port.close()
    parent.send("stop")
    server = parent.recv()
    proc.join(10)
    os.unlink(path)

    false_successes = []
    for token, crc in stats.successes():
        got = server["seen"].get(token, [])
        if not any(complete and c == crc for complete, c, _ in got):
            false_successes.append((token, got))

    print(f"\n{stats.requests} requests in {elapsed:.0f}s ({stats.requests / elapsed:.0f}/s), "
          f"{stats.ok} ok ({stats.bytes_ok / MiB:.0f} MiB), {sum(stats.failures.values())} failed, "
          f"{sum(retries.reasons.values())} retries; server accepted {server['accepted']} connections")
    print(f"fast path: {fast_attempts['with a connection']} attempts on an idle pooled connection, "
          f"{fast_attempts['none idle']} found none idle (sent by the general path)")
    print("failures by kind:")
    for kind, n in stats.failures.most_common():
        print(f"  {n:7d}  {kind}")
    print("retries by reason:")
    for reason, n in retries.reasons.most_common():
        print(f"  {n:7d}  {reason}")
    print("server behaviours drawn:")
    for name, n in sorted(server["drawn"].items(), key=lambda kv: -kv[1]):
        print(f"  {n:7d}  {name}")
    print(f"memory: RSS {rss0:.1f} MiB at start, {rss1:.1f} MiB at end ({rss1 - rss0:+.1f}); "
          f"fds {fds0} -> {fds1}")
    print(f"false successes: {len(false_successes)}; unexpected exceptions: {len(stats.unexpected)}; "
          f"server errors: {len(server['errors'])}")
    for item in (false_successes[:5] + stats.unexpected[:5] + server["errors"][:5]):
        print("  ", item)
    bad = false_successes or stats.unexpected or server["errors"] or fds1 > fds0
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
