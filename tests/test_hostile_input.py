"""Hostile and careless input: a catalogue of bad arguments to write_get_object_response,
prepare, Client and Credentials.

Every case raises InvalidRequestError (a ValueError) or TypeError, the message names the field at
fault (and InvalidRequestError.field is set to it), and the server receives nothing: not even a
connection. Iterators whose later items are bad are the one exception, by necessity: bytes have
gone out before the bad item shows up, so the request is aborted (RST) and the server never gets
a complete request.
"""
from __future__ import annotations

import array
import datetime as dt
import io
import os

import pytest
from srv_recording import RecordingServer

import ossfast
from ossfast import Credentials, InvalidRequestError

pytestmark = pytest.mark.usefixtures("no_fd_leak")

ROUTE = "fc-ap-01-1234-opap.oss-cn-qingdao-internal.oss-object-process.aliyuncs.com"
TOKEN = "OSSV1#hostile"
CREDS = Credentials("ak", "sk")

FWD_FIELDS = ["accept_ranges", "cache_control", "content_disposition", "content_encoding",
              "content_language", "content_range", "content_type", "etag", "expires", "last_modified"]


class Case:
    """One bad call. ``make()`` returns (args, kwargs), fresh each time (files and iterators
    are used up); ``field`` is what the error must name."""

    def __init__(self, id, field, make, exc=(InvalidRequestError,)):
        self.id = id
        self.field = field
        self.make = make
        self.exc = exc

    def __repr__(self):
        return self.id


def call(route=ROUTE, token=TOKEN, status=200, body=b"x", **kw):
    return lambda: ((route, token, status, body), kw)


def _closed_file():
    f = io.BytesIO(b"abc")
    f.close()
    return f


def _closed_real_file():
    import tempfile

    f = tempfile.TemporaryFile()
    f.write(b"abc")
    f.close()
    return f


def _text_file():
    return io.StringIO("text")


def _short_file():
    return io.BytesIO(b"abc")


TYPE = (TypeError,)
EITHER = (InvalidRequestError, TypeError)

