"""The local Object FC Access Point, end to end: clients GET through it, handlers written here
answer with ossfast, oss2 or by hand, and every check OSS makes is exercised."""

import base64
import hashlib
import http.client
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

import pytest

import ossfast
from ossfast import Credentials, ServerError
from ossfast.emulator import Emulator, EmulatorConfig, load_handler, make_app, serve  # noqa: F401
from ossfast.emulator.auth import OriginSigner
from ossfast.emulator.objects import parse_range, parse_target
from ossfast.emulator.oss import Refusal

from emu_helpers import (
    error_code,
    event_context,
    http_request,
    raw_request,
    read_url,
    send_wgor,
    wgor_headers,
)

TESTS = os.path.dirname(os.path.abspath(__file__))
HELLO = b"hello, emulator: the original object"
CURL = "/usr/bin/curl"


def test_backend_is_the_one_intended():
    assert ossfast.backend == os.environ.get("OSSFAST_BACKEND", ossfast.backend)


# ------------------------------------------------------------------ fixtures


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "root"
    r.mkdir()
    (r / "hello.txt").write_bytes(HELLO)
    (r / "dir").mkdir()
    (r / "dir" / "nested file.json").write_bytes(b'{"nested": true}')
    return r


@pytest.fixture
def start(root):
    """start(handler, **kw) -> a started Emulator over ``root``; all stopped at teardown."""
    started = []

    def start(handler, **kw):
        emu = Emulator(kw.pop("root", root), handler, **kw).start()
        started.append(emu)
        return emu

    yield start
    for emu in reversed(started):
        emu.stop()


class Calls:
    """What handlers saw and met, shared with the test thread."""

    def __init__(self):
        self.events = []
        self.contexts = []
        self.results = []
        self.errors = []
        self.done = threading.Event()

    def wait(self, timeout=10):
        assert self.done.wait(timeout), "the handler did not finish"


def upper_handler(calls, version="v4", kind="bytes", client_kw=None, **forwarded):
    """A transform: reads inputOssUrl, upper-cases it, answers with ossfast.Client."""

    def handler(event, context):
        try:
            ev, url, route, token = event_context(event)
            calls.events.append(ev)
            calls.contexts.append(context)
            status, _, data = read_url(url)
            assert status == 200
            out = data.upper()
            extra = {}
            if kind == "bytes":
                body = out
            elif kind == "file":
                body = tempfile.TemporaryFile()
                body.write(out)
                body.seek(0)
            else:
                body = iter([out[:5], b"", out[5:]])
                extra["content_length"] = len(out)
            try:
                creds = Credentials.from_fc_context(context)
                with ossfast.Client(creds, signature_version=version, **(client_kw or {})) as client:
                    calls.results.append(client.write_get_object_response(
                        route, token, 200, body, **extra, **forwarded))
            finally:
                if kind == "file":
                    body.close()
        except Exception as exc:
            calls.errors.append(exc)
            raise
        finally:
            calls.done.set()

    return handler


def answer_with(calls, send):
    """A handler that calls send(context, route, token, event) and records what it raises."""

    def handler(event, context):
        try:
            ev, url, route, token = event_context(event)
            calls.events.append(ev)
            send(context, route, token, ev)
        except Exception as exc:
            calls.errors.append(exc)
        finally:
            calls.done.set()

    return handler


def ossfast_send(version="v4", creds=None, route=None, token=None, body=b"answer", status=200, **kw):
    def send(context, r, t, ev):
        c = creds or Credentials.from_fc_context(context)
        with ossfast.Client(c, signature_version=version, retries=0) as client:
            client.write_get_object_response(route or r, token or t, status, body, **kw)

    return send


# ------------------------------------------------------------------ happy paths


@pytest.mark.parametrize("version", ["v1", "v4"])
@pytest.mark.parametrize("kind", ["bytes", "file", "iterator"])
def test_every_body_kind_both_versions_with_sts(no_fd_leak, start, version, kind):
    calls = Calls()
    emu = start(upper_handler(calls, version, kind), timeout=20)
    assert emu.credentials.security_token  # the default: fresh STS credentials
    status, headers, body = http_request(emu.url + "/hello.txt")
    assert (status, body) == (200, HELLO.upper()), (calls.errors, body)
    assert headers["Content-Length"] == str(len(HELLO))
    assert len(headers["x-oss-request-id"]) == 24
    calls.wait()
    assert calls.errors == []
    assert calls.results[0].status == 200 and calls.results[0].bytes_sent == len(HELLO)


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_permanent_credentials(start, version):
    calls = Calls()
    emu = start(upper_handler(calls, version), credentials=Credentials("LTAI5tEmulatorKey", "emu-secret"))
    status, _, body = http_request(emu.url + "/dir/nested%20file.json")
    assert (status, body) == (200, b'{"NESTED": TRUE}'), calls.errors


def test_event_and_context(start):
    calls = Calls()
    emu = start(upper_handler(calls), region="cn-qingdao", timeout=7)
    status, _, _ = http_request(emu.url + "/hello.txt?x-oss-process=a%2Cb&Signature=hide-me&OSSAccessKeyId=k",
                                headers={"X-Custom": "yes", "Authorization": "OSS client:signature"})
    assert status == 200, calls.errors
    ev = calls.events[0]
    g = ev["getObjectContext"]
    assert g["outputRoute"] == emu.route
    assert emu.route.startswith("fc-ap-01-") and emu.route.endswith(
        "-opap.oss-cn-qingdao-internal.oss-object-process.aliyuncs.com")
    assert len(emu.route.split("-")[3]) == 16 and emu.route.split("-")[3].isdigit()
    assert g["outputToken"].startswith("OSSV1#")
    assert g["inputOssUrl"].startswith(f"{emu.url}/{emu.alias}/hello.txt?")
    user = ev["userRequest"]
    assert user["headers"]["X-Custom"] == "yes"
    assert "Authorization" not in user["headers"]
    assert user["url"].endswith("/hello.txt?x-oss-process=a%2Cb")  # presign parameters dropped
    ctx = calls.contexts[0]
    assert ctx.region == "cn-qingdao" and ctx.request_id and ctx.function.name == "handler"
    assert ctx.credentials.access_key_id == emu.credentials.access_key_id
    assert ctx.credentials.security_token == emu.credentials.security_token
    assert "hidden" in repr(ctx.credentials) and emu.credentials.access_key_secret not in repr(ctx.credentials)


