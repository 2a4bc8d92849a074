"""An adversarial review of the emulator (ossfast/emulator/): what a hostile client or sender
can make it say, log, hold or crash on. Each finding has a test here that failed before its
fix; the rest pin behaviour the review checked and found sound."""

import logging
import os
import socket
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import pytest

import ossfast
from ossfast import Credentials
from ossfast.emulator import Emulator, server
from ossfast.emulator.auth import verify_wgor
from ossfast.emulator.objects import parse_range
from ossfast.emulator.oss import Refusal

from emu_helpers import (
    error_code,
    event_context,
    http_request,
    raw_request,
    read_url,
    send_wgor,
    split_url,
    wgor_headers,
)

HELLO = b"hello, emulator: the original object"
WGOR = b"POST /?x-oss-write-get-object-response HTTP/1.1\r\n"


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "root"
    r.mkdir()
    (r / "hello.txt").write_bytes(HELLO)
    return r


@pytest.fixture
def start(root):
    started = []

    def start(handler, **kw):
        emu = Emulator(kw.pop("root", root), handler, **kw).start()
        started.append(emu)
        return emu

    yield start
    for emu in reversed(started):
        emu.stop()


class Box:
    """What a handler saw, and a signal that it ran."""

    def __init__(self):
        self.events = []
        self.outcomes = {}
        self.errors = []
        self.done = threading.Event()

    def wait(self, timeout=20):
        assert self.done.wait(timeout), "the handler did not finish"


def run(box, send):
    """A handler: records the event, calls send(context, route, token, input_url)."""

    def handler(event, context):
        try:
            ev, url, route, token = event_context(event)
            box.events.append(ev)
            send(context, route, token, url)
        except Exception as exc:  # pragma: no cover - reported by the test
            box.errors.append(exc)
        finally:
            box.done.set()

    return handler


def _all_log_text(records):
    return "\n".join(r.getMessage() + ("\n" + logging.Formatter().formatException(r.exc_info)
                                       if r.exc_info else "") for r in records)


# ------------------------------------------------------------------ finding: parse errors echo headers


