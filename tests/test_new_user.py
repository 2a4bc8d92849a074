"""Defects found by trying ossfast as a new user would (issue 10): each test fails without its fix."""
from __future__ import annotations

import inspect
import io
import logging
import os
import re
import time
from pathlib import Path

import pytest
from srv_faults import FaultServer, accept_never_read
from srv_recording import RecordingServer
from srv_replies import Reply, oss_error

import ossfast
from ossfast import Credentials, InvalidRequestError
from ossfast import TimeoutError as OssTimeoutError
from ossfast import _pure, request

pytestmark = pytest.mark.usefixtures("no_fd_leak")

ROUTE = "fc-ap-01-1234-opap.oss-cn-qingdao-internal.oss-object-process.aliyuncs.com"
TOKEN = "OSSV1#new-user"
CREDS = Credentials("ak", "sk")
README = Path(__file__).resolve().parent.parent / "README.md"


def readme() -> str:
    """The README with its line breaks and runs of blanks as single spaces."""
    return " ".join(README.read_text().split())
MiB = 1024 * 1024


def client(server, **kw):
    kw.setdefault("retries", ossfast.Retry(total=0))
    return ossfast.Client(CREDS, endpoint=server.url, **kw)


# ---- a write-only file body -----------------------------------------------------------------


@pytest.mark.parametrize("how", ["open-wb", "fileio-w", "wrapper-fd"])
def test_write_only_file_is_refused_before_anything_is_sent(start_server, tmp_path, how):
    path = tmp_path / "out.bin"
    path.write_bytes(b"x" * 1000)
    server = start_server(RecordingServer)

    class FdOnly:  # a file-like object with a fileno() and read(), but no readable()
        def __init__(self, f):
            self.f = f

        def fileno(self):
            return self.f.fileno()

        def read(self, n=-1):
            return self.f.read(n)

    with client(server) as c:
        with open(path, "r+b") as f:  # a readable file still goes (the control)
            assert c.write_get_object_response(ROUTE, TOKEN, 200, f).bytes_sent == 1000
        raw = open(path, "ab") if how == "open-wb" else io.FileIO(path, "a")
        with raw:
            body = FdOnly(raw) if how == "wrapper-fd" else raw
            with pytest.raises(InvalidRequestError) as ei:
                c.write_get_object_response(ROUTE, TOKEN, 200, body)
    assert ei.value.field == "body" and "not open for reading" in str(ei.value)
    assert len(server.wait_for(1)) == 1 and server.accepted == 1


# ---- a send that makes no progress ----------------------------------------------------------


def _body(kind, data, path):
    if kind == "bytes":
        return data
    if kind == "file":
        return open(path, "rb")
    if kind == "bytesio":
        return io.BytesIO(data)
    return iter([data[i:i + MiB] for i in range(0, len(data), MiB)])


@pytest.mark.parametrize("kind", ["bytes", "file", "bytesio", "iterator"])
def test_no_progress_send_fails_after_read_seconds(start_server, tmp_path, kind):
    """README: ``read`` bounds each wait while sending. A server that never reads takes a few
    MiB into the socket buffers and then nothing: the call fails ``read`` seconds later (it
    took about 3x ``read`` when the kernel's SO_SNDTIMEO bounded each send call, since a call
    that took a few bytes at the end of its wait restarted the clock)."""
    read = 1.0
    data = bytes(24 * MiB)  # zeros: the pure-Python CRC of it still costs time, so measure that
    path = tmp_path / "body.bin"
    path.write_bytes(data)
    server = start_server(FaultServer, behaviours=[accept_never_read(rcvbuf=None)])
    body = _body(kind, data, path)
    try:
        with client(server, timeout=(1.0, read)) as c:
            t = time.perf_counter()
            with pytest.raises(OssTimeoutError) as ei:
                c.write_get_object_response(ROUTE, TOKEN, 200, body, content_length=len(data))
            elapsed = time.perf_counter() - t
    finally:
        if hasattr(body, "close"):
            body.close()
    assert str(ei.value) == "sending the request timed out"
    assert ei.value.request_sent and ei.value.bytes_sent < len(data)
    hashing = 0.0
    if ossfast.backend == "python":  # each piece is hashed before it is offered
        t = time.perf_counter()
        ossfast.crc64(data[:4 * MiB])
        hashing = 2 * (time.perf_counter() - t)
    assert read <= elapsed < read + 0.5 + hashing, elapsed


def test_readme_states_the_no_progress_rule():
    text = readme()
    assert "waited `read` seconds for the socket to take a byte" in text


# ---- more than 64 header lines --------------------------------------------------------------


@pytest.mark.parametrize("version", ["v1", "v4"])
@pytest.mark.parametrize("sts", [None, "sts-token"])
def test_too_many_header_lines_names_the_field_and_the_limit(version, sts):
    c = ossfast.Client(Credentials("ak", "sk", sts), signature_version=version, region="cn-qingdao",
                       endpoint="http://127.0.0.1:9")
    fwd = {"content_type": "text/plain", "etag": '"e"'}
    n = 0
    while True:  # the largest number of extra headers that still goes
        try:
            c.prepare(ROUTE, TOKEN, 200, b"x", headers={f"x-h{i}": "v" for i in range(n + 1)}, **fwd)
        except InvalidRequestError as exc:
            err = exc
            break
        n += 1
    assert err.field == "headers"
    m = re.fullmatch(r"headers: (\d+) forwarded and extra header lines are too many: a request head may "
                     r"have at most 64 header lines besides Authorization, ossfast writes (\d+) of them "
                     r"here, so at most (\d+) can be added", str(err))
    assert m, str(err)
    added, own, most = map(int, m.groups())
    assert added == n + 1 + len(fwd) and most == n + len(fwd) and own + most == 64
    ok = c.prepare(ROUTE, TOKEN, 200, b"x", headers={f"x-h{i}": "v" for i in range(n)}, **fwd)
    assert len(ok.headers) == 64 + 1  # Authorization aside
    c.close()