def test_environment_set_while_running_and_restored(start, monkeypatch, root):
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "before-id")
    monkeypatch.delenv("ALIBABA_CLOUD_SECURITY_TOKEN", raising=False)
    monkeypatch.delenv("OSSFAST_ENDPOINT", raising=False)
    monkeypatch.setenv("FC_REGION", "cn-beijing")
    before = dict(os.environ)
    seen = {}

    def handler(event, context):
        seen.update({k: os.environ.get(k) for k in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
                                                    "ALIBABA_CLOUD_SECURITY_TOKEN", "FC_REGION", "OSSFAST_ENDPOINT")})
        ossfast_send()(context, *event_context(event)[2:], None)

    with Emulator(root, handler, region="cn-shanghai") as emu:
        assert os.environ["OSSFAST_ENDPOINT"] == emu.url
        status, _, _ = http_request(emu.url + "/hello.txt")
        assert status == 200
    assert seen == {"ALIBABA_CLOUD_ACCESS_KEY_ID": emu.credentials.access_key_id,
                    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": emu.credentials.access_key_secret,
                    "ALIBABA_CLOUD_SECURITY_TOKEN": emu.credentials.security_token,
                    "FC_REGION": "cn-shanghai", "OSSFAST_ENDPOINT": emu.url}
    assert dict(os.environ) == before


def test_forwarded_headers_relayed(start):
    calls = Calls()
    fwd = dict(content_type="text/x-shout", cache_control="max-age=60", content_disposition='inline; filename="a.txt"',
               content_encoding="identity", content_language="en-GB", etag='"0123abc"',
               expires="Wed, 01 Nov 2023 03:17:58 GMT", last_modified="Tue, 31 Oct 2023 03:17:58 GMT",
               accept_ranges="bytes")
    emu = start(upper_handler(calls, **fwd))
    status, headers, body = http_request(emu.url + "/hello.txt")
    assert (status, body) == (200, HELLO.upper()), calls.errors
    assert headers["Content-Type"] == "text/x-shout"
    assert headers["Cache-Control"] == "max-age=60"
    assert headers["Content-Disposition"] == 'inline; filename="a.txt"'
    assert headers["Content-Encoding"] == "identity"
    assert headers["Content-Language"] == "en-GB"
    assert headers["ETag"] == '"0123abc"'
    assert headers["Expires"] == "Wed, 01 Nov 2023 03:17:58 GMT"
    assert headers["Last-Modified"] == "Tue, 31 Oct 2023 03:17:58 GMT"
    assert headers["Accept-Ranges"] == "bytes"


@pytest.mark.parametrize("status", [404, 503, 302])
def test_forwarded_error_status(start, status):
    calls = Calls()
    emu = start(answer_with(calls, ossfast_send(status=status, body=b"nope")))
    got, _, body = http_request(emu.url + "/hello.txt")
    assert (got, body) == (status, b"nope")
    calls.wait()
    assert calls.errors == []


def test_head_relays_the_head_only(start):
    calls = Calls()
    emu = start(upper_handler(calls, content_type="text/plain"))
    status, headers, body = http_request(emu.url + "/hello.txt", method="HEAD")
    assert (status, body) == (200, b"")
    assert headers["Content-Length"] == str(len(HELLO)) and headers["Content-Type"] == "text/plain"
    calls.wait()
    assert calls.errors == []


def test_range_reaches_user_request_and_input_url_honours_it(start):
    calls = Calls()

    def send(context, route, token, ev):
        rng = ev["userRequest"]["headers"]["Range"]
        status, headers, data = read_url(ev["getObjectContext"]["inputOssUrl"], {"Range": rng})
        assert status == 206
        with ossfast.Client(Credentials.from_fc_context(context)) as client:
            client.write_get_object_response(route, token, 206, data, content_range=headers["Content-Range"])

    emu = start(answer_with(calls, send))
    status, headers, body = http_request(emu.url + "/hello.txt", headers={"Range": "bytes=2-5"})
    assert (status, body) == (206, HELLO[2:6]), calls.errors
    assert headers["Content-Range"] == f"bytes 2-5/{len(HELLO)}"


def test_input_oss_url_serves_the_original_as_oss(start, root):
    calls = Calls()
    emu = start(answer_with(calls, ossfast_send()))
    assert http_request(emu.url + "/dir/nested%20file.json")[0] == 200
    url = calls.events[0]["getObjectContext"]["inputOssUrl"]
    original = (root / "dir" / "nested file.json").read_bytes()
    status, headers, body = read_url(url)
    assert (status, body) == (200, original)
    assert headers["ETag"] == '"%s"' % hashlib.md5(original).hexdigest().upper()
    assert headers["x-oss-hash-crc64ecma"] == str(ossfast.crc64(original))
    assert headers["Content-Type"] == "application/json"
    assert headers["Content-Length"] == str(len(original))
    assert headers["Last-Modified"].endswith(" GMT")
    size = len(original)
    for rng, want, crange in [("bytes=0-0", original[:1], f"bytes 0-0/{size}"),
                              ("bytes=3-", original[3:], f"bytes 3-{size - 1}/{size}"),
                              ("bytes=-4", original[-4:], f"bytes {size - 4}-{size - 1}/{size}"),
                              ("bytes=5-1000", original[5:], f"bytes 5-{size - 1}/{size}")]:
        status, headers, body = read_url(url, {"Range": rng})
        assert (status, body, headers["Content-Range"]) == (206, want, crange), rng
        assert headers["x-oss-hash-crc64ecma"] == str(ossfast.crc64(original))  # the whole object's
    status, headers, body = read_url(url, {"Range": f"bytes={size}-"})
    assert (status, error_code(body), headers["Content-Range"]) == (416, "InvalidRange", f"bytes */{size}")
    status, _, body = read_url(url, {"Range": "bytes=1-2,4-5"})  # not one range: the whole object
    assert (status, body) == (200, original)
    status, headers, body = http_request(url, method="HEAD")
    assert (status, body, headers["Content-Length"]) == (200, b"", str(size))
    # Tampered: another key, another signature, no signature: refused, never served.
    other = url.replace("nested%20file.json", "../hello.txt")
    assert read_url(other)[0] == 400
    assert read_url(url.replace("nested%20file.json", "hello.txt"))[0] == 403
    sig = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["x-oss-signature"][0]
    assert read_url(url.replace(sig, "0" * len(sig)))[0] == 403
    assert read_url(url.replace("x-oss-signature=", "x-oss-nosig="))[0] == 403
    assert emu.stats["invocations"] == 1


