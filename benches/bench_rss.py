"""Peak memory for a 1 GiB file body, per contender, each in a fresh interpreter.

Runs benches/rss_contenders.py once per contender (order shuffled) against the nginx sink
(benches/nginx.py; sink.py as the fallback), with the same real 1 GiB file (8 MiB in quick
mode), client and sink on different CPUs; ``ROUNDS`` rounds, the order shuffled each round.
Writes ``OUT/rss.json``: every round's report per contender.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys

from benchkit import HERE, QUICK, placement, progress, unpin, write_json
from nginx import describe, open_sink
from rss_contenders import SENDERS
from rss_file_body import make_file
from sink import clean_env

SIZE = (8 if QUICK else 1024) << 20
ROUNDS = 1 if QUICK else 3


def test_rss_file_body(request, tmp_path):
    path = str(tmp_path / "body.bin")
    make_file(path, SIZE)
    out = {"size": SIZE, "rows": {}, "quick": QUICK}
    with open_sink(install=not QUICK, log=lambda m: progress(request, m)) as sink:
        out["sink"] = describe(sink)
        out["placement"] = placement(sink, "apart")
        try:
            shuffle = random.Random(3)
            for r in range(ROUNDS):
                for name in shuffle.sample(sorted(SENDERS), len(SENDERS)):
                    proc = subprocess.run(
                        [sys.executable, os.path.join(HERE, "rss_contenders.py"), "--contender", name,
                         "--url", sink.url, "--path", path],
                        capture_output=True, text=True, timeout=600, env=clean_env())
                    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RSS-JSON ")]
                    assert proc.returncode == 0 and lines, f"{name}: rc {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
                    out["rows"].setdefault(name, []).append(json.loads(lines[-1][len("RSS-JSON "):]))
                progress(request, f"rss round {r + 1}/{ROUNDS}: peak RSS growth " + ", ".join(
                    f"{k} +{v[-1]['growth_mib']:.1f} MiB" for k, v in sorted(out["rows"].items())))
        finally:
            unpin(sink)
            write_json("rss", out)
    assert max(r["growth_mib"] for r in out["rows"]["ossfast"]) < 64
    assert max(r["growth_mib"] for r in out["rows"]["ossfast AsyncClient"]) <= 16  # issue 10's target
