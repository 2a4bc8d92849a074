"""The benchmark sink (benches/sink.py) is an instrument: these check that it answers every
request, counts what it received, and that its busy-polling mode stops spinning when idle."""
from __future__ import annotations

import os
import socket
import sys
import time

import pytest

import ossfast

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benches"))

import sink as bench_sink

ROUTE = "fc-ap-01-1234567890-opap.oss-cn-qingdao-internal.oss-object-process.aliyuncs.com"


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.parametrize("spin_ms", [0.0, 2.0])
def test_sink_answers_and_counts(spin_ms):
    bodies = [os.urandom(n) for n in (0, 1, 1024, 70_000, 300_000)]
    with bench_sink.Sink(lifetime=120, spin_ms=spin_ms) as s, \
            ossfast.Client(ossfast.Credentials("ak", "sk"), endpoint=s.url) as c:
        for body in bodies * 3:
            r = c.write_get_object_response(ROUTE, "tok", 200, body)
            assert r.status == 200 and r.bytes_sent == len(body)
            assert len(r.request_id) == 24
        stats = s.stats()
        assert stats["requests"] == len(bodies) * 3
        assert stats["body_bytes"] > sum(map(len, bodies)) * 3  # bodies plus heads
        assert stats["connections"] == 2  # the client's one keep-alive connection, and stats()'s


@pytest.mark.parametrize("spin_ms", [0.0, 2.0])
def test_tls_sink_answers_and_counts(spin_ms, tls_material):
    bodies = [os.urandom(n) for n in (0, 1024, 20_000, 300_000)]
    with bench_sink.Sink(lifetime=120, spin_ms=spin_ms, tls=tls_material.cert_files()) as s, \
            ossfast.Client(ossfast.Credentials("ak", "sk"), endpoint=s.url, verify=tls_material.ca_file) as c:
        assert s.url.startswith("https://127.0.0.1:")
        for body in bodies * 2:
            r = c.write_get_object_response(ROUTE, "tok", 200, body)
            assert r.status == 200 and r.bytes_sent == len(body)
        stats = s.stats()
        assert stats["requests"] == len(bodies) * 2 and stats["connections"] == 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_spinning_sink_goes_back_to_sleep():
    """After ``spin_ms`` of silence a connection's thread blocks again: an idle sink burns
    (almost) no CPU, while a busy one spins between requests."""
    with bench_sink.Sink(lifetime=120, spin_ms=5.0) as s, socket.create_connection((s.host, s.port)) as sock:
        request = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
        sock.sendall(request)
        assert sock.recv(4096).startswith(b"HTTP/1.1 200 OK\r\n")
        time.sleep(0.2)  # well past the spin window
        before = _cpu_seconds(s.proc.pid)
        time.sleep(1.0)
        idle = _cpu_seconds(s.proc.pid) - before
        assert idle < 0.2, f"the idle sink used {idle:.2f}s of CPU in 1s"
        # Requests 4 ms apart keep it spinning: its CPU time then grows with wall time.
        before = _cpu_seconds(s.proc.pid)
        t_end = time.monotonic() + 1.0
        while time.monotonic() < t_end:
            sock.sendall(request)
            assert sock.recv(4096).startswith(b"HTTP/1.1 200 OK\r\n")
            time.sleep(0.004)
        busy = _cpu_seconds(s.proc.pid) - before
        assert busy > 0.3, f"the sink spun only {busy:.2f}s of CPU in 1s of requests 4 ms apart"


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="no CPU affinity here")
def test_keep_off_spin_cpu_restores_affinity():
    before = os.sched_getaffinity(0)
    with bench_sink.keep_off_spin_cpu():
        inside = os.sched_getaffinity(0)
        if bench_sink.SPIN_CPU is not None:
            assert bench_sink.SPIN_CPU not in inside and inside
        else:
            assert inside == before
    assert os.sched_getaffinity(0) == before