# ------------------------------------------------------------------ the function fails


def test_handler_that_raises_gets_502_at_once(start, caplog):
    def handler(event, context):
        raise ZeroDivisionError("boom " + event_context(event)[3])  # the token: must not be logged

    emu = start(handler, timeout=30)
    with caplog.at_level(logging.INFO, logger="ossfast.emulator"):
        t0 = time.monotonic()
        status, headers, body = http_request(emu.url + "/hello.txt")
        assert time.monotonic() - t0 < 5
    assert (status, error_code(body)) == (502, "FunctionFailed")
    assert headers["Content-Type"] == "application/xml" and b"<RequestId>" in body and b"<EC>" in body
    assert "ZeroDivisionError" in caplog.text and "OSSV1#" not in caplog.text


def test_handler_that_returns_without_answering_gets_502(start):
    emu = start(lambda event, context: None, timeout=30)
    status, _, body = http_request(emu.url + "/hello.txt")
    assert (status, error_code(body)) == (502, "FunctionFailed")
    assert b"without sending a WriteGetObjectResponse" in body


def test_handler_that_never_answers_gets_504_then_its_token_is_expired(start):
    calls = Calls()
    release = threading.Event()

    def send(context, route, token, ev):
        release.wait(10)
        ossfast_send()(context, route, token, ev)

    emu = start(answer_with(calls, send), timeout=0.5)
    t0 = time.monotonic()
    status, _, body = http_request(emu.url + "/hello.txt")
    elapsed = time.monotonic() - t0
    release.set()
    assert (status, error_code(body)) == (504, "FunctionTimeout")
    assert 0.4 < elapsed < 5
    calls.wait()
    assert [(e.status, e.code) for e in calls.errors] == [(403, "AccessDenied")]


def test_answer_started_before_the_handler_returns_is_waited_for(start):
    """A handler that hands a slow answer to a thread and returns once it is under way: the
    client still gets the whole answer, not a 502."""
    calls = Calls()
    threads = []
    under_way = threading.Event()

    def slow_body():
        for i in range(6):
            if i == 4:
                under_way.set()  # the head and the first chunks are on their way
            time.sleep(0.05)
            yield b"%d" % i

    def handler(event, context):
        def answer():
            answer_with(calls, ossfast_send(body=slow_body(), content_length=6))(event, context)

        t = threading.Thread(target=answer)
        threads.append(t)
        t.start()
        assert under_way.wait(10)

    emu = start(handler, timeout=10)
    status, _, body = http_request(emu.url + "/hello.txt")
    for t in threads:
        t.join()
    assert (status, body) == (200, b"012345"), calls.errors
    assert calls.errors == []


def test_concurrent_clients(start, root):
    from concurrent.futures import ThreadPoolExecutor

    for i in range(8):
        (root / f"obj{i}.txt").write_bytes(b"object number %d " % i * 100)
    calls = Calls()
    emu = start(upper_handler(calls), timeout=30)
    with ThreadPoolExecutor(16) as pool:
        got = list(pool.map(lambda i: http_request(emu.url + f"/obj{i % 8}.txt"), range(48)))
    assert [(s, b) for s, _, b in got] == [(200, b"OBJECT NUMBER %d " % (i % 8) * 100) for i in range(48)]
    assert calls.errors == [] and emu.stats["invocations"] == 48


def test_stop_answers_waiting_clients(root):
    release = threading.Event()
    started = threading.Event()

    def handler(event, context):
        started.set()
        release.wait(10)

    emu = Emulator(root, handler, timeout=60).start()
    replies = []
    client = threading.Thread(target=lambda: replies.append(http_request(emu.url + "/hello.txt")))
    client.start()
    try:
        assert started.wait(10)
        t0 = time.monotonic()
        emu.stop()
        assert time.monotonic() - t0 < 10
    finally:
        release.set()
        client.join(10)
        emu.stop()
    status, _, body = replies[0]
    assert (status, error_code(body)) == (503, "ServiceUnavailable")


# ------------------------------------------------------------------ WriteGetObjectResponse checks


def test_reused_token_refused_and_first_client_served(start):
    calls = Calls()

    def send(context, route, token, ev):
        with ossfast.Client(Credentials.from_fc_context(context), retries=0) as client:
            calls.results.append(client.write_get_object_response(route, token, 200, b"first"))
            client.write_get_object_response(route, token, 200, b"second")

    emu = start(answer_with(calls, send))
    status, _, body = http_request(emu.url + "/hello.txt")
    assert (status, body) == (200, b"first")
    calls.wait()
    assert len(calls.results) == 1
    assert [(e.status, e.code) for e in calls.errors] == [(403, "AccessDenied")]
    assert emu.stats["wgor_refused"] == 1


@pytest.mark.parametrize("version", ["v1", "v4"])
@pytest.mark.parametrize("case, code", [
    ("wrong secret", "SignatureDoesNotMatch"),
    ("wrong token", "SignatureDoesNotMatch"),
    ("no token", "InvalidAccessKeyId"),
    ("unknown key", "InvalidAccessKeyId"),
])
def test_bad_credentials_refused(start, version, case, code):
    calls = Calls()

    def send(context, route, token, ev):
        good = Credentials.from_fc_context(context)
        creds = {"wrong secret": Credentials(good.access_key_id, "not-the-secret", good.security_token),
                 "wrong token": Credentials(good.access_key_id, good.access_key_secret, "CAIS-not-the-token"),
                 "no token": Credentials(good.access_key_id, good.access_key_secret),
                 "unknown key": Credentials("STS.unknownKey", good.access_key_secret, good.security_token)}[case]
        ossfast_send(version, creds=creds)(context, route, token, ev)

    emu = start(answer_with(calls, send), timeout=10)
    status, _, body = http_request(emu.url + "/hello.txt")
    assert (status, error_code(body)) == (502, "FunctionFailed")
    calls.wait()
    assert [(e.status, e.code) for e in calls.errors] == [(403, code)]
    assert calls.errors[0].request_id


