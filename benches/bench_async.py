"""AsyncClient with many requests in flight, against oss2 on as many threads and a bare asyncio loop.

Run:  .venv/bin/python benches/bench_async.py [--rounds 9] [--inflight 64] [--size 1024]
      (or through pytest: ``make bench`` / ``make bench-quick`` collect ``test_async_inflight``).
Results go to ``OUT/async.json`` (see benchkit.py).

What is compared, each round in a shuffled order, every contender keeping ``INFLIGHT`` requests of
``SIZE`` bytes in flight over as many keep-alive connections to one nginx worker (benches/nginx.py,
or benches/sink.py when nginx cannot be had):

* ``AsyncClient``: ``INFLIGHT`` tasks on one loop, each awaiting
  ``AsyncClient.write_get_object_response`` in turn (V4-signed, CRC-64 computed, reply parsed);
* ``oss2 x threads``: ``INFLIGHT`` threads calling ``oss2.Service.write_get_object_response``
  (oss2 as it is, its connection pool sized to ``INFLIGHT``), which is how oss2 users get
  concurrency;
* ``bare loop.sock_*`` and ``bare Protocol``: the floor of asyncio itself: ``INFLIGHT`` coroutines on the same loop that
  send one prebuilt request (head and body, signed once) with ``loop.sock_sendall`` and read the
  reply with ``loop.sock_recv`` until the blank line; or one ``asyncio.Protocol`` per connection
  doing the same from ``data_received`` (no task at all); no parsing, signing or hashing.

Placement: client process and sink pinned to the same (first) CPU: small requests, where a
cross-vCPU wake-up would cost more than the request (see bench_matrix.py). A figure is the median
requests per second over rounds; a ratio is the median over rounds of the ratio within the round.
Targets (issue 10): AsyncClient >= 25x oss2 x 64 threads; no thread started by the client.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchkit import AK, QUICK, REGION, ROUTE, SK, TOKEN, placement, unpin, write_json  # noqa: E402
from nginx import describe, open_sink  # noqa: E402

import ossfast  # noqa: E402

TARGET_OSS2 = 25.0


class Bench:
    def __init__(self, sink: Any, inflight: int, size: int) -> None:
        import oss2

        self.sink, self.n, self.size = sink, inflight, size
        self.data = os.urandom(size)
        self.loop = asyncio.new_event_loop()
        creds = ossfast.Credentials(AK, SK)

        async def make() -> Any:
            return ossfast.AsyncClient(creds, endpoint=sink.url, pool_maxsize=max(inflight, 10))
        self.afast = self.loop.run_until_complete(make())
        oss2.defaults.connection_pool_size = max(inflight, 10)
        self.oss2 = oss2.Service(oss2.AuthV4(AK, SK), sink.url, session=oss2.Session(), region=REGION)
        self.pool = ThreadPoolExecutor(max_workers=inflight)
        # The bare loop's prebuilt request: ossfast's signed head and the body, as bytes.
        head = ossfast.Client(creds, endpoint=sink.url).prepare(ROUTE, TOKEN, 200, self.data).head
        self.request = bytes(head) + self.data
        self.socks: List[socket.socket] = []
        for _ in range(inflight):
            s = socket.create_connection((sink.host, sink.port))
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.setblocking(False)
            self.socks.append(s)
        self.lanes: List[_ProtoLane] = []

    # ---- contenders: each runs ``per`` requests on each of ``n`` lanes
    def run_async(self, per: int) -> None:
        send, data, size = self.afast.write_get_object_response, self.data, self.size

        async def lane() -> None:
            for _ in range(per):
                r = await send(ROUTE, TOKEN, 200, data)
                if r.status != 200 or r.bytes_sent != size:
                    raise AssertionError(f"ossfast: {r.status} {r.bytes_sent}")

        async def main() -> None:
            await asyncio.gather(*(lane() for _ in range(self.n)))
        self.loop.run_until_complete(main())

    def run_oss2(self, per: int) -> None:
        svc, data = self.oss2, self.data

        def lane() -> None:
            for _ in range(per):
                r = svc.write_get_object_response(ROUTE, TOKEN, "200", data)
                if r.status != 200:
                    raise AssertionError(f"oss2: {r.status}")
        for f in [self.pool.submit(lane) for _ in range(self.n)]:
            f.result()

    def run_bare(self, per: int) -> None:
        loop, req = self.loop, self.request

        async def lane(s: socket.socket) -> None:
            for _ in range(per):
                await loop.sock_sendall(s, req)
                data = await loop.sock_recv(s, 65536)
                while not data.endswith(b"\r\n\r\n"):
                    more = await loop.sock_recv(s, 65536)
                    if not more:
                        raise ConnectionError("the sink closed the connection")
                    data += more
                if not data.startswith(b"HTTP/1.1 200 "):
                    raise AssertionError(data[:200])

        async def main() -> None:
            await asyncio.gather(*(lane(s) for s in self.socks))
        self.loop.run_until_complete(main())

    def run_proto(self, per: int) -> None:
        loop, req = self.loop, self.request
        if not self.lanes:  # its own keep-alive connections, made once
            async def connect() -> None:
                for _ in range(self.n):
                    t, lane = await loop.create_connection(_ProtoLane, self.sink.host, self.sink.port)
                    t.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    lane.req = req
                    self.lanes.append(lane)
            loop.run_until_complete(connect())
        for lane in self.lanes:
            lane.start(per, loop.create_future())
        loop.run_until_complete(asyncio.gather(*(lane.done for lane in self.lanes)))

    def close(self) -> None:
        for lane in self.lanes:
            lane.t.close()
        self.loop.run_until_complete(self.afast.close())
        self.loop.close()
        self.pool.shutdown()
        for s in self.socks:
            s.close()


class _ProtoLane(asyncio.Protocol):
    """The bare Protocol contender's connection: write the prebuilt request, wait for the blank
    line ending nginx's reply, again ``left`` times."""

    req = b""

    def connection_made(self, transport: Any) -> None:
        self.t, self.buf = transport, b""

    def start(self, n: int, done: "asyncio.Future[None]") -> None:
        self.left, self.done = n, done
        self.t.write(self.req)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.buf.endswith(b"\r\n\r\n"):
            if not self.buf.startswith(b"HTTP/1.1 200 "):
                self.done.set_exception(AssertionError(self.buf[:200]))
                return
            self.buf = b""
            self.left -= 1
            if self.left:
                self.t.write(self.req)
            else:
                self.done.set_result(None)