REQUEST_CASES = [
    # -- route
    Case("route-none", "route", call(route=None)),
    Case("route-bytes", "route", call(route=ROUTE.encode())),
    Case("route-int", "route", call(route=1234)),
    Case("route-empty", "route", call(route="")),
    Case("route-crlf", "route", call(route=ROUTE + "\r\nX-Evil: 1")),
    Case("route-lf", "route", call(route=ROUTE + "\nX-Evil: 1")),
    Case("route-nul", "route", call(route=ROUTE + "\0")),
    Case("route-non-ascii", "route", call(route="fc-äp.oss-cn-qingdao.oss-object-process.aliyuncs.com")),
    Case("route-scheme", "route", call(route="https://" + ROUTE)),
    Case("route-port", "route", call(route=ROUTE + ":443")),
    Case("route-path", "route", call(route=ROUTE + "/x")),
    Case("route-query", "route", call(route=ROUTE + "?a=b")),
    Case("route-userinfo", "route", call(route="user:pw@" + ROUTE)),
    Case("route-space", "route", call(route="fc ap.example.com")),
    Case("route-too-long", "route", call(route=("a" * 60 + ".") * 5 + "com")),
    Case("route-bad-label", "route", call(route="-bad-.example.com")),
    Case("route-ipv6-literal", "route", call(route="[::1]")),
    # -- token
    Case("token-none", "token", call(token=None)),
    Case("token-bytes", "token", call(token=b"OSSV1#tok")),
    Case("token-int", "token", call(token=12345)),
    Case("token-empty", "token", call(token="")),
    Case("token-crlf", "token", call(token="tok\r\nAuthorization: evil")),
    Case("token-lf", "token", call(token="tok\nx")),
    Case("token-cr", "token", call(token="tok\rx")),
    Case("token-nul", "token", call(token="tok\0x")),
    Case("token-non-ascii", "token", call(token="tök")),
    Case("token-blank", "token", call(token="tok en")),
    Case("token-huge", "token", call(token="t" * 100_000)),
    # -- status
    Case("status-word", "status", call(status="OK")),
    Case("status-with-reason", "status", call(status="200 OK")),
    Case("status-letter-o", "status", call(status="2OO")),
    Case("status-empty-str", "status", call(status="")),
    Case("status-blank-str", "status", call(status="  ")),
    Case("status-hex-str", "status", call(status="0xC8")),
    Case("status-signed-str", "status", call(status="+200")),
    Case("status-float-str", "status", call(status="200.0")),
    Case("status-unicode-digits", "status", call(status="٢٠٠")),
    Case("status-superscript", "status", call(status="²⁰⁰")),
    Case("status-str-not-forwarded", "status", call(status="201")),
    Case("status-str-crlf", "status", call(status="200\r\nX: y")),
    Case("status-none", "status", call(status=None)),
    Case("status-bool", "status", call(status=True)),
    Case("status-float", "status", call(status=200.0)),
    Case("status-negative", "status", call(status=-200)),
    Case("status-zero", "status", call(status=0)),
    Case("status-999", "status", call(status=999)),
    Case("status-huge", "status", call(status=10 ** 30)),
    Case("status-202", "status", call(status=202)),
    Case("status-bytes", "status", call(status=b"200")),
    # -- forwarded headers: injection in every field, and other bad values
    *[Case(f"{f}-{name}", f, call(**{f: value}))
      for f in FWD_FIELDS
      for name, value in (("crlf", "a\r\nX-Evil: 1"), ("lf", "a\nX-Evil: 1"), ("cr", "a\rb"), ("nul", "a\0b"))],
    *[Case(f"{f}-bytes", f, call(**{f: b"value"})) for f in FWD_FIELDS],
    *[Case(f"{f}-int", f, call(**{f: 5})) for f in FWD_FIELDS if f not in ("expires", "last_modified")],
    Case("content_type-non-ascii", "content_type", call(content_type="text/plain; charset=ü")),
    Case("etag-non-ascii", "etag", call(etag='"é"')),
    Case("content_disposition-non-ascii-outside-filename", "content_disposition",
         call(content_disposition="pièce-jointe")),
    Case("content_type-huge", "content_type", call(content_type="a/" + "b" * 9000)),
    Case("cache_control-empty", "cache_control", call(cache_control="")),
    Case("content_type-leading-blank", "content_type", call(content_type=" text/plain")),
    Case("content_type-del", "content_type", call(content_type="text\x7fplain")),
    Case("expires-not-a-date", "expires", call(expires="tomorrow")),
    Case("expires-naive-datetime", "expires", call(expires=dt.datetime(2030, 1, 1))),
    Case("last_modified-number", "last_modified", call(last_modified=1700000000)),
    Case("content_range-without-206", "content_range", call(content_range="bytes 0-0/10")),
    Case("content_range-missing-for-206", "content_range", call(status=206, body=b"abc")),
    Case("content_range-malformed", "content_range", call(status=206, content_range="bytes=0-2")),
    Case("content_range-wrong-length", "content_range",
         call(status=206, body=b"abc", content_range="bytes 0-9/100")),
    Case("content_range-backwards", "content_range",
         call(status=206, body=b"abc", content_range="bytes 5-3/100")),
    Case("content_range-past-size", "content_range",
         call(status=206, body=b"abc", content_range="bytes 8-10/10")),
    # -- extra headers
    Case("headers-str", "headers", call(headers="X-A: 1")),
    Case("headers-int", "headers", call(headers=5)),
    Case("headers-not-pairs", "headers", call(headers=[("X-A", "1", "2")])),
    Case("headers-name-space", "headers", call(headers={"X A": "1"})),
    Case("headers-name-crlf", "headers", call(headers={"X-A\r\nX-Evil": "1"})),
    Case("headers-name-colon", "headers", call(headers={"X-A:": "1"})),
    Case("headers-name-bytes", "headers", call(headers={b"X-A": "1"})),
    Case("headers-name-empty", "headers", call(headers={"": "1"})),
    Case("headers-name-non-ascii", "headers", call(headers={"X-Ä": "1"})),
    Case("headers-value-crlf", "headers[X-A]", call(headers={"X-A": "1\r\nX-Evil: 1"})),
    Case("headers-value-lf", "headers[X-A]", call(headers={"X-A": "1\nX-Evil: 1"})),
    Case("headers-value-nul", "headers[X-A]", call(headers={"X-A": "\0"})),
    Case("headers-value-non-ascii", "headers[X-A]", call(headers={"X-A": "ü"})),
    Case("headers-value-none", "headers[X-A]", call(headers={"X-A": None})),
    Case("headers-value-bytes", "headers[X-A]", call(headers={"X-A": b"1"})),
    Case("headers-value-huge", "headers[X-A]", call(headers={"X-A": "v" * 9000})),
    Case("headers-duplicate", "headers", call(headers=[("X-A", "1"), ("x-a", "2")])),
    *[Case(f"headers-managed-{h}", "headers", call(headers={h: "1"}))
      for h in ("Host", "Authorization", "Content-Length", "Transfer-Encoding", "Connection", "Date",
                "x-oss-request-token", "x-oss-fwd-status", "X-OSS-SECURITY-TOKEN", "Expect",
                "x-oss-fwd-header-Content-Type", "content-md5")],
    Case("headers-head-too-big", "headers", call(headers={f"X-H{i}": "v" * 8000 for i in range(10)})),
    # -- body
    Case("body-str", "body", call(body="text"), TYPE),
    Case("body-int", "body", call(body=5), TYPE),
    Case("body-float", "body", call(body=1.5), TYPE),
    Case("body-dict", "body", call(body={"a": b"b"}), TYPE),
    Case("body-set", "body", call(body={b"a"}), TYPE),
    Case("body-object", "body", call(body=object()), TYPE),
    Case("body-non-contiguous", "body", call(body=memoryview(b"abcdef")[::2]), TYPE),
    Case("body-text-file", "body", lambda: ((ROUTE, TOKEN, 200, _text_file()), {}), TYPE),
    Case("body-closed-file", "body", lambda: ((ROUTE, TOKEN, 200, _closed_file()), {})),
    Case("body-closed-real-file", "body", lambda: ((ROUTE, TOKEN, 200, _closed_real_file()), {})),
    Case("body-304-with-body", "body", call(status=304, body=b"x")),
    Case("iterator-without-length", "content_length", lambda: ((ROUTE, TOKEN, 200, iter([b"a"])), {})),
    Case("iterator-first-str", "body", lambda: ((ROUTE, TOKEN, 200, iter(["text", b"x"])), {"content_length": 5})),
    Case("iterator-first-int", "body", lambda: ((ROUTE, TOKEN, 200, iter([5, b"x"])), {"content_length": 5})),
    Case("iterator-first-none", "body", lambda: ((ROUTE, TOKEN, 200, iter([None, b"x"])), {"content_length": 5})),
    Case("iterator-first-list", "body", lambda: ((ROUTE, TOKEN, 200, iter([[1, 2]])), {"content_length": 2})),
    Case("iterator-first-too-long", "body", lambda: ((ROUTE, TOKEN, 200, iter([b"abcdef"])), {"content_length": 3})),
    Case("iterator-first-non-contiguous", "body",
         lambda: ((ROUTE, TOKEN, 200, iter([memoryview(b"abcdef")[::2]])), {"content_length": 3}), EITHER),
    # -- content_length
    Case("content_length-str", "content_length", call(content_length="1")),
    Case("content_length-float", "content_length", call(content_length=1.0)),
    Case("content_length-bool", "content_length", call(content_length=True)),
    Case("content_length-negative", "content_length", call(content_length=-1)),
    Case("content_length-absurd", "content_length", call(content_length=10 ** 20)),
    Case("content_length-mismatch-short", "content_length", call(body=b"abcde", content_length=3)),
    Case("content_length-mismatch-long", "content_length", call(body=b"abcde", content_length=6)),
    Case("content_length-past-file-end", "content_length",
         lambda: ((ROUTE, TOKEN, 200, _short_file()), {"content_length": 10})),
    Case("content_length-negative-iterator", "content_length",
         lambda: ((ROUTE, TOKEN, 200, iter([b"a"])), {"content_length": -5})),
    # -- content_md5, progress, unknown keywords
    Case("content_md5-garbage", "content_md5", call(content_md5="not-an-md5")),
    Case("content_md5-hex", "content_md5", call(content_md5="9e107d9d372bb6826bd81d3542a419d6")),
    Case("content_md5-int", "content_md5", call(content_md5=2)),
    Case("content_md5-crlf", "content_md5", call(content_md5="AAAAAAAAAAAAAAAAAAAAAA==\r\nX: y")),
    Case("content_md5-of-iterator", "content_md5",
         lambda: ((ROUTE, TOKEN, 200, iter([b"a"])), {"content_length": 1, "content_md5": True})),
    Case("progress-not-callable", "progress", call(progress="print")),
    Case("body-empty-iterator-with-length", "body",
         lambda: ((ROUTE, TOKEN, 200, iter([])), {"content_length": 5})),
    Case("unknown-keyword", "colour", call(colour="blue"), TYPE),
    Case("misspelt-keyword", "contenttype", call(contenttype="text/plain"), TYPE),
]

