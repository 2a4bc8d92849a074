"""Async v2 put_object, interleaved rounds in one process on one event loop: through aiohttp
(the SDK's default async transport), ``AsyncHttpClient(fast_crc=False)`` (the SDK's own CRC
objects: what AsyncHttpClient did before it entered the CRC scope) and
``AsyncHttpClient(fast_crc=True)``. Medians of per-request wall and process CPU time, ratios
against aiohttp. Not part of ossfast.

    taskset -c 0 .venv/bin/python benches/ab_v2_aio_put.py 1024 200 9 together   # client + sink on CPU 0
    .venv/bin/python benches/ab_v2_aio_put.py 16777216 3 5 apart                  # client CPU 0, sink CPU 1

Arguments: body size, requests per round, rounds, placement (``together``: as taskset said;
``apart``: this process on CPU 0, the sink on CPU 1).
"""
import asyncio, os, statistics, subprocess, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sink import Sink
import alibabacloud_oss_v2 as oss
from alibabacloud_oss_v2.aio import AsyncClient
from ossfast.integrations import oss_v2 as fast_v2

size = int(sys.argv[1]); n = int(sys.argv[2]); rounds = int(sys.argv[3]); apart = sys.argv[4] == "apart"

def client(url, http):
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider("ak", "sk")
    cfg.region, cfg.endpoint = "cn-hangzhou", url
    if http is not None:
        cfg.http_client = http
    return AsyncClient(cfg)

async def main(sink):
    body = os.urandom(size)
    cs = {"aiohttp": client(sink.url, None),
          "ossfast fast_crc=False (before)": client(sink.url, fast_v2.AsyncHttpClient(fast_crc=False)),
          "ossfast fast_crc=True (after)": client(sink.url, fast_v2.AsyncHttpClient(fast_crc=True))}
    for c in cs.values():  # warm: connections, the swap, the table
        for _ in range(3):
            await c.put_object(oss.PutObjectRequest(bucket="bench-bucket", key="k", body=body))
    wall = {k: [] for k in cs}; cpu = {k: [] for k in cs}
    for r in range(rounds):
        for k, c in (cs.items() if r % 2 == 0 else reversed(list(cs.items()))):
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(n):
                await c.put_object(oss.PutObjectRequest(bucket="bench-bucket", key="k", body=body))
            wall[k].append((time.perf_counter() - t0) / n); cpu[k].append((time.process_time() - c0) / n)
    for c in cs.values():
        await c.close()
    base_w, base_c = statistics.median(wall["aiohttp"]), statistics.median(cpu["aiohttp"])
    print(f"size {size} placement {'apart (client cpu0, sink cpu1)' if apart else 'together (cpu0)'} rounds {rounds}x{n}")
    for k in cs:
        w, c = statistics.median(wall[k]), statistics.median(cpu[k])
        print(f"  {k:34s} wall {w*1e3:9.3f} ms  cpu {c*1e3:9.3f} ms  wall ratio vs aiohttp {base_w/w:5.2f}x  cpu ratio {base_c/c:5.2f}x")

with Sink() as sink:
    if apart:
        subprocess.run(["taskset", "-a", "-p", "-c", "1", str(sink.proc.pid)], check=True, stdout=subprocess.DEVNULL)
        os.sched_setaffinity(0, {0})
    asyncio.run(main(sink))
