"""Peak memory for a 1 GiB file body, per contender, each in a fresh interpreter.

Runs benches/rss_contenders.py once per contender (order shuffled) against the nginx sink
(benches/nginx.py; sink.py as the fallback), with the same real 1 GiB file (8 MiB in quick
mode), client and sink on different CPUs. One measurement per contender: peak RSS growth is a
property of how a library streams, not a noisy timing. Writes ``OUT/rss.json``.
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


def test_rss_file_body(request, tmp_path):
    path = str(tmp_path / "body.bin")
    make_file(path, SIZE)
    out = {"size": SIZE, "rows": {}, "quick": QUICK}
    with open_sink(install=not QUICK, log=lambda m: progress(request, m)) as sink:
        out["sink"] = describe(sink)
        out["placement"] = placement(sink, "apart")
        try:
            for name in random.Random(3).sample(sorted(SENDERS), len(SENDERS)):
                proc = subprocess.run(
                    [sys.executable, os.path.join(HERE, "rss_contenders.py"), "--contender", name,
                     "--url", sink.url, "--path", path],
                    capture_output=True, text=True, timeout=600, env=clean_env())
                lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RSS-JSON ")]
                assert proc.returncode == 0 and lines, f"{name}: rc {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
                out["rows"][name] = json.loads(lines[-1][len("RSS-JSON "):])
                progress(request, f"rss {name}: peak RSS +{out['rows'][name]['growth_mib']:.1f} MiB")
        finally:
            unpin(sink)
            write_json("rss", out)
    assert out["rows"]["ossfast"]["growth_mib"] < 64
