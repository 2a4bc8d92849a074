"""Peak-RSS growth of the client process while ossfast sends a 1 GiB file body.

Run in a fresh interpreter (bench_sender.py runs it as a subprocess)::

    .venv/bin/python benches/rss_file_body.py [--size-mib 1024] [--limit-mib 16] [--dir DIR]

Steps: write a real 1 GiB file (random 1 MiB block, each chunk stamped with its index, so no
page is sparse or shared; CRC64 computed while writing), start the loopback sink (its own
process), import ossfast and warm up (one small request, one 8 MiB slice of the same file, so
the connection and the buffers exist), then reset the peak
(``echo 5 > /proc/self/clear_refs`` resets VmHWM; where that is not possible the current peak
is the baseline), send the whole file with ``Client.write_get_object_response``, and read VmHWM
again. Prints one human line and one JSON line; exits 1 when the growth is above the limit or
the CRC64 / byte count is wrong.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _peak_kib() -> int:
    try:
        return _status_kib("VmHWM")
    except (OSError, KeyError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def make_file(path: str, size: int) -> int:
    """Write ``size`` real bytes to ``path``; returns their CRC64."""
    from ossfast._backend import impl

    block = bytearray(os.urandom(1 << 20))
    crc = 0
    written = 0
    index = 0
    with open(path, "wb") as f:
        while written < size:
            block[:8] = index.to_bytes(8, "little")
            piece = memoryview(block)[:min(len(block), size - written)]
            crc = impl.crc64(piece, crc)
            f.write(piece)
            written += len(piece)
            index += 1
    return crc


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--limit-mib", type=float, default=16.0)
    ap.add_argument("--dir", default=None, help="where to write the temporary file")
    args = ap.parse_args(argv)
    size = args.size_mib << 20

    start_kib = _status_kib("VmRSS")
    import ossfast
    from ossfast._backend import impl
    from sink import Sink

    with tempfile.TemporaryDirectory(prefix="ossfast-rss-", dir=args.dir) as tmp:
        path = os.path.join(tmp, "body.bin")
        crc = make_file(path, size)
        route = "fc-ap-01-1234567890-opap.oss-cn-qingdao-internal.oss-object-process.aliyuncs.com"
        with Sink() as sink, ossfast.Client(ossfast.Credentials("ak", "sk"), endpoint=sink.url) as client:
            # Warm-up: connection, code paths and buffers.
            client.write_get_object_response(route, "tok", 200, b"warm-up")
            with open(path, "rb") as f:
                client.write_get_object_response(route, "tok", 200, f, content_length=8 << 20)

            ru_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            reset = _reset_peak()
            rss_before = _status_kib("VmRSS")
            before = _peak_kib()
            how = "VmHWM reset via /proc/self/clear_refs" if reset and before <= rss_before + 64 \
                else "VmHWM not resettable: growth over the earlier peak"

            t0 = time.perf_counter()
            with open(path, "rb") as f:
                result = client.write_get_object_response(route, "tok", 200, f)
            elapsed = time.perf_counter() - t0

            after = _peak_kib()
            ru_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            received = sink.stats()["body_bytes"]

    growth = (after - before) / 1024
    ok_data = result.bytes_sent == size and result.crc64 == crc
    report = {
        "size_mib": args.size_mib, "backend": impl.NAME,
        "start_mib": start_kib / 1024, "before_mib": before / 1024, "after_mib": after / 1024,
        "growth_mib": growth, "how": how,
        "ru_maxrss_before_mib": ru_before / 1024, "ru_maxrss_after_mib": ru_after / 1024,
        "bytes_sent": result.bytes_sent, "crc64_ok": result.crc64 == crc, "sink_bytes": received,
        "seconds": elapsed, "gbps": size / elapsed / 1e9, "limit_mib": args.limit_mib,
        "ok": ok_data and growth <= args.limit_mib,
    }
    print(f"{args.size_mib} MiB file body: peak RSS {before / 1024:.1f} -> {after / 1024:.1f} MiB, "
          f"growth {growth:.2f} MiB (limit {args.limit_mib:g}; {how}); ru_maxrss "
          f"{ru_before / 1024:.1f} -> {ru_after / 1024:.1f} MiB; {size / elapsed / 1e9:.2f} GB/s; "
          f"bytes_sent {result.bytes_sent}, crc64 {'ok' if result.crc64 == crc else 'WRONG'}")
    print("RSS-JSON " + json.dumps(report), flush=True)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