CONTENDERS = {"AsyncClient": "run_async", "oss2 x threads": "run_oss2", "bare loop.sock_*": "run_bare",
              "bare Protocol": "run_proto"}


def measure(rounds: int, inflight: int, size: int, budget: float = 0.4, log: Callable[[str], Any] = print
            ) -> Dict[str, Any]:
    sink = open_sink(install=False, log=log)
    try:
        bench = Bench(sink, inflight, size)
        try:
            where = placement(sink, "together")
            runs = {k: getattr(bench, v) for k, v in CONTENDERS.items()}
            per: Dict[str, int] = {}
            before = threading.active_count()
            bench.run_async(2)  # first, before the oss2 contender's pool starts its threads
            threads_by_client = threading.active_count() - before
            for label, run in runs.items():  # warm up and size each lane's share of the budget
                run(2)
                t = time.perf_counter()
                run(5)
                dt = (time.perf_counter() - t) / (5 * inflight)
                per[label] = 1 if QUICK else max(2, int(budget / dt / inflight))
            rps: Dict[str, List[float]] = {k: [] for k in runs}
            ratios: Dict[str, List[float]] = {"AsyncClient / oss2 x threads": [],
                                              "AsyncClient / bare loop.sock_*": [],
                                              "AsyncClient / bare Protocol": []}
            for r in range(rounds):
                order = list(runs)
                random.shuffle(order)
                got = {}
                for label in order:
                    t = time.perf_counter()
                    runs[label](per[label])
                    got[label] = per[label] * inflight / (time.perf_counter() - t)
                    rps[label].append(got[label])
                ratios["AsyncClient / oss2 x threads"].append(got["AsyncClient"] / got["oss2 x threads"])
                for other in ("bare loop.sock_*", "bare Protocol"):
                    ratios["AsyncClient / " + other].append(got["AsyncClient"] / got[other])
                log(f"round {r + 1}/{rounds}: " + ", ".join(f"{k} {v:,.0f}/s" for k, v in got.items()))
        finally:
            unpin(sink)
            bench.close()
    finally:
        sink.stop()
    out = {
        "sink": describe(sink), "placement": where, "inflight": inflight, "size": size, "rounds": rounds,
        "quick": QUICK,
        "rps": {k: {"median": statistics.median(v), "min": min(v), "max": max(v)} for k, v in rps.items()},
        "ratios": {k: {"median": statistics.median(v), "min": min(v), "max": max(v)} for k, v in ratios.items()},
        "target": {"AsyncClient / oss2 x threads": TARGET_OSS2}, "threads_started_by_AsyncClient": threads_by_client,
    }
    return out


