"""A cold ``import ossfast`` loads neither asyncio nor ssl (an FC cold start pays every import)."""
import subprocess
import sys

CHECK = """
import sys
import ossfast
heavy = [m for m in ("asyncio", "ssl", "email.utils", "concurrent.futures.thread") if m in sys.modules]
assert not heavy, heavy
c = ossfast.Client(ossfast.Credentials("ak", "sk"), endpoint="http://127.0.0.1:9")
c.prepare("fc-ap-01-1234-opap.oss-cn-qingdao-internal.oss-object-process.aliyuncs.com", "t", 200, b"x")
c.close()
assert "ssl" not in sys.modules and "asyncio" not in sys.modules, "plain HTTP needs neither"
assert ossfast.AsyncClient.__name__ == "AsyncClient" and "asyncio" in sys.modules
from ossfast import AsyncClient  # noqa: F401
print("ok")
"""


def test_import_ossfast_loads_neither_asyncio_nor_ssl():
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_unknown_attribute_is_still_an_attribute_error():
    import ossfast

    try:
        ossfast.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("no AttributeError")