def test_wrong_route_refused(start):
    calls = Calls()
    wrong = "fc-ap-01-1000000000000000-opap.oss-cn-hangzhou-internal.oss-object-process.aliyuncs.com"
    emu = start(answer_with(calls, ossfast_send(route=wrong)))
    assert http_request(emu.url + "/hello.txt")[0] == 502
    calls.wait()
    assert [(e.status, e.code) for e in calls.errors] == [(403, "AccessDenied")]


def test_unknown_token_refused(start):
    calls = Calls()
    emu = start(answer_with(calls, ossfast_send(token="OSSV1#made-up")))
    assert http_request(emu.url + "/hello.txt")[0] == 502
    calls.wait()
    assert [(e.status, e.code) for e in calls.errors] == [(403, "AccessDenied")]


def test_malformed_requests_refused_without_spending_the_token(start):
    """Each refusal as OSS answers it; the token survives them all, and the one good request
    that follows is relayed."""
    calls = Calls()
    outcomes = {}

    def send(context, route, token, ev):
        creds = Credentials.from_fc_context(context)
        url = os.environ["OSSFAST_ENDPOINT"]

        def h(**kw):
            return wgor_headers(creds, route, token, **kw)

        cases = {
            "no fwd-status": (h(status=None), b""),
            "fwd-status 299": (h(status=299), b""),
            "fwd-status abc": (h(status="abc"), b""),
            "fwd Content-Length": (h(extra=[("x-oss-fwd-header-Content-Length", "1")]), b""),
            "206 without Content-Range": (h(status=206, length=2), b"ab"),
            "Content-Range too long": (h(status=206, length=2,
                                         extra=[("x-oss-fwd-header-Content-Range", "bytes 0-9/10")]), b"ab"),
            "Last-Modified not a date": (h(extra=[("x-oss-fwd-header-Last-Modified", "yesterday")]), b""),
            "no Content-Length": (h(drop=["Content-Length"]), b""),
            "no Authorization": (h(drop=["Authorization"]), b""),
            "skewed Date": (h(date=time.time() - 3600), b""),
            "v4 other region": (h(version="v4", region="cn-beijing"), b""),
            "v4 skewed": (h(version="v4", date=time.time() + 3600), b""),
        }
        for name, (headers, body) in cases.items():
            outcomes[name] = send_wgor(url, headers, body)
        tampered = [(n, "404" if n == "x-oss-fwd-status" else v) for n, v in h()]
        outcomes["tampered"] = send_wgor(url, tampered)
        garbage = [(n, "Bearer abc" if n == "Authorization" else v) for n, v in h()]
        outcomes["garbage Authorization"] = send_wgor(url, garbage)
        outcomes["chunked"] = send_wgor(url, h(drop=["Content-Length"]), b"abc", chunked=True)
        outcomes["bad Content-MD5"] = send_wgor(url, h(length=4, extra=[("Content-MD5", "not-base64!")]), b"good")
        outcomes["good v4"] = send_wgor(url, h(version="v4", length=4, additional="host"), b"good")

    emu = start(answer_with(calls, send), timeout=20)
    status, _, body = http_request(emu.url + "/hello.txt")
    calls.wait()
    assert calls.errors == []
    got = {name: (s, error_code(b) if s != 200 else None) for name, (s, _, b) in outcomes.items()}
    assert got == {
        "no fwd-status": (400, "InvalidArgument"),
        "fwd-status 299": (400, "InvalidArgument"),
        "fwd-status abc": (400, "InvalidArgument"),
        "fwd Content-Length": (400, "InvalidArgument"),
        "206 without Content-Range": (400, "InvalidArgument"),
        "Content-Range too long": (400, "InvalidArgument"),
        "Last-Modified not a date": (400, "InvalidArgument"),
        "no Content-Length": (411, "MissingContentLength"),
        "no Authorization": (403, "AccessDenied"),
        "skewed Date": (403, "RequestTimeTooSkewed"),
        "v4 other region": (403, "SignatureDoesNotMatch"),
        "v4 skewed": (403, "RequestTimeTooSkewed"),
        "tampered": (403, "SignatureDoesNotMatch"),
        "garbage Authorization": (400, "InvalidArgument"),
        "chunked": (411, "MissingContentLength"),
        "bad Content-MD5": (400, "InvalidDigest"),
        "good v4": (200, None),
    }
    for name, (s, headers, b) in outcomes.items():
        assert len(headers["x-oss-request-id"]) == 24, name
        if s != 200:
            assert b"<RequestId>" in b and b"<HostId>" in b and b"<EC>" in b and b"<Message>" in b, name
    assert (status, body) == (200, b"good")


def test_body_that_stops_short_drops_the_client(start):
    calls = Calls()
    outcome = []

    def send(context, route, token, ev):
        headers = wgor_headers(Credentials.from_fc_context(context), route, token, length=1000)
        outcome.append(send_wgor(os.environ["OSSFAST_ENDPOINT"], headers, b"x" * 1000, stop_after=10))

    emu = start(answer_with(calls, send))
    with pytest.raises(http.client.IncompleteRead):
        http_request(emu.url + "/hello.txt")
    calls.wait()
    assert calls.errors == []
    assert http_request(emu.url + "/missing")[0] == 404  # still serving