LATE_BAD_ITERATORS = [
    # (id, items, content_length, the message must contain)
    ("short", [b"abc", b"de"], 10, "ended after 5"),
    ("short-empty-items", [b"abc", b"", b""], 4, "ended after 3"),
    ("long", [b"abc", b"defgh"], 6, "more than"),
    ("long-after-exact", [b"abcdef", b"x"], 6, "more than"),
    ("long-after-empty", [b"abc", b"def", b"", b"!"], 6, "more than"),
    ("later-str", [b"abc", "def"], 6, "str"),
    ("later-int", [b"abc", 7], 6, "int"),
    ("later-none", [b"abc", None], 6, "NoneType"),
    ("later-dict", [b"abc", {"a": 1}], 6, "dict"),
]


def _check(exc_info, case_field):
    e = exc_info.value
    assert case_field in str(e), f"the message {str(e)!r} does not name {case_field!r}"
    if isinstance(e, InvalidRequestError):
        assert isinstance(e, ValueError)
        assert e.field == case_field


def test_the_catalogue_is_big_enough():
    assert len(REQUEST_CASES) + len(CLIENT_CASES) + len(CREDENTIAL_CASES) + len(LATE_BAD_ITERATORS) >= 60
    ids = [c.id for c in REQUEST_CASES + CLIENT_CASES + CREDENTIAL_CASES]
    assert len(ids) == len(set(ids))