def measure_file(rounds: int, size: int, log: Callable[[str], Any] = print) -> Dict[str, Any]:
    """A ``size``-byte file body (page cache) through AsyncClient, the blocking Client and oss2,
    one call each per round in a shuffled order, client and sink on different CPUs."""
    import tempfile

    import oss2

    sink = open_sink(install=False, log=log)
    loop = asyncio.new_event_loop()
    fd, path = tempfile.mkstemp(prefix="ossfast-bench-async-")
    try:
        block = os.urandom(1 << 20)
        with os.fdopen(fd, "wb") as f:
            for _ in range(size >> 20):
                f.write(block)
            f.write(block[: size & ((1 << 20) - 1)])
        creds = ossfast.Credentials(AK, SK)

        async def make() -> Any:
            return ossfast.AsyncClient(creds, endpoint=sink.url)
        afast = loop.run_until_complete(make())
        fast = ossfast.Client(creds, endpoint=sink.url)
        svc = oss2.Service(oss2.AuthV4(AK, SK), sink.url, session=oss2.Session(), region=REGION)

        def run_async() -> None:
            async def one() -> None:
                with open(path, "rb") as f:
                    r = await afast.write_get_object_response(ROUTE, TOKEN, 200, f)
                assert r.status == 200 and r.bytes_sent == size
            loop.run_until_complete(one())

        def run_sync() -> None:
            with open(path, "rb") as f:
                r = fast.write_get_object_response(ROUTE, TOKEN, 200, f)
            assert r.status == 200 and r.bytes_sent == size

        def run_oss2() -> None:
            with open(path, "rb") as f:
                assert svc.write_get_object_response(ROUTE, TOKEN, "200", f).status == 200

        runs = {"AsyncClient file": run_async, "Client file": run_sync, "oss2 file": run_oss2}
        where = placement(sink, "apart")
        rps: Dict[str, List[float]] = {k: [] for k in runs}
        cpu: Dict[str, List[float]] = {k: [] for k in runs}
        ratios: Dict[str, List[float]] = {"AsyncClient / Client": [], "AsyncClient / oss2": []}
        try:
            for run in runs.values():
                run()
            for r in range(rounds):
                order = list(runs)
                random.shuffle(order)
                got = {}
                for label in order:
                    t, c = time.perf_counter(), time.process_time()
                    runs[label]()
                    got[label] = size / (time.perf_counter() - t) / 1e9
                    rps[label].append(got[label])
                    cpu[label].append(time.process_time() - c)
                ratios["AsyncClient / Client"].append(got["AsyncClient file"] / got["Client file"])
                ratios["AsyncClient / oss2"].append(got["AsyncClient file"] / got["oss2 file"])
                log(f"round {r + 1}/{rounds}: " + ", ".join(f"{k} {v:.2f} GB/s" for k, v in got.items()))
        finally:
            unpin(sink)
            loop.run_until_complete(afast.close())
            fast.close()
    finally:
        loop.close()
        os.unlink(path)
        sink.stop()
    return {"sink": describe(sink), "placement": where, "size": size, "rounds": rounds, "quick": QUICK,
            "gbps": {k: {"median": statistics.median(v), "min": min(v), "max": max(v)} for k, v in rps.items()},
            "cpu_s": {k: statistics.median(v) for k, v in cpu.items()},
            "ratios": {k: {"median": statistics.median(v), "min": min(v), "max": max(v)}
                       for k, v in ratios.items()}}