HOSTILE_HEADS = {
    # aiohttp's parser refuses these before the emulator sees them; its stock reply echoed the
    # offending line (a token, a signature, an STS token) in the body and logged it with a traceback
    "token with a control character": WGOR + b"Host: x\r\nx-oss-request-token: OSSV1#TOPSECRET-TOKEN\x01\r\n"
                                              b"Content-Length: 0\r\n\r\n",
    "signature with a control character": WGOR + b"Host: x\r\nAuthorization: OSS ak:TOPSECRET-SIGNATURE\x7f\r\n"
                                                  b"Content-Length: 0\r\n\r\n",
    "STS token then a bad Content-Length": WGOR + b"Host: x\r\nx-oss-security-token: TOPSECRET-STS\r\n"
                                                   b"Content-Length: TOPSECRET-LENGTH\r\n\r\n",
    "presigned query with a control character": b"GET /hello.txt?x-oss-signature=TOPSECRET-QUERY\x01 HTTP/1.1\r\n"
                                                b"Host: x\r\n\r\n",
    "bad header name": WGOR + b"Host: x\r\nx-oss-request-token TOPSECRET-NAME: v\r\nContent-Length: 0\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(HOSTILE_HEADS))
def test_unparsable_request_gets_an_oss_error_that_echoes_nothing(start, caplog, name):
    box = Box()
    emu = start(run(box, lambda *a: None))
    with caplog.at_level(logging.DEBUG):
        status, reply = raw_request(emu.url, HOSTILE_HEADS[name])
    assert status == 400, reply[:300]
    assert b"TOPSECRET" not in reply
    head, _, body = reply.partition(b"\r\n\r\n")
    assert b"\r\nServer: AliyunOSS\r\n" in head and b"\r\nx-oss-request-id: " in head
    assert b"<Error>" in body and error_code(body) == "InvalidRequest"
    assert b"Traceback" not in body
    text = _all_log_text(caplog.records)
    assert "TOPSECRET" not in text
    assert "Traceback" not in text  # a refusal is one line, not an error with a traceback
    assert any("refused: unparsable request" in r.getMessage() for r in caplog.records), text
    assert box.events == []
    assert http_request(emu.url + "/missing")[0] == 404  # still serving


# ------------------------------------------------------------------ finding: huge numbers were a 500


def test_parse_range_with_numbers_past_the_int_digit_limit():
    huge = "9" * 5000
    with pytest.raises(Refusal) as info:
        parse_range(f"bytes={huge}-", 10)
    assert info.value.status == 416
    assert parse_range(f"bytes=0-{huge}", 10) == (0, 9)
    assert parse_range(f"bytes=-{huge}", 10) == (0, 9)
    assert parse_range("bytes=" + "0" * 5000 + "1-", 10) == (1, 9)  # leading zeros are still 1


def test_origin_read_with_a_huge_range_is_416_not_a_server_error(start, caplog):
    box = Box()
    got = {}

    def send(context, route, token, url):
        got["416"] = read_url(url, {"Range": "bytes=" + "9" * 5000 + "-"})
        got["206"] = read_url(url, {"Range": "bytes=1-" + "9" * 5000})

    emu = start(run(box, send))
    with caplog.at_level(logging.INFO):
        assert http_request(emu.url + "/hello.txt")[0] == 502  # the handler did not answer
    box.wait()
    status, headers, body = got["416"]
    assert (status, error_code(body)) == (416, "InvalidRange")
    assert headers["Content-Range"] == f"bytes */{len(HELLO)}"
    status, headers, body = got["206"]
    assert (status, body) == (206, HELLO[1:])
    assert "Traceback" not in caplog.text


def test_huge_content_range_refused_as_invalid_argument_token_kept(start):
    box = Box()

    def send(context, route, token, url):
        creds = Credentials.from_fc_context(context)
        endpoint = os.environ["OSSFAST_ENDPOINT"]
        huge = "9" * 5000
        for name, crange in [("huge last", f"bytes 0-{huge}/{huge}"), ("huge total", f"bytes 0-1/{huge}")]:
            headers = wgor_headers(creds, route, token, status=206, length=2,
                                   extra=[("x-oss-fwd-header-Content-Range", crange)])
            box.outcomes[name] = send_wgor(endpoint, headers, b"ab")
        box.outcomes["good"] = send_wgor(endpoint, wgor_headers(creds, route, token, length=2), b"ok")

    emu = start(run(box, send))
    status, _, body = http_request(emu.url + "/hello.txt")
    box.wait()
    got = {name: (s, error_code(b) if s != 200 else None) for name, (s, _, b) in box.outcomes.items()}
    assert got == {"huge last": (400, "InvalidArgument"), "huge total": (200, None), "good": (403, "AccessDenied")}
    assert status == 206 and body == b"ab"


def test_unexpected_error_is_an_oss_500_without_traceback_or_secret(start, caplog, monkeypatch):
    from ossfast.emulator import app as app_module

    box = Box()
    emu = start(run(box, lambda *a: None))
    secret = emu.credentials.access_key_secret

    def boom(path):
        raise RuntimeError(f"unexpected, holding the secret {secret}")

    monkeypatch.setattr(app_module, "parse_target", boom)
    with caplog.at_level(logging.DEBUG):
        status, headers, body = http_request(emu.url + "/hello.txt")
    assert (status, error_code(body)) == (500, "InternalError")
    assert headers["Server"] == "AliyunOSS" and len(headers["x-oss-request-id"]) == 24
    assert secret.encode() not in body and b"Traceback" not in body and b"RuntimeError" not in body
    text = _all_log_text(caplog.records)
    assert secret not in text
    assert "RuntimeError" in text and "<hidden>" in text  # logged for whoever debugs it, redacted
    monkeypatch.undo()
    assert http_request(emu.url + "/missing")[0] == 404  # still serving


# ------------------------------------------------------------------ finding: slowloris held for an hour


def test_a_head_that_never_ends_is_dropped(start, monkeypatch):
    assert server.SERVER_LIMITS["keepalive_timeout"] <= 120  # bounded by default (aiohttp's is 3630 s)
    monkeypatch.setitem(server.SERVER_LIMITS, "keepalive_timeout", 1.0)
    box = Box()
    emu = start(run(box, lambda *a: None))
    host, port, _ = split_url(emu.url)
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        t0 = time.monotonic()
        for _ in range(6):  # trickle: a byte now and then does not keep it open
            time.sleep(0.25)
            try:
                sock.sendall(b"X")
            except OSError:
                break
        sock.settimeout(10)
        try:
            data = sock.recv(100)
        except ConnectionError:
            data = b""
        assert data == b"" and time.monotonic() - t0 < 8
    assert box.events == []


# ------------------------------------------------------------------ finding: a silent non-loopback bind


@pytest.mark.parametrize("host, exposed", [
    ("127.0.0.1", False), ("127.0.0.2", False), ("::1", False), ("localhost", False),
    ("0.0.0.0", True), ("::", True), ("192.168.1.5", True), ("10.0.0.1", True),
])
def test_a_bind_beyond_loopback_is_warned_about(caplog, host, exposed):
    with caplog.at_level(logging.WARNING, logger="ossfast.emulator"):
        server.warn_if_exposed(host)
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert bool(warned) == exposed
    if exposed:
        assert "not loopback" in warned[0].getMessage() and "unauthenticated" in warned[0].getMessage()


def test_the_default_bind_warns_of_nothing(start, caplog):
    with caplog.at_level(logging.WARNING, logger="ossfast.emulator"):
        start(lambda e, c: None)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


# ------------------------------------------------------------------ sound: pinned here


def test_concurrent_answers_for_one_token_exactly_one_wins(start):
    box = Box()
    racers = 12

    def send(context, route, token, url):
        creds = Credentials.from_fc_context(context)
        endpoint = os.environ["OSSFAST_ENDPOINT"]
        gate = threading.Barrier(racers)

        def one(i):
            headers = wgor_headers(creds, route, token, length=8)
            gate.wait(10)
            return send_wgor(endpoint, headers, b"racer%03d" % i)

        with ThreadPoolExecutor(racers) as pool:
            box.outcomes = dict(enumerate(pool.map(one, range(racers))))

    emu = start(run(box, send), timeout=20)
    status, _, body = http_request(emu.url + "/hello.txt")
    box.wait()
    won = [i for i, (s, _, _) in box.outcomes.items() if s == 200]
    lost = [(s, error_code(b)) for s, _, b in box.outcomes.values() if s != 200]
    assert len(won) == 1 and lost == [(403, "AccessDenied")] * (racers - 1)
    assert (status, body) == (200, b"racer%03d" % won[0])
    assert emu.stats["relayed"] == 1 and emu.stats["wgor_refused"] == racers - 1


def test_forwarded_header_cannot_split_into_the_clients_reply(start):
    """Bare CR, LF, NUL or an obs-fold in a forwarded value: refused (by the parser or the
    emulator), never a second header line in the client's reply; the token survives."""
    box = Box()
    replies = []

    def send(context, route, token, url):
        creds = Credentials.from_fc_context(context)
        host, port, _ = split_url(os.environ["OSSFAST_ENDPOINT"])
        for value in (b"a\rSet-Cookie: injected=1", b"a\nSet-Cookie: injected=1", b"a\x00b",
                      b"a\r\n Set-Cookie: injected=1"):
            headers = wgor_headers(creds, route, token, length=2)
            head = WGOR + b"".join(f"{n}: {v}\r\n".encode("latin-1") for n, v in headers)
            head += b"x-oss-fwd-header-Cache-Control: " + value + b"\r\n\r\nok"
            replies.append(raw_request(f"http://{host}:{port}", head))
        box.outcomes["good"] = send_wgor(os.environ["OSSFAST_ENDPOINT"],
                                         wgor_headers(creds, route, token, length=2), b"ok")

    emu = start(run(box, send))
    host, port, _ = split_url(emu.url)
    with socket.create_connection((host, port), timeout=20) as sock:
        sock.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        reply = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    box.wait()
    assert [s for s, _ in replies] == [400] * 4
    assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"\r\n\r\nok")
    assert b"injected" not in reply.lower()


