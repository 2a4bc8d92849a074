"""256 MiB bodies, interleaved, client on one CPU and the sink on the other (issue 10's placement
for large bodies): ossfast with a file and with bytes, oss2 with the same file, a raw ``sendall``
of the same bytes from memory and a raw ``os.sendfile`` of the file.

Run::  .venv/bin/python benches/ab_bulk.py [--rounds 15] [--mib 256]

Each round sends once with every contender, the order shuffled; the table gives GB/s (median
over rounds) and the median of per-round time ratios.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import oss2  # noqa: E402
from bench_sender import AK, ROUTE, SK, TOKEN, RawConn  # noqa: E402
from benchkit import pin_process  # noqa: E402
from sink import Sink  # noqa: E402

import ossfast  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--mib", type=int, default=256)
    args = ap.parse_args()
    size = args.mib << 20
    data = os.urandom(size)
    crc = ossfast.crc64(data)
    fd, path = tempfile.mkstemp(prefix="ossfast-bulk-")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    try:
        with Sink() as sink:
            subprocess.run(["taskset", "-a", "-p", "-c", "1", str(sink.proc.pid)], check=True,
                           stdout=subprocess.DEVNULL)
            pin_process({0})
            fast = ossfast.Client(ossfast.Credentials(AK, SK), endpoint=sink.url)
            svc = oss2.Service(oss2.Auth(AK, SK), sink.url)
            raw = RawConn(sink)
            head = fast.prepare(ROUTE, TOKEN, 200, iter([b""]), content_length=size).head
            view = memoryview(data)

            def fast_file() -> None:
                with open(path, "rb") as f:
                    r = fast.write_get_object_response(ROUTE, TOKEN, 200, f)
                assert r.crc64 == crc and r.bytes_sent == size

            def fast_bytes() -> None:
                r = fast.write_get_object_response(ROUTE, TOKEN, 200, data)
                assert r.crc64 == crc

            def oss2_file() -> None:
                with open(path, "rb") as f:
                    assert svc.write_get_object_response(ROUTE, TOKEN, "200", f).status == 200

            def raw_sendall() -> None:
                raw.sock.sendall(head)
                raw.sock.sendall(view)
                raw.read_reply()

            def raw_sendfile() -> None:
                with open(path, "rb") as f:
                    raw.sock.sendall(head)
                    off = 0
                    while off < size:
                        n = os.sendfile(raw.sock.fileno(), f.fileno(), off, size - off)
                        if n <= 0:
                            raise OSError("sendfile made no progress")
                        off += n
                raw.read_reply()

            cands = {"ossfast file": fast_file, "ossfast bytes": fast_bytes, "oss2 file": oss2_file,
                     "raw sendall (memory)": raw_sendall, "raw sendfile": raw_sendfile}
            for fn in cands.values():
                fn()
            secs = {k: [] for k in cands}
            rng = random.Random(20261202)
            for r in range(args.rounds):
                for label in rng.sample(list(cands), len(cands)):
                    t0 = time.perf_counter()
                    cands[label]()
                    secs[label].append(time.perf_counter() - t0)
                print(f"round {r + 1}: " + "  ".join(f"{k} {size / v[-1] / 1e9:.2f}" for k, v in secs.items()),
                      flush=True)
            fast.close()
            raw.close()
    finally:
        os.unlink(path)
    print(f"\n{args.mib} MiB, client on CPU 0, sink on CPU 1, {args.rounds} interleaved rounds")
    print(f"{'contender':22} {'GB/s median':>11} {'min':>6} {'max':>6}")
    for k, v in secs.items():
        g = [size / s / 1e9 for s in v]
        print(f"{k:22} {statistics.median(g):11.2f} {min(g):6.2f} {max(g):6.2f}")
    print("\nratios (median of per-round speed ratios)")
    for a, b in (("ossfast file", "oss2 file"), ("ossfast file", "raw sendall (memory)"),
                 ("ossfast file", "raw sendfile"), ("ossfast bytes", "raw sendall (memory)")):
        ratios = [secs[b][i] / secs[a][i] for i in range(args.rounds)]
        print(f"  {a} / {b}: {statistics.median(ratios):.2f}x (min {min(ratios):.2f}, max {max(ratios):.2f})")


if __name__ == "__main__":
    main()
