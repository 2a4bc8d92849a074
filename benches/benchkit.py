"""What the report-writing benches share: quick mode, the results directory, placement, progress.

* ``QUICK`` (``OSSFAST_BENCH_QUICK=1``): every bench once with a tiny body and one round, so that
  ``make test`` catches a broken bench in seconds; its numbers mean nothing.
* ``OUT`` (``OSSFAST_BENCH_OUT``, default ``build/bench``): each bench writes ``<name>.json`` there;
  ``benches/report.py`` turns the directory into BENCHMARKS.md and the charts.
* Placement: ``pin_process(cpus)`` pins every thread of this process (``os.sched_setaffinity(0)``
  pins only the calling thread on Linux; worker threads started earlier would stay where they were).
"""
from __future__ import annotations

import json
import os
import statistics
import sys
from typing import Any, Dict, Iterable, List, Optional, Set

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
QUICK = os.environ.get("OSSFAST_BENCH_QUICK", "") not in ("", "0")
OUT = os.environ.get("OSSFAST_BENCH_OUT") or os.path.join(ROOT, "build", "bench-quick" if QUICK else "bench")

ROUTE = "fc-ap-01-1234567890-opap.oss-cn-qingdao-internal.oss-object-process.aliyuncs.com"
REGION = "cn-qingdao"
TOKEN = "OSSV1#ZvBDC3XPm3gAbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
AK, SK = "LTAI5tBenchAccessKeyId", "BenchAccessKeySecretBenchSecret0"


def write_json(name: str, data: Dict[str, Any]) -> str:
    """Write ``OUT/<name>.json`` atomically (a partial run leaves the last complete state)."""
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, name + ".json")
    with open(path + ".tmp", "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    os.replace(path + ".tmp", path)
    return path


def cpus() -> List[int]:
    return sorted(os.sched_getaffinity(0))


def pin_process(cpu_set: Optional[Set[int]]) -> None:
    """Every thread of this process onto ``cpu_set`` (None: all CPUs of the machine)."""
    target = set(cpu_set) if cpu_set else set(range(os.cpu_count() or 1))
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(tid), target)
        except OSError:
            pass


def placement(sink: Any, where: str) -> Dict[str, Any]:
    """``together``: client and sink on the first CPU; ``apart``: client on the first, sink on
    the second. Returns what was done, for the report."""
    mine = cpus()
    first = mine[0]
    second = next((c for c in range(os.cpu_count() or 1) if c != first), first)
    sink_cpu = first if where == "together" else second
    pin_process({first})
    sink.pin({sink_cpu})
    return {"placement": where, "client_cpu": first, "sink_cpu": sink_cpu}


def unpin(sink: Any) -> None:
    pin_process(None)
    sink.pin(None)


def spread(values: Iterable[float]) -> Dict[str, float]:
    v = sorted(values)
    return {"median": statistics.median(v), "min": v[0], "max": v[-1], "n": len(v)}


def progress(request: Any, message: str) -> None:
    """A line on the terminal now, past pytest's capture (what ``make bench`` shows as it goes)."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        print(message, file=sys.stderr, flush=True)
        return
    if capture is None:
        reporter.write_line(message)
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(message)
        reporter.flush() if hasattr(reporter, "flush") else None


def fmt_size(n: int) -> str:
    for unit, k in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= k and n % k == 0:
            return f"{n // k} {unit}"
    return f"{n} B"
