"""MD5, the one-pass CRC64+MD5 digest, SHA-256 and HMAC-SHA256, each beside its baseline.

Run:  .venv/bin/python -m pytest benches/bench_md5.py --benchmark-columns=min,median,ops
At the end a table gives ossfast's speed relative to the baseline of its group,
computed from this run's measurements (ratio > 1: ossfast is faster).
Targets: MD5 >= 0.9x hashlib at 64 MiB and 4 KiB; CRC64+MD5 in one pass >= 0.9x MD5 alone.
"""
from __future__ import annotations

import hashlib
import hmac
import os

import pytest
from conftest import print_past_capture

from ossfast._backend import impl

MIB64 = os.urandom(64 << 20)
KIB4 = os.urandom(4096)
STR300 = (b"OSS4-HMAC-SHA256\n20231031T031758Z\n20231031/cn-qingdao/oss/aliyun_v4_request\n"
          + os.urandom(100).hex().encode())[:300]
KEY32 = os.urandom(32)

# (group, role) -> pytest-benchmark stats; role is "ossfast" or "baseline".
_results: "dict[tuple[str, str], object]" = {}
# group -> (ossfast label, baseline label, bytes per call)
_GROUPS = {
    "md5-64MiB": ("ossfast.md5", "hashlib.md5", len(MIB64)),
    "md5-4KiB": ("ossfast.md5", "hashlib.md5", len(KIB4)),
    "digest-64MiB": ("digest(crc64+md5)", "ossfast md5 alone", len(MIB64)),
    "sha256-300B": ("ossfast sha256", "hashlib.sha256", len(STR300)),
    "hmac-sha256-300B": ("ossfast hmac_sha256", "hmac.digest", len(STR300)),
}


def _run(benchmark, group, role, func, big):
    benchmark.group = group
    if big:
        result = benchmark.pedantic(func, rounds=15, iterations=1, warmup_rounds=1)
    else:
        result = benchmark(func)
    if benchmark.stats:
        _results[(group, role)] = benchmark.stats.stats
    return result


@pytest.fixture(scope="module", autouse=True)
def ratio_table(request):
    yield
    if _results:
        print_past_capture(request, _print_table)


def _print_table(w):
    w("")
    w(f"ossfast vs baseline (backend: {impl.NAME}); ratio = baseline time / ossfast time")
    w(f"{'group':18} {'ossfast':22} {'median':>11} {'baseline':20} {'median':>11} "
      f"{'ratio(median)':>13} {'ratio(min)':>10}")
    for group, (ours, base, nbytes) in _GROUPS.items():
        a, b = _results.get((group, "ossfast")), _results.get((group, "baseline"))
        if a is None or b is None:
            continue

        def fmt(s):
            if nbytes >= 1 << 20:
                return f"{nbytes / s.median / 1e9:7.3f} GB/s"
            return f"{s.median * 1e9:8.0f} ns"

        w(f"{group:18} {ours:22} {fmt(a):>11} {base:20} {fmt(b):>11} "
          f"{b.median / a.median:12.3f}x {b.min / a.min:9.3f}x")


def test_md5_64mib_ossfast(benchmark):
    assert _run(benchmark, "md5-64MiB", "ossfast", lambda: impl.md5(MIB64), True) == hashlib.md5(MIB64).digest()


def test_md5_64mib_hashlib(benchmark):
    _run(benchmark, "md5-64MiB", "baseline", lambda: hashlib.md5(MIB64).digest(), True)


def test_md5_4kib_ossfast(benchmark):
    md5 = impl.md5
    assert _run(benchmark, "md5-4KiB", "ossfast", lambda: md5(KIB4), False) == hashlib.md5(KIB4).digest()


def test_md5_4kib_hashlib(benchmark):
    md5 = hashlib.md5
    _run(benchmark, "md5-4KiB", "baseline", lambda: md5(KIB4).digest(), False)


def test_digest_64mib_crc_and_md5(benchmark):
    def one_pass():
        h = impl.Md5()
        crc = impl.digest([MIB64], 0, h)
        return crc, h.digest()

    crc, md5 = _run(benchmark, "digest-64MiB", "ossfast", one_pass, True)
    assert crc == impl.crc64(MIB64) and md5 == hashlib.md5(MIB64).digest()


def test_digest_64mib_md5_alone(benchmark):
    _run(benchmark, "digest-64MiB", "baseline", lambda: impl.md5(MIB64), True)


def test_sha256_300b_ossfast(benchmark):
    sha256 = impl.sha256
    assert _run(benchmark, "sha256-300B", "ossfast", lambda: sha256(STR300), False) == \
        hashlib.sha256(STR300).digest()


def test_sha256_300b_hashlib(benchmark):
    sha256 = hashlib.sha256
    _run(benchmark, "sha256-300B", "baseline", lambda: sha256(STR300).digest(), False)


def test_hmac_sha256_300b_ossfast(benchmark):
    mac = impl.hmac_sha256
    assert _run(benchmark, "hmac-sha256-300B", "ossfast", lambda: mac(KEY32, STR300), False) == \
        hmac.new(KEY32, STR300, hashlib.sha256).digest()


def test_hmac_sha256_300b_hmac(benchmark):
    # hmac.digest is the stdlib's fastest HMAC (one OpenSSL call, no HMAC object).
    dig = hmac.digest
    _run(benchmark, "hmac-sha256-300B", "baseline", lambda: dig(KEY32, STR300, "sha256"), False)
