"""benches/report.py: the tables say what the measurements say (ratios paired within rounds)."""
from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benches"))

import report  # noqa: E402

KIB = 1024


def _matrix():
    # seconds per request in three rounds; oss2 is 10x slower than ossfast in every round,
    # the raw socket 2x faster, while the VM halves its speed in round 2
    rows = {
        "raw socket": {str(KIB): {"wall": [1e-5, 2e-5, 1e-5], "cpu": [5e-6, 5e-6, 5e-6], "n": 100}},
        "ossfast": {str(KIB): {"wall": [2e-5, 4e-5, 2e-5], "cpu": [1e-5, 1e-5, 1e-5], "n": 100}},
        "oss2": {str(KIB): {"wall": [2e-4, 4e-4, 2e-4], "cpu": [1e-4, 2e-4, 1e-4], "n": 10}},
    }
    meta = {"proto": "http", "body": "bytes", "limit": "raw socket", "oss2": "oss2", "doc": "d"}
    return {"sizes": [KIB], "rows": rows, "placement": {str(KIB): {"placement": "together", "client_cpu": 0,
                                                                    "sink_cpu": 0}},
            "contenders": {k: dict(meta, family=f) for k, f in
                           (("raw socket", "limit"), ("ossfast", "ossfast"), ("oss2", "oss2"))},
            "skipped": {"v2 + HttpClient": "not there yet"}, "sink": {"kind": "nginx", "note": "nginx x"}}


def test_paired_ratio_is_the_median_of_per_round_ratios():
    assert report.paired([1.0, 2.0, 4.0], [10.0, 20.0, 40.0]) == 10.0
    assert report.paired([1.0, 1.0, 1.0], [2.0, 3.0, 100.0]) == 3.0
    assert report.paired([], [1.0]) is None


def test_matrix_rows_rates_spread_and_ratios():
    rows = {r["label"]: r for r in report.matrix_rows(_matrix(), KIB)}
    fast = rows["ossfast"]
    assert fast["rps"] == pytest.approx(50000)  # 1 / median(2e-5, 4e-5, 2e-5)
    assert (fast["rps_min"], fast["rps_max"]) == (pytest.approx(25000), pytest.approx(50000))
    assert fast["x_oss2"] == pytest.approx(10.0)
    assert fast["x_limit"] == pytest.approx(0.5)
    assert fast["cpu_us"] == pytest.approx(10.0)
    assert rows["oss2"]["x_oss2"] == pytest.approx(1.0)
    assert [r["label"] for r in report.matrix_rows(_matrix(), KIB)] == ["raw socket", "ossfast", "oss2"]


def test_matrix_table_names_placement_and_ratios():
    text = "\n".join(report.matrix_table(_matrix(), KIB))
    assert "client on CPU 0, sink on CPU 0 (together)" in text
    assert "| ossfast | http | bytes | 50,000 | 25,000-50,000 |" in text
    assert "| 10.0x | 0.50x |" in text
    assert report.matrix_table(_matrix(), 2 * KIB) == []


def test_headline_picks_smallest_and_largest():
    text = "\n".join(report.headline(_matrix()))
    assert "**1 KiB, HTTP, client and sink on one CPU**" in text
    assert "| ossfast | 50,000 | 10.0x | 0.50x |" in text


def _async():
    # AsyncClient 30x oss2 in round 1, 20x in round 2 (the VM slowed down), 25x in round 3
    return {"sink": {"kind": "nginx", "note": "n"}, "placement": {"placement": "together", "client_cpu": 0,
                                                                  "sink_cpu": 0},
            "inflight": 64, "size": KIB, "rounds": 3, "quick": False,
            "rps": {"oss2 x threads": {"median": 1000.0, "min": 800.0, "max": 1200.0},
                    "AsyncClient": {"median": 25000.0, "min": 16000.0, "max": 36000.0},
                    "bare Protocol": {"median": 90000.0, "min": 80000.0, "max": 100000.0}},
            "ratios": {"AsyncClient / oss2 x threads": {"median": 25.0, "min": 20.0, "max": 30.0},
                       "AsyncClient / bare Protocol": {"median": 0.28, "min": 0.2, "max": 0.36}},
            "target": {"AsyncClient / oss2 x threads": 25}, "threads_started_by_AsyncClient": 0}


