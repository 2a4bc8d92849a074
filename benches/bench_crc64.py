"""CRC-64/XZ beside fastcrc (crc64.xz) and oss2's per-body Crc64, and crc64_combine per call.

Run:  .venv/bin/python -m pytest benches/bench_crc64.py --benchmark-columns=min,median,ops
At the end a table gives ossfast's speed relative to the baseline of each group,
computed from this run's measurements (ratio > 1: ossfast is faster), beside the target.
Targets (ossfast / fastcrc): 64 MiB >= 1.0x, 1 MiB >= 1.3x, 64 KiB >= 1.2x, 4 KiB >= 0.5x;
>= 1000x oss2 per 4 KiB body; crc64_combine under 2 us per call for any len2.
"""
from __future__ import annotations

import os

import oss2.utils
import pytest
from fastcrc import crc64 as fastcrc64

from ossfast._backend import impl

SIZES = {"64MiB": 64 << 20, "1MiB": 1 << 20, "64KiB": 64 << 10, "4KiB": 4 << 10}
DATA = {name: os.urandom(n) for name, n in SIZES.items()}
TARGETS = {"crc64-64MiB": 1.0, "crc64-1MiB": 1.3, "crc64-64KiB": 1.2, "crc64-4KiB": 0.5,
           "per-body-4KiB": 1000.0}
COMBINE_LIMIT = 2e-6  # seconds per call

# (group, role) -> pytest-benchmark stats; role is "ossfast" or "baseline".
_results: "dict[tuple[str, str], object]" = {}
# group -> (ossfast label, baseline label, bytes per call or 0)
_GROUPS = {f"crc64-{name}": ("ossfast.crc64", "fastcrc crc64.xz", n) for name, n in SIZES.items()}
_GROUPS["per-body-4KiB"] = ("ossfast.crc64", "oss2 Crc64()+update", SIZES["4KiB"])
_GROUPS["combine"] = ("ossfast.crc64_combine", "oss2 Crc64.combine", 0)


def _run(benchmark, group, role, func, big=False):
    benchmark.group = group
    if big:
        result = benchmark.pedantic(func, rounds=15, iterations=1, warmup_rounds=2)
    else:
        result = benchmark(func)
    if benchmark.stats:
        _results[(group, role)] = benchmark.stats.stats
    return result


def _fmt(stats, nbytes):
    if nbytes:
        return f"{nbytes / stats.median / 1e9:7.2f} GB/s"
    if stats.median < 1e-4:
        return f"{stats.median * 1e9:7.0f} ns"
    return f"{stats.median * 1e3:7.2f} ms"


@pytest.fixture(scope="module", autouse=True)
def ratio_table(request):
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or not _results:
        return
    if capture is None:
        _write_table(reporter.write_line)
    else:  # teardown output is captured otherwise, and shown only for failures
        with capture.global_and_fixture_disabled():
            _write_table(reporter.write_line)


def _write_table(w):
    w("")
    w(f"CRC-64/XZ, ossfast vs baseline (backend: {impl.NAME}); ratio = baseline time / ossfast time")
    w(f"{'group':14} {'ossfast':22} {'median':>12} {'baseline':20} {'median':>12} "
      f"{'ratio(median)':>13} {'ratio(min)':>10} {'target':>8}")
    for group, (ours, base, nbytes) in _GROUPS.items():
        a, b = _results.get((group, "ossfast")), _results.get((group, "baseline"))
        if a is None or b is None:
            continue
        target = TARGETS.get(group)
        if target is not None:
            verdict = f">={target:g}x " + ("ok" if b.median / a.median >= target else "MISSED")
        else:
            verdict = f"<{COMBINE_LIMIT * 1e6:g}us " + ("ok" if a.median < COMBINE_LIMIT else "MISSED")
        w(f"{group:14} {ours:22} {_fmt(a, nbytes):>12} {base:20} {_fmt(b, nbytes):>12} "
          f"{b.median / a.median:12.2f}x {b.min / a.min:9.2f}x  {verdict}")


@pytest.mark.parametrize("name", list(SIZES))
def test_crc64_ossfast(benchmark, name):
    data, crc64 = DATA[name], impl.crc64
    result = _run(benchmark, f"crc64-{name}", "ossfast", lambda: crc64(data), SIZES[name] >= 1 << 20)
    assert result == fastcrc64.xz(data)


@pytest.mark.parametrize("name", list(SIZES))
def test_crc64_fastcrc(benchmark, name):
    data, xz = DATA[name], fastcrc64.xz
    _run(benchmark, f"crc64-{name}", "baseline", lambda: xz(data), SIZES[name] >= 1 << 20)


def test_per_body_ossfast(benchmark):
    data, crc64 = DATA["4KiB"], impl.crc64
    _run(benchmark, "per-body-4KiB", "ossfast", lambda: crc64(data))


def test_per_body_oss2(benchmark):
    data = DATA["4KiB"]

    def body():
        c = oss2.utils.Crc64()
        c.update(data)
        return c.crc

    assert _run(benchmark, "per-body-4KiB", "baseline", body) == impl.crc64(data)


def test_combine_ossfast(benchmark):
    combine = impl.crc64_combine
    # len2 with all 64 bits set: every hex digit needs a multiplication (the worst case).
    result = _run(benchmark, "combine", "ossfast", lambda: combine(0x0123456789ABCDEF, 0xFEDCBA9876543210, 2**64 - 1))
    assert result == oss2.utils.Crc64().combine(0x0123456789ABCDEF, 0xFEDCBA9876543210, 2**64 - 1)


def test_combine_ossfast_typical(benchmark):
    combine = impl.crc64_combine
    benchmark.group = "combine-typical"
    benchmark(lambda: combine(0x0123456789ABCDEF, 0xFEDCBA9876543210, 5 << 20))


def test_combine_oss2(benchmark):
    combine = oss2.utils.Crc64().combine
    _run(benchmark, "combine", "baseline", lambda: combine(0x0123456789ABCDEF, 0xFEDCBA9876543210, 2**64 - 1))
