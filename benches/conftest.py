"""Bench-only fixtures: the loopback sink, the 256 MiB payloads, and the sender's ratio table.

benches/ is outside the test gate (``make bench`` runs ``pytest benches``). The ratio table is
printed at the end of the session from the stats measured in this run (see ``SenderResults``);
nothing in it is hard-coded except the targets.
"""
from __future__ import annotations

import os
import sys
from typing import Any, Dict, Optional, Tuple

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from sink import Sink  # noqa: E402

QUICK = os.environ.get("OSSFAST_BENCH_QUICK", "") not in ("", "0")  # make test: tiny bodies, one round
BIG = (8 << 20) if QUICK else 256 * 1024 * 1024  # bytes of the big_file / big_bytes payloads


class SenderResults:
    """What bench_sender.py measured, keyed (group, label); read by the terminal summary."""

    def __init__(self) -> None:
        self.stats: Dict[Tuple[str, str], Any] = {}        # pytest-benchmark Stats
        self.cpu: Dict[str, Dict[str, Dict[str, float]]] = {}  # sink -> label -> {"cpu_us", "rps", ...}
        self.rss: Optional[Dict[str, Any]] = None           # rss_file_body.py's report
        self.bulk: Optional[Dict[str, Any]] = None          # test_bulk_interleaved's GB/s and ratios
        self.nbytes: Dict[str, int] = {}                    # group -> body bytes per call
        self.paired: Dict[str, Dict[str, float]] = {}       # sink -> "a / b" -> median per-round req/s ratio


_KEY = pytest.StashKey[SenderResults]()


def _results(config: pytest.Config) -> SenderResults:
    res = config.stash.get(_KEY, None)
    if res is None:
        res = SenderResults()
        config.stash[_KEY] = res
    return res


@pytest.fixture(scope="session")
def sender_results(pytestconfig: pytest.Config) -> SenderResults:
    return _results(pytestconfig)


# How long the busy-polling sink spins after each read: far longer than the gap between two
# sequential requests of any candidate (oss2's is under 1 ms), short enough that an idle
# connection's thread is back asleep before the next batch of the interleaved test.
SPIN_MS = 2.0


