"""ossfast.integrations.oss2 against the real oss2 package, through the loopback servers.

Each request is sent twice, by ossfast and by oss2 itself with its clock set to the second
ossfast signed at: the bytes that matter (every x-oss-* header, Content-Type, Content-MD5,
Content-Length, the body, the signature) must agree. Results and exceptions must be what
oss2's users get from oss2.
"""
from __future__ import annotations

import datetime
import email.utils
import io
import re
import threading

import pytest

oss2 = pytest.importorskip("oss2")

import ossfast  # noqa: E402
from ossfast.integrations import oss2 as fast_oss2  # noqa: E402
from servers import Reply, oss_error  # noqa: E402

ROUTE = "fc-ap-01-1234-opap.oss-cn-qingdao-internal.oss-object-process.aliyuncs.com"
REGION = "cn-qingdao"
#: headers only one side sends, or writes its own way (compared separately)
NOT_COMPARED = {"host", "accept-encoding", "user-agent", "accept", "connection", "authorization", "date",
                "content-length", "transfer-encoding"}


@pytest.fixture(autouse=True)
def _unpatched():
    fast_oss2.unpatch()
    yield
    fast_oss2.unpatch()
    assert oss2.Service.__dict__["write_get_object_response"] is fast_oss2.ORIGINAL


@pytest.fixture
def services():
    """make(auth, url, **kw) -> an oss2.Service; its ossfast client and oss2 session closed after."""
    made = []

    def make(auth, url, **kw):
        svc = oss2.Service(auth, url, **kw)
        made.append(svc)
        return svc

    yield make
    for svc in made:
        fast_oss2.close(svc)
        svc.session.session.close()