@pytest.mark.parametrize("case", ["wrong secret", "day not x-oss-date's", "product not oss", "other region",
                                  "skewed +16 min", "skewed -16 min", "signature on another body",
                                  "token of another run", "no signature", "two Authorization"])
@pytest.mark.parametrize("version", ["v1", "v4"])
def test_forged_signatures_refused(case, version):
    creds = Credentials("STS.id", "the-secret", "CAIS-token")
    route = "fc-ap-01-1234567890123456-opap.oss-cn-hangzhou-internal.oss-object-process.aliyuncs.com"
    now = time.time()
    if version == "v1" and case in ("day not x-oss-date's", "product not oss", "other region"):
        pytest.skip("V1 signs no scope")
    kw = {"version": version, "date": now}
    signer = creds
    if case == "wrong secret":
        signer = Credentials("STS.id", "not-the-secret", "CAIS-token")
    elif case == "token of another run":
        signer = Credentials("STS.id", "the-secret", "CAIS-other")
    elif case == "other region":
        kw["region"] = "cn-beijing"
    elif case.startswith("skewed"):
        kw["date"] = now + (16 * 60 if "+" in case else -16 * 60)
    headers = wgor_headers(signer, route, "OSSV1#t", **kw)
    if case == "day not x-oss-date's":
        headers = [(n, v.replace("/" + time.strftime("%Y%m%d", time.gmtime(now)) + "/", "/20000101/")
                    if n == "Authorization" else v) for n, v in headers]
    elif case == "product not oss":
        headers = [(n, v.replace("/oss/aliyun_v4_request", "/s3/aliyun_v4_request") if n == "Authorization" else v)
                   for n, v in headers]
    elif case == "signature on another body":
        headers = [(n, "999" if n == "x-oss-fwd-status" else v) for n, v in headers]
    elif case == "no signature":
        headers = [(n, v.rsplit(":", 1)[0] + ":" if version == "v1" and n == "Authorization" else
                    v.replace(",Signature=", ",Nothing=") if n == "Authorization" else v) for n, v in headers]
    elif case == "two Authorization":
        headers = headers + [h for h in headers if h[0] == "Authorization"]

    def raw(pairs):
        return [(n.encode("latin-1"), v.encode("latin-1")) for n, v in pairs]

    good = wgor_headers(creds, route, "OSSV1#t", version=version, date=now)
    verify_wgor(raw(good), "/", "x-oss-write-get-object-response", creds, "cn-hangzhou", now=now)  # the control
    with pytest.raises(Refusal) as info:
        verify_wgor(raw(headers), "/", "x-oss-write-get-object-response", creds, "cn-hangzhou", now=now)
    assert info.value.status in (400, 403)
    text = f"{info.value} {info.value.message} {info.value.reason} {info.value!r}"
    auth = dict(headers)["Authorization"]
    signature = auth.partition(":")[2] if version == "v1" else auth.partition("Signature=")[2]
    for secret in ("the-secret", "CAIS-token", "CAIS-other", signature):
        assert not secret or secret not in text


