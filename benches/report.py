"""BENCHMARKS.md and its charts from what the benches wrote (nothing here is measured or typed in).

    python benches/report.py [--results build/bench] [--out BENCHMARKS.md] [--charts benchmarks]

Reads ``matrix.json``, ``hashes.json``, ``import.json``, ``rss.json``, ``async.json`` and
``async_file.json`` (benches/bench_matrix.py, bench_hashes.py, bench_import.py, bench_rss.py,
bench_async.py), ``pytest-benchmark.json`` (every other bench,
``--benchmark-json``) and ``run.json`` (start time, command; written by ``make bench``) from the
results directory; a missing file leaves its section out. Adds the machine (CPU model, flags,
cores, memory, kernel), the version of every contender, and the commit. Charts are PNGs drawn by
matplotlib (Agg backend) into the charts directory, linked from the Markdown by relative path.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import ssl
import statistics
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from benchkit import fmt_size  # noqa: E402

FLAGS = ("sse4_2", "pclmulqdq", "avx2", "avx512f", "avx512bw", "avx512vl", "vpclmulqdq", "sha_ni", "aes", "vaes",
         "gfni", "hypervisor")
PACKAGES = ("ossfast", "oss2", "alibabacloud-oss-v2", "botocore", "requests", "urllib3", "aiohttp", "fastcrc",
            "anycrc", "crcmod", "crcmod-plus", "xxhash", "cffi", "httptools", "pytest", "pytest-benchmark", "matplotlib")


# ----------------------------------------------------------------------------- facts

def machine() -> Dict[str, Any]:
    info: Dict[str, Any] = {"cpus": os.cpu_count(), "kernel": platform.release(), "python": sys.version.split()[0],
                            "openssl": ssl.OPENSSL_VERSION}
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        first = text.split("\n\n")[0]
        fields = dict(line.split(":", 1) for line in first.splitlines() if ":" in line)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        info["model"] = fields.get("model name", "?")
        info["family_model"] = f"family {fields.get('cpu family', '?')} model {fields.get('model', '?')}"
        flags = set(fields.get("flags", "").split())
        info["flags"] = [f for f in FLAGS if f in flags]
        info["flags_missing"] = [f for f in FLAGS if f not in flags and f != "hypervisor"]
        info["cores"] = len([b for b in text.split("\n\n") if b.strip()])
    except OSError:
        info["model"] = platform.processor() or "?"
    try:
        with open("/proc/meminfo") as f:
            kib = int(f.readline().split()[1])
        info["memory_gib"] = round(kib / (1 << 20), 1)
    except (OSError, ValueError, IndexError):
        pass
    return info


def versions() -> Dict[str, str]:
    from importlib import metadata

    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    out = {k: v for k, v in out.items() if not (k == "crcmod-plus" and v == "not installed")}
    try:
        import crcmod.crcmod

        out["crcmod module"] = "C extension" if crcmod.crcmod._usingExtension else "pure Python"
    except Exception:
        pass
    try:
        import ossfast

        out["ossfast backend"] = ossfast.backend
    except Exception as exc:  # the report still gets written
        out["ossfast backend"] = f"import failed: {exc}"
    return out


def commit() -> Dict[str, Any]:
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", "-C", ROOT, *args], capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    # porcelain lines are "XY path": the status letters may start with a blank
    changed = [ln[3:] for ln in git("status", "--porcelain", "--untracked-files=no").splitlines() if ln.strip()]
    return {"sha": git("rev-parse", "HEAD").strip(), "subject": git("log", "-1", "--format=%s").strip(),
            "changed": changed}


# ----------------------------------------------------------------------------- numbers

def med(v: List[float]) -> float:
    return statistics.median(v)


def paired(a: List[float], b: List[float]) -> Optional[float]:
    """Median over rounds of b[i] / a[i]: a's rate over b's when a and b are times per request."""
    n = min(len(a), len(b))
    if not n:
        return None
    return statistics.median(b[i] / a[i] for i in range(n))


def fmt_rate(x: float) -> str:
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def fmt_gbps(x: float) -> str:
    return f"{x:.3f}" if x < 0.1 else f"{x:.2f}"


def fmt_ratio(x: Optional[float]) -> str:
    if x is None:
        return "-"
    return f"{x:.1f}x" if x >= 10 else f"{x:.2f}x"


def fmt_ms(s: float) -> str:
    return f"{s * 1e3:.0f}" if s >= 0.1 else f"{s * 1e3:.1f}"


def matrix_rows(m: Dict[str, Any], size: int) -> List[Dict[str, Any]]:
    """One dict per contender measured at ``size``: rates, spread, CPU, ratios."""
    key = str(size)
    rows = []
    for label, per in m["rows"].items():
        if key not in per:
            continue
        wall, cpu = per[key]["wall"], per[key]["cpu"]
        meta = m["contenders"][label]
        ref = lambda name: m["rows"].get(name, {}).get(key, {}).get("wall")  # noqa: E731
        oss2_w, limit_w = ref(meta["oss2"]), ref(meta["limit"])
        rows.append({
            "label": label, **meta, "n": per[key]["n"], "rounds": len(wall),
            "rps": 1 / med(wall), "rps_min": 1 / max(wall), "rps_max": 1 / min(wall),
            "gbps": size / med(wall) / 1e9, "gbps_min": size / max(wall) / 1e9, "gbps_max": size / min(wall) / 1e9,
            "cpu_us": med(cpu) * 1e6, "cpu_min": min(cpu) * 1e6, "cpu_max": max(cpu) * 1e6,
            "x_oss2": paired(wall, oss2_w) if oss2_w else None,
            "x_limit": paired(wall, limit_w) if limit_w else None,
        })
    rows.sort(key=lambda r: (r["proto"], -r["rps"]))
    return rows


def matrix_table(m: Dict[str, Any], size: int) -> List[str]:
    place = m["placement"].get(str(size), {})
    rows = matrix_rows(m, size)
    if not rows:
        return []
    out = [f"**{fmt_size(size)} body**, {rows[0]['rounds']} interleaved rounds; client on CPU "
           f"{place.get('client_cpu')}, sink on CPU {place.get('sink_cpu')} ({place.get('placement')}).", "",
           "| contender | proto | body | req/s (median) | min-max | GB/s | client CPU per request | x oss2 | x limit |",
           "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        cpu = f"{r['cpu_us']:,.1f} us" if r["cpu_us"] < 10000 else f"{r['cpu_us'] / 1e3:,.1f} ms"
        out.append(f"| {r['label']} | {r['proto']} | {r['body']} | {fmt_rate(r['rps'])} | "
                   f"{fmt_rate(r['rps_min'])}-{fmt_rate(r['rps_max'])} | {fmt_gbps(r['gbps'])} | {cpu} | "
                   f"{fmt_ratio(r['x_oss2'])} | {fmt_ratio(r['x_limit'])} |")
    return out + [""]


# ----------------------------------------------------------------------------- charts

def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _style(label: str, family: str, index: int) -> Dict[str, Any]:
    """Limits black and dashed, ossfast's ways solid, everyone else dotted; tab20 colours."""
    if family == "limit":
        return {"color": "black", "linestyle": "--" if "sendfile" not in label else "-.", "linewidth": 2.2}
    import matplotlib

    color = matplotlib.colormaps["tab20"]((2 * index) % 20 + (2 * index // 20) % 2)  # dark hues first
    if family == "ossfast":
        return {"color": color, "linestyle": "-", "linewidth": 1.8}
    return {"color": color, "linestyle": ":", "linewidth": 1.8}


def chart_matrix(m: Dict[str, Any], charts: str, what: str) -> Optional[str]:
    plt = _plt()
    protos = [p for p in ("http", "https") if any(c["proto"] == p for c in m["contenders"].values())]
    fig, axes = plt.subplots(1, len(protos), figsize=(8 * len(protos), 8), squeeze=False)
    sizes = sorted(m["sizes"])
    markers = "osD^v<>phX*P8"
    for ax, proto in zip(axes[0], protos):
        i = 0
        for label, meta in m["contenders"].items():
            if meta["proto"] != proto or label not in m["rows"]:
                continue
            xs, ys, lo, hi = [], [], [], []
            for s in sizes:
                per = m["rows"][label].get(str(s))
                if not per:
                    continue
                w = per["wall"]
                scale = s / 1e9 if what == "gbps" else 1.0
                xs.append(s)
                ys.append(scale / med(w))
                lo.append(scale / med(w) - scale / max(w))
                hi.append(scale / min(w) - scale / med(w))
            if not xs:
                continue
            ax.errorbar(xs, ys, yerr=[lo, hi], label=label, marker=markers[i % len(markers)], markersize=4,
                        capsize=2, **_style(label, meta["family"], i))
            i += 1
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(sizes)
        ax.set_xticklabels([fmt_size(s) for s in sizes])
        ax.set_xlabel("body size (log)")
        ax.set_ylabel("GB/s (log)" if what == "gbps" else "requests per second (log)")
        ax.set_title(f"WriteGetObjectResponse over {proto.upper()}, nginx sink: "
                     + ("throughput" if what == "gbps" else "requests/s"))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3)
    fig.suptitle("median of interleaved rounds, bars: min-max; "
                 f"<= {fmt_size(64 << 10)} client and sink on one CPU, larger on two", fontsize=9)
    fig.tight_layout()
    name = "throughput.png" if what == "gbps" else "requests.png"
    fig.savefig(os.path.join(charts, name), dpi=110)
    plt.close(fig)
    return name


def chart_bars(charts: str, name: str, title: str, xlabel: str, items: List[Tuple[str, float, float, float]],
               log: bool = False) -> str:
    """Horizontal bars: (label, median, min, max)."""
    plt = _plt()
    items = sorted(items, key=lambda t: t[1])
    fig, ax = plt.subplots(figsize=(9, 0.38 * len(items) + 1.6))
    ys = range(len(items))
    colors = ["tab:blue" if "ossfast" in lbl or lbl.startswith("oss2 patch")
              else "black" if lbl.startswith("raw") else "tab:gray" for lbl, *_ in items]
    ax.barh(list(ys), [t[1] for t in items], color=colors,
            xerr=[[t[1] - t[2] for t in items], [t[3] - t[1] for t in items]], capsize=2)
    ax.set_yticks(list(ys))
    ax.set_yticklabels([t[0] for t in items], fontsize=8)
    for y, t in zip(ys, items):
        ax.text(t[3], y, f"  {t[1]:,.1f}" if t[1] < 100 else f"  {t[1]:,.0f}", va="center", fontsize=7)
    if log:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(os.path.join(charts, name), dpi=110)
    plt.close(fig)
    return name


def chart_hashes(h: Dict[str, Any], charts: str) -> str:
    plt = _plt()
    sizes = sorted(h["sizes"])
    fig, ax = plt.subplots(figsize=(9, 6))
    for label, per in h["rows"].items():
        ys = [med(per[str(s)]["gbps"]) for s in sizes]
        lo = [y - min(per[str(s)]["gbps"]) for y, s in zip(ys, sizes)]
        hi = [max(per[str(s)]["gbps"]) - y for y, s in zip(ys, sizes)]
        ax.errorbar(sizes, ys, yerr=[lo, hi], label=label, marker="o", markersize=4, capsize=2,
                    linestyle="-" if label.startswith("ossfast") else ":")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(sizes)
    ax.set_xticklabels([fmt_size(s) for s in sizes])
    ax.set_xlabel("buffer size (log)")
    ax.set_ylabel("GB/s (log)")
    ax.set_title("Checksums, one call per buffer (median of interleaved rounds, bars: min-max)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(charts, "hashes.png"), dpi=110)
    plt.close(fig)
    return "hashes.png"


# ----------------------------------------------------------------------------- sections

def load(results: str, name: str) -> Optional[Dict[str, Any]]:
    path = os.path.join(results, name + ".json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def section_matrix(m: Dict[str, Any], charts: str, rel: str) -> List[str]:
    sizes = sorted(m["sizes"])
    out = ["## WriteGetObjectResponse, every sender, 1 KiB to 1 GiB", ""]
    sink = m.get("sink", {})
    out += [f"Sink: {sink.get('note', '?')}. " + (
        "**nginx could not be used: these numbers are against benches/sink.py.**" if sink.get("kind") != "nginx"
        else "Every contender talks to the same nginx over its own keep-alive connection.") + (
        " nginx reads a body it discards 4 KiB at a time (its fixed discard buffer), so from a few MiB up "
        "the figures cluster around the raw socket's, which is then as much the sink's drain rate as the "
        "sender's: there the tables compare senders at the sink's pace." if sink.get("kind") == "nginx" else ""), ""]
    out += ["Placement (pinned with `sched_setaffinity`): bodies up to 64 KiB run with client and sink "
            "**on the same CPU**: with them apart, every request wakes the sink on a halted vCPU of this VM, and "
            "the wake-up is charged to the sender (measured below), more than a whole ossfast request; it would "
            "be charged to every contender alike and pull every ratio toward 1. Larger bodies run with them "
            "**on different CPUs**: the sink drains while the client sends, and on one CPU the two would take "
            "turns. Each table says which it used.", ""]
    pc = m.get("placement_check")
    if pc and pc.get("together"):
        out += ["Measured in this run, 1 KiB requests, the two placements alternating within each round "
                "(median over rounds):", "",
                "| contender | client CPU per request, one CPU | two CPUs | req/s, one CPU | two CPUs |",
                "|---|---:|---:|---:|---:|"]
        for label, t in pc["together"].items():
            a = pc["apart"].get(label)
            if not a:
                continue
            out.append(f"| {label} | {med(t['cpu']) * 1e6:.1f} us | {med(a['cpu']) * 1e6:.1f} us | "
                       f"{fmt_rate(1 / med(t['wall']))} | {fmt_rate(1 / med(a['wall']))} |")
        out.append("")
    out += ["Each figure is the median over interleaved rounds (the contenders' order shuffled every round; in a "
            "round each sends a batch of about 0.12 s of requests (0.25 s at 16 MiB), or one request from 256 MiB up), with the "
            "rounds' min-max. `x oss2` and `x limit` are the median over rounds of the ratio of rates within the "
            "round: against oss2 as shipped (over the same protocol) and against the physical limit (`raw socket` "
            "for bytes and iterator bodies, `raw sendfile` for file bodies, `raw TLS socket` over HTTPS). Client "
            "CPU is `time.process_time` of the client process (all its threads) per request.", ""]
    for what in ("gbps", "rps"):
        name = chart_matrix(m, charts, what)
        if name:
            out += [f"![{'throughput' if what == 'gbps' else 'requests per second'} against body size]({rel}/{name})", ""]
    small = [s for s in sizes if s <= (64 << 10)]
    if small:
        rows = matrix_rows(m, small[0])
        items = [(r["label"] + (" (HTTPS)" if r["proto"] == "https" and "HTTPS" not in r["label"]
                                else ""), r["cpu_us"], r["cpu_min"], r["cpu_max"]) for r in rows]
        name = chart_bars(charts, "cpu-small.png", f"Client CPU per {fmt_size(small[0])} request (us, log; "
                          "median of rounds, bars min-max; client and sink on one CPU)", "microseconds of CPU",
                          items, log=True)
        out += [f"![client CPU per small request]({rel}/{name})", ""]
    for s in sizes:
        out += matrix_table(m, s)
    if m.get("skipped") or m.get("failed"):
        out += ["Not measured in this run:", ""]
        out += [f"- {k}: {v}" for k, v in m.get("skipped", {}).items()]
        out += [f"- {k}: **failed** ({v})" for k, v in m.get("failed", {}).items()]
        out += [""]
    out += ["Contenders:", ""]
    out += [f"- **{k}** ({v['proto']}, {v['body']}): {v['doc']}" for k, v in m["contenders"].items()]
    return out + [""]


def section_hashes(h: Dict[str, Any], charts: str, rel: str) -> List[str]:
    out = ["## Checksums", "", f"![checksum speed against buffer size]({rel}/{chart_hashes(h, charts)})", "",
           "One call per buffer, client pinned to one CPU; median GB/s over interleaved rounds with min-max. "
           "`x baseline` is against what a user has without ossfast: for CRC-64 the function oss2 computes "
           "(crcmod with oss2's parameters), for MD5 hashlib; `x fastcrc` is against the fastest CRC-64 library "
           "here. Both are the median of per-round ratios, at the largest size. xxh3 is there for scale (a fast "
           "non-cryptographic hash; ossfast.fc derives ETags with xxh3-128).", "",
           "| function | " + " | ".join(fmt_size(s) for s in sorted(h["sizes"])) + " | x baseline | x fastcrc |",
           "|---|" + "---:|" * (len(h["sizes"]) + 2)]
    sizes = sorted(h["sizes"])
    big = str(sizes[-1])
    kinds = h.get("docs", {})
    baseline = {"crc64": "crcmod (oss2's CRC-64)", "md5": "hashlib.md5"}
    for label, per in h["rows"].items():
        cells = []
        for s in sizes:
            g = per[str(s)]["gbps"]
            cells.append(f"{med(g):.2f} ({min(g):.2f}-{max(g):.2f})")

        def ratio(ref: Optional[str]) -> str:
            r = h["rows"].get(ref, {}).get(big, {}).get("gbps") if ref else None
            if not r or ref == label:
                return "-"
            g = per[big]["gbps"]
            return fmt_ratio(statistics.median(g[i] / r[i] for i in range(min(len(g), len(r)))))
        kind = kinds.get(label)
        out.append(f"| {label} | " + " | ".join(cells) + f" | {ratio(baseline.get(kind))} | "
                   f"{ratio('fastcrc crc64.xz' if kind == 'crc64' else None)} |")
    out += ["", f"Ratios at {fmt_size(sizes[-1])}. GB/s per cell: median (min-max)."]
    return out + [""]


def section_import(im: Dict[str, Any], charts: str, rel: str) -> List[str]:
    base = med(im["wall"][im["baseline"]])
    items = []
    out = ["## Cold import time", "",
           f"A fresh `python -c \"import X\"` (this venv, bytecode cached), wall time minus `python -c pass` "
           f"({base * 1e3:.0f} ms here); {len(im['wall'][im['baseline']])} interleaved rounds. `-X importtime` is "
           "the module's own cumulative import time as Python reports it.", "",
           "| module | import (ms, median) | min-max | -X importtime (ms) |", "|---|---:|---:|---:|"]
    for label, w in im["wall"].items():
        if label == im["baseline"]:
            continue
        d = [x - base for x in w]
        it = med(im["importtime_us"][label]) / 1e3
        out.append(f"| {label} | {fmt_ms(med(d))} | {fmt_ms(min(d))}-{fmt_ms(max(d))} | {it:.0f} |")
        items.append((label, med(d) * 1e3, min(d) * 1e3, max(d) * 1e3))
    name = chart_bars(charts, "import.png", "Cold import time (ms over interpreter start-up; median, min-max)",
                      "milliseconds", items)
    return out + ["", f"![cold import time]({rel}/{name})", ""]


def section_rss(rs: Dict[str, Any], charts: str, rel: str) -> List[str]:
    rows = {k: v if isinstance(v, list) else [v] for k, v in rs["rows"].items()}
    n = min(len(v) for v in rows.values())
    out = ["## Peak memory for a file body", "",
           f"A {fmt_size(rs['size'])} file sent as an open file object, each contender in a fresh interpreter after "
           "one warm-up request; peak RSS (VmHWM, reset before the send) minus RSS before it; "
           f"{n} interleaved round(s), median with min-max; "
           f"{_placed(rs.get('placement')) if rs.get('placement') else 'client and sink on different CPUs'}.", "",
           "| contender | peak RSS growth (MiB) | min-max | RSS before the send (MiB) | GB/s of that send |",
           "|---|---:|---:|---:|---:|"]
    items = []
    for label, rs_ in sorted(rows.items(), key=lambda kv: med([r["growth_mib"] for r in kv[1]])):
        g = [r["growth_mib"] for r in rs_]
        out.append(f"| {label} | {med(g):.1f} | {min(g):.1f}-{max(g):.1f} | "
                   f"{med([r['before_mib'] for r in rs_]):.1f} | {med([r['gbps'] for r in rs_]):.2f} |")
        items.append((label, med(g), min(g), max(g)))
    name = chart_bars(charts, "rss.png", f"Peak RSS growth sending a {fmt_size(rs['size'])} file (MiB; median, "
                      "min-max)", "MiB", items)
    return out + ["", f"![peak RSS growth]({rel}/{name})", ""]


def _placed(p: Optional[Dict[str, Any]]) -> str:
    """Where the client and the sink ran, as the bench recorded it."""
    if not p:
        return "placement not recorded"
    where = {"together": "on one CPU", "apart": "on different CPUs"}.get(p.get("placement"), p.get("placement"))
    return f"client on CPU {p.get('client_cpu')}, sink on CPU {p.get('sink_cpu')} ({where})"


def _spread(v: Dict[str, float], fmt: Any) -> Tuple[str, str]:
    return fmt(v["median"]), f"{fmt(v['min'])}-{fmt(v['max'])}"


def section_async(a: Dict[str, Any]) -> List[str]:
    """benches/bench_async.py ``async.json``: requests in flight on one loop against oss2 on threads."""
    sink = a.get("sink", {})
    out = ["## Many requests in flight: AsyncClient", "",
           f"{a['inflight']} requests of {fmt_size(a['size'])} kept in flight by each contender over as many "
           f"keep-alive connections ({sink.get('kind', '?')} sink); {_placed(a.get('placement'))}. "
           f"{a['rounds']} interleaved round(s) in a shuffled order; req/s is the median over rounds with "
           "min-max, a ratio the median over rounds of the ratio within the round. `oss2 x threads` is oss2 "
           "as shipped on as many threads; the `bare` rows are asyncio's own floor (a prebuilt request, no "
           "signing, hashing or parsing).", "",
           "| contender | req/s (median) | min-max |", "|---|---:|---:|"]
    for label, v in sorted(a["rps"].items(), key=lambda kv: -kv[1]["median"]):
        m, mm = _spread(v, fmt_rate)
        out.append(f"| {label} | {m} | {mm} |")
    out += ["", "| ratio | median | min-max | target |", "|---|---:|---:|---:|"]
    targets = a.get("target", {})
    for label, v in a["ratios"].items():
        m, mm = _spread(v, lambda x: fmt_ratio(x))
        t = targets.get(label)
        out.append(f"| {label} | {m} | {mm} | {'>= ' + fmt_ratio(t) if t else '-'} |")
    if "threads_started_by_AsyncClient" in a:
        out += ["", f"Threads started by AsyncClient: {a['threads_started_by_AsyncClient']}."]
    return out + [""]


def section_async_file(af: Dict[str, Any]) -> List[str]:
    """benches/bench_async.py ``async_file.json``: one file body through AsyncClient, Client and oss2."""
    sink = af.get("sink", {})
    out = ["## A file body through AsyncClient", "",
           f"A {fmt_size(af['size'])} file (in the page cache) sent as an open file object, one call per "
           f"contender per round ({sink.get('kind', '?')} sink); {_placed(af.get('placement'))}. "
           f"{af['rounds']} interleaved round(s) in a shuffled order; GB/s is the median over rounds with "
           "min-max, client CPU the median `time.process_time` of the call, a ratio the median over rounds "
           "of the ratio within the round.", "",
           "| contender | GB/s (median) | min-max | client CPU per call |", "|---|---:|---:|---:|"]
    cpu = af.get("cpu_s", {})
    for label, v in sorted(af["gbps"].items(), key=lambda kv: -kv[1]["median"]):
        m, mm = _spread(v, fmt_gbps)
        c = cpu.get(label)
        out.append(f"| {label} | {m} | {mm} | {fmt_ms(c) + ' ms' if c is not None else '-'} |")
    out += ["", "| ratio | median | min-max |", "|---|---:|---:|"]
    for label, v in af["ratios"].items():
        m, mm = _spread(v, lambda x: fmt_ratio(x))
        out.append(f"| {label} | {m} | {mm} |")
    return out + [""]


def section_pytest_benchmark(pb: Dict[str, Any]) -> List[str]:
    out = ["## The other benches (pytest-benchmark)", "",
           "bench_crc64, bench_md5, bench_signing, bench_integrations and bench_sender, as pytest-benchmark "
           "measured them in this run (their own baselines and ratio tables are printed on the terminal by "
           "`make bench`; bench_sender and bench_integrations use the project's sink, `benches/sink.py`).", "",
           "| group | test | median | min | ops/s | rounds |", "|---|---|---:|---:|---:|---:|"]

    def t(s: float) -> str:
        return f"{s * 1e6:,.1f} us" if s < 1e-3 else f"{s * 1e3:,.2f} ms" if s < 1 else f"{s:.2f} s"
    for b in sorted(pb.get("benchmarks", []), key=lambda b: (b.get("group") or "", b["name"])):
        st = b["stats"]
        out.append(f"| {b.get('group') or '-'} | {b['name']} | {t(st['median'])} | {t(st['min'])} | "
                   f"{st['ops']:,.1f} | {st['rounds']} |")
    return out + [""]


def headline(m: Dict[str, Any]) -> List[str]:
    sizes = sorted(m["sizes"])
    out = ["## Headline", ""]
    picks = [sizes[0]] + ([sizes[-1]] if len(sizes) > 1 else [])
    for s, proto in [(p, "http") for p in picks] + [(sizes[0], "https")]:
        rows = [r for r in matrix_rows(m, s) if r["proto"] == proto]
        if not rows:
            continue
        place = m["placement"].get(str(s), {}).get("placement")
        unit = "req/s" if s <= (64 << 10) else "GB/s"
        out += [f"**{fmt_size(s)}, {proto.upper()}, client and sink "
                f"{'on one CPU' if place == 'together' else 'on two CPUs'}**", "",
                f"| contender | {unit} | x oss2 | x limit |", "|---|---:|---:|---:|"]
        for r in rows:
            val = fmt_rate(r["rps"]) if unit == "req/s" else fmt_gbps(r["gbps"])
            out.append(f"| {r['label']} | {val} | {fmt_ratio(r['x_oss2'])} | {fmt_ratio(r['x_limit'])} |")
        out.append("")
    return out


def render(results: str, out_md: str, charts: str) -> str:
    os.makedirs(charts, exist_ok=True)
    rel = os.path.relpath(charts, os.path.dirname(os.path.abspath(out_md)))
    m, h, im, rs = (load(results, n) for n in ("matrix", "hashes", "import", "rss"))
    am, af = load(results, "async"), load(results, "async_file")
    pb, run = load(results, "pytest-benchmark"), load(results, "run") or {}
    mach, vers = machine(), versions()
    com = run.get("commit") or commit()  # as it was when the run started
    quick = any(x and x.get("quick") for x in (m, h, im, rs, am, af))
    lines = ["# ossfast benchmarks", ""]
    if quick:
        lines += ["**Quick mode (`OSSFAST_BENCH_QUICK=1`): one round, tiny bodies. These numbers only show the "
                  "benches run; do not read them.**", ""]
    wall = ""
    if run.get("started"):
        wall = f"; `make bench` took {(run.get('finished') or time.time()) - run['started']:.0f} s wall time"
    lines += [f"Written by `benches/report.py` from the run of "
              f"{datetime.datetime.fromtimestamp(run.get('started') or time.time(), datetime.timezone.utc):%Y-%m-%d %H:%M} UTC"
              f"{wall}. Reproduce with `{run.get('command', 'make bench')}`. Every number below was "
              "measured in that one run; ratios compare contenders measured within the same rounds.", "",
              f"- Commit: `{com['sha'][:12]}` ({com['subject']})" + (
                  f"; the work tree had uncommitted changes to {', '.join('`' + c + '`' for c in com['changed'])}"
                  if com["changed"] else ""),
              f"- Machine: {mach.get('model')} ({mach.get('family_model', '')}), {mach.get('cpus')} vCPUs, "
              f"{mach.get('memory_gib', '?')} GiB, Linux {mach.get('kernel')}; CPU flags: "
              f"{', '.join(mach.get('flags', []))}" + (f" (absent: {', '.join(mach['flags_missing'])})"
                                                       if mach.get("flags_missing") else ""),
              "- A shared VM: its speed drifts by up to 2x within minutes, and other jobs may have run beside this "
              "one; read the ratios (paired within rounds) before the absolute numbers.",
              f"- Python {mach.get('python')}, {mach.get('openssl')}; "
              + ", ".join(f"{k} {v}" for k, v in vers.items()),
              ]
    if m and m.get("sink"):
        lines.append(f"- Sink: {m['sink']['note']}")
    lines.append("")
    if m and m["sizes"]:
        lines += headline(m)
    if m and m["sizes"]:
        lines += section_matrix(m, charts, rel)
    if h and h["sizes"]:
        lines += section_hashes(h, charts, rel)
    if im:
        lines += section_import(im, charts, rel)
    if am and am.get("rps"):
        lines += section_async(am)
    if af and af.get("gbps"):
        lines += section_async_file(af)
    if rs and rs["rows"]:
        lines += section_rss(rs, charts, rel)
    if pb:
        lines += section_pytest_benchmark(pb)
    text = "\n".join(lines).rstrip() + "\n"
    with open(out_md, "w") as f:
        f.write(text)
    return text


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default=os.path.join(ROOT, "build", "bench"))
    ap.add_argument("--out", default=os.path.join(ROOT, "BENCHMARKS.md"))
    ap.add_argument("--charts", default=None, help="default: benchmarks/ beside --out")
    ap.add_argument("--start", action="store_true",
                    help="only record the run's start (time, commit, changed files) in run.json")
    ap.add_argument("--finish", action="store_true", help="record now as the run's end in run.json first")
    args = ap.parse_args(argv)
    if args.start:
        os.makedirs(args.results, exist_ok=True)
        with open(os.path.join(args.results, "run.json"), "w") as f:
            json.dump({"started": time.time(), "command": "make bench", "commit": commit()}, f)
        return 0
    if args.finish:
        path = os.path.join(args.results, "run.json")
        run = load(args.results, "run") or {}
        run["finished"] = time.time()
        os.makedirs(args.results, exist_ok=True)
        with open(path, "w") as f:
            json.dump(run, f)
    charts = args.charts or os.path.join(os.path.dirname(os.path.abspath(args.out)), "benchmarks")
    render(args.results, args.out, charts)
    print(f"wrote {args.out} and charts in {charts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
