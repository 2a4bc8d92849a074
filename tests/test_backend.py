"""Which backend runs, the fallback warning, and the module version check."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import ossfast

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(code: str, **env: str) -> subprocess.CompletedProcess:
    e = dict(os.environ)
    e.update(env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=e, cwd=os.getcwd(), timeout=60)


def test_backend_under_test_is_the_intended_one():
    wanted = os.environ.get("OSSFAST_BACKEND", "auto")
    if wanted == "auto":  # a bare pytest run: either is fine, make test pins each pass
        wanted = ossfast.backend
    assert ossfast.backend == wanted
    from ossfast import _backend

    assert _backend.impl.NAME == wanted
    assert ossfast.crc64 is _backend.impl.crc64


@pytest.mark.skipif(os.environ.get("OSSFAST_EXPECT_SANITIZED") != "1", reason="only in the sanitizer run")
def test_sanitized_core_is_loaded():
    from ossfast import _native

    with open("/proc/self/maps") as f:
        maps = f.read()
    assert "libasan" in maps
    assert os.sep + "asan" + os.sep in _native.__file__


BLOCK_NATIVE = """
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "ossfast._ossfast":
            raise ImportError("blocked for the test")
sys.meta_path.insert(0, Block())
"""


def test_auto_falls_back_with_one_warning():
    p = run(BLOCK_NATIVE + """
import warnings
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    import ossfast
    import ossfast.checksum, ossfast.client
print(ossfast.backend, len([x for x in w if issubclass(x.category, RuntimeWarning)]))
print(hex(ossfast.crc64(b"123456789")))
""", OSSFAST_BACKEND="auto")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["python", "1", "0x995dc9bbdf1939fa"]


def test_native_required_fails_loudly():
    p = run(BLOCK_NATIVE + "import ossfast\n", OSSFAST_BACKEND="native")
    assert p.returncode != 0
    assert "OSSFAST_BACKEND=native" in p.stderr


def test_bad_backend_name():
    p = run("import ossfast\n", OSSFAST_BACKEND="fortran")
    assert p.returncode != 0 and "OSSFAST_BACKEND" in p.stderr


def test_python_backend_forced():
    p = run("import ossfast; print(ossfast.backend)", OSSFAST_BACKEND="python")
    assert p.stdout.strip() == "python"


@pytest.mark.skipif(ossfast.backend != "native", reason="native module check")
def test_module_of_another_version_refused():
    from ossfast import _native

    class Other:
        OSSFAST_ABI_VERSION = _native.ABI_VERSION

        def ossfast_abi_version(self):
            return 999

    with pytest.raises(ImportError, match="999"):
        _native.check_abi(Other())
    _native.check_abi(_native.lib)  # the loaded one passes
