"""The sender's speed and memory, each case beside its baseline, against a loopback sink.

Run:  .venv/bin/python -m pytest benches/bench_sender.py -q --benchmark-columns=min,median,ops
(``make bench`` runs every bench). The sink (benches/sink.py) runs in its own process, so the
client's CPU time is the client's alone. At the end a table (benches/conftest.py) gives the
ratios computed from this run's stats, beside the targets:

* ``small-1KiB``: 1 KiB bodies, sequential over one keep-alive connection, against the
  busy-polling sink (``spin_sink``: it answers without being woken up). ossfast (V4, and V1)
  vs a raw socket sending the same prebuilt request bytes (sendall + recv to the reply's end) vs
  oss2 ``Service.write_get_object_response`` (oss2.Auth = V1, oss2.AuthV4 with the region).
  Targets: ossfast >= 10x oss2 and >= 0.6x raw in req/s.
* ``test_small_cpu_per_request[busy-poll|blocking]``: client CPU time (time.process_time) per
  request over N requests, the candidates interleaved round by round, once against the
  busy-polling sink and once against the blocking one (each request then wakes the sink's
  sleeping thread, and on a VM its halted vCPU), and once over TLS. Target: ossfast <= 50 us.
  Also ossfast-v4+fwd and oss2-v4+fwd: the same request with four forwarded headers.
* ``bytes-256MiB``: a 256 MiB bytes body; ossfast (CRC64 computed, checked) vs raw ``sendall`` of
  a memoryview of the same bytes vs oss2. Target: >= 0.9x raw.
* ``file-256MiB``: a 256 MiB file (page cache); ossfast vs oss2 with the same file object vs
  raw ``os.sendfile`` (reference). Target: >= 1.5x oss2.
* ``test_bulk_interleaved``: the 256 MiB cases interleaved round by round (median of
  per-round ratios), beside the sequential groups above.
* ``test_rss_1GiB_file_body``: benches/rss_file_body.py in a fresh interpreter. Target: peak RSS
  growth <= 16 MiB.
"""
from __future__ import annotations

import json
import os
import random
import socket
import ssl
import statistics
import subprocess
import sys
import time
from typing import Optional

import oss2
import pytest
import requests
from sink import clean_env, keep_off_spin_cpu

import ossfast

HERE = os.path.dirname(os.path.abspath(__file__))
# Quick mode (``OSSFAST_BENCH_QUICK=1``, run by ``make test``): each case once, 8 MiB bodies, one round.
QUICK = os.environ.get("OSSFAST_BENCH_QUICK", "") not in ("", "0")
BIG = (8 << 20) if QUICK else 256 * 1024 * 1024  # the size of conftest's big_file / big_bytes
ROUTE = "fc-ap-01-1234567890-opap.oss-cn-qingdao-internal.oss-object-process.aliyuncs.com"
REGION = "cn-qingdao"  # what V4 reads from the route; oss2.AuthV4 is told explicitly
TOKEN = "OSSV1#ZvBDC3XPm3gAbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
AK, SK = "LTAI5tBenchAccessKeyId", "BenchAccessKeySecretBenchSecret0"
SMALL = os.urandom(1024)
# What a transforming function typically forwards with an object: four x-oss-fwd-header-*.
FWD = {"content_type": "image/jpeg", "etag": '"5B3C1A2E053D763E1B002CC607C5A0FE"',
       "cache_control": "max-age=3600", "last_modified": "Tue, 31 Oct 2023 03:17:58 GMT"}
FWD_OSS2 = {"x-oss-fwd-header-Content-Type": FWD["content_type"], "x-oss-fwd-header-ETag": FWD["etag"],
            "x-oss-fwd-header-Cache-Control": FWD["cache_control"],
            "x-oss-fwd-header-Last-Modified": FWD["last_modified"]}
BIG_ROUNDS = 8


# ----------------------------------------------------------------------------- clients