@pytest.fixture(scope="module")
def idle_server():
    """One server for the whole catalogue: no case may so much as connect to it."""
    with RecordingServer(lifetime=600, idle_timeout=600) as server:
        yield server
    assert server.accepted == 0 and server.errors == []


@pytest.mark.parametrize("case", REQUEST_CASES, ids=repr)
def test_bad_call_sends_nothing(idle_server, case):
    args, kw = case.make()
    with ossfast.Client(CREDS, endpoint=idle_server.url, timeout=2) as c:
        with pytest.raises(case.exc) as ei:
            c.write_get_object_response(*args, **kw)
        _check(ei, case.field)
    assert idle_server.accepted == 0  # not even a connection


@pytest.mark.parametrize("case", REQUEST_CASES, ids=repr)
def test_bad_prepare(case):
    args, kw = case.make()
    with ossfast.Client(CREDS, endpoint="http://127.0.0.1:9", timeout=2) as c:
        with pytest.raises(case.exc) as ei:
            c.prepare(*args, **kw)
    _check(ei, case.field)


def test_date_is_for_prepare_only(recording_server):
    with ossfast.Client(CREDS, endpoint=recording_server.url) as c:
        with pytest.raises(TypeError, match="'date'"):
            c.write_get_object_response(ROUTE, TOKEN, 200, b"x", date=dt.datetime.now(dt.timezone.utc))
    assert recording_server.accepted == 0


@pytest.mark.parametrize("date", [dt.datetime(2023, 1, 1), "Tue, 31 Oct 2023 03:17:58 GMT", 1700000000])
def test_prepare_bad_date(date):
    with ossfast.Client(CREDS, endpoint="http://127.0.0.1:9") as c:
        with pytest.raises(InvalidRequestError) as ei:
            c.prepare(ROUTE, TOKEN, 200, b"x", date=date)
    _check(ei, "date")


