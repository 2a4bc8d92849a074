"""The example transforms: each checked on its own with fc.run_local (as a user's unit test
would), and end to end through the emulator (as FC would run it, see test_emulator_examples)."""
from __future__ import annotations

import gzip
import importlib.util
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")

from ossfast import fc  # noqa: E402


def load_example(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(EXAMPLES, name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "text.log"
    lines = b"".join(b"line %d: the quick brown fox \xc3\xa9\n" % i for i in range(120_000))
    path.write_bytes(lines)  # about 4 MiB: several chunks
    return path


def test_uppercase_streams_with_its_length(text_file):
    example = load_example("uppercase")
    data = text_file.read_bytes()
    result = fc.run_local(example.handler, str(text_file))
    assert result.status == 200 and result.body == data.upper()
    assert result.headers["etag"].startswith('"') and result.headers["content_type"]
    part = fc.run_local(example.handler, str(text_file), range="bytes=100-199")
    assert part.status == 206 and part.body == data.upper()[100:200]


def test_gzip_objects_compresses_deterministically(text_file):
    example = load_example("gzip_objects")
    data = text_file.read_bytes()
    first = fc.run_local(example.handler, str(text_file))
    assert first.status == 200 and first.headers["content_encoding"] == "gzip"
    assert gzip.decompress(first.body) == data and len(first.body) < len(data) // 4
    assert fc.run_local(example.handler, str(text_file)).body == first.body