@pytest.fixture(scope="session")
def sink():
    """The loopback sink in its own process (so its CPU is not the client's); blocks in recv."""
    with Sink() as s:
        yield s


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    """A trustme CA (``.ca_file``) and a certificate for 127.0.0.1 (``.cert_files()``), as the
    tests make them (tests/srv_tls.py TLSMaterial)."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
    from srv_tls import TLSMaterial

    return TLSMaterial(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def spin_tls_sink(tls_files):
    """The busy-polling sink serving HTTPS (TLS 1.3, the certificate of ``tls_files``)."""
    with Sink(spin_ms=SPIN_MS, tls=tls_files.cert_files()) as s:
        yield s


@pytest.fixture(scope="session")
def spin_sink():
    """The same sink, busy-polling each connection for SPIN_MS after every read (see sink.py)."""
    with Sink(spin_ms=SPIN_MS) as s:
        yield s


@pytest.fixture(scope="session")
def big_file(tmp_path_factory) -> Tuple[str, int]:
    """A real 256 MiB file of random bytes (in the page cache once written) and its CRC64."""
    from ossfast._backend import impl

    path = str(tmp_path_factory.mktemp("sender") / "body-256MiB.bin")
    crc = 0
    with open(path, "wb") as f:
        for _ in range(BIG // (8 << 20)):
            chunk = os.urandom(8 << 20)
            crc = impl.crc64(chunk, crc)
            f.write(chunk)
    yield path, crc
    try:
        os.unlink(path)
    except OSError:
        pass


@pytest.fixture(scope="session")
def big_bytes(big_file) -> Tuple[bytes, int]:
    """The same 256 MiB as one bytes object (real pages, not calloc's zero page) and its CRC64."""
    path, crc = big_file
    with open(path, "rb") as f:
        data = f.read()
    assert len(data) == BIG
    return data, crc


# ----------------------------------------------------------------------------- the table

# group -> (title, ossfast label, [(baseline label, target ratio or None)], unit)
TABLE = [
    ("small-1KiB", "1 KiB body, sequential, keep-alive, busy-polling sink", "ossfast-v4",
     [("raw-socket", 0.6), ("oss2-v1", 10.0), ("oss2-v4", 10.0)], "req/s"),
    ("small-1KiB", "", "ossfast-v1", [("oss2-v1", 10.0)], "req/s"),
    ("bytes-256MiB", "256 MiB bytes body (ossfast computes CRC64)", "ossfast",
     [("raw-sendall", 0.9), ("oss2", None)], "GB/s"),
    ("file-256MiB", "256 MiB file body", "ossfast",
     [("oss2", 1.5), ("raw-sendfile", None)], "GB/s"),
]
CPU_LIMIT_US = 50.0
RSS_LIMIT_MIB = 16.0


def _rate(stats: Any, unit: str, nbytes: int, which: str = "median") -> float:
    t = getattr(stats, which)
    return nbytes / t / 1e9 if unit == "GB/s" else 1.0 / t


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    res = config.stash.get(_KEY, None)
    if res is None or not (res.stats or res.cpu or res.rss or res.bulk):
        return
    w = terminalreporter.write_line
    from ossfast._backend import impl

    w("")
    w("=" * 100)
    w(f"ossfast sender vs baselines, measured in this run (backend: {impl.NAME}, "
      f"{os.cpu_count()} CPUs); ratio = ossfast rate / baseline rate")
    if sys.flags.dev_mode:
        w("WARNING: Python dev mode is on (PYTHONDEVMODE, exported by the Makefile): the client side "
          "runs with debug hooks and is slower than in production")
    w(f"{'case':46} {'ossfast':>11} {'baseline':14} {'rate':>11} {'ratio(med)':>10} "
      f"{'ratio(min)':>10}  target")
    for group, title, ours, bases, unit in TABLE:
        a = res.stats.get((group, ours))
        if a is None:
            continue
        nbytes = res.nbytes.get(group, 0)
        if title:
            w(f"-- {title}")
        for base, target in bases:
            b = res.stats.get((group, base))
            if b is None:
                continue
            ratio = _rate(a, unit, nbytes) / _rate(b, unit, nbytes)
            ratio_min = _rate(a, unit, nbytes, "min") / _rate(b, unit, nbytes, "min")
            verdict = "" if target is None else (f">= {target:g}x " + ("ok" if ratio >= target else "MISSED"))
            w(f"   {ours:43} {_fmt_rate(a, unit, nbytes):>11} {base:14} {_fmt_rate(b, unit, nbytes):>11} "
              f"{ratio:9.2f}x {ratio_min:9.2f}x  {verdict}")
    for which, cpu in res.cpu.items():
        targeted = "TLS" not in which  # the targets are for plain HTTP
        w(f"-- 1 KiB body, {which} sink: client-process CPU per request (time.process_time over N "
          "requests, median of interleaved rounds)" + ("" if targeted else "; no target (TLS)"))
        for label, d in cpu.items():
            verdict = ""
            if label.startswith("ossfast") and targeted and "+fwd" not in label:  # the case
                verdict = f"<= {CPU_LIMIT_US:g} us " + ("ok" if d["cpu_us"] <= CPU_LIMIT_US else "MISSED")
            w(f"   {label:14} {d['cpu_us']:8.1f} us CPU/request  {d['rps']:9,.0f} req/s  "
              f"(N={int(d['n'])} x {int(d['rounds'])})  {verdict}")
        o, r = cpu.get("ossfast-v4"), cpu.get("raw-socket")
        if o and r:
            w(f"   interleaved req/s, ratio of medians: ossfast-v4 / raw-socket = {o['rps'] / r['rps']:.2f}x"
              + (" (target >= 0.6x)" if targeted else "")
              + "".join(f", ossfast-v4 / {k} = {o['rps'] / v['rps']:.1f}x" + (" (target >= 10x)" if targeted else "")
                        for k, v in cpu.items() if k.startswith("oss2") and "+fwd" not in k))
        of, f2 = cpu.get("ossfast-v4+fwd"), cpu.get("oss2-v4+fwd")
        if of and f2:
            w(f"   with four forwarded headers, ratio of medians: ossfast-v4+fwd / oss2-v4+fwd = "
              f"{of['rps'] / f2['rps']:.1f}x")
        if res.paired.get(which):
            w("   interleaved req/s, median of per-round ratios: " + ", ".join(
                f"{k} = {v:.2f}x" for k, v in res.paired[which].items()))
    if res.bulk:
        b = res.bulk
        w(f"-- 256 MiB bodies, interleaved ({b['rounds']} rounds, shuffled): "
          + ", ".join(f"{k} {v:.2f} GB/s" for k, v in b["gbps"].items()))
        targets = {"bytes: ossfast / bytes: raw-sendall": 0.9, "file: ossfast / file: oss2": 1.5}
        for k, v in b["paired"].items():
            t = targets.get(k)
            w(f"   median of per-round ratios: {k} = {v:.2f}x"
              + ("" if t is None else f"  >= {t:g}x " + ("ok" if v >= t else "MISSED")))
    if res.rss:
        r = res.rss
        verdict = "ok" if r["growth_mib"] <= RSS_LIMIT_MIB else "MISSED"
        w(f"-- 1 GiB file body, fresh process: peak RSS {r['before_mib']:.1f} -> {r['after_mib']:.1f} MiB, "
          f"growth {r['growth_mib']:.2f} MiB ({r['how']}); {r['gbps']:.2f} GB/s  "
          f"<= {RSS_LIMIT_MIB:g} MiB {verdict}")
    w("=" * 100)


def _fmt_rate(stats: Any, unit: str, nbytes: int) -> str:
    r = _rate(stats, unit, nbytes)
    return f"{r:,.0f}/s" if unit == "req/s" else f"{r:.2f} GB/s"


def print_past_capture(request: Any, write_table: Any) -> None:
    """Call ``write_table(write_line)`` so its lines reach the terminal even from a fixture's
    teardown, where pytest would otherwise capture them (shown only on failure)."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    if capture is None:
        write_table(reporter.write_line)
    else:
        with capture.global_and_fixture_disabled():
            write_table(reporter.write_line)
