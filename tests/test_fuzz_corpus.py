"""Replays the fuzzing corpus (tests/data/fuzz/, grown by `make fuzz`) through the
differential harness: native and pure-Python must agree on every kept input."""
from __future__ import annotations

import os
import sys

import pytest

import ossfast

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "data", "fuzz")
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tools"))

pytestmark = pytest.mark.skipif(ossfast.backend != "native", reason="compares native with pure")


def corpus():
    return sorted(os.listdir(CORPUS)) if os.path.isdir(CORPUS) else []


def test_corpus_is_there():
    assert len(corpus()) >= 20, "run `make fuzz` to grow tests/data/fuzz"


@pytest.mark.parametrize("name", corpus())
def test_replay(name):
    import fuzz_core

    with open(os.path.join(CORPUS, name), "rb") as f:
        fuzz_core.one_input(f.read())


def test_harness_catches_a_mismatch(monkeypatch):
    import fuzz_core

    monkeypatch.setattr(fuzz_core.P, "crc64", lambda data, crc=0: 1)
    with pytest.raises(fuzz_core.Mismatch):
        fuzz_core.one_input(bytes([0]) + b"x" * 40)
