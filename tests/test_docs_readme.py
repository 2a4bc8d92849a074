"""The README read as a new user would: every Python block runs as written (against the
loopback server, the emulator or a local file), every ``ossfast.`` call it names binds to the
real signature, every command line parses, every make target, environment variable, default
and exception type it states is the code's."""
from __future__ import annotations

import ast
import builtins
import functools
import importlib
import inspect
import io
import os
import re
import shlex
import subprocess
import sys
import types
import urllib.request
from pathlib import Path

import pytest

import ossfast
from ossfast import cli

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
ROUTE = "fc-ap-01-1234-opap.oss-cn-hangzhou-internal.oss-object-process.aliyuncs.com"


def blocks(lang: str):
    """The README's fenced blocks of ``lang`` ("" for a bare fence), as (first line number, text)."""
    found, current, start = [], None, 0
    for number, line in enumerate(README.splitlines(), 1):
        if line.startswith("```"):
            if current is None:
                current, start, body = line[3:].strip(), number + 1, []
            else:
                if current == lang:
                    found.append((start, "".join(l + "\n" for l in body)))
                current = None
        elif current is not None:
            body.append(line)
    return found


def block_with(lang: str, marker: str) -> str:
    hits = [text for _, text in blocks(lang) if marker in text]
    assert len(hits) == 1, f"expected one {lang} block with {marker!r}, found {len(hits)}"
    return hits[0]


# ---- names and signatures --------------------------------------------------------------


