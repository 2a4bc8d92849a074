"""1 KiB WriteGetObjectResponse requests per second, interleaved across checkouts and baselines.

Run (client and sink pinned to one CPU, as issue 10 asks for small requests)::

    .venv/bin/python benches/ab_small.py --checkout this=. --checkout main=/work/main [--rounds 9]

Each round runs every contender once, in a shuffled order, each in a fresh interpreter pinned
with ``taskset`` to the sink's CPU: ossfast ``Client`` (V4) from each checkout (its own source
tree first on ``sys.path``, this venv's packages), oss2 ``Service.write_get_object_response``
(V4), and a raw socket sending prebuilt request bytes (the physical limit). Each measures
``--requests`` sequential requests on one keep-alive connection after a warm-up. The table gives
the median req/s over rounds and the median of the per-round ratios, and the ratios of the best
rounds (each contender's fastest round: on a machine others load, what is left when the least
else ran), and the ceiling: raw / oss2, the most any client can reach against oss2 here.

``--ideal`` adds ``ideal_path.py``'s probe (an experiment, not a contender): the first checkout's
client with its fast path replaced by the least Python one could run for this request, to
show how much of the distance to the raw socket is the fast path's Python.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
from typing import Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from sink import Sink, clean_env  # noqa: E402

WORKER = r"""
import os, socket, sys, time
kind, url, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
ROUTE = "fc-ap-01-1234567890-opap.oss-cn-qingdao-internal.oss-object-process.aliyuncs.com"
TOKEN = "OSSV1#ZvBDC3XPm3gAbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
AK, SK = "LTAI5tBenchAccessKeyId", "BenchAccessKeySecretBenchSecret0"
BODY = os.urandom(1024)
if kind in ("ossfast", "ideal"):
    import ossfast
    c = ossfast.Client(ossfast.Credentials(AK, SK), endpoint=url)
    if kind == "ideal":
        import ideal_path
        ideal_path.install(c, ROUTE)
    send = lambda: c.write_get_object_response(ROUTE, TOKEN, 200, BODY)
elif kind == "oss2":
    import oss2
    svc = oss2.Service(oss2.AuthV4(AK, SK), url, region="cn-qingdao")
    send = lambda: svc.write_get_object_response(ROUTE, TOKEN, "200", BODY)
else:
    import ossfast
    head = ossfast.Client(ossfast.Credentials(AK, SK), endpoint=url).prepare(ROUTE, TOKEN, 200, BODY).head
    req = head + BODY
    host, port = url.split("//")[1].split(":")
    s = socket.create_connection((host, int(port)))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    def send():
        s.sendall(req)
        data = s.recv(65536)
        while not data.endswith(b"\r\n\r\n"):
            data += s.recv(65536)
for _ in range(max(50, n // 10)):
    send()
t0 = time.perf_counter()
for _ in range(n):
    send()
print(n / (time.perf_counter() - t0))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkout", action="append", default=[], help="NAME=PATH of an ossfast source tree")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--oss2-requests", type=int, default=300)
    ap.add_argument("--cpu", type=int, default=0)
    ap.add_argument("--ideal", action="store_true",
                    help="also run ideal_path.py's one-frame probe over the first checkout (an experiment)")
    args = ap.parse_args()
    checkouts = dict(c.split("=", 1) for c in args.checkout) or {"this": os.path.dirname(HERE)}
    cpu = str(args.cpu)
    with Sink() as sink:
        subprocess.run(["taskset", "-a", "-p", "-c", cpu, str(sink.proc.pid)], check=True,
                       stdout=subprocess.DEVNULL)
        contenders: Dict[str, List[str]] = {}
        env: Dict[str, Dict[str, str]] = {}
        for name, path in checkouts.items():
            contenders[name] = ["ossfast", str(args.requests)]
            env[name] = dict(clean_env(), PYTHONPATH=os.path.abspath(path), PYTHONDEVMODE="")
        first = next(iter(checkouts.values()))
        if args.ideal:
            contenders["ideal"] = ["ideal", str(args.requests)]
            env["ideal"] = dict(clean_env(), PYTHONPATH=os.pathsep.join([os.path.abspath(first), HERE]),
                                PYTHONDEVMODE="")
        contenders["oss2"] = ["oss2", str(args.oss2_requests)]
        contenders["raw"] = ["raw", str(args.requests)]
        env["oss2"] = env["raw"] = dict(clean_env(), PYTHONPATH=os.path.abspath(first), PYTHONDEVMODE="")
        rates: Dict[str, List[float]] = {k: [] for k in contenders}
        for r in range(args.rounds):
            order = list(contenders)
            random.shuffle(order)
            for name in order:
                kind, n = contenders[name]
                out = subprocess.run(["taskset", "-c", cpu, sys.executable, "-c", WORKER, kind, sink.url, n],
                                     env=env[name], capture_output=True, text=True, cwd="/", timeout=600)
                if out.returncode:
                    raise SystemExit(f"{name} failed:\n{out.stderr}")
                rates[name].append(float(out.stdout))
            print(f"round {r + 1}: " + "  ".join(f"{k} {v[-1]:,.0f}" for k, v in rates.items()), flush=True)
    names = list(checkouts) + (["ideal"] if args.ideal else [])
    print(f"\n1 KiB WGOR, client and sink on CPU {cpu}, {args.rounds} interleaved rounds")
    print(f"{'contender':12} {'req/s median':>13} {'min':>9} {'max':>9}")
    for k, v in rates.items():
        print(f"{k:12} {statistics.median(v):13,.0f} {min(v):9,.0f} {max(v):9,.0f}")
    print("\nratios (median of per-round ratios)")
    for name in names:
        for other in names + ["oss2", "raw"]:
            if other == name:
                continue
            ratios = [a / b for a, b in zip(rates[name], rates[other])]
            print(f"  {name} / {other}: {statistics.median(ratios):.3f}x "
                  f"(min {min(ratios):.3f}, max {max(ratios):.3f}; best rounds "
                  f"{max(rates[name]) / max(rates[other]):.3f}x)")

    ceiling = [a / b for a, b in zip(rates["raw"], rates["oss2"])]
    print(f"\nceiling: raw / oss2 {statistics.median(ceiling):.3f}x (min {min(ceiling):.3f}, max "
          f"{max(ceiling):.3f}): no client beats a raw socket, so a target of N x oss2 needs "
          f"N / {statistics.median(ceiling):.1f} of the raw rate (30x: "
          f"{30 / statistics.median(ceiling):.3f}x raw)")


if __name__ == "__main__":
    main()