def test_odd_keys_inside_the_root_are_404_not_500(start, root):
    box = Box()
    os.mkfifo(root / "fifo")  # opening it would block the reader forever
    (root / "sub").mkdir()
    os.symlink(root / "hello.txt", root / "sub" / "inside-link.txt")  # inside the root: served
    os.symlink(root / "nowhere", root / "dangling")
    emu = start(run(box, lambda *a: None))
    for path in ["/fifo", "/dangling", "/" + "a" * 300, "/sub/" + "b" * 300 + "/c", "/hello.txt/", "/hello.txt/x",
                 "/%C3%A9t%C3%A9.txt", "/" + "%E4%BD%A0" * 341]:
        status, _, body = http_request(emu.url + path)
        assert (status, error_code(body)) == (404, "NoSuchKey"), path
    assert box.events == []
    assert http_request(emu.url + "/sub/inside-link.txt")[0] == 502  # found: the handler ran
    assert len(box.events) == 1


# ------------------------------------------------------------------ finding: a relay that broke left its client waiting


def test_a_relay_that_breaks_unexpectedly_ends_its_client_at_once(start, monkeypatch, caplog):
    import http.client

    from ossfast.emulator import app as app_module

    async def broken_pump(*args, **kwargs):
        raise RuntimeError("a bug in the relay")

    monkeypatch.setattr(app_module, "_pump", broken_pump)
    box = Box()

    def send(context, route, token, url):
        creds = Credentials.from_fc_context(context)
        endpoint = os.environ["OSSFAST_ENDPOINT"]
        box.outcomes["first"] = send_wgor(endpoint, wgor_headers(creds, route, token, length=2), b"ok")
        box.outcomes["again"] = send_wgor(endpoint, wgor_headers(creds, route, token, length=2), b"ok")

    emu = start(run(box, send), timeout=60)  # the claimed exchange's own timer is gone
    t0 = time.monotonic()
    with caplog.at_level(logging.INFO):
        with pytest.raises((http.client.IncompleteRead, http.client.RemoteDisconnected, ConnectionError)):
            http_request(emu.url + "/hello.txt", timeout=10)
    assert time.monotonic() - t0 < 8
    box.wait()
    status, _, body = box.outcomes["first"]
    assert (status, error_code(body)) == (500, "InternalError")
    status, _, body = box.outcomes["again"]
    assert (status, error_code(body)) == (403, "AccessDenied")  # the token stays spent
    assert "a bug in the relay" in caplog.text and "Traceback" in caplog.text
    monkeypatch.undo()
    assert http_request(emu.url + "/missing")[0] == 404


