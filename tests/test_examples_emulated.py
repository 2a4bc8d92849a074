"""The example transforms under the emulator, as FC would run them, every answer compared with
the same transform run locally (fc.run_local); and `make demo`'s script itself, on a small object."""
from __future__ import annotations

import gzip
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

pytest.importorskip("aiohttp")

from ossfast import fc  # noqa: E402
from ossfast.emulator import Emulator  # noqa: E402
from test_examples import load_example  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")


@pytest.fixture
def objects(tmp_path):
    root = tmp_path / "objects"
    (root / "dir").mkdir(parents=True)
    (root / "hello.txt").write_bytes(b"hello, object fc access point\n")
    (root / "dir" / "big.log").write_bytes(b"".join(b"%06d GET /item/%d 200\n" % (i, i * 7) for i in range(100_000)))
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


@pytest.mark.skipif(os.environ.get("OSSFAST_BACKEND") == "python",
                    reason="make demo runs on the native core; once is enough")
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


def test_decorator_paths_end_to_end(objects, fresh_instance, monkeypatch):
    """Spooled and spilled generators, a raising transform, Abort, and a 304 that does not run
    the transform, all through the emulator as a client sees them."""
    monkeypatch.setattr(fc, "_SPOOL_MEMORY", 64 * 1024)  # big.log spills to a temporary file
    runs = []

    @fc.handler(version="e2e")
    def transform(obj):
        runs.append(obj.context.event["userRequest"]["url"])
        mode = obj.user_headers.get("x-mode", "")
        if mode == "raise":
            raise ValueError("secret-ish detail")
        if mode == "abort":
            raise fc.Abort(404, "gone fishing")

        def reversed_chunks():  # no length declared: spooled
            with obj.open() as f:
                for chunk in iter(lambda: f.read(10_000), b""):
                    yield chunk[::-1]

        return reversed_chunks()

    with Emulator(str(objects), transform, timeout=30) as emu:
        for key in ("hello.txt", "dir/big.log"):
            data = (objects / key).read_bytes()
            expect = b"".join(data[i:i + 10_000][::-1] for i in range(0, len(data), 10_000))
            status, got, body = fetch(f"{emu.url}/{key}")
            assert (status, body) == (200, expect)
            assert got["content-length"] == str(len(expect))
        status, _, body = fetch(f"{emu.url}/hello.txt", {"X-Mode": "raise"})
        assert status == 500 and b"secret-ish" not in body and b"transform failed" in body
        status, _, body = fetch(f"{emu.url}/hello.txt", {"X-Mode": "abort"})
        assert status == 404 and b"gone fishing" in body
        runs.clear()
        _, first, _ = fetch(f"{emu.url}/hello.txt")
        assert len(runs) == 1
        status, got, body = fetch(f"{emu.url}/hello.txt", {"If-None-Match": first["etag"]})
        assert (status, body) == (304, b"") and len(runs) == 1  # the transform did not run


def test_module_level_client_sees_the_function_environment(objects, tmp_path):
    """FC sets the function's variables before importing its module: a module-level Client
    (common FC practice) must find the emulator's credentials and endpoint."""
    module = tmp_path / "modlevel.py"
    module.write_text(
        "import ossfast\n"
        "CLIENT = ossfast.Client(signature_version='v1')  # reads ALIBABA_CLOUD_* and OSSFAST_ENDPOINT\n"
        "def handler(event, context):\n"
        "    ctx = ossfast.fc.ObjectContext.from_event(event)\n"
        "    CLIENT.write_get_object_response(ctx.output_route, ctx.output_token, 200, b'module-level')\n")
    with Emulator(str(objects), f"{module}:handler", timeout=30) as emu:
        assert fetch(f"{emu.url}/hello.txt")[::2] == (200, b"module-level")
    emu.config.handler.__globals__["CLIENT"].close()