def test_body_that_stalls_drops_the_client_after_the_timeout(start):
    calls = Calls()
    outcome = []

    def send(context, route, token, ev):
        headers = wgor_headers(Credentials.from_fc_context(context), route, token, length=1000)
        outcome.append(send_wgor(os.environ["OSSFAST_ENDPOINT"], headers, b"x" * 1000, stall_after=10))

    emu = start(answer_with(calls, send), timeout=0.5)
    t0 = time.monotonic()
    with pytest.raises(http.client.IncompleteRead) as info:
        http_request(emu.url + "/hello.txt")
    assert info.value.partial == b"x" * 10 and time.monotonic() - t0 < 5
    calls.wait()
    status, _, body = outcome[0]
    assert (status, error_code(body)) == (400, "RequestTimeout")


def test_client_that_disconnects_mid_relay(no_fd_leak, start):
    """The waiting client goes away while a large answer streams: the answer fails, as OSS
    would fail it (the rest of its body is read and dropped, then the error), and the
    emulator carries on."""
    calls = Calls()
    outcome = []
    size = 64 << 20

    def send(context, route, token, ev):
        headers = wgor_headers(Credentials.from_fc_context(context), route, token, length=size)
        outcome.append(send_wgor(os.environ["OSSFAST_ENDPOINT"], headers, b"z" * size))

    emu = start(answer_with(calls, send), timeout=20)
    host, port = emu.url[len("http://"):].split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
    assert sock.recv(100).startswith(b"HTTP/1.1 200")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()  # with unread data: a reset
    calls.wait(30)
    assert calls.errors == []
    status, _, body = outcome[0]
    assert (status, error_code(body)) == (400, "ClientDisconnected")
    emu.config.handler = upper_handler(Calls())
    assert http_request(emu.url + "/hello.txt")[2] == HELLO.upper()


def test_payload_hash_checked_before_the_last_chunk(start):
    """A V4 request that signs its body's SHA-256: a wrong body never reaches the client whole."""
    calls = Calls()
    outcome = []

    def send(context, route, token, ev):
        creds = Credentials.from_fc_context(context)
        body = b"the body" * 1000
        headers = wgor_headers(creds, route, token, length=len(body), version="v4")
        digest = hashlib.sha256(b"another body").hexdigest()
        headers = _resign_v4_with_payload(creds, headers, digest)
        outcome.append(send_wgor(os.environ["OSSFAST_ENDPOINT"], headers, body))

    emu = start(answer_with(calls, send))
    try:
        status, _, body = http_request(emu.url + "/hello.txt")
    except http.client.IncompleteRead as exc:
        assert len(exc.partial) < 8000
    else:
        raise AssertionError(f"the client got a whole answer: {status}")
    calls.wait()
    status, _, body = outcome[0]
    assert (status, error_code(body)) == (400, "InvalidDigest")


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_content_md5_checked(start, version):
    calls = Calls()
    emu = start(answer_with(calls, ossfast_send(version, body=b"with md5", content_md5=True)))
    assert http_request(emu.url + "/hello.txt")[::2] == (200, b"with md5"), calls.errors

    outcome = []
    calls = Calls()

    def send(context, route, token, ev):
        wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
        headers = wgor_headers(Credentials.from_fc_context(context), route, token, length=8000, version=version,
                               extra=[("Content-MD5", wrong)])
        outcome.append(send_wgor(os.environ["OSSFAST_ENDPOINT"], headers, b"x" * 8000))

    emu = start(answer_with(calls, send))
    with pytest.raises(http.client.IncompleteRead):
        http_request(emu.url + "/hello.txt")
    calls.wait()
    status, _, body = outcome[0]
    assert (status, error_code(body)) == (400, "InvalidDigest")


def _resign_v4_with_payload(creds, headers, digest):
    from ossfast import _pure

    headers = [(n, digest if n == "x-oss-content-sha256" else v) for n, v in headers if n != "Authorization"]
    block = "\r\n".join(f"{n}: {v}" for n, v in headers).encode()
    stamp = dict(headers)["x-oss-date"]
    sig = _pure.v4_sign(None, creds.access_key_secret.encode(), b"POST", b"/", b"x-oss-write-get-object-response",
                        block, b"", b"cn-hangzhou", b"oss")
    return headers + [("Authorization", f"OSS4-HMAC-SHA256 Credential={creds.access_key_id}/{stamp[:8]}/"
                                        f"cn-hangzhou/oss/aliyun_v4_request,Signature={sig}")]


# ------------------------------------------------------------------ what clients may ask


def test_unknown_key_is_404_without_invoking(start):
    calls = Calls()
    emu = start(upper_handler(calls))
    for path in ["/missing.txt", "/dir", "/dir/", f"/{emu.alias}/missing.txt"]:
        status, headers, body = http_request(emu.url + path)
        assert (status, error_code(body)) == (404, "NoSuchKey"), path
        assert headers["Content-Type"] == "application/xml"
    assert calls.events == [] and emu.stats["invocations"] == 0


def test_path_style_alias(start):
    calls = Calls()
    emu = start(upper_handler(calls))
    status, _, body = http_request(f"{emu.url}/{emu.alias}/dir/nested%20file.json")
    assert (status, body) == (200, b'{"NESTED": TRUE}'), calls.errors