def _async_file():
    return {"sink": {"kind": "sink.py", "note": "s"}, "placement": {"placement": "apart", "client_cpu": 0,
                                                                    "sink_cpu": 1},
            "size": 256 << 20, "rounds": 3, "quick": False,
            "gbps": {"oss2 file": {"median": 0.4, "min": 0.3, "max": 0.5},
                     "AsyncClient file": {"median": 2.5, "min": 2.0, "max": 3.0},
                     "Client file": {"median": 2.6, "min": 2.2, "max": 3.1}},
            "cpu_s": {"oss2 file": 0.61, "AsyncClient file": 0.095, "Client file": 0.09},
            "ratios": {"AsyncClient / Client": {"median": 0.96, "min": 0.9, "max": 1.02},
                       "AsyncClient / oss2": {"median": 6.25, "min": 5.0, "max": 8.0}}}


def test_async_section_rates_ratios_target_and_placement():
    text = "\n".join(report.section_async(_async()))
    assert "64 requests of 1 KiB" in text
    assert "client on CPU 0, sink on CPU 0 (on one CPU)" in text
    lines = text.splitlines()
    rows = [ln for ln in lines if ln.startswith("| ") and "req/s" not in ln and "ratio" not in ln]
    assert rows[:3] == ["| bare Protocol | 90,000 | 80,000-100,000 |", "| AsyncClient | 25,000 | 16,000-36,000 |",
                        "| oss2 x threads | 1,000 | 800-1,200 |"]  # fastest first
    assert "| AsyncClient / oss2 x threads | 25.0x | 20.0x-30.0x | >= 25.0x |" in lines
    assert "| AsyncClient / bare Protocol | 0.28x | 0.20x-0.36x | - |" in lines
    assert "Threads started by AsyncClient: 0." in text


def test_async_file_section_rates_cpu_ratios_and_placement():
    text = "\n".join(report.section_async_file(_async_file()))
    assert "A 256 MiB file" in text
    assert "client on CPU 0, sink on CPU 1 (on different CPUs)" in text
    lines = text.splitlines()
    assert "| Client file | 2.60 | 2.20-3.10 | 90.0 ms |" in lines
    assert "| oss2 file | 0.40 | 0.30-0.50 | 610 ms |" in lines
    assert lines.index("| Client file | 2.60 | 2.20-3.10 | 90.0 ms |") < lines.index(
        "| AsyncClient file | 2.50 | 2.00-3.00 | 95.0 ms |")
    assert "| AsyncClient / oss2 | 6.25x | 5.00x-8.00x |" in lines


def test_render_includes_the_async_sections_and_rss_async_contender(tmp_path):
    import json

    res = tmp_path / "res"
    res.mkdir()
    (res / "async.json").write_text(json.dumps(_async()))
    (res / "async_file.json").write_text(json.dumps(dict(_async_file(), quick=True)))
    rss = {"size": 8 << 20, "quick": False, "placement": {"placement": "apart", "client_cpu": 0, "sink_cpu": 1},
           "rows": {"ossfast": [{"growth_mib": 1.5, "before_mib": 40.0, "gbps": 2.0}],
                    "ossfast AsyncClient": [{"growth_mib": 2.5, "before_mib": 42.0, "gbps": 1.5}]}}
    (res / "rss.json").write_text(json.dumps(rss))
    text = report.render(str(res), str(tmp_path / "B.md"), str(tmp_path / "charts"))
    assert "## Many requests in flight: AsyncClient" in text and "## A file body through AsyncClient" in text
    assert text.index("## Many requests in flight") < text.index("## A file body") < text.index("## Peak memory")
    assert "| ossfast AsyncClient | 2.5 | 2.5-2.5 | 42.0 | 1.50 |" in text
    assert "client on CPU 0, sink on CPU 1 (on different CPUs)" in text.split("## Peak memory")[1]
    assert "**Quick mode" in text  # async_file.json said quick
    (res / "async.json").unlink()
    (res / "async_file.json").unlink()
    text = report.render(str(res), str(tmp_path / "B.md"), str(tmp_path / "charts"))
    assert "AsyncClient file" not in text and "Many requests in flight" not in text
