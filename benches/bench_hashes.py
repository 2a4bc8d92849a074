"""The checksums a sender computes, beside the libraries a user could use instead.

CRC-64/XZ (what OSS calls crc64ecma): ``ossfast.crc64`` vs fastcrc (``crc64.xz``), anycrc
(``Model("CRC64-XZ")``), crcmod (the function oss2 builds: ``oss2.utils.Crc64``'s parameters,
``crcmod.mkCrcFun``; oss2 itself also builds a new ``crcmod.Crc`` per body). MD5 (Content-MD5):
``ossfast.md5`` vs ``hashlib.md5``. And xxhash's xxh3-64 / xxh3-128 (what ``ossfast.fc`` derives
ETags with) as the speed of a fast non-cryptographic hash.

Method: every function once per size to check its answer, then ``ROUNDS`` rounds with the order
shuffled each round; in a round each function hashes the buffer enough times for about ``BUDGET``
seconds. GB/s per round; the report gives the median with min and max, and per-round ratios to
crcmod (oss2's) and to fastcrc (the fastest CRC-64 library known here). The client is pinned to
one CPU. Writes ``OUT/hashes.json``.
"""
from __future__ import annotations

import hashlib
import os
import random
import time
from typing import Any, Callable, Dict, List

import pytest
from benchkit import QUICK, fmt_size, pin_process, progress, write_json

import ossfast

KiB, MiB = 1 << 10, 1 << 20
SIZES = [4 * KiB] if QUICK else [4 * KiB, 64 * KiB, MiB, 64 * MiB]
ROUNDS = 1 if QUICK else 9
BUDGET = 0.002 if QUICK else 0.05
CHECK = 0x995DC9BBDF1939FA  # crc64(b"123456789")


def _functions() -> Dict[str, Dict[str, Any]]:
    import anycrc
    import crcmod
    import xxhash
    from fastcrc import crc64 as fastcrc64

    crcmod_fn = crcmod.mkCrcFun(0x142F0E1EBA9EA3693, initCrc=0, rev=True, xorOut=0xFFFFFFFFFFFFFFFF)
    anycrc_model = anycrc.Model("CRC64-XZ")
    md5 = hashlib.md5
    return {
        "ossfast.crc64": {"kind": "crc64", "fn": ossfast.crc64},
        "fastcrc crc64.xz": {"kind": "crc64", "fn": fastcrc64.xz},
        "anycrc CRC64-XZ": {"kind": "crc64", "fn": anycrc_model.calc},
        "crcmod (oss2's CRC-64)": {"kind": "crc64", "fn": crcmod_fn},
        "ossfast.md5": {"kind": "md5", "fn": ossfast.md5},
        "hashlib.md5": {"kind": "md5", "fn": lambda b: md5(b).digest()},
        "xxhash xxh3_64": {"kind": "xxh3", "fn": xxhash.xxh3_64_intdigest},
        "xxhash xxh3_128": {"kind": "xxh3", "fn": xxhash.xxh3_128_intdigest},
    }


def test_hashes(request):
    funcs = _functions()
    for name, f in funcs.items():  # each answers as it should
        if f["kind"] == "crc64":
            assert f["fn"](b"123456789") == CHECK, name
        elif f["kind"] == "md5":
            assert f["fn"](b"abc") == hashlib.md5(b"abc").digest(), name
    pin_process({sorted(os.sched_getaffinity(0))[0]})
    out: Dict[str, Any] = {"sizes": [], "rows": {}, "quick": QUICK,
                           "docs": {k: v["kind"] for k, v in funcs.items()}}
    try:
        for size in SIZES:
            data = os.urandom(size)
            calls: Dict[str, int] = {}
            for name, f in funcs.items():
                fn = f["fn"]
                fn(data)
                t0 = time.perf_counter()
                fn(data)
                per = max(time.perf_counter() - t0, 1e-7)
                calls[name] = max(1, min(200000, int(BUDGET / per)))
            gbps: Dict[str, List[float]] = {k: [] for k in funcs}
            shuffle = random.Random(size)
            for _ in range(ROUNDS):
                for name in shuffle.sample(list(funcs), len(funcs)):
                    fn, n = funcs[name]["fn"], calls[name]
                    t0 = time.perf_counter()
                    for _ in range(n):
                        fn(data)
                    gbps[name].append(size * n / (time.perf_counter() - t0) / 1e9)
            out["sizes"].append(size)
            for name in funcs:
                out["rows"].setdefault(name, {})[str(size)] = {"gbps": gbps[name], "n": calls[name]}
            progress(request, f"hashes {fmt_size(size)}: " + ", ".join(
                f"{k} {sorted(v)[len(v) // 2]:.2f}" for k, v in gbps.items()) + " GB/s")
    finally:
        pin_process(None)
        write_json("hashes", out)
    assert out["rows"]["ossfast.crc64"]


if __name__ == "__main__":
    pytest.main([__file__, "-q"])