def test_path_escapes_refused_and_never_served(start, root, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"TOP-SECRET-CONTENT")
    os.symlink(secret, root / "link.txt")
    os.symlink(tmp_path, root / "linkdir")
    calls = Calls()
    emu = start(upper_handler(calls))
    absolute = urllib.parse.quote(str(secret))
    paths = [
        "/../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E/secret.txt", "/..%2fsecret.txt", "/%2e%2e%2fsecret.txt",
        "/dir/../../secret.txt", "/dir/..%2f..%2fsecret.txt", "/dir/%2e%2e/%2e%2e/secret.txt",
        "/..\\secret.txt", "/dir\\..\\..\\secret.txt", "/%5c..%5csecret.txt", "/hello.txt%00.png", "/%00",
        "/" + absolute, "//" + absolute.lstrip("/"), "/%2f" + absolute.lstrip("/"),
        "/link.txt", "/linkdir/secret.txt", f"/{emu.alias}/../secret.txt",
        f"/{emu.alias}/%2e%2e%2fsecret.txt", "/./hello.txt", "/dir//nested", "/%ff%fe", "/" + "a" * 1100,
        "http://example.com/../secret.txt",
    ]
    for path in paths:
        status, reply = raw_request(emu.url, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        assert status in (400, 403, 404), (path, reply[:200])
        assert b"<Error>" in reply, path
        assert b"TOP-SECRET" not in reply, path
    status, reply = raw_request(emu.url, b"GET /hello.txt\x00 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status in (None, 400) and b"TOP-SECRET" not in reply
    assert calls.events == [] and emu.stats["invocations"] == 0
    # The same secret read by the emulator's own origin URL: refused too.
    assert http_request(emu.url + "/hello.txt")[0] == 200
    url = calls.events[0]["getObjectContext"]["inputOssUrl"]
    status, _, body = read_url(url.replace("/hello.txt?", "/link.txt?"))
    assert status in (403, 404) and b"TOP-SECRET" not in body


def test_other_methods_are_405(start):
    calls = Calls()
    emu = start(upper_handler(calls))
    for method in ["PUT", "DELETE", "POST", "OPTIONS", "PATCH"]:
        status, headers, body = http_request(emu.url + "/hello.txt", method=method, body=b"x")
        assert (status, error_code(body)) == (405, "MethodNotAllowed"), method
        assert "GET" in headers["Allow"]
    assert calls.events == []


def test_oversized_heads_refused(start):
    calls = Calls()
    emu = start(upper_handler(calls))
    big_header = b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n"
    long_line = b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    many = b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(500)) + b"\r\n"
    for data in (big_header, long_line, many):
        status, reply = raw_request(emu.url, data)
        assert status in (None, 400, 413, 414, 431), reply[:200]
    assert calls.events == []
    assert http_request(emu.url + "/hello.txt")[2] == HELLO.upper()


# ------------------------------------------------------------------ other clients and senders


@pytest.mark.parametrize("auth_kind", ["Auth", "AuthV4", "StsAuth", "StsAuth-v4"])
def test_oss2_write_get_object_response_accepted(start, auth_kind):
    oss2 = pytest.importorskip("oss2")
    calls = Calls()
    sts = auth_kind.startswith("Sts")
    permanent = Credentials("LTAI5tOss2Key", "oss2-secret")

    def send(context, route, token, ev):
        c = Credentials.from_fc_context(context)
        auth = {"Auth": lambda: oss2.Auth(c.access_key_id, c.access_key_secret),
                "AuthV4": lambda: oss2.AuthV4(c.access_key_id, c.access_key_secret),
                "StsAuth": lambda: oss2.StsAuth(c.access_key_id, c.access_key_secret, c.security_token),
                "StsAuth-v4": lambda: oss2.StsAuth(c.access_key_id, c.access_key_secret, c.security_token,
                                                   auth_version="v4")}[auth_kind]()
        svc = oss2.Service(auth, os.environ["OSSFAST_ENDPOINT"], region=os.environ["FC_REGION"])
        try:
            calls.results.append(svc.write_get_object_response(
                route, token, "200", b"from oss2", headers={"x-oss-fwd-header-Content-Type": "text/oss2"}))
        finally:
            svc.session.session.close()

    emu = start(answer_with(calls, send), credentials=None if sts else permanent)
    status, headers, body = http_request(emu.url + "/hello.txt")
    assert (status, body) == (200, b"from oss2"), calls.errors
    assert headers["Content-Type"] == "text/oss2"
    calls.wait()
    assert calls.results[0].status == 200 and calls.results[0].request_id


def test_oss2_streaming_body_is_chunked_and_refused_as_oss(start):
    oss2 = pytest.importorskip("oss2")
    calls = Calls()

    def send(context, route, token, ev):
        c = Credentials.from_fc_context(context)
        svc = oss2.Service(oss2.StsAuth(c.access_key_id, c.access_key_secret, c.security_token),
                           os.environ["OSSFAST_ENDPOINT"])
        try:
            svc.write_get_object_response(route, token, "200", (b for b in [b"a", b"b"]))
        finally:
            svc.session.session.close()

    emu = start(answer_with(calls, send))
    assert http_request(emu.url + "/hello.txt")[0] == 502
    calls.wait()
    assert [(e.status, e.code) for e in calls.errors] == [(411, "MissingContentLength")]


def test_oss2_bucket_get_object_through_the_emulator(start):
    oss2 = pytest.importorskip("oss2")
    calls = Calls()
    emu = start(upper_handler(calls, content_type="text/plain"))
    bucket = oss2.Bucket(oss2.Auth("client-ak", "client-sk"), emu.url, emu.alias, is_cname=True)
    try:
        assert bucket.get_object("hello.txt").read() == HELLO.upper()
        assert bucket.get_object("dir/nested file.json").read() == b'{"NESTED": TRUE}'
        with pytest.raises(oss2.exceptions.NoSuchKey):
            bucket.get_object("missing.txt")
    finally:
        bucket.session.session.close()
    assert calls.errors == []


def test_oss_v2_get_object_through_the_emulator(start):
    oss = pytest.importorskip("alibabacloud_oss_v2")
    calls = Calls()
    emu = start(upper_handler(calls, content_type="text/plain"))
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider("client-ak", "client-sk")
    cfg.region = emu.region
    cfg.endpoint = emu.url
    cfg.use_cname = True
    client = oss.Client(cfg)
    result = client.get_object(oss.GetObjectRequest(bucket=emu.alias, key="hello.txt"))
    try:
        assert result.body.read() == HELLO.upper()
        assert result.status_code == 200
    finally:
        result.body.close()
    with pytest.raises(oss.exceptions.OperationError) as info:
        client.get_object(oss.GetObjectRequest(bucket=emu.alias, key="missing.txt"))
    assert "NoSuchKey" in str(info.value)
    assert calls.errors == []


@pytest.mark.skipif(not os.path.exists(CURL), reason="no /usr/bin/curl")
def test_curl_as_a_client(start):
    calls = Calls()
    emu = start(upper_handler(calls, content_type="text/plain"))
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS")}
    out = subprocess.run([CURL, "-sS", "-i", "--max-time", "20", "-H", "Range: bytes=0-3", emu.url + "/hello.txt"],
                         capture_output=True, timeout=30, check=True, env=env).stdout
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"Content-Type: text/plain" in head
    assert body == HELLO.upper()
    assert calls.events[0]["userRequest"]["headers"]["Range"] == "bytes=0-3"
    assert calls.events[0]["userRequest"]["headers"]["User-Agent"].startswith("curl/")


# ------------------------------------------------------------------ logging


def test_log_lines_hold_no_secret(start, caplog):
    calls = Calls()
    emu = start(upper_handler(calls, "v1"))
    with caplog.at_level(logging.DEBUG, logger="ossfast.emulator"):
        assert http_request(emu.url + "/hello.txt")[0] == 200
        assert http_request(emu.url + "/missing")[0] == 404
        assert http_request(emu.url + "/../x")[0] == 400
    calls.wait()
    text = caplog.text
    g = calls.events[0]["getObjectContext"]
    query = urllib.parse.urlsplit(g["inputOssUrl"]).query
    signature = urllib.parse.parse_qs(query)["x-oss-signature"][0]
    for secret in (g["outputToken"], emu.credentials.access_key_secret, emu.credentials.security_token,
                   signature, query):
        assert secret not in text
    client_lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("client ")]
    assert any("'hello.txt' -> 200" in line and f"{len(HELLO)} bytes" in line for line in client_lines)
    assert any("'missing' -> 404" in line and "no such key" in line for line in client_lines)
    assert any("-> 400" in line and "dot segment" in line for line in client_lines)
    assert any(r.getMessage().startswith("origin GET 'hello.txt' -> 200") for r in caplog.records)


