"""``make demo``: the whole job end to end on the local Object FC Access Point.

It makes a few objects (one of several hundred MiB), starts ``ossfast emulate`` twice on free
ports (once per example transform, as two FC functions would be), GETs the objects through
them as a client would (whole, with a Range, and again with If-None-Match), checks every
answer against the same transform run locally (``ossfast.fc.run_local``), prints a table and
stops everything it started. Exit status 0 when every check passed.

    python examples/demo.py [--big-mib 300] [--keep DIR]
"""
from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from typing import Any, Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import gzip_objects  # noqa: E402
import uppercase  # noqa: E402

from ossfast import fc  # noqa: E402


class Digest:
    """A writable sink that only hashes and counts (bounded memory for any size)."""

    def __init__(self) -> None:
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: Any) -> None:
        self.sha.update(data)
        self.size += len(data)


def make_objects(root: str, big_mib: int) -> Dict[str, str]:
    """The demo's objects: a greeting, a CSV report, and a big log of ``big_mib`` MiB."""
    os.makedirs(os.path.join(root, "logs"), exist_ok=True)
    paths = {"hello.txt": b"Hello from the ossfast emulator! Transformed on the way out.\n"}
    rows = b"".join(b"%d,sensor-%d,%.3f,ok\n" % (i, i % 97, (i * 7919 % 10007) / 3.0) for i in range(200_000))
    paths["report.csv"] = b"id,sensor,value,state\n" + rows
    for name, data in paths.items():
        with open(os.path.join(root, name), "wb") as f:
            f.write(data)
    block = b"".join(b"%08d GET /api/v1/items/%d 200 %dms user-agent=demo\n" % (i, i * 31 % 9973, i % 250)
                     for i in range(24_000))[: 1 << 20]
    with open(os.path.join(root, "logs", "big.log"), "wb") as f:
        for _ in range(big_mib):
            f.write(block)
    return {key: os.path.join(root, key) for key in ("hello.txt", "report.csv", "logs/big.log")}


class Emulator:
    """``python -m ossfast emulate`` in a child process on a free port."""

    def __init__(self, root: str, handler: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ossfast", "emulate", "--root", root, "--handler", handler,
             "--port", "0", "--timeout", "120"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True)
        self.url = ""
        deadline = time.monotonic() + 60
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            m = re.search(r"listening on (http://\S+)", line)
            if m:
                self.url = m.group(1)
                return
        self.stop()
        raise RuntimeError(f"the emulator for {handler} did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def get(url: str, headers: Dict[str, str]) -> Tuple[int, Dict[str, str], Digest, float]:
    """A client's GET, streamed into a digest: (status, headers, digest, seconds)."""
    start = time.perf_counter()
    digest = Digest()
    req = urllib.request.Request(url, headers=headers)
    try:
        resp = urllib.request.urlopen(req, timeout=300)
    except urllib.error.HTTPError as exc:
        resp = exc  # 304 and errors: still an answer to show
    with resp:
        for chunk in iter(lambda: resp.read(1 << 20), b""):
            digest.write(chunk)
        status = resp.status if hasattr(resp, "status") else resp.code
        got = {k.lower(): v for k, v in resp.headers.items()}
    return status, got, digest, time.perf_counter() - start


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--big-mib", type=int, default=300, help="size of the big object (300 MiB)")
    parser.add_argument("--keep", help="make the objects in this directory and keep them")
    args = parser.parse_args(argv)

    root = args.keep or tempfile.mkdtemp(prefix="ossfast-demo-")
    print(f"objects in {root}: making a {args.big_mib} MiB log and two small files ...", flush=True)
    paths = make_objects(root, args.big_mib)
    transforms = {"uppercase": (uppercase.handler, os.path.join(HERE, "uppercase.py") + ":handler"),
                  "gzip": (gzip_objects.handler, os.path.join(HERE, "gzip_objects.py") + ":handler")}
    plan = [  # (transform, key, client headers, what)
        ("uppercase", "hello.txt", {}, "whole"),
        ("uppercase", "hello.txt", {"Range": "bytes=6-9"}, "Range bytes=6-9"),
        ("uppercase", "hello.txt", {"If-None-Match": "<etag>"}, "If-None-Match"),
        ("uppercase", "logs/big.log", {}, "whole, streamed"),
        ("gzip", "report.csv", {"Accept-Encoding": "gzip"}, "whole, spooled"),
        ("gzip", "logs/big.log", {"Range": "bytes=0-1048575"}, "Range, first MiB"),
    ]
    emulators: Dict[str, Emulator] = {}
    rows = []
    failed = 0
    try:
        for name, (_, spec) in transforms.items():
            emulators[name] = Emulator(root, spec)
            print(f"emulator for {name}: {emulators[name].url}", flush=True)
        etags: Dict[str, str] = {}
        for name, key, headers, what in plan:
            headers = dict(headers)
            if headers.get("If-None-Match") == "<etag>":
                headers["If-None-Match"] = etags[key]
            status, got, digest, seconds = get(f"{emulators[name].url}/{key}", headers)
            etags.setdefault(key, got.get("etag", ""))
            expect_sink = Digest()
            expect = fc.run_local(transforms[name][0], paths[key], range=headers.get("Range"),
                                  headers=headers, out=expect_sink)
            ok = (status == expect.status and digest.sha.digest() == expect_sink.sha.digest()
                  and got.get("etag") == expect.headers.get("etag"))
            if not ok:
                failed += 1
                print(f"  {key} ({what}): got {status}, {digest.size} bytes, ETag {got.get('etag')}; "
                      f"expected {expect.status}, {expect_sink.size} bytes, ETag {expect.headers.get('etag')}",
                      file=sys.stderr)
            rows.append((key, name, what, status, digest.size, seconds, ok))
    finally:
        for emu in emulators.values():
            emu.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    print()
    print("Each row: a client GET through the emulator, which invoked the transform as FC would; the")
    print("transform read the original from inputOssUrl and answered with WriteGetObjectResponse")
    print("(ossfast.Client), and the emulator relayed it. 'check': the same transform run locally")
    print("(ossfast.fc.run_local) gave the same status, body and ETag.")
    print()
    print(f"{'object':<14} {'transform':<10} {'request':<18} {'status':>6} {'bytes':>12} "
          f"{'time':>9} {'MB/s':>8}  check")
    for key, name, what, status, size, seconds, ok in rows:
        rate = f"{size / seconds / 1e6:8.1f}" if size >= 100_000 else f"{'-':>8}"
        print(f"{key:<14} {name:<10} {what:<18} {status:>6} {size:>12,} {seconds * 1000:>7.1f}ms {rate}  "
              f"{'ok' if ok else 'MISMATCH'}")
    print()
    print("If-None-Match: answered 304 from the derived ETag, without transforming. A Range of a gzip")
    print("stream needs the whole object compressed first (compressed offsets exist only then).")
    print("every answer matches the transform run locally" if not failed
          else f"{failed} answer(s) did not match the transform run locally")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