# ------------------------------------------------------------------ finding: a symlink swapped in after the check


def test_a_directory_swapped_for_a_symlink_after_the_check_is_not_served(start, root, tmp_path, monkeypatch):
    """resolve() checks the real path; the file was then opened by that path, so a directory
    on it replaced by a symlink in between (by anyone who can write to the root) was followed
    out of the root. The opened file itself is checked now."""
    from ossfast.emulator import app as app_module

    (root / "dir").mkdir()
    (root / "dir" / "file.txt").write_bytes(b"inside the root")
    outside = tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "dir" / "file.txt").write_bytes(b"TOP-SECRET outside the root")
    real_resolve = app_module.resolve
    calls = []

    def racing_resolve(base, key):
        found = real_resolve(base, key)
        calls.append(key)
        if len(calls) == 2:  # the origin read's check has passed: swap the directory now
            os.rename(root / "dir", root / "dir.orig")
            os.symlink(outside / "dir", root / "dir")
        return found

    monkeypatch.setattr(app_module, "resolve", racing_resolve)
    box = Box()

    def send(context, route, token, url):
        box.outcomes["origin"] = read_url(url)

    emu = start(run(box, send))
    http_request(emu.url + "/dir/file.txt")
    box.wait()
    status, _, body = box.outcomes["origin"]
    assert b"TOP-SECRET" not in body
    assert (status, error_code(body)) in ((403, "AccessDenied"), (404, "NoSuchKey"))


def test_digests_refuse_a_file_replaced_since_it_was_opened(tmp_path):
    from ossfast.emulator.objects import _digest_file

    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    st = os.stat(path)
    assert _digest_file(str(path), (st.st_dev, st.st_ino))[1] == ossfast.crc64(b"abc")
    with pytest.raises(OSError, match="replaced"):
        _digest_file(str(path), (st.st_dev, st.st_ino + 1))