def test_refused_wgor_logged(start, caplog):
    calls = Calls()
    emu = start(answer_with(calls, ossfast_send(creds=Credentials("STS.x", "y", "z"))))
    with caplog.at_level(logging.INFO, logger="ossfast.emulator"):
        assert http_request(emu.url + "/hello.txt")[0] == 502
        calls.wait()
    assert "WriteGetObjectResponse refused: 403 InvalidAccessKeyId, unknown AccessKey id" in caplog.text
    assert "function returned without a WriteGetObjectResponse" in caplog.text


# ------------------------------------------------------------------ big objects


BIG_SCRIPT = r"""
import hashlib, http.client, json, os, resource, sys, time, urllib.parse
sys.path.insert(0, sys.argv[3])
from emu_helpers import event_context, split_url, wgor_headers
import ossfast
from ossfast.emulator import Emulator

root, size = sys.argv[1], int(sys.argv[2])

def handler(event, context):
    _, url, route, token = event_context(event)
    key = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[1])
    path = os.path.join(root, key)
    length = os.path.getsize(path)
    headers = wgor_headers(ossfast.Credentials.from_fc_context(context), route, token, length=length)
    host, port, _ = split_url(os.environ["OSSFAST_ENDPOINT"])
    conn = http.client.HTTPConnection(host, port, timeout=60)
    conn.blocksize = 1 << 20
    conn.putrequest("POST", "/?x-oss-write-get-object-response", skip_host=True, skip_accept_encoding=True)
    for n, v in headers:
        conn.putheader(n, v)
    conn.endheaders()
    with open(path, "rb") as f:
        conn.send(f)
    resp = conn.getresponse()
    resp.read()
    conn.close()
    assert resp.status == 200, resp.status

def get(url, key):
    host, port, _ = split_url(url)
    conn = http.client.HTTPConnection(host, port, timeout=60)
    conn.request("GET", "/" + key)
    r = conn.getresponse()
    md5, n = hashlib.md5(), 0
    while True:
        chunk = r.read(1 << 20)
        if not chunk:
            break
        md5.update(chunk)
        n += len(chunk)
    conn.close()
    return r.status, n, md5.hexdigest()

def peak_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

with Emulator(root, handler, timeout=60) as emu:
    get(emu.url, "small.bin")
    get(emu.url, "small.bin")
    before = peak_kib()
    t0 = time.monotonic()
    status, n, md5 = get(emu.url, "big.bin")
    secs = time.monotonic() - t0
    growth = peak_kib() - before
print(json.dumps({"status": status, "bytes": n, "md5": md5, "growth_kib": growth, "secs": secs}))
"""


