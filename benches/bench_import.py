"""Cold import time: what a fresh interpreter (an FC cold start) pays before its first request.

For each module, ``python -c "import <module>"`` in a fresh process (this venv, no dev mode,
bytecode caches present as after an install: the warm-up run writes them even where
``PYTHONDONTWRITEBYTECODE`` is set, else every run would compile the editable sources again
and time the compiler), timed from spawn to exit, minus the same for ``python -c "pass"``
(the interpreter's own start-up, measured in the same rounds). ``ROUNDS``
rounds, the order shuffled each round; the report gives the median with min and max. Also the
module's own cumulative time as ``python -X importtime`` reports it (median over rounds).
Writes ``OUT/import.json``.
"""
from __future__ import annotations

import random
import re
import subprocess
import sys
import time
from typing import Any, Dict, List

from benchkit import QUICK, progress, write_json
from sink import clean_env

# What a user imports to send a WGOR with each library.
MODULES = {
    "ossfast": "ossfast",
    "ossfast.fc (an FC handler's import)": "ossfast.fc",
    "oss2": "oss2",
    "alibabacloud_oss_v2": "alibabacloud_oss_v2",
    "botocore (botocore.session)": "botocore.session",
    "ossfast.integrations.oss2": "ossfast.integrations.oss2",
    "ossfast.integrations.oss_v2": "ossfast.integrations.oss_v2",
}
ROUNDS = 1 if QUICK else 15
_LINE = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")


def _run(code: str, importtime: bool = False, write_bytecode: bool = False) -> Dict[str, Any]:
    args = [sys.executable] + (["-X", "importtime"] if importtime else []) + ["-c", code]
    env = clean_env()
    if write_bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    t0 = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise AssertionError(f"{code!r} failed: {proc.stderr[-2000:]}")
    return {"wall": wall, "stderr": proc.stderr}


def _cumulative_us(stderr: str, module: str) -> int:
    """-X importtime: the cumulative time of ``module`` and of the packages above it that it
    made the interpreter import (``botocore.session`` also pays for ``botocore``)."""
    total = 0
    parts = module.split(".")
    wanted = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    for m in _LINE.finditer(stderr):
        if not m.group(3).strip(" ") and m.group(4) in wanted and len(m.group(3)) == 1:
            total += int(m.group(2))
    return total


def test_import_time(request):
    labels = ["python -c pass"] + list(MODULES)
    wall: Dict[str, List[float]] = {k: [] for k in labels}
    cumulative: Dict[str, List[int]] = {k: [] for k in MODULES}
    for label in labels[1:]:  # warm the page cache, and write the bytecode caches once
        _run(f"import {MODULES[label]}", write_bytecode=True)
    shuffle = random.Random(7)
    for r in range(ROUNDS):
        for label in shuffle.sample(labels, len(labels)):
            code = "pass" if label == labels[0] else f"import {MODULES[label]}"
            wall[label].append(_run(code)["wall"])
        for label, mod in MODULES.items():
            cumulative[label].append(_cumulative_us(_run(f"import {mod}", importtime=True)["stderr"], mod))
    out = {"baseline": labels[0], "wall": wall, "importtime_us": cumulative, "modules": MODULES, "quick": QUICK}
    write_json("import", out)
    med = {k: sorted(v)[len(v) // 2] for k, v in wall.items()}
    base = med[labels[0]]
    progress(request, "import: " + ", ".join(f"{k} {(v - med[labels[0]]) * 1e3:.0f} ms" for k, v in med.items()
                                             if k != labels[0])
             + (f"; oss2 / ossfast: {(med['oss2'] - base) / (med['ossfast'] - base):.1f}x"
                if med["ossfast"] > base else ""))
    assert all(cumulative[k] and cumulative[k][0] > 0 for k in MODULES), cumulative