# ------------------------------------------------------------------ finding: tasks left pending at stop


STOP_SCRIPT = r"""
import socket, sys, time
sys.path.insert(0, sys.argv[2])
from emu_helpers import split_url
from ossfast.emulator import Emulator

for _ in range(2):
    with Emulator(sys.argv[1], lambda e, c: None, timeout=3) as emu:
        host, port, _ = split_url(emu.url)
        socks = []
        for i in range(4):
            s = socket.create_connection((host, port), timeout=5)
            # refused at once; its 5-byte body never comes: aiohttp is still reading it at stop
            s.sendall(b"POST /?x-oss-write-get-object-response HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n")
            s.recv(4096)
            socks.append(s)
        idle = socket.create_connection((host, port), timeout=5)  # a connection with no request
        partial = socket.create_connection((host, port), timeout=5)
        partial.sendall(b"GET /hello.txt HTTP/1.1\r\n")  # half a head
        time.sleep(0.05)
        for s in socks[:2]:
            s.close()
    for s in socks[2:] + [idle, partial]:
        s.close()
print("done", flush=True)
"""


def test_stop_leaves_no_task_pending(root, tmp_path):
    import subprocess
    import sys

    script = tmp_path / "stop.py"
    script.write_text(STOP_SCRIPT)
    env = dict(os.environ)
    env.pop("OSSFAST_ENDPOINT", None)
    proc = subprocess.run([sys.executable, "-X", "dev", "-W", "error", str(script), str(root),
                           os.path.dirname(os.path.abspath(__file__))],
                          capture_output=True, timeout=60, env=env)
    err = proc.stderr.decode()
    assert proc.returncode == 0 and proc.stdout.decode().strip() == "done", err[-3000:]
    assert "Task was destroyed but it is pending" not in err, err[-3000:]
    assert "never awaited" not in err and "Unclosed" not in err and "ResourceWarning" not in err, err[-3000:]


# ------------------------------------------------------------------ finding: 100 Continue before the checks


def _expect_exchange(endpoint, headers, body):
    """Send a WGOR head with Expect: 100-continue, wait for the first reply bytes; send the
    body only after a 100. Returns (first status line, final reply bytes)."""
    host, port, _ = split_url(endpoint)
    head = WGOR + b"".join(f"{n}: {v}\r\n".encode("latin-1") for n, v in headers)
    head += b"Expect: 100-continue\r\nConnection: close\r\n\r\n"
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(head)
        first = sock.recv(65536)
        reply = first
        if first.startswith(b"HTTP/1.1 100 "):
            sock.sendall(body)
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
    return first.split(b"\r\n", 1)[0], reply


def test_expect_100_continue_only_after_the_checks(start):
    box = Box()

    def send(context, route, token, url):
        creds = Credentials.from_fc_context(context)
        endpoint = os.environ["OSSFAST_ENDPOINT"]
        wrong = Credentials(creds.access_key_id, "not-the-secret", creds.security_token)
        box.outcomes["refused"] = _expect_exchange(endpoint, wgor_headers(wrong, route, token, length=5), b"hello")
        box.outcomes["passed"] = _expect_exchange(endpoint, wgor_headers(creds, route, token, length=5), b"HELLO")

    emu = start(run(box, send))
    status, _, body = http_request(emu.url + "/hello.txt")
    box.wait()
    first, reply = box.outcomes["refused"]
    assert first == b"HTTP/1.1 403 Forbidden" and error_code(reply.partition(b"\r\n\r\n")[2]) == \
        "SignatureDoesNotMatch"
    first, reply = box.outcomes["passed"]
    assert first == b"HTTP/1.1 100 Continue" and b"HTTP/1.1 200 OK" in reply
    assert (status, body) == (200, b"HELLO")