def test_numeric_status_strings_are_accepted(recording_server):
    with ossfast.Client(CREDS, endpoint=recording_server.url, timeout=2) as c:
        for status in ("404", " 503 ", "200"):
            c.write_get_object_response(ROUTE, TOKEN, status, b"x")
    assert [r.header("x-oss-fwd-status") for r in recording_server.wait_for(3)] == ["404", "503", "200"]


def test_bad_input_leaves_buffers_and_files_usable(recording_server, tmp_path):
    """A rejected call releases what it took: a bytearray can be resized, a file is not closed."""
    buf = bytearray(b"abc")
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    with ossfast.Client(CREDS, endpoint=recording_server.url) as c, open(path, "rb") as f:
        with pytest.raises(InvalidRequestError):
            c.write_get_object_response(ROUTE, TOKEN, 999, buf)
        buf.extend(b"def")  # no BufferError: the export was released
        with pytest.raises(InvalidRequestError):
            c.write_get_object_response(ROUTE, "", 200, f)
        assert not f.closed and f.tell() == 0
        c.write_get_object_response(ROUTE, TOKEN, 200, f)
    assert recording_server.wait_for(1)[0].body == b"abc"


@pytest.mark.parametrize("id,items,length,why", LATE_BAD_ITERATORS, ids=[c[0] for c in LATE_BAD_ITERATORS])
def test_late_bad_iterator_is_aborted(recording_server, id, items, length, why):
    """The bad item shows up after the head (and maybe some body) went out: the request is
    aborted with a reset and the server never sees a complete request."""
    with ossfast.Client(CREDS, endpoint=recording_server.url, timeout=2, retries=3) as c:
        with pytest.raises((InvalidRequestError, TypeError), match=why) as ei:
            c.write_get_object_response(ROUTE, TOKEN, 200, iter(items), content_length=length)
        assert "body" in str(ei.value)
        if isinstance(ei.value, InvalidRequestError):
            assert ei.value.field == "body"
        recording_server.wait_until(lambda: len(recording_server.aborted) == 1, 2.0, "the aborted request")
        assert recording_server.requests == []
        cut = recording_server.aborted[0]
        assert not cut.complete and cut.body_length < length
        # not retried: one connection; and the client still works on a fresh one
        c.write_get_object_response(ROUTE, TOKEN, 200, b"after")
    assert [r.body for r in recording_server.wait_for(1)] == [b"after"]
    assert recording_server.accepted == 2


def test_iterator_raising_is_aborted(recording_server):
    def gen():
        yield b"abc"
        raise RuntimeError("the transform failed")

    with ossfast.Client(CREDS, endpoint=recording_server.url, timeout=2) as c:
        with pytest.raises(RuntimeError, match="the transform failed"):
            c.write_get_object_response(ROUTE, TOKEN, 200, gen(), content_length=6)
    recording_server.wait_until(lambda: len(recording_server.aborted) == 1, 2.0, "the aborted request")
    assert recording_server.requests == []


def test_file_shorter_than_declared_is_aborted(recording_server):
    """An unseekable file that ends early (its size could not be checked up front)."""
    r, w = os.pipe()
    os.write(w, b"only10byte")
    os.close(w)
    with ossfast.Client(CREDS, endpoint=recording_server.url, timeout=2) as c, os.fdopen(r, "rb") as f:
        with pytest.raises(InvalidRequestError, match="ended 10 bytes before") as ei:
            c.write_get_object_response(ROUTE, TOKEN, 200, f, content_length=20)
    assert ei.value.field == "body"
    recording_server.wait_until(lambda: len(recording_server.aborted) == 1, 2.0, "the aborted request")
    assert recording_server.requests == []


def test_progress_raising_aborts(recording_server):
    def progress(sent, total):
        raise KeyError("caller bug")

    # progress is called once per 4 MiB: the first call comes mid-body (its last call comes
    # once the whole body was handed over, too late to stop the server from taking it)
    mib = 1024 * 1024
    data = os.urandom(9 * mib)
    with ossfast.Client(CREDS, endpoint=recording_server.url, timeout=2) as c:
        with pytest.raises(KeyError):
            c.write_get_object_response(ROUTE, TOKEN, 200, iter([data[i:i + mib] for i in range(0, 9 * mib, mib)]),
                                        content_length=len(data), progress=progress)
    recording_server.wait_until(lambda: len(recording_server.aborted) == 1, 2.0, "the aborted request")
    assert recording_server.requests == []