class RawConn:
    """One keep-alive socket (blocking, TCP_NODELAY; TLS verified against ``ca_file`` when
    the sink serves HTTPS) and the reply reader of the baselines."""

    def __init__(self, sink, ca_file: Optional[str] = None) -> None:
        self.sock = socket.create_connection((sink.host, sink.port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if sink.url.startswith("https://"):
            ctx = ssl.create_default_context(cafile=ca_file)
            self.sock = ctx.wrap_socket(self.sock, server_hostname=sink.host)

    def read_reply(self) -> bytes:
        # The sink's replies end at the blank line (Content-Length: 0).
        recv = self.sock.recv
        data = recv(65536)
        while not data.endswith(b"\r\n\r\n"):
            more = recv(65536)
            if not more:
                raise ConnectionError("the sink closed the connection")
            data += more
        return data

    def close(self) -> None:
        self.sock.close()


class _VerifyingAdapter(requests.adapters.HTTPAdapter):
    """oss2's HTTP adapter (its default pool size) verifying against ``ca_file``: requests
    lets REQUESTS_CA_BUNDLE in the environment override a session's ``verify``."""

    def __init__(self, ca_file: str) -> None:
        size = oss2.defaults.connection_pool_size
        super().__init__(pool_connections=size, pool_maxsize=size)
        self.ca_file = ca_file

    def send(self, request, **kwargs):  # type: ignore[override]
        kwargs["verify"] = self.ca_file
        return super().send(request, **kwargs)


class Candidates:
    """ossfast V4/V1, oss2 V1/V4 and a raw socket, all talking to one sink, each warmed up.
    On an HTTPS sink every candidate verifies its certificate against ``ca_file``."""

    def __init__(self, sink, ca_file: Optional[str] = None) -> None:
        creds = ossfast.Credentials(AK, SK)
        verify = ca_file or True
        self.fast_v4 = ossfast.Client(creds, endpoint=sink.url, verify=verify)
        self.fast_v1 = ossfast.Client(creds, signature_version="v1", endpoint=sink.url, verify=verify)
        sessions = [oss2.Session(adapter=_VerifyingAdapter(ca_file) if ca_file else None) for _ in range(2)]
        self.oss2_v1 = oss2.Service(oss2.Auth(AK, SK), sink.url, session=sessions[0])
        self.oss2_v4 = oss2.Service(oss2.AuthV4(AK, SK), sink.url, session=sessions[1], region=REGION)
        self.raw = RawConn(sink, ca_file)
        for c in (self.fast_v4, self.fast_v1):
            assert c.write_get_object_response(ROUTE, TOKEN, 200, SMALL).status == 200
        for svc in (self.oss2_v1, self.oss2_v4):
            assert svc.write_get_object_response(ROUTE, TOKEN, "200", SMALL).status == 200

    def close(self) -> None:
        self.fast_v4.close()
        self.fast_v1.close()
        self.raw.close()


@pytest.fixture(scope="module")
def bulk(sink):
    """The candidates on the blocking sink (256 MiB bodies: the sink is always reading)."""
    c = Candidates(sink)
    yield c
    c.close()


@pytest.fixture(scope="module")
def small(spin_sink):
    """The candidates on the busy-polling sink (small requests: it answers without a wake-up)."""
    c = Candidates(spin_sink)
    yield c
    c.close()


@pytest.fixture
def off_spin_cpu():
    """The client off the spinning sink's CPU while a small-request test runs (every candidate
    alike; the 256 MiB tests keep both CPUs: the sink drains on one while the client sends)."""
    with keep_off_spin_cpu():
        yield


SINKS = {"busy-poll": "spin_sink", "blocking": "sink", "busy-poll, TLS": "spin_tls_sink"}


def _head(client, length: int) -> bytes:
    """A real signed WGOR head (what ossfast would send) declaring ``length`` body bytes."""
    return client.prepare(ROUTE, TOKEN, 200, iter([b""]), content_length=length).head


def _record(benchmark, results, group, label, nbytes=0):
    if benchmark.stats:
        results.stats[(group, label)] = benchmark.stats.stats
        results.nbytes[group] = nbytes


# ----------------------------------------------------------------------------- small bodies

def test_small_ossfast_v4(benchmark, small, sender_results, off_spin_cpu):
    benchmark.group = "small-1KiB"
    send = small.fast_v4.write_get_object_response
    r = benchmark(lambda: send(ROUTE, TOKEN, 200, SMALL))
    assert r.status == 200 and r.bytes_sent == 1024 and r.reused_connection
    _record(benchmark, sender_results, "small-1KiB", "ossfast-v4")


def test_small_ossfast_v1(benchmark, small, sender_results, off_spin_cpu):
    benchmark.group = "small-1KiB"
    send = small.fast_v1.write_get_object_response
    r = benchmark(lambda: send(ROUTE, TOKEN, 200, SMALL))
    assert r.status == 200 and r.bytes_sent == 1024
    _record(benchmark, sender_results, "small-1KiB", "ossfast-v1")


def test_small_raw_socket(benchmark, small, sender_results, off_spin_cpu):
    benchmark.group = "small-1KiB"
    request = _head(small.fast_v4, len(SMALL)) + SMALL  # prebuilt: same bytes ossfast sends
    sendall, read_reply = small.raw.sock.sendall, small.raw.read_reply

    def one():
        sendall(request)
        return read_reply()

    assert benchmark(one).startswith(b"HTTP/1.1 200 ")
    _record(benchmark, sender_results, "small-1KiB", "raw-socket")


def test_small_oss2_v1(benchmark, small, sender_results, off_spin_cpu):
    benchmark.group = "small-1KiB"
    send = small.oss2_v1.write_get_object_response
    assert benchmark(lambda: send(ROUTE, TOKEN, "200", SMALL)).status == 200
    _record(benchmark, sender_results, "small-1KiB", "oss2-v1")


def test_small_oss2_v4(benchmark, small, sender_results, off_spin_cpu):
    benchmark.group = "small-1KiB"
    send = small.oss2_v4.write_get_object_response
    assert benchmark(lambda: send(ROUTE, TOKEN, "200", SMALL)).status == 200
    _record(benchmark, sender_results, "small-1KiB", "oss2-v4")


@pytest.mark.parametrize("which", list(SINKS))
def test_small_cpu_per_request(which, request, sender_results):
    """Client-process CPU per request; candidates interleaved so drift hits them all alike.
    Against the blocking sink the scheduler places both processes as it likes (as before the
    busy-polling sink existed); against the busy-polling one the client keeps off its CPU."""
    sink = request.getfixturevalue(SINKS[which])
    c = Candidates(sink, request.getfixturevalue("tls_files").ca_file if sink.tls else None)
    try:
        if which.startswith("busy-poll"):
            with keep_off_spin_cpu():
                _interleave(c, which, sender_results)
        else:
            _interleave(c, which, sender_results)
    finally:
        c.close()


def _interleave(c: Candidates, which: str, sender_results) -> None:
    request = _head(c.fast_v4, len(SMALL)) + SMALL
    sendall, read_reply = c.raw.sock.sendall, c.raw.read_reply

    def raw_one():
        sendall(request)
        read_reply()

    v4, v1 = c.fast_v4.write_get_object_response, c.fast_v1.write_get_object_response
    o1, o4 = c.oss2_v1.write_get_object_response, c.oss2_v4.write_get_object_response
    cands = {
        "ossfast-v4": (lambda: v4(ROUTE, TOKEN, 200, SMALL), 1500),
        "ossfast-v1": (lambda: v1(ROUTE, TOKEN, 200, SMALL), 1500),
        "raw-socket": (raw_one, 1500),
        "oss2-v1": (lambda: o1(ROUTE, TOKEN, "200", SMALL), 150),
        "oss2-v4": (lambda: o4(ROUTE, TOKEN, "200", SMALL), 150),
        # the same with four forwarded headers (oss2 takes them as request headers)
        "ossfast-v4+fwd": (lambda: v4(ROUTE, TOKEN, 200, SMALL, **FWD), 1500),
        "oss2-v4+fwd": (lambda: o4(ROUTE, TOKEN, "200", SMALL, headers=FWD_OSS2), 150),
    }
    # Many short rounds, the order shuffled every round (a rotation would keep each candidate
    # right behind the same neighbour: whoever follows oss2 always starts with its caches
    # thrashed) and each batch warmed up first. The VM's speed drifts by 2x within minutes, so
    # candidates are also compared within a round (paired ratios).
    rounds = 1 if QUICK else 21
    labels = list(cands)
    shuffle = random.Random(20261124)
    cpu = {k: [] for k in cands}
    wall = {k: [] for k in cands}
    for r in range(rounds):
        order = shuffle.sample(labels, len(labels))
        for label in order:
            fn, n = cands[label]
            for _ in range(max(20, n // 10)):
                fn()
            c0, t0 = time.process_time(), time.perf_counter()
            for _ in range(n):
                fn()
            t1, c1 = time.perf_counter(), time.process_time()
            cpu[label].append((c1 - c0) / n)
            wall[label].append((t1 - t0) / n)
    sender_results.cpu[which] = {}
    for label, (_, n) in cands.items():
        sender_results.cpu[which][label] = {"cpu_us": statistics.median(cpu[label]) * 1e6,
                                     "rps": 1.0 / statistics.median(wall[label]),
                                     "n": n, "rounds": rounds}
    # req/s ratios, round by round (same minute, same VM state)
    pairs = [("ossfast-v4", base) for base in labels if "ossfast-v4" != base and "+fwd" not in base]
    pairs += [("ossfast-v4+fwd", "oss2-v4+fwd"), ("ossfast-v4+fwd", "ossfast-v4")]
    sender_results.paired[which] = {f"{a} / {b}": statistics.median(wall[b][i] / wall[a][i] for i in range(rounds))
                                    for a, b in pairs}


# ----------------------------------------------------------------------------- 256 MiB bytes

def test_bytes_ossfast(benchmark, bulk, big_bytes, sender_results):
    benchmark.group = "bytes-256MiB"
    data, crc = big_bytes
    send = bulk.fast_v4.write_get_object_response
    r = benchmark.pedantic(lambda: send(ROUTE, TOKEN, 200, data), rounds=BIG_ROUNDS, warmup_rounds=1)
    assert r.bytes_sent == BIG and r.crc64 == crc
    _record(benchmark, sender_results, "bytes-256MiB", "ossfast", BIG)


def test_bytes_raw_sendall(benchmark, bulk, big_bytes, sender_results):
    benchmark.group = "bytes-256MiB"
    data, _ = big_bytes
    view = memoryview(data)
    head = _head(bulk.fast_v4, BIG)
    sendall, read_reply = bulk.raw.sock.sendall, bulk.raw.read_reply

    def one():
        sendall(head)
        sendall(view)
        return read_reply()

    assert benchmark.pedantic(one, rounds=BIG_ROUNDS, warmup_rounds=1).startswith(b"HTTP/1.1 200 ")
    _record(benchmark, sender_results, "bytes-256MiB", "raw-sendall", BIG)


def test_bytes_oss2(benchmark, bulk, big_bytes, sender_results):
    benchmark.group = "bytes-256MiB"
    data, _ = big_bytes
    send = bulk.oss2_v1.write_get_object_response
    r = benchmark.pedantic(lambda: send(ROUTE, TOKEN, "200", data), rounds=BIG_ROUNDS, warmup_rounds=1)
    assert r.status == 200
    _record(benchmark, sender_results, "bytes-256MiB", "oss2", BIG)


# ----------------------------------------------------------------------------- 256 MiB file

def _send_file_raw(bulk, path: str, head: bytes) -> bytes:
    with open(path, "rb") as f:
        bulk.raw.sock.sendall(head)
        fd, sfd, off = f.fileno(), bulk.raw.sock.fileno(), 0
        while off < BIG:
            n = os.sendfile(sfd, fd, off, BIG - off)
            if n <= 0:
                raise OSError("sendfile made no progress")
            off += n
    return bulk.raw.read_reply()


def test_file_ossfast(benchmark, bulk, big_file, sender_results):
    benchmark.group = "file-256MiB"
    path, crc = big_file
    send = bulk.fast_v4.write_get_object_response

    def one():
        with open(path, "rb") as f:
            return send(ROUTE, TOKEN, 200, f)

    r = benchmark.pedantic(one, rounds=BIG_ROUNDS, warmup_rounds=1)
    assert r.bytes_sent == BIG and r.crc64 == crc
    _record(benchmark, sender_results, "file-256MiB", "ossfast", BIG)


def test_file_oss2(benchmark, bulk, big_file, sender_results):
    benchmark.group = "file-256MiB"
    path, _ = big_file
    send = bulk.oss2_v1.write_get_object_response

    def one():
        with open(path, "rb") as f:
            return send(ROUTE, TOKEN, "200", f)

    assert benchmark.pedantic(one, rounds=BIG_ROUNDS, warmup_rounds=1).status == 200
    _record(benchmark, sender_results, "file-256MiB", "oss2", BIG)


def test_file_raw_sendfile(benchmark, bulk, big_file, sender_results):
    benchmark.group = "file-256MiB"
    path, _ = big_file
    head = _head(bulk.fast_v4, BIG)

    def one():
        return _send_file_raw(bulk, path, head)

    assert benchmark.pedantic(one, rounds=BIG_ROUNDS, warmup_rounds=1).startswith(b"HTTP/1.1 200 ")
    _record(benchmark, sender_results, "file-256MiB", "raw-sendfile", BIG)


# ----------------------------------------------------------------------------- interleaved bulk

def test_bulk_interleaved(bulk, big_bytes, big_file, sender_results):
    """The 256 MiB cases with the candidates interleaved: 15 rounds, the order shuffled every
    round, one send each; GB/s medians and the median of per-round ratios (the sequential
    groups above run 8 rounds per candidate, minutes apart, and the VM drifts)."""
    data, crc = big_bytes
    path, fcrc = big_file
    view = memoryview(data)
    head = _head(bulk.fast_v4, BIG)
    send, o1 = bulk.fast_v4.write_get_object_response, bulk.oss2_v1.write_get_object_response
    sendall, read_reply = bulk.raw.sock.sendall, bulk.raw.read_reply

    def fast_bytes():
        r = send(ROUTE, TOKEN, 200, data)
        assert r.crc64 == crc and r.bytes_sent == BIG

    def raw_bytes():
        sendall(head)
        sendall(view)
        read_reply()

    def fast_file():
        with open(path, "rb") as f:
            r = send(ROUTE, TOKEN, 200, f)
        assert r.crc64 == fcrc and r.bytes_sent == BIG

    def oss2_file():
        with open(path, "rb") as f:
            assert o1(ROUTE, TOKEN, "200", f).status == 200

    cands = {"bytes: ossfast": fast_bytes, "bytes: raw-sendall": raw_bytes,
             "file: ossfast": fast_file, "file: oss2": oss2_file,
             "file: raw-sendfile": lambda: _send_file_raw(bulk, path, head)}
    for fn in cands.values():
        fn()  # warm-up
    rounds = 1 if QUICK else 15
    shuffle = random.Random(20261124)
    secs = {k: [] for k in cands}
    for _ in range(rounds):
        for label in shuffle.sample(list(cands), len(cands)):
            t0 = time.perf_counter()
            cands[label]()
            secs[label].append(time.perf_counter() - t0)
    gbps = {k: BIG / statistics.median(v) / 1e9 for k, v in secs.items()}
    paired = {f"{a} / {b}": statistics.median(secs[b][i] / secs[a][i] for i in range(rounds))
              for a, b in (("bytes: ossfast", "bytes: raw-sendall"), ("file: ossfast", "file: oss2"),
                           ("file: ossfast", "file: raw-sendfile"))}
    sender_results.bulk = {"gbps": gbps, "paired": paired, "rounds": rounds}


# ----------------------------------------------------------------------------- memory

def test_rss_1GiB_file_body(sender_results, tmp_path):
    """Peak-RSS growth while sending a 1 GiB file, in a fresh interpreter (no dev mode)."""
    proc = subprocess.run([sys.executable, os.path.join(HERE, "rss_file_body.py"), "--dir", str(tmp_path)]
                          + (["--size-mib", "8"] if QUICK else []),
                          capture_output=True, text=True, timeout=600, env=clean_env())
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RSS-JSON ")]
    assert lines, f"rss_file_body.py printed no report (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    report = json.loads(lines[-1][len("RSS-JSON "):])
    sender_results.rss = report
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert report["ok"] and report["growth_mib"] <= 16
