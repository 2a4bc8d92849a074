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


# ---- what a cold ``import ossfast`` leaves out ------------------------------------------------

import ast  # noqa: E402
import os  # noqa: E402

import pytest  # noqa: E402

#: loaded on first use only: an FC instance pays every module ``import ossfast`` loads
LAZY = ("ossfast.fc", "ossfast.aio", "ossfast.cli", "ossfast.integrations", "ossfast.emulator",
        "json", "contextvars", "asyncio", "ssl", "email.utils", "concurrent.futures")


def _loaded_by_import_ossfast():
    code = "import sys, ossfast; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return set(out.stdout.split())


def test_import_ossfast_leaves_out_what_a_sender_does_not_need():
    loaded = _loaded_by_import_ossfast()
    assert "ossfast.client" in loaded  # the check itself works
    assert not [m for m in LAZY if m in loaded], sorted(m for m in LAZY if m in loaded)


@pytest.mark.xfail(strict=True, reason="ossfast/client.py and ossfast/transport.py still make a "
                   "dataclass each (Retry, Timeout) and import random at module level; when they "
                   "no longer do, this passes: drop the mark")
def test_import_ossfast_loads_no_dataclasses_inspect_or_random():
    loaded = _loaded_by_import_ossfast()
    assert not [m for m in ("dataclasses", "inspect", "random") if m in loaded]


def test_lazy_fc_is_the_same_module_however_it_is_reached():
    code = """
import sys
import ossfast
assert "ossfast.fc" not in sys.modules and "fc" in dir(ossfast)
fc = ossfast.fc
from ossfast import fc as fc2
import ossfast.fc as fc3
assert fc is fc2 is fc3 is sys.modules["ossfast.fc"] and callable(fc.handler)
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


#: imports that cost a cold start and that no module ``import ossfast`` loads may make at its top
#: level (inside a function, or under ``if TYPE_CHECKING:``, they are fine)
HEAVY = {"typing", "dataclasses", "inspect", "random", "json", "contextvars", "asyncio", "ssl",
         "email", "concurrent"}
#: modules that still do, and what: this test fails once one no longer does, so the entry goes
PENDING = {
    "ossfast.client": {"typing", "dataclasses", "random"},
    "ossfast.transport": {"typing", "dataclasses"},
}


def _top_level_imports(path):
    """Root names of the modules imported at module level, ``if TYPE_CHECKING:`` blocks aside."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    found = set()

    def visit(stmts):
        for node in stmts:
            if isinstance(node, ast.Import):
                found.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                found.add(node.module.split(".")[0])
            elif isinstance(node, ast.If):
                test = node.test
                name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
                if name != "TYPE_CHECKING":
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, (ast.Try, ast.With)):
                visit(node.body)
                for h in getattr(node, "handlers", ()):
                    visit(h.body)
                visit(getattr(node, "orelse", ()))
                visit(getattr(node, "finalbody", ()))
            elif isinstance(node, ast.ClassDef):
                visit(node.body)
    visit(tree.body)
    return found


def test_modules_loaded_by_import_ossfast_make_no_heavy_import_at_top_level():
    import ossfast

    root = os.path.dirname(ossfast.__file__)
    checked = 0
    for mod in sorted(m for m in _loaded_by_import_ossfast() if m == "ossfast" or m.startswith("ossfast.")):
        rel = mod.split(".")[1:]
        path = os.path.join(root, *rel) + ".py"
        if not rel:
            path = os.path.join(root, "__init__.py")
        elif not os.path.exists(path):
            path = os.path.join(root, *rel, "__init__.py")
        if not os.path.exists(path):  # the compiled core
            continue
        checked += 1
        heavy = _top_level_imports(path) & HEAVY
        assert heavy == PENDING.get(mod, set()), (mod, sorted(heavy))
    assert checked >= 10, checked