def sdk_clock(monkeypatch, when: datetime.datetime):
    """Make oss2 sign at ``when`` (V1 reads utils.http_date(), V4 datetime.utcnow())."""
    naive = when.astimezone(datetime.timezone.utc).replace(tzinfo=None)

    class Fixed(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return naive

    monkeypatch.setattr(oss2.auth, "datetime", Fixed)
    monkeypatch.setattr(oss2.utils, "http_date", lambda timeval=None: email.utils.format_datetime(
        when.astimezone(datetime.timezone.utc), usegmt=True))


def signed_at(req) -> datetime.datetime:
    iso = req.header("x-oss-date")
    if iso:
        return datetime.datetime.strptime(iso, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    return email.utils.parsedate_to_datetime(req.header("Date"))


def auth_fields(value: str):
    """(scheme, key id, {Credential, Signature, AdditionalHeaders}) of either Authorization format."""
    if value.startswith("OSS "):
        key_id, _, sig = value[4:].rpartition(":")
        return "OSS", key_id, {"Signature": sig}
    scheme, _, rest = value.partition(" ")
    return scheme, None, dict(re.findall(r"(Credential|Signature|AdditionalHeaders)=([^,\s]+)", rest))


def compared(req):
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in req.headers
            if k.decode("latin-1").lower() not in NOT_COMPARED}


def assert_same_request(ours, theirs, body_length=None):
    assert ours.method == theirs.method == "POST"
    assert theirs.target in ("/?x-oss-write-get-object-response", "/?x-oss-write-get-object-response=")
    assert compared(ours) == compared(theirs)
    assert ours.body == theirs.body
    if theirs.header("Transfer-Encoding") == "chunked":  # sent as oss2 sends it, by ossfast's transport
        assert ours.header("Transfer-Encoding") == "chunked" and ours.header("Content-Length") is None
        assert ours.target == theirs.target and ours.header("Host") == theirs.header("Host")
        return
    assert ours.target == "/?x-oss-write-get-object-response"
    assert ours.header("Host") == ROUTE
    assert ours.header("Content-Length") == str(len(ours.body) if body_length is None else body_length)
    if theirs.header("Content-Length") is not None:
        assert ours.header("Content-Length") == theirs.header("Content-Length")
    assert auth_fields(ours.header("Authorization")) == auth_fields(theirs.header("Authorization"))
    if ours.header("x-oss-date") is None:  # V1 signs the Date
        assert ours.header("Date") == theirs.header("Date")


def send_both(monkeypatch, server, svc, *args, again=None):
    """ossfast then oss2 itself (its clock at ossfast's second); the two recorded requests."""
    n = len(server.requests)
    r1 = fast_oss2.write_get_object_response(svc, *args)
    ours = server.wait_for(n + 1)[-1]
    sdk_clock(monkeypatch, signed_at(ours))
    args2 = again() if again is not None else args
    r2 = fast_oss2.ORIGINAL(svc, *args2)
    theirs = server.wait_for(n + 2)[-1]
    monkeypatch.undo()
    return ours, theirs, r1, r2


AUTHS = {
    "Auth": lambda: oss2.Auth("ak-1", "sk-1"),
    "AuthV4": lambda: oss2.AuthV4("ak-4", "sk-4"),
    "StsAuth-v1": lambda: oss2.StsAuth("sts-ak", "sts-sk", "sts-token/+=", auth_version="v1"),
    "StsAuth-v4": lambda: oss2.StsAuth("sts-ak", "sts-sk", "sts-token/+=", auth_version="v4"),
    "ProviderAuthV4": lambda: oss2.ProviderAuthV4(
        oss2.credentials.StaticCredentialsProvider("pk", "ps", "ptoken")),
    "ProviderAuth": lambda: oss2.ProviderAuth(oss2.credentials.StaticCredentialsProvider("pk1", "ps1")),
}

HEADERS = [
    None,
    {"x-oss-fwd-header-Content-Type": "text/plain", "x-oss-fwd-header-ETag": '"abc"'},
    {"x-oss-fwd-header-content-type": "image/png", "Content-Type": "application/octet-stream",
     "x-oss-fwd-header-Cache-Control": "no-cache", "x-oss-meta-extra": "kept",
     "x-oss-fwd-header-Last-Modified": "Tue, 31 Oct 2023 03:17:58 GMT"},
    {"Content-MD5": "XUFAKrxLKna5cZ2REBfFkg==", "x-oss-fwd-header-Content-Disposition": "attachment"},
    {"x-oss-fwd-header-Expires": "0"},  # "already expired", as origins send it (RFC 9111 5.3)
    {"x-oss-fwd-header-Expires": "-1", "x-oss-fwd-header-Cache-Control": "no-store"},
]


@pytest.mark.parametrize("auth", sorted(AUTHS))
@pytest.mark.parametrize("headers", range(len(HEADERS)))
def test_same_request_as_oss2(monkeypatch, recording_server, services, auth, headers):
    svc = services(AUTHS[auth](), recording_server.url, region=REGION)
    hdrs = HEADERS[headers]
    ours, theirs, r1, r2 = send_both(monkeypatch, recording_server, svc, ROUTE, "tok-1", "200", b"hello",
                                     dict(hdrs) if hdrs else None)
    assert_same_request(ours, theirs)
    assert type(r1) is type(r2) is oss2.models.RequestResult
    assert (r1.status, r1.request_id) == (200, ours.request_id)
    assert (r2.status, r2.request_id) == (200, theirs.request_id)
    assert r1.headers["x-oss-request-id"] == ours.request_id and r1.versionid is None
    assert r1.resp.read() == b""
    assert isinstance(r1.resp.result, ossfast.Result)


def _file(tmp_path, data, offset):
    path = tmp_path / "body.bin"
    path.write_bytes(data)
    f = open(path, "rb")
    f.seek(offset)
    return f


class _Reader:
    """A reader with no length, no fileno, not seekable."""

    def __init__(self, data: bytes) -> None:
        self._f = io.BytesIO(data)

    def read(self, n: int = -1) -> bytes:
        return self._f.read(min(n, 1000) if n and n > 0 else 1000)


BODIES = {
    "bytes": lambda tmp: b"\x00\x01 binary \xff",
    "str": lambda tmp: "unicode body: 你好, ünïcödé",
    "bytearray": lambda tmp: bytearray(b"a bytearray"),
    "empty": lambda tmp: b"",
    "none": lambda tmp: None,
    "file-at-offset": lambda tmp: _file(tmp, b"0123456789" * 1000, 7),
    "bytesio": lambda tmp: io.BytesIO(b"from a BytesIO" * 100),
    "sized-adapter": lambda tmp: oss2.utils.SizedFileAdapter(io.BytesIO(b"abcdefghij" * 10), 42),
    "generator": lambda tmp: (bytes([65 + i]) * (i * 1000) for i in range(10)),
    "str-generator": lambda tmp: (s for s in ["x", "ü", "yz"]),
    "reader": lambda tmp: _Reader(b"a reader without a length " * 500),
    "dict": lambda tmp: {"a": "1", "b": "two words"},
}


@pytest.mark.parametrize("kind", sorted(BODIES))
@pytest.mark.parametrize("auth", ["Auth", "AuthV4"])
def test_bodies_as_oss2_sends_them(monkeypatch, recording_server, services, tmp_path, kind, auth):
    svc = services(AUTHS[auth](), recording_server.url, region=REGION)
    made = []

    def body(oss2_side=False):
        b = BODIES[kind](tmp_path)
        made.append(b)
        headers = {"x-oss-fwd-header-ETag": '"e"'}
        if kind == "dict" and oss2_side:
            # requests adds this Content-Type after oss2 signed, so oss2's own signature leaves
            # it out (and OSS would refuse it); ossfast signs it, as oss2 does when it is given
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        return (ROUTE, "tok", "200", b, headers)

    ours, theirs, _, _ = send_both(monkeypatch, recording_server, svc, *body(), again=lambda: body(True))
    for b in made:
        if hasattr(b, "close"):
            b.close()
    assert_same_request(ours, theirs)
    chunked = kind in ("generator", "str-generator", "reader")
    assert theirs.header("Transfer-Encoding") == ("chunked" if chunked else None)
    assert ours.header("Transfer-Encoding") == theirs.header("Transfer-Encoding")


def test_int_status_is_taken(recording_server, services):
    # oss2 itself cannot sign an int status (its V1 code joins str); ossfast sends it
    svc = services(AUTHS["Auth"](), recording_server.url)
    fast_oss2.write_get_object_response(svc, ROUTE, "tok", 206, b"abc", {"x-oss-fwd-header-Content-Range": "bytes 0-2/10"})
    req = recording_server.wait_for(1)[0]
    assert (req.header("x-oss-fwd-status"), req.header("x-oss-fwd-header-Content-Range")) == ("206", "bytes 0-2/10")


def test_iterable_with_a_content_length_header_is_streamed(recording_server, services):
    svc = services(AUTHS["AuthV4"](), recording_server.url, region=REGION)
    seen = []

    def chunks():
        for i in range(3):
            seen.append(i)
            yield b"abcd"

    fast_oss2.write_get_object_response(svc, ROUTE, "tok", "200", chunks(), {"Content-Length": "12"})
    req = recording_server.wait_for(1)[0]
    assert (req.body, req.header("Content-Length")) == (b"abcd" * 3, "12")


def test_credentials_provider_asked_per_request_and_service_auth_followed(recording_server, services):
    current = [("k1", "s1", "t1")]
    asked = []

    class Rotating(oss2.credentials.CredentialsProvider):
        def get_credentials(self):
            asked.append(current[0])
            return oss2.credentials.Credentials(*current[0])

    svc = services(oss2.ProviderAuthV4(Rotating()), recording_server.url, region=REGION)
    for i, creds in enumerate([("k1", "s1", "t1"), ("k1", "s1", "t1"), ("k2", "s2", None)]):
        current[0] = creds
        fast_oss2.write_get_object_response(svc, ROUTE, f"tok{i}", "200", b"x")
        assert asked and asked[-1] == creds
    svc.auth = oss2.StsAuth("k3", "s3", "t3", auth_version="v4")  # oss2's way to renew STS keys
    fast_oss2.write_get_object_response(svc, ROUTE, "tok3", "200", b"x")
    reqs = recording_server.wait_for(4)
    keys = [auth_fields(r.header("Authorization"))[2]["Credential"].split("/")[0] for r in reqs]
    assert keys == ["k1", "k1", "k2", "k3"]
    assert [r.header("x-oss-security-token") for r in reqs] == ["t1", "t1", None, "t3"]
    assert len(recording_server.connections) == 1  # one client per Service, connection kept


def test_same_credentials_object_while_unchanged(services):
    provider = oss2.credentials.StaticCredentialsProvider("ak", "sk", "tok")
    svc = services(oss2.ProviderAuthV4(provider), "http://127.0.0.1:9", region=REGION)
    client = fast_oss2.fast_client(svc, "v4")
    first = client.credentials
    assert isinstance(first, ossfast.Credentials) and first.security_token == "tok"
    assert client.credentials is first
    assert fast_oss2.fast_client(svc, "v4") is client
    provider.credentials = oss2.credentials.Credentials("ak2", "sk", "tok")
    assert client.credentials is not first and client.credentials.access_key_id == "ak2"
    assert "sk" not in repr(client) and "tok" not in repr(client)


@pytest.mark.parametrize("reply,cls", [
    (oss_error(403, "AccessDenied", "no right"), "AccessDenied"),
    (oss_error(404, "NoSuchKey", "gone"), "NoSuchKey"),
    (oss_error(400, "InvalidArgument", "bad fwd status"), "InvalidArgument"),
    (oss_error(403, "SignatureDoesNotMatch", "sig"), "SignatureDoesNotMatch"),
    (oss_error(409, "SomethingNew", "unknown code"), "ServerError"),
    (Reply(403, [("Content-Type", "text/html")], b"<html>not xml</html>", request_id="5C3D9A1B2E4F6A7B8C9D0E1F"),
     "ServerError"),
])
@pytest.mark.parametrize("auth", ["Auth", "AuthV4"])
def test_oss_errors_raise_what_oss2_raises(recording_server, services, reply, cls, auth):
    svc = services(AUTHS[auth](), recording_server.url, region=REGION)
    recording_server.respond(reply, reply)
    with pytest.raises(oss2.exceptions.ServerError) as ours:
        fast_oss2.write_get_object_response(svc, ROUTE, "tok", "200", b"body")
    with pytest.raises(oss2.exceptions.ServerError) as theirs:
        fast_oss2.ORIGINAL(svc, ROUTE, "tok", "200", b"body")
    a, b = ours.value, theirs.value
    assert type(a) is type(b) and type(a).__name__ == cls
    assert (a.status, a.code, a.message, a.request_id, a.ec) == (b.status, b.code, b.message, b.request_id, b.ec)
    if b.details:
        assert a.details == b.details
    assert isinstance(a.__cause__, ossfast.ServerError)


def test_5xx_is_retried_then_raised_as_oss2_server_error(recording_server, services):
    svc = services(AUTHS["AuthV4"](), recording_server.url, region=REGION)
    recording_server.respond(*[oss_error(503, "ServiceUnavailable", "busy")] * 3)
    with pytest.raises(oss2.exceptions.ServerError) as info:
        fast_oss2.write_get_object_response(svc, ROUTE, "tok", "200", b"body")
    assert (info.value.status, info.value.code) == (503, "ServiceUnavailable")
    assert len(recording_server.wait_for(3)) == 3  # ossfast's policy: the bytes body is replayable


@pytest.mark.parametrize("behaviour", ["close_immediately", "reset_mid_body", "hold_after_body",
                                       "malformed_status_line"])
def test_transport_failures_raise_request_error(fault_server, services, behaviour):
    fault_server.set_behaviours(*[behaviour] * 6)
    svc = services(AUTHS["AuthV4"](), fault_server.url, region=REGION, connect_timeout=0.5)
    body = b"x" * 200_000
    with pytest.raises(oss2.exceptions.RequestError) as ours:
        fast_oss2.write_get_object_response(svc, ROUTE, "tok", "200", body)
    with pytest.raises(oss2.exceptions.RequestError):
        fast_oss2.ORIGINAL(svc, ROUTE, "tok", "200", body)
    assert isinstance(ours.value.exception, ossfast.TransportError)
    assert ours.value.status == oss2.exceptions.OSS_REQUEST_ERROR_STATUS
    if behaviour == "hold_after_body":
        assert isinstance(ours.value.exception, ossfast.TimeoutError)


def test_bad_input_is_a_client_error_before_anything_is_sent(recording_server, services):
    svc = services(AUTHS["AuthV4"](), recording_server.url, region=REGION)
    for args in [("", "tok", "200"), (ROUTE, "tok", "999"), (ROUTE, "tok\r\nx: y", "200"),
                 (ROUTE, "tok", None)]:
        with pytest.raises(oss2.exceptions.ClientError):
            fast_oss2.write_get_object_response(svc, *args, b"x")
    with pytest.raises(oss2.exceptions.ClientError):
        fast_oss2.write_get_object_response(svc, ROUTE, "tok", "200", b"x", {"x-oss-fwd-header-Expires": "soon"})
    assert recording_server.requests == [] and recording_server.accepted == 0


def test_fields_may_come_from_the_headers(recording_server, services):
    svc = services(AUTHS["Auth"](), recording_server.url)
    fast_oss2.write_get_object_response(svc, None, None, None, b"x", {
        "x-oss-request-route": ROUTE, "x-oss-request-token": "hdr-token", "x-oss-fwd-status": "404",
        "Date": "ignored", "Authorization": "ignored"})
    req = recording_server.wait_for(1)[0]
    assert (req.header("x-oss-request-token"), req.header("x-oss-fwd-status")) == ("hdr-token", "404")
    assert req.header("Authorization").startswith("OSS ak-1:") and req.header("Date") != "ignored"


@pytest.mark.parametrize("case", ["AuthV2", "AnonymousAuth", "proxies", "Host-header", "v1-x-oss-date"])
def test_what_ossfast_cannot_send_goes_through_oss2(monkeypatch, recording_server, services, case):
    auth = {"AuthV2": oss2.AuthV2("ak", "sk"), "AnonymousAuth": oss2.AnonymousAuth()}.get(case, oss2.Auth("ak", "sk"))
    kw = {"proxies": {"http": recording_server.url}} if case == "proxies" else {}
    svc = services(auth, recording_server.url, **kw)
    headers = {"Host": "elsewhere.example"} if case == "Host-header" else \
        {"x-oss-date": "Tue, 31 Oct 2023 03:17:58 GMT"} if case == "v1-x-oss-date" else None
    fast_oss2.patch()
    result = svc.write_get_object_response(ROUTE, "tok", "200", b"x", headers)
    assert not hasattr(result.resp, "result")  # oss2's own Response: sent by oss2
    req = recording_server.wait_for(1)[0]
    assert req.header("User-Agent", ).startswith("aliyun-sdk-python")


def test_patch_routes_service_calls_and_unpatch_restores_the_same_object(recording_server, services):
    original = oss2.Service.__dict__["write_get_object_response"]
    svc = services(AUTHS["AuthV4"](), recording_server.url, region=REGION)
    for _ in range(3):
        fast_oss2.patch()
    assert fast_oss2.is_patched()
    assert oss2.Service.write_get_object_response.__name__ == "write_get_object_response"
    r = svc.write_get_object_response(ROUTE, "tok", "200", b"patched")
    assert isinstance(r, oss2.models.RequestResult) and isinstance(r.resp.result, ossfast.Result)
    assert recording_server.wait_for(1)[0].header("User-Agent") is None  # ossfast sent it
    for _ in range(3):
        fast_oss2.unpatch()
    assert oss2.Service.__dict__["write_get_object_response"] is original
    assert not fast_oss2.is_patched()
    r = svc.write_get_object_response(ROUTE, "tok", "200", b"unpatched")
    assert recording_server.wait_for(2)[1].header("User-Agent").startswith("aliyun-sdk-python")


def test_patch_and_unpatch_are_thread_safe():
    original = oss2.Service.__dict__["write_get_object_response"]
    barrier = threading.Barrier(16)
    errors = []

    def worker(i):
        try:
            barrier.wait()
            for j in range(200):
                (fast_oss2.patch if (i + j) % 2 else fast_oss2.unpatch)()
                current = oss2.Service.__dict__["write_get_object_response"]
                assert current is original or current is fast_oss2._patched
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    fast_oss2.patch()
    assert fast_oss2.is_patched()
    fast_oss2.unpatch()
    assert oss2.Service.__dict__["write_get_object_response"] is original


def test_patch_keeps_a_patch_made_before_it():
    original = oss2.Service.__dict__["write_get_object_response"]

    def theirs(self, *a, **k):  # pragma: no cover - never called
        return original(self, *a, **k)

    oss2.Service.write_get_object_response = theirs
    try:
        fast_oss2.patch()
        fast_oss2.unpatch()
        assert oss2.Service.__dict__["write_get_object_response"] is theirs
    finally:
        oss2.Service.write_get_object_response = original


def test_importing_ossfast_imports_no_sdk():
    import subprocess
    import sys

    code = ("import sys, ossfast, ossfast.integrations; "
            "bad = [m for m in ('oss2', 'alibabacloud_oss_v2', 'requests') if m in sys.modules]; "
            "sys.exit(repr(bad) if bad else 0)")
    subprocess.run([sys.executable, "-c", code], check=True)


def _gen(n=3):
    return (b"chunk %d;" % i for i in range(n))


def test_a_body_without_length_goes_chunked_through_ossfasts_transport(recording_server, services, monkeypatch):
    svc = services(AUTHS["AuthV4"](), recording_server.url, region=REGION)
    monkeypatch.setattr(svc.session, "do_request", lambda *a, **k: pytest.fail("oss2's own session was used"))
    r = fast_oss2.write_get_object_response(svc, ROUTE, "tok", "200", _gen(), {"x-oss-fwd-header-ETag": '"e"'})
    req = recording_server.wait_for(1)[0]
    assert (req.header("Transfer-Encoding"), req.header("Content-Length"), req.body) == ("chunked", None, b"chunk 0;chunk 1;chunk 2;")
    assert (req.header("x-oss-request-route"), req.header("x-oss-fwd-header-ETag")) == (ROUTE, '"e"')
    assert type(r) is oss2.models.RequestResult
    assert (r.status, r.request_id, r.headers["x-oss-request-id"]) == (200, req.request_id, req.request_id)
    assert isinstance(r.resp, fast_oss2.SessionResponse)
    fast_oss2.patch()  # patched, the chunked body still goes once, through oss2's request and ossfast
    try:
        svc.write_get_object_response(ROUTE, "tok", "200", _gen(2))
    finally:
        fast_oss2.unpatch()
    assert recording_server.wait_for(2)[1].body == b"chunk 0;chunk 1;"


@pytest.mark.parametrize("reply,cls", [(oss_error(403, "AccessDenied", "no right"), "AccessDenied"),
                                       (oss_error(503, "ServiceUnavailable", "busy"), "ServerError")])
def test_a_chunked_body_gets_oss2s_exceptions_and_is_never_resent(recording_server, services, reply, cls):
    svc = services(AUTHS["Auth"](), recording_server.url)
    recording_server.respond(reply, reply)
    with pytest.raises(oss2.exceptions.ServerError) as info:
        fast_oss2.write_get_object_response(svc, ROUTE, "tok", "200", _gen())
    assert type(info.value).__name__ == cls and info.value.status == reply.status
    assert len(recording_server.wait_for(1)) == 1


@pytest.mark.parametrize("behaviour", ["close_immediately", "reset_mid_body", "hold_after_body"])
def test_a_chunked_body_transport_failure_is_request_error(fault_server, services, behaviour):
    fault_server.set_behaviours(*[behaviour] * 3)
    svc = services(AUTHS["AuthV4"](), fault_server.url, region=REGION, connect_timeout=0.5)
    with pytest.raises(oss2.exceptions.RequestError) as info:
        fast_oss2.write_get_object_response(svc, ROUTE, "tok", "200", (b"x" * 65536 for _ in range(4)))
    assert isinstance(info.value.exception, ossfast.TransportError)
    if behaviour == "hold_after_body":
        assert isinstance(info.value.exception, ossfast.TimeoutError)
