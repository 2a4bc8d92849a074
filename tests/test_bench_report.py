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