def _chain(node):
    """``a.b.c`` -> ["a", "b", "c"]; None for anything else."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id] + parts[::-1]
    return None


@functools.lru_cache(maxsize=None)
def _fresh_submodules():
    """The submodules a fresh ``import ossfast`` makes reachable as attributes (the lazy
    ``fc`` included): this test process has imported more of them than a reader's would."""
    code = ("import ossfast, types; print(' '.join(n for n in dir(ossfast) "
            "if isinstance(getattr(ossfast, n), types.ModuleType)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    return frozenset(out.stdout.split())


def _resolve(roots, chain, imported=frozenset()):
    """Follow ``chain`` from a bound root, as Python would at run time in a fresh process (no
    implicit submodule imports: ``import ossfast`` then ``ossfast.x.y`` must work as written)."""
    obj = roots[chain[0]]
    for i, name in enumerate(chain[1:], 1):
        dotted = ".".join(chain[:i + 1])
        if not hasattr(obj, name):
            raise AssertionError(f"{dotted} does not exist (after the block's imports)")
        value = getattr(obj, name)
        if (obj is ossfast and isinstance(value, types.ModuleType) and name not in _fresh_submodules()
                and f"ossfast.{name}" not in imported):
            raise AssertionError(f"{dotted} does not exist after `import ossfast` (import it first)")
        obj = value
    return obj


def check_names(source: str, placeholders=(), where: str = "README", free_ok: bool = False):
    """Compile ``source``; every free name is a builtin, imported, assigned or one of
    ``placeholders``; every call through an ``ossfast`` name binds to its signature."""
    tree = ast.parse(source)
    compile(tree, where, "exec")
    roots = {}
    imported = set()
    bound = set(placeholders) | set(dir(builtins))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                imported.add(alias.name)
                top = alias.name.split(".")[0]
                mod = importlib.import_module(alias.name)
                roots[alias.asname or top] = mod if alias.asname else importlib.import_module(top)
        elif isinstance(node, ast.ImportFrom):
            mod = importlib.import_module(node.module)
            for alias in node.names:
                value = getattr(mod, alias.name, None)
                if value is None:
                    value = importlib.import_module(f"{node.module}.{alias.name}")
                roots[alias.asname or alias.name] = value
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
            bound.update(a.arg for a in node.args.args) if not isinstance(node, ast.ClassDef) else None
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
    bound |= set(roots)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            assert free_ok or node.id in bound, f"{where}: {node.id!r} is used but never imported or defined"
    ossfast_roots = {k: v for k, v in roots.items()
                     if getattr(v, "__name__", "").startswith("ossfast")}
    checked = 0
    for node in ast.walk(tree):
        chain = _chain(node) if isinstance(node, ast.Attribute) else None
        if chain and chain[0] in ossfast_roots:
            _resolve(ossfast_roots, chain, frozenset(imported))
        if isinstance(node, ast.Call):
            chain = _chain(node.func)
            if not chain or chain[0] not in ossfast_roots:
                continue
            func = _resolve(ossfast_roots, chain, frozenset(imported))
            if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
                continue
            sig = inspect.signature(func)
            try:
                sig.bind(*[None] * len(node.args), **{k.arg: None for k in node.keywords})
            except TypeError as exc:
                raise AssertionError(f"{where}: {ast.unparse(node)} does not fit {chain[-1]}{sig}: {exc}")
            checked += 1
    return checked


def test_every_python_block_compiles_and_names_only_what_it_imports():
    found = blocks("python")
    assert len(found) >= 3
    for line, text in found:
        check_names(text, PLACEHOLDERS, where=f"README.md line {line}")


def test_the_checker_catches_a_missing_import_and_a_bad_keyword():
    with pytest.raises(AssertionError, match="never imported"):
        check_names("bucket = oss2.Bucket(1)")
    with pytest.raises(AssertionError, match="does not fit"):
        check_names("import ossfast\nossfast.Client(colour='blue')")
    pytest.importorskip("ossfast.emulator")  # as another test may have: the check must not depend on it

    with pytest.raises(AssertionError, match="does not exist"):
        check_names("import ossfast\nossfast.emulator.Emulator")
    check_names("import ossfast.emulator\nossfast.emulator.Emulator")
    check_names("import ossfast\nossfast.fc.handler")


#: the values a reader supplies, by the names the README's blocks use for them
PLACEHOLDERS = {"ak", "sk", "sts_token", "route", "token", "body", "auth", "endpoint", "cfg"}


def _inline_calls():
    """Inline ``ossfast.x(...)`` spans that parse as Python (``...`` is Ellipsis)."""
    spans = set()
    for m in re.finditer(r"`(?:raise |@)?(ossfast\.[\w.]+\([^`]*\))`", " ".join(README.split())):
        text = m.group(1)
        try:
            ast.parse(text, mode="eval")
        except SyntaxError:
            continue
        spans.add(text)
    return sorted(spans)


@pytest.mark.parametrize("span", _inline_calls())
def test_inline_calls_bind_to_the_real_signatures(span):
    assert check_names("import ossfast\n" + span, where=span, free_ok=True) >= 1


def test_inline_calls_were_found():
    calls = _inline_calls()
    assert any(c.startswith("ossfast.fc.Abort(") for c in calls)
    assert any(c.startswith("ossfast.fc.run_local(") for c in calls)
    assert any(c.startswith("ossfast.Retry(") for c in calls)


# ---- the blocks, run -------------------------------------------------------------------


def test_the_transform_block_runs_on_a_local_file(tmp_path):
    ns: dict = {}
    exec(compile(block_with("python", "@ossfast.fc.handler"), "README index.py", "exec"), ns)
    path = tmp_path / "hello.txt"
    path.write_bytes(b"hello, world\n")
    result = ossfast.fc.run_local(ns["handler"], str(path))
    assert (result.status, result.body) == (200, b"HELLO, WORLD\n")
    ranged = ossfast.fc.run_local(ns["handler"], str(path), range="bytes=0-4")
    assert (ranged.status, ranged.body) == (206, b"HELLO")


def test_the_sender_block_sends_against_a_loopback_server(recording_server, monkeypatch):
    monkeypatch.setenv("OSSFAST_ENDPOINT", recording_server.url)
    ns = {"ak": "ak", "sk": "sk", "sts_token": "sts", "route": ROUTE, "token": "tok", "body": b"webp bytes"}
    exec(compile(block_with("python", "with ossfast.Client("), "README sender", "exec"), ns)
    req = recording_server.wait_for(1)[0]
    assert req.header("x-oss-fwd-header-Content-Type") == "image/webp"
    assert req.header("x-oss-security-token") == "sts" and req.body_length == len(b"webp bytes")
    assert ns["result"].status == 200 and ns["result"].crc64 == ossfast.crc64(b"webp bytes")


def test_the_sdk_block_runs_against_a_loopback_server(recording_server):
    pytest.importorskip("oss2")
    oss = pytest.importorskip("alibabacloud_oss_v2")
    import oss2

    from ossfast.integrations import oss2 as fast_oss2

    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider("ak", "sk")
    cfg.region = "cn-hangzhou"
    cfg.endpoint = recording_server.url
    ns = {"auth": oss2.Auth("ak", "sk"), "endpoint": recording_server.url, "cfg": cfg,
          "route": ROUTE, "token": "tok", "body": b"x" * 10}
    source = block_with("python", "fast_oss2")
    try:
        exec(compile(source, "README SDK block", "exec"), ns)
        assert fast_oss2.is_patched()
        req = recording_server.wait_for(1)[0]
        assert req.header("x-oss-request-token") == "tok"
        assert req.header("x-oss-fwd-header-Content-Type") == "image/webp"
        assert req.header("Authorization").startswith("OSS4-HMAC-SHA256 ")
    finally:
        fast_oss2.unpatch()
        for name in ("bucket", "client"):
            ns.pop(name, None)
        for obj in (cfg.http_client, getattr(ns.get("bucket"), "session", None)):
            close = getattr(obj, "close", None)
            if close is not None and not inspect.iscoroutinefunction(close):
                close()


def test_the_emulator_from_python_as_the_readme_writes_it(tmp_path):
    m = re.search(r"From Python: (.*?Emulator.*?)\.(?:\s|$)", " ".join(README.split()))
    assert m, "the README's one-line emulator example moved"
    (tmp_path / "hello.txt").write_bytes(b"hello, world\n")
    code = "\n".join(re.findall(r"`([^`]+)`", m.group(1))).replace("emu.url", "print(emu.url)")
    if "import" not in code:
        code = "import ossfast\n" + code  # what a reader has after the README's first block
    script = f"root, handler = {str(tmp_path)!r}, {str(ROOT / 'examples/uppercase.py')!r} + ':handler'\n" + code
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr.decode()[-800:]
    assert proc.stdout.decode().startswith("http://127.0.0.1:")


# ---- shell blocks and make targets -----------------------------------------------------


def _command_lines():
    lines = []
    for _, text in blocks("sh"):
        for line in text.splitlines():
            line = line.split(" # ")[0].strip()
            if "|" in line:
                line = line.split("|", 1)[1].strip()
            for prefix in ("ossfast ", "python -m ossfast "):
                if line.startswith(prefix):
                    lines.append(line[len(prefix):])
    return lines


def test_every_ossfast_command_line_in_the_readme_parses():
    lines = _command_lines()
    assert any(line.startswith("send ") for line in lines) and any(line.startswith("emulate ") for line in lines)
    for line in lines:
        argv = shlex.split(line.replace('"$ROUTE"', ROUTE).replace('"$TOKEN"', "tok"))
        try:
            args = cli._parser().parse_args(argv)
        except SystemExit as exc:
            raise AssertionError(f"README: `ossfast {line}` is refused by the parser") from exc
        assert args.command in ("send", "emulate")


def test_flags_named_in_prose_exist():
    send = cli._parser()._subparsers._group_actions[0].choices["send"]
    flags = {opt for action in send._actions for opt in action.option_strings}
    m = re.search(r"`--status`, `--header`.*?`--json`", README, re.S)
    assert m
    for flag in re.findall(r"`(--[\w-]+)`", m.group(0)):
        assert flag in flags, flag


def _make_targets():
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([\w-]+):", text, re.M))


def test_every_make_target_and_variable_named_exists():
    targets = _make_targets()
    named = set(re.findall(r"`make ([\w-]+)", README)) | set(re.findall(r"^make ([\w-]+)", README, re.M))
    assert {"demo", "test", "build", "wheel"} <= named
    assert named <= targets, named - targets
    makefile = (ROOT / "Makefile").read_text()
    assert "$(DEMO_ARGS)" in makefile and "FUZZ_SECONDS" in (ROOT / "tools/fuzz.sh").read_text()
    demo = subprocess.run([sys.executable, str(ROOT / "examples/demo.py"), "--help"], capture_output=True,
                          timeout=60)
    assert demo.returncode == 0 and b"--big-mib" in demo.stdout


def test_wheel_name_python_and_dependencies_match_the_packaging():
    assert f"dist/ossfast-{ossfast.__version__}-cp39-abi3-" in README
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'requires-python = ">=3.9"' in pyproject and "Python ≥ 3.9" in README
    deps = re.search(r"^dependencies = \[(.*?)\]", pyproject, re.M).group(1)
    names = sorted(re.findall(r'"([a-z0-9_-]+)', deps))
    m = re.search(r"--python-version 3\.10 ([\w ]+?)\s+#", README)
    assert m and sorted(m.group(1).split()) == names


def test_the_emulator_shell_session_works_as_shown(tmp_path):
    pytest.importorskip("aiohttp")
    text = block_with("sh", "emulate --root")
    assert "python -m ossfast emulate --root ./objects --handler examples/uppercase.py:handler --port 0" in text
    (tmp_path / "objects").mkdir()
    (tmp_path / "objects" / "hello.txt").write_bytes(b"hello, world\n")
    proc = subprocess.Popen([sys.executable, "-m", "ossfast", "emulate", "--root", "./objects", "--handler",
                             str(ROOT / "examples/uppercase.py") + ":handler", "--port", "0"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        line = proc.stdout.readline().decode()
        shown = re.search(r"^# (ossfast emulator listening on http://127\.0\.0\.1:)PORT \(root", text, re.M)
        assert shown and line.startswith(shown.group(1)), line
        url = re.search(r"http://127\.0\.0\.1:\d+", line).group(0)
        with urllib.request.urlopen(url + "/hello.txt", timeout=30) as r:
            assert (r.status, r.read()) == (200, b"HELLO, WORLD\n")
        req = urllib.request.Request(url + "/hello.txt", headers={"Range": "bytes=0-4"})
        with urllib.request.urlopen(req, timeout=30) as r:
            assert (r.status, r.read()) == (206, b"HELLO")
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


# ---- environment, defaults, exceptions -------------------------------------------------


def test_every_environment_variable_named_is_read_by_the_code():
    names = set(re.findall(r"\b((?:OSSFAST|ALIBABA_CLOUD|OSS)_[A-Z_]+|FC_REGION)\b", README))
    names.discard("OSSFAST_BACKEND=auto")
    files = list((ROOT / "ossfast").rglob("*.py")) + list((ROOT / "csrc").glob("*.c")) + [ROOT / "setup.py"]
    code = "".join(p.read_text() for p in files)
    for name in sorted(names):
        if name.endswith("_"):
            continue
        assert f'"{name}"' in code or f"'{name}'" in code, name


def test_client_defaults_are_the_documented_ones():
    sig = inspect.signature(ossfast.Client)
    text = " ".join(README.split())
    m = re.search(r"`timeout` \(seconds, or `\(connect, read\)`; default `\((\d+), (\d+)\)`\)", text)
    assert m, "README: the Client options do not state timeout's default"
    assert sig.parameters["timeout"].default == (float(m.group(1)), float(m.group(2)))
    m = re.search(r"`retries` \(int or `ossfast\.Retry\(total, backoff, max_backoff\)`; default (\d+)\)", text)
    assert m, "README: the Client options do not state retries' default"
    assert sig.parameters["retries"].default == int(m.group(1))
    m = re.search(r"`pool_maxsize` \(idle connections kept per host; default (\d+)\)", text)
    assert m, "README: the Client options do not state pool_maxsize's default"
    assert sig.parameters["pool_maxsize"].default == int(m.group(1))
    assert sig.parameters["signature_version"].default == "v4" and sig.parameters["scheme"].default == "https"
    # AsyncClient: "the same constructor": its defaults are the Client's it builds on
    aclient = ossfast.AsyncClient(ossfast.Credentials("ak", "sk"))
    with ossfast.Client(ossfast.Credentials("ak", "sk")) as plain:
        assert aclient.client._timeout == plain._timeout
    assert aclient.pool.maxsize == sig.parameters["pool_maxsize"].default
    retry = ossfast.Retry()
    assert "0.05 s doubling, full jitter, at most 2 s" in " ".join(README.split())
    assert (retry.backoff, retry.max_backoff) == (0.05, 2.0)


def test_progress_is_called_at_most_once_per_4_mib(recording_server):
    assert "at most once per 4 MiB" in " ".join(README.split())
    calls = []
    size = 10 * 1024 * 1024 + 5
    with ossfast.Client(ossfast.Credentials("ak", "sk"), endpoint=recording_server.url) as c:
        c.write_get_object_response(ROUTE, "t", 200, io.BytesIO(b"z" * size), content_length=size,
                                    progress=lambda sent, total: calls.append((sent, total)))
    assert calls[-1] == (size, size) and len(calls) <= size // (4 << 20) + 1
    assert all(b - a >= 4 << 20 for (a, _), (b, _) in zip(calls, calls[1:-1]))


def test_exception_types_are_as_documented():
    assert issubclass(ossfast.InvalidRequestError, (ossfast.OssfastError, ValueError))
    assert issubclass(ossfast.InvalidRequestError, ValueError)
    assert issubclass(ossfast.TransportError, ConnectionError)
    assert issubclass(ossfast.CertificateError, ossfast.TransportError)
    assert issubclass(ossfast.TimeoutError, ossfast.TransportError)
    assert issubclass(ossfast.TimeoutError, builtins.TimeoutError)
    for exc in (ossfast.ServerError, ossfast.TransportError, ossfast.InvalidRequestError):
        assert issubclass(exc, ossfast.OssfastError)
    for attr in ("status", "code", "message", "request_id", "ec", "host_id"):
        assert attr in README
    src = inspect.getsource(ossfast.ServerError)
    for attr in ("status", "code", "message", "request_id", "ec", "host_id"):
        assert f"self.{attr}" in src, attr
    tsrc = inspect.getsource(ossfast.TransportError)
    assert "self.request_sent" in tsrc and "self.bytes_sent" in tsrc


def test_exit_statuses_in_the_readme_are_the_clis():
    text = " ".join(README.split())
    assert ("Exit status 0 on success, 1 when OSS refused or the connection failed, 2 for bad input "
            "(nothing sent)") in text
    doc = cli.__doc__
    assert "0 success" in doc and "1 the request failed" in doc and "2 bad input" in doc


# ---- paths -------------------------------------------------------------------------------


def test_every_path_named_exists():
    text = " ".join(README.split())
    paths = set(re.findall(r"\b((?:tests|benches|tools|examples|csrc|ossfast)/[\w*./-]*\w)", text))
    assert len(paths) > 10
    for path in sorted(paths):
        assert list(ROOT.glob(path)), f"README names {path}, which does not exist"


def test_the_layout_lists_files_that_exist():
    layout = block_with("", "csrc/      the C core")
    top = None
    for line in layout.splitlines():
        head = re.match(r"^(\w+)/\s", line)
        if head:
            top = head.group(1)
        for name in re.findall(r"\b([\w/]+\.(?:py|c|h|sh))\b", line):
            hits = [p for p in (ROOT / top).rglob(os.path.basename(name)) if ".venv" not in p.parts]
            assert hits, f"README's layout names {top}/{name}, which does not exist"


def test_the_examples_under_the_emulator_are_where_the_readme_says():
    m = re.search(r"`tests/test_examples\.py` does this for both examples; `([^`]+)` runs them under the "
                  r"emulator", " ".join(README.split()))
    assert m
    files = list(ROOT.glob(m.group(1)))
    assert files and all("uppercase" in f.read_text() and "gzip_objects" in f.read_text() for f in files), \
        f"{m.group(1)} does not run both examples"


def test_the_asyncio_bullet_names_what_asyncclient_has():
    text = " ".join(README.split())
    assert "`await client.write_get_object_response(...)`, `prepare`, `await client.send(prepared)`, " \
           "`await client.close()`, `async with`" in text
    cls = ossfast.AsyncClient
    for name in ("write_get_object_response", "send", "close"):
        assert inspect.iscoroutinefunction(getattr(cls, name)), name
    assert not inspect.iscoroutinefunction(cls.prepare)
    assert hasattr(cls, "__aenter__") and hasattr(cls, "__aexit__")
    sync = inspect.signature(ossfast.Client.write_get_object_response).parameters
    assert list(inspect.signature(cls.write_get_object_response).parameters) == list(sync)