def test_header_line_limit_is_the_signers_and_is_documented():
    assert request.MAX_HEADER_LINES == _pure.SIGN_MAX_LINES == 64
    assert "more than 64 header lines besides Authorization" in readme()


# ---- progress ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["bytesio", "iterator", "bytes", "file"])
def test_progress_at_most_once_per_4_MiB(start_server, tmp_path, kind):
    data = os.urandom(10 * MiB + 5)
    path = tmp_path / "body.bin"
    path.write_bytes(data)
    server = start_server(RecordingServer)
    calls = []
    body = _body(kind, data, path)
    try:
        with client(server) as c:
            c.write_get_object_response(ROUTE, TOKEN, 200, body, content_length=len(data),
                                        progress=lambda sent, total: calls.append((sent, total)))
    finally:
        if hasattr(body, "close"):
            body.close()
    total = len(data)
    assert calls[-1] == (total, total)
    assert all(t == total for _, t in calls)
    sents = [s for s, _ in calls]
    assert sents == sorted(sents) and len(calls) <= 3  # 4 MiB, 8 MiB, the end
    # at most one call per 4 MiB window
    assert len({s // (4 * MiB) for s in sents[:-1]}) == len(sents[:-1])


def test_progress_restarts_from_zero_on_a_retry(start_server, caplog):
    caplog.set_level(logging.INFO, logger="ossfast")
    server = start_server(RecordingServer, responses=[oss_error(503, "ServiceUnavailable", "busy"),
                                                    Reply(200)])
    data = os.urandom(9 * MiB)
    calls = []
    with client(server, retries=ossfast.Retry(total=1, backoff=0.001, max_backoff=0.001)) as c:
        result = c.write_get_object_response(ROUTE, TOKEN, 200, io.BytesIO(data),
                                             progress=lambda sent, total: calls.append(sent))
    assert result.attempts == 2
    first, second = calls[:calls.index(0)], calls[calls.index(0) + 1:]
    assert first[-1] == len(data) and second[-1] == len(data)
    assert "progress(0, total)" in readme()


# ---- Retry ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kw", [
    dict(backoff=1e9, max_backoff=float("inf")),
    dict(backoff=0.1, max_backoff=float("inf")),
    dict(backoff=float("nan")),
    dict(backoff=1.0, max_backoff=301.0),
    dict(backoff=True),
    dict(backoff="1"),
    dict(backoff=-1.0),
    dict(backoff=3.0, max_backoff=2.0),
])
def test_retry_refuses_unbounded_backoff(kw):
    with pytest.raises(InvalidRequestError) as ei:
        ossfast.Retry(**kw)
    assert ei.value.field == "retries"


def test_retry_accepts_sane_backoff():
    assert ossfast.Retry(total=3, backoff=0, max_backoff=300).max_backoff == 300


# ---- forwarded headers given as raw headers -----------------------------------------------------


@pytest.mark.parametrize("name,kw", [
    ("x-oss-fwd-header-Content-Type", "content_type"), ("X-OSS-FWD-HEADER-ETAG", "etag"),
    ("x-oss-fwd-header-Last-Modified", "last_modified"), ("Content-MD5", "content_md5"),
    ("Content-Length", "content_length"),
])
def test_oss2_style_forwarded_header_names_its_keyword(name, kw):
    c = ossfast.Client(CREDS, region="cn-qingdao", endpoint="http://127.0.0.1:9")
    with pytest.raises(InvalidRequestError) as ei:
        c.prepare(ROUTE, TOKEN, 200, b"x", headers={name: "v"})
    assert ei.value.field == "headers"
    assert str(ei.value) == f"headers: {name} is set by ossfast itself; pass {kw}=..."
    c.close()


# ---- spelled-out keywords ---------------------------------------------------------------------------


@pytest.mark.parametrize("func", [ossfast.Client.write_get_object_response, ossfast.write_get_object_response])
def test_write_get_object_response_spells_out_its_keywords(func):
    params = inspect.signature(func).parameters
    assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    prepare = inspect.signature(ossfast.Client.prepare).parameters
    assert set(prepare) - {"date"} <= set(params) | {"self"}
    assert "DESIGN" not in (func.__doc__ or "")


def test_a_typo_is_a_type_error_from_the_call_itself():
    c = ossfast.Client(CREDS, region="cn-qingdao", endpoint="http://127.0.0.1:9")
    with pytest.raises(TypeError, match="write_get_object_response.*'content_typ'"):
        c.write_get_object_response(ROUTE, TOKEN, 200, b"x", content_typ="text/plain")
    c.close()


# ---- the README -------------------------------------------------------------------------------------


def test_readme_says_what_success_means_and_shows_close():
    text = readme()
    assert "A success means the server answered 2xx after reading the full" not in text
    assert "answered 2xx after ossfast wrote the whole `Content-Length` body" in text
    assert "with ossfast.Client(" in text and "client.close()" in text
