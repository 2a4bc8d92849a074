"""`make wheel`: one abi3 wheel that carries the whole package, whose core loads on any CPython
3.9+ and needs no newer C library than FC's runtimes have. Run once, in the native pass."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile

import pytest

import ossfast

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = pytest.mark.skipif(
    ossfast.backend != "native" or os.environ.get("OSSFAST_EXPECT_SANITIZED") == "1",
    reason="built and checked once, in the native pass")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    src = out / "src"
    # a copy of the tree as git would ship it (no in-place builds, no .venv)
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    for name in files:
        if os.path.isfile(os.path.join(ROOT, name)):
            os.makedirs(src / os.path.dirname(name), exist_ok=True)
            shutil.copy2(os.path.join(ROOT, name), src / name)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out),
         str(src), "--config-settings=--build-option=--py-limited-api=cp39"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "OSSFAST_REQUIRE_NATIVE": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    (path,) = [p for p in out.iterdir() if p.suffix == ".whl"]
    return path


def test_one_abi3_wheel_with_the_whole_package(wheel):
    assert re.fullmatch(r"ossfast-[\d.]+-cp39-abi3-linux_\w+\.whl", wheel.name), wheel.name
    names = zipfile.ZipFile(wheel).namelist()
    assert [n for n in names if n.endswith(".so")] == ["ossfast/_ossfast.abi3.so"]
    for module in ("ossfast/fc.py", "ossfast/cli.py", "ossfast/__main__.py", "ossfast/emulator/__init__.py",
                   "ossfast/py.typed"):
        assert module in names
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "ossfast = ossfast.cli:main" in meta


def test_the_wheel_core_loads_and_needs_an_old_glibc(wheel, tmp_path):
    zipfile.ZipFile(wheel).extractall(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-c", "import ossfast, sys; print(ossfast.backend, ossfast.__file__, "
         "ossfast.crc64(b'123456789'))"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={**os.environ, "OSSFAST_BACKEND": "native", "PYTHONPATH": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    backend, where, crc = proc.stdout.split()
    assert backend == "native" and where.startswith(str(tmp_path)) and int(crc) == 0x995DC9BBDF1939FA
    if shutil.which("objdump") is None:
        pytest.skip("objdump not installed")
    symbols = subprocess.run(["objdump", "-T", str(tmp_path / "ossfast" / "_ossfast.abi3.so")],
                             capture_output=True, text=True, check=True).stdout
    versions = {tuple(int(x) for x in v.split(".")) for v in re.findall(r"GLIBC_([\d.]+)", symbols)}
    assert versions and max(versions) <= (2, 17), sorted(versions)  # FC's oldest runtimes have 2.17+