def report_file(out: Dict[str, Any]) -> str:
    p = out["placement"]
    lines = [f"file body of {out['size'] >> 20} MiB, client CPU {p['client_cpu']}, sink CPU {p['sink_cpu']} "
             f"({out['sink']['kind']}), {out['rounds']} rounds",
             f"{'contender':<18} {'GB/s median':>12} {'min':>6} {'max':>6} {'CPU s':>6}"]
    for k, v in out["gbps"].items():
        lines.append(f"{k:<18} {v['median']:>12.2f} {v['min']:>6.2f} {v['max']:>6.2f} {out['cpu_s'][k]:>6.2f}")
    for k, v in out["ratios"].items():
        lines.append(f"{k:<22} {v['median']:6.2f}x  ({v['min']:.2f}-{v['max']:.2f})")
    return "\n".join(lines)


def report(out: Dict[str, Any]) -> str:
    p = out["placement"]
    lines = [f"{out['inflight']} requests of {out['size']} B in flight, client CPU {p['client_cpu']}, "
             f"sink CPU {p['sink_cpu']} ({out['sink']['kind']}), {out['rounds']} rounds",
             f"{'contender':<22} {'req/s median':>13} {'min':>9} {'max':>9}"]
    for k, v in out["rps"].items():
        lines.append(f"{k:<22} {v['median']:>13,.0f} {v['min']:>9,.0f} {v['max']:>9,.0f}")
    for k, v in out["ratios"].items():
        lines.append(f"{k:<32} {v['median']:6.2f}x  ({v['min']:.2f}-{v['max']:.2f})")
    lines.append(f"threads started by AsyncClient: {out['threads_started_by_AsyncClient']}")
    return "\n".join(lines)


def test_async_inflight(request: Any) -> None:
    """The bench under pytest (``make bench``; quick mode: one round, checks it runs)."""
    from benchkit import progress

    out = measure(1 if QUICK else 9, 64, 1024, log=lambda m: progress(request, m))
    write_json("async", out)
    progress(request, report(out))
    assert out["rps"]["AsyncClient"]["median"] > 0
    assert out["threads_started_by_AsyncClient"] == 0


def test_async_file_body(request: Any) -> None:
    """A 256 MiB file body (quick mode: 8 MiB, one round) through AsyncClient, Client and oss2."""
    from benchkit import progress

    out = measure_file(1 if QUICK else 7, (8 << 20) if QUICK else (256 << 20),
                       log=lambda m: progress(request, m))
    write_json("async_file", out)
    progress(request, report_file(out))
    assert out["gbps"]["AsyncClient file"]["median"] > 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--inflight", type=int, default=64)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--budget", type=float, default=0.4, help="seconds per contender per round")
    ap.add_argument("--file", type=int, default=0, metavar="MIB",
                    help="measure a file body of this many MiB instead (client and sink apart)")
    a = ap.parse_args()
    if a.file:
        res = measure_file(a.rounds, a.file << 20)
        write_json("async_file", res)
        print(report_file(res))
    else:
        res = measure(a.rounds, a.inflight, a.size, a.budget)
        write_json("async", res)
        print(report(res))