def test_big_object_relayed_with_bounded_memory(tmp_path):
    root = tmp_path / "big"
    root.mkdir()
    size = 256 << 20
    with open(root / "big.bin", "wb") as f:  # sparse, with markers so order and position count
        f.truncate(size)
        for pos in range(0, size, 8 << 20):
            f.seek(pos)
            f.write(b"<marker at %012d>" % pos)
    (root / "small.bin").write_bytes(b"s" * 100_000)
    md5 = hashlib.md5()
    with open(root / "big.bin", "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            md5.update(chunk)
    script = tmp_path / "big.py"
    script.write_text(BIG_SCRIPT)
    env = dict(os.environ)
    # Not measured: asyncio's debug mode (it times every callback) and a sanitizer run's
    # allocator (ASan keeps freed memory in quarantine, so RSS grows with every byte relayed).
    for name in ("PYTHONDEVMODE", "LD_PRELOAD", "PYTHONMALLOC", "ASAN_OPTIONS", "UBSAN_OPTIONS",
                 "OSSFAST_EXPECT_SANITIZED"):
        env.pop(name, None)
    proc = subprocess.run([sys.executable, "-W", "error", str(script), str(root), str(size), TESTS],
                          capture_output=True, timeout=120, env=env, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    result = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    assert (result["status"], result["bytes"], result["md5"]) == (200, size, md5.hexdigest())
    assert result["growth_kib"] < 64 * 1024, result


# ------------------------------------------------------------------ running it


def test_serve_runs_until_sigterm(root, tmp_path):
    script = (
        "import sys; sys.path.insert(0, %r)\n"
        "from ossfast.emulator import serve\n"
        "serve(%r, %r, port=0, timeout=10)\n"
        "print('stopped', flush=True)\n" % (TESTS, str(root), os.path.join(TESTS, "emu_helpers.py") + ":upper"))
    env = dict(os.environ)
    env.pop("OSSFAST_ENDPOINT", None)
    proc = subprocess.Popen([sys.executable, "-W", "error", "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    try:
        line = proc.stdout.readline().decode()
        assert line.startswith("ossfast emulator listening on http://127.0.0.1:"), (line, proc.stderr.read())
        assert f"(root {root}, handler " in line and "emu_helpers.py:upper)" in line
        url = line.split()[4]
        status, headers, body = http_request(url + "/hello.txt")
        assert (status, body) == (200, HELLO.upper())
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert out.decode().strip() == "stopped"
    assert b"client GET 'hello.txt' -> 200" in err  # the log goes to stderr by default


def test_load_handler_forms(tmp_path, monkeypatch):
    import emu_helpers

    assert load_handler("emu_helpers:upper") is emu_helpers.upper
    assert load_handler("emu_helpers:Handlers.nested") is emu_helpers.Handlers.nested
    assert load_handler("emu_helpers.upper") is emu_helpers.upper  # FC's own 'module.function'
    by_path = load_handler(os.path.join(TESTS, "emu_helpers.py") + ":upper")
    assert by_path.__name__ == "upper" and by_path.__module__.startswith("ossfast_emulator_handler_")
    (tmp_path / "local_fn.py").write_text("def handler(event, context):\n    return 1\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    assert load_handler("local_fn:handler")(b"", None) == 1  # found in the current directory
    for spec, words in [("emu_helpers:missing", "no attribute"), ("no_such_module_xyz:f", "no module"),
                        ("emu_helpers:not_callable", "not a function"), ("emu_helpers", "name the function"),
                        ("nowhere/file.py:f", "no file"), ("", "expected")]:
        with pytest.raises(ValueError, match=words) as info:
            load_handler(spec)
        assert isinstance(info.value, ossfast.InvalidRequestError)


def test_config_checks(root):
    with pytest.raises(ossfast.InvalidRequestError, match="root"):
        EmulatorConfig(root / "missing", "emu_helpers:upper")
    with pytest.raises(ossfast.InvalidRequestError, match="region"):
        EmulatorConfig(root, "emu_helpers:upper", region="Bad Region")
    with pytest.raises(ossfast.InvalidRequestError, match="timeout"):
        EmulatorConfig(root, "emu_helpers:upper", timeout=0)
    cfg = EmulatorConfig(root, "emu_helpers:upper")
    assert cfg.host == "127.0.0.1" and cfg.credentials.is_sts
    assert cfg.credentials.access_key_secret not in repr(cfg)
    other = EmulatorConfig(root, "emu_helpers:upper")
    assert other.credentials.access_key_id != cfg.credentials.access_key_id  # fresh per run


def test_make_app_is_an_aiohttp_application(root):
    from aiohttp import web

    from ossfast.emulator import STATE

    app = make_app(EmulatorConfig(root, "emu_helpers:upper"))
    assert isinstance(app, web.Application)
    assert app[STATE].route.endswith(".oss-object-process.aliyuncs.com")


def test_emulator_listens_on_loopback_by_default(start):
    emu = start(lambda e, c: None)
    assert emu.url.startswith("http://127.0.0.1:")


# ------------------------------------------------------------------ pure pieces


@pytest.mark.parametrize("path, key", [
    ("/a.txt", "a.txt"), ("/dir/a%20b.txt", "dir/a b.txt"), ("/dir%2Fa.txt", "dir/a.txt"),
    ("/fc-ap-01-3b00521f653d2b3223680ec39dbbe2-opapalias/k", "k"), ("/%E4%BD%A0.txt", "\u4f60.txt"),
    ("/dir/", "dir/"),
])
def test_parse_target_accepts(path, key):
    assert parse_target(path)[0] == key


@pytest.mark.parametrize("path", [
    "/", "/..", "/../a", "/a/../../b", "/%2e%2e/a", "/a%2f..%2f..%2fb", "/a\\b", "/%5c", "/a%00", "//a",
    "/a//b", "/./a", "/%ff", "x", "/" + "k" * 1024, "/fc-ap-01-3b00521f653d2b3223680ec39dbbe2-opapalias//etc",
])
def test_parse_target_refuses(path):
    with pytest.raises(Refusal) as info:
        parse_target(path)
    assert info.value.status == 400


@pytest.mark.parametrize("header, size, want", [
    (None, 10, None), ("bytes=0-0", 10, (0, 0)), ("bytes=2-", 10, (2, 9)), ("bytes=-3", 10, (7, 9)),
    ("bytes=-30", 10, (0, 9)), ("bytes=5-100", 10, (5, 9)), ("bytes=1-2,4-5", 10, None), ("items=1-2", 10, None),
    ("bytes=5-2", 10, None), ("bytes=-", 10, None),
])
def test_parse_range(header, size, want):
    assert parse_range(header, size) == want


@pytest.mark.parametrize("header, size", [("bytes=10-", 10), ("bytes=-0", 10), ("bytes=0-", 0), ("bytes=-1", 0)])
def test_parse_range_unsatisfiable(header, size):
    with pytest.raises(Refusal) as info:
        parse_range(header, size)
    assert info.value.status == 416 and info.value.headers["Content-Range"] == f"bytes */{size}"


def test_origin_signer_expiry_and_binding():
    signer = OriginSigner("cn-hangzhou", 60)
    now = 1_700_000_000
    params = dict(urllib.parse.parse_qsl(signer.query("dir/k.txt", now=now)))
    assert OriginSigner.is_origin(params)
    signer.check("dir/k.txt", params, now=now + 59)
    with pytest.raises(Refusal, match="expired"):
        signer.check("dir/k.txt", params, now=now + 61)
    with pytest.raises(Refusal, match="signature"):
        signer.check("dir/other.txt", params, now=now)
    with pytest.raises(Refusal, match="signature"):
        OriginSigner("cn-hangzhou", 60).check("dir/k.txt", params, now=now)  # another run's secret
    longer = dict(params, **{"x-oss-expires": "6000"})
    with pytest.raises(Refusal, match="signature"):
        signer.check("dir/k.txt", longer, now=now)
