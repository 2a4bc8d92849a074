"""The example transforms under the emulator, as FC would run them, every answer compared with
the same transform run locally (fc.run_local); and `make demo`'s script itself, on a small object."""
from __future__ import annotations

import gzip
import importlib.util
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

pytest.importorskip("aiohttp")

from ossfast import fc  # noqa: E402
from ossfast.emulator import Emulator  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")


def load_example(name):
    spec = importlib.util.spec_from_file_location("example_" + name, os.path.join(EXAMPLES, name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def objects(tmp_path):
    root = tmp_path / "objects"
    (root / "dir").mkdir(parents=True)
    (root / "hello.txt").write_bytes(b"hello, object fc access point\n")
    (root / "dir" / "big.log").write_bytes(b"".join(b"%06d GET /item/%d 200\n" % (i, i * 7) for i in range(300_000)))
    (root / "empty").write_bytes(b"")
    return root


@pytest.fixture
def fresh_instance():
    """Each emulator is a new FC instance: the instance client is made anew for it."""
    fc._reset_client()
    yield
    fc._reset_client()


def fetch(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


CASES = [
    ("hello.txt", {}),
    ("hello.txt", {"Range": "bytes=7-12"}),
    ("hello.txt", {"Range": "bytes=-4"}),
    ("hello.txt", {"Range": "bytes=500-"}),
    ("dir/big.log", {}),
    ("dir/big.log", {"Range": "bytes=1000000-1999999"}),
    ("empty", {}),
]


@pytest.mark.parametrize("name", ["uppercase", "gzip_objects"])
@pytest.mark.parametrize("version", ["v1", "v4"])
def test_example_under_the_emulator_matches_run_local(name, version, objects, fresh_instance):
    example = load_example(name)
    handler = fc.handler(version="1", client_options={"signature_version": version})(
        example.handler.transform.func)
    with Emulator(str(objects), handler, timeout=30) as emu:
        for key, headers in CASES:
            status, got, body = fetch(f"{emu.url}/{key}", headers)
            expect = fc.run_local(handler, str(objects / key), range=headers.get("Range"))
            assert (status, body) == (expect.status, expect.body), (key, headers)
            assert got.get("etag") == expect.headers.get("etag")
            if name == "gzip_objects" and status == 200:
                assert got["content-encoding"] == "gzip"
                assert gzip.decompress(body) == (objects / key).read_bytes()
            if status == 206:
                assert got["content-range"] == expect.headers["content_range"]
        # the same object again with its ETag: a 304, without running the transform
        _, first, _ = fetch(f"{emu.url}/hello.txt")
        status, got, body = fetch(f"{emu.url}/hello.txt", {"If-None-Match": first["etag"]})
        assert (status, body, got.get("etag")) == (304, b"", first["etag"])


def test_deployable_handlers_are_the_examples_own(objects, fresh_instance):
    """The example modules' own `handler` objects, loaded by spec as FC would load them."""
    for name in ("uppercase", "gzip_objects"):
        fc._reset_client()
        with Emulator(str(objects), os.path.join(EXAMPLES, name + ".py") + ":handler", timeout=30) as emu:
            status, _, body = fetch(f"{emu.url}/hello.txt")
        expect = fc.run_local(load_example(name).handler, str(objects / "hello.txt"))
        assert (status, body) == (200, expect.body)


def test_demo_script_end_to_end(tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(EXAMPLES, "demo.py"), "--big-mib", "4",
                           "--keep", str(tmp_path / "objects")],
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
                          env={**os.environ, "PYTHONDEVMODE": ""})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "every answer matches the transform run locally" in out
    assert out.count(" ok\n") == 6 and "MISMATCH" not in out
    assert (tmp_path / "objects" / "logs" / "big.log").stat().st_size == 4 * 1024 * 1024