# ---- Client ------------------------------------------------------------------------------


def client_case(id, field, exc=(InvalidRequestError,), credentials=CREDS, **kw):
    return Case(id, field, lambda: ((credentials,), kw), exc)


CLIENT_CASES = [
    client_case("credentials-str", "credentials", credentials="ak:sk"),
    client_case("credentials-tuple", "credentials", credentials=("ak", "sk")),
    client_case("credentials-dict", "credentials", credentials={"access_key_id": "ak"}),
    client_case("signature_version-v2", "signature_version", signature_version="v2"),
    client_case("signature_version-int", "signature_version", signature_version=4),
    client_case("signature_version-none", "signature_version", signature_version=None),
    client_case("region-empty", "region", region=""),
    client_case("region-blank", "region", region="cn hangzhou"),
    client_case("region-crlf", "region", region="cn-hangzhou\r\nX: y"),
    client_case("region-int", "region", region=1),
    client_case("region-non-ascii", "region", region="cn-häng"),
    client_case("scheme-ftp", "scheme", scheme="ftp"),
    client_case("scheme-upper", "scheme", scheme="HTTPS "),
    client_case("scheme-none", "scheme", scheme=None),
    client_case("endpoint-int", "endpoint", endpoint=9000),
    client_case("endpoint-bytes", "endpoint", endpoint=b"http://127.0.0.1:9000"),
    client_case("endpoint-no-scheme", "endpoint", endpoint="127.0.0.1:9000"),
    client_case("endpoint-ftp", "endpoint", endpoint="ftp://127.0.0.1"),
    client_case("endpoint-path", "endpoint", endpoint="http://127.0.0.1:9000/bucket"),
    client_case("endpoint-query", "endpoint", endpoint="http://127.0.0.1:9000?x=1"),
    client_case("endpoint-userinfo", "endpoint", endpoint="http://user:pw@127.0.0.1:9000"),
    client_case("endpoint-bad-port", "endpoint", endpoint="http://127.0.0.1:99999"),
    client_case("endpoint-port-word", "endpoint", endpoint="http://127.0.0.1:http"),
    client_case("endpoint-crlf", "endpoint", endpoint="http://127.0.0.1\r\n:9000"),
    client_case("endpoint-tab", "endpoint", endpoint="http://127.0.0.1\t:9000"),
    client_case("endpoint-broken-ipv6", "endpoint", endpoint="http://[::1"),
    client_case("endpoint-no-host", "endpoint", endpoint="http://:9000"),
    client_case("timeout-str", "timeout", timeout="fast"),
    client_case("timeout-zero", "timeout", timeout=0),
    client_case("timeout-negative", "timeout", timeout=-1),
    client_case("timeout-nan", "timeout", timeout=float("nan")),
    client_case("timeout-inf", "timeout", timeout=float("inf")),
    client_case("timeout-bool", "timeout", timeout=True),
    client_case("timeout-one-tuple", "timeout", timeout=(1,)),
    client_case("timeout-three-tuple", "timeout", timeout=(1, 2, 3)),
    client_case("timeout-pair-with-str", "timeout", timeout=(1, "x")),
    client_case("timeout-pair-with-none", "timeout", timeout=(1, None)),
    client_case("timeout-pair-negative", "timeout", timeout=(1, -1)),
    client_case("retries-negative", "retries", retries=-1),
    client_case("retries-str", "retries", retries="3"),
    client_case("retries-float", "retries", retries=1.5),
    client_case("retries-bool", "retries", retries=True),
    client_case("verify-missing-file", "verify", verify="/nonexistent/ca.pem"),
    client_case("verify-int", "verify", verify=1),
    client_case("verify-none", "verify", verify=None),
    client_case("pool_maxsize-zero", "pool_maxsize", pool_maxsize=0),
    client_case("pool_maxsize-str", "pool_maxsize", pool_maxsize="8"),
    client_case("pool_maxsize-bool", "pool_maxsize", pool_maxsize=True),
    client_case("client-unknown-keyword", "keepalive", (TypeError,), keepalive=True),
]


@pytest.mark.parametrize("case", CLIENT_CASES, ids=repr)
def test_bad_client(case, monkeypatch):
    monkeypatch.delenv("OSSFAST_ENDPOINT", raising=False)
    args, kw = case.make()
    with pytest.raises(case.exc) as ei:
        ossfast.Client(*args, **kw)
    _check(ei, case.field)


def test_bad_retry_policy():
    for kw in ({"total": -1}, {"total": 1.5}, {"backoff": -1.0}, {"backoff": 5.0, "max_backoff": 1.0}):
        with pytest.raises(InvalidRequestError) as ei:
            ossfast.Retry(**kw)
        _check(ei, "retries")


def test_bad_endpoint_from_the_environment(monkeypatch):
    monkeypatch.setenv("OSSFAST_ENDPOINT", "localhost:9000")
    with pytest.raises(InvalidRequestError) as ei:
        ossfast.Client(CREDS)
    _check(ei, "endpoint")


def test_closed_client_refuses_without_retrying(recording_server, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="ossfast")
    c = ossfast.Client(CREDS, endpoint=recording_server.url, retries=3)
    c.close()
    with pytest.raises(ossfast.TransportError, match="closed"):
        c.write_get_object_response(ROUTE, TOKEN, 200, b"x")
    assert [r for r in caplog.records if "retrying" in r.getMessage()] == []
    assert recording_server.accepted == 0


# ---- Credentials -------------------------------------------------------------------------


def cred_case(id, field, *args, **kw):
    return Case(id, field, lambda: (args, kw))


CREDENTIAL_CASES = [
    cred_case("access_key_id-none", "access_key_id", None, "sk"),
    cred_case("access_key_id-empty", "access_key_id", "", "sk"),
    cred_case("access_key_id-bytes", "access_key_id", b"ak", "sk"),
    cred_case("access_key_id-int", "access_key_id", 12345, "sk"),
    cred_case("access_key_id-crlf", "access_key_id", "ak\r\nX: y", "sk"),
    cred_case("access_key_id-nul", "access_key_id", "ak\0", "sk"),
    cred_case("access_key_id-non-ascii", "access_key_id", "äk", "sk"),
    cred_case("access_key_secret-none", "access_key_secret", "ak", None),
    cred_case("access_key_secret-empty", "access_key_secret", "ak", ""),
    cred_case("access_key_secret-bytes", "access_key_secret", "ak", b"sk"),
    cred_case("access_key_secret-lf", "access_key_secret", "ak", "s\nk"),
    cred_case("access_key_secret-nul", "access_key_secret", "ak", "s\0k"),
    cred_case("access_key_secret-non-ascii", "access_key_secret", "ak", "sé"),
    cred_case("security_token-crlf", "security_token", "ak", "sk", "tok\r\nX: y"),
    cred_case("security_token-nul", "security_token", "ak", "sk", "tok\0"),
    cred_case("security_token-non-ascii", "security_token", "ak", "sk", "tök"),
    cred_case("security_token-int", "security_token", "ak", "sk", 5),
    cred_case("security_token-bytes", "security_token", "ak", "sk", b"tok"),
]


@pytest.mark.parametrize("case", CREDENTIAL_CASES, ids=repr)
def test_bad_credentials(case):
    args, kw = case.make()
    with pytest.raises(case.exc) as ei:
        Credentials(*args, **kw)
    _check(ei, case.field)
    # the bad value itself is never echoed: it may be a secret
    for value in args[1:]:
        if isinstance(value, str) and len(value) > 1:
            assert value not in str(ei.value)


def test_array_body_is_fine_not_hostile(recording_server):
    """Not every odd type is an error: any contiguous buffer is a body."""
    arr = array.array("H", [1, 2, 3])
    with ossfast.Client(CREDS, endpoint=recording_server.url) as c:
        assert c.write_get_object_response(ROUTE, TOKEN, 200, arr).bytes_sent == 6
