"""Findings of a review of ``ossfast.integrations`` as an SDK user meets it; each test fails
without its fix.

- a streamed oss2 reply read after ``close()`` gives b"" as oss2's own (requests) session does,
  not the bytes still buffered (which looked like a short body);
- v2's ``write_get_object_response`` refuses a configured proxy (it connected directly);
- v2's ``HttpClient`` refuses requests objects (``session``, ``adapter``) and ``send`` options
  it does not honour (``proxies``, ``verify``, ...): both were silently dropped;
- a malformed URL's error never shows its query (a presigned URL's signature and STS token).
"""
from __future__ import annotations

import asyncio

import pytest

oss2 = pytest.importorskip("oss2")
oss = pytest.importorskip("alibabacloud_oss_v2")

import requests  # noqa: E402
from alibabacloud_oss_v2 import exceptions as v2_exc  # noqa: E402
from alibabacloud_oss_v2.transport import RequestsHttpClient  # noqa: E402
from alibabacloud_oss_v2.types import HttpRequest  # noqa: E402

from ossfast.integrations import oss2 as fast_oss2  # noqa: E402
from ossfast.integrations import oss_v2 as fast_v2  # noqa: E402
from srv_recording import RecordingServer  # noqa: E402
from srv_replies import Reply  # noqa: E402

ROUTE = "fc-ap-01-1234-opap.oss-cn-hangzhou-internal.oss-object-process.aliyuncs.com"
SECRET = "SeCrEtSiGnAtUrE0123456789"


# ---------------------------------------------------------------- oss2 Session: read after close

@pytest.mark.parametrize("size", [100, 4 * 1024 * 1024])  # whole with the head / still streaming
def test_a_read_after_close_gives_nothing_as_oss2s_session_does(start_server, size):
    body = (bytes(range(256)) * (size // 256 + 1))[:size]
    server = start_server(RecordingServer, responses=lambda req: Reply(200, [], body))
    got = {}
    for name, session in (("oss2", oss2.Session()), ("ossfast", fast_oss2.Session(fast_crc=False))):
        bucket = oss2.Bucket(oss2.Auth("ak", "sk"), server.url, "bkt", session=session, enable_crc=False)
        result = bucket.get_object("k")
        first = result.read(10)
        result.close()
        after = (result.read(10), result.read())
        got[name] = (first, after, bucket.get_object("k").read() == body)  # the session goes on
        if name == "ossfast":
            session.close()
        else:
            session.session.close()
    assert got["ossfast"] == got["oss2"] == (body[:10], (b"", b""), True)


# ---------------------------------------------------------------- v2 WGOR: a proxy is refused

def _v2_client(server, **config):
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider("ak", "sk")
    cfg.region = "cn-hangzhou"
    cfg.endpoint = server.url
    for name, value in config.items():
        setattr(cfg, name, value)
    return oss.Client(cfg)


@pytest.mark.parametrize("how", ["config", "http_client"])
def test_v2_wgor_refuses_a_proxy_rather_than_bypass_it(recording_server, how):
    proxy = "http://127.0.0.1:3128"
    if how == "config":
        client = _v2_client(recording_server, proxy_host=proxy)
    else:
        client = _v2_client(recording_server, http_client=RequestsHttpClient(proxy_host=proxy))
    with pytest.raises(v2_exc.OperationError) as info:
        fast_v2.write_get_object_response(client, ROUTE, "tok", 200, b"body")
    assert isinstance(info.value.unwrap(), v2_exc.ParamInvalidError) and "proxy" in str(info.value)

    async def go():
        with pytest.raises(v2_exc.OperationError) as ainfo:
            await fast_v2.async_write_get_object_response(client, ROUTE, "tok", 200, b"body")
        assert isinstance(ainfo.value.unwrap(), v2_exc.ParamInvalidError)

    asyncio.run(go())
    assert recording_server.requests == []  # nothing went anywhere
    # without a proxy the same call goes (the refusal is about the proxy only)
    res = fast_v2.write_get_object_response(_v2_client(recording_server), ROUTE, "tok", 200, b"body")
    assert res.status_code == 200 and recording_server.wait_for(1)[0].body == b"body"


# ---------------------------------------------------------------- v2 HttpClient: what it does not honour

def test_v2_http_client_refuses_requests_objects():
    for name, value in (("session", requests.Session()), ("adapter", requests.adapters.HTTPAdapter())):
        with pytest.raises(v2_exc.ParamInvalidError, match=name):
            fast_v2.HttpClient(**{name: value})
        with pytest.raises(v2_exc.ParamInvalidError, match=name):
            fast_v2.AsyncHttpClient(**{name: value})
        value.close()
    fast_v2.HttpClient(session=None, adapter=None).close()  # None: nothing asked for


@pytest.mark.parametrize("option", [{"proxies": {"http": "http://127.0.0.1:3128"}}, {"verify": False},
                                    {"cert": "/tmp/client.pem"}, {"allow_redirects": True}])
def test_v2_send_refuses_options_it_does_not_honour(recording_server, option):
    url = recording_server.url + "/bkt/k"
    http = fast_v2.HttpClient()
    try:
        with pytest.raises(v2_exc.ParamInvalidError, match=next(iter(option))):
            http.send(HttpRequest("GET", url), **option)
        # what ossfast does anyway, or nothing, is accepted
        assert http.send(HttpRequest("GET", url), allow_redirects=False, proxies=None).status_code == 200
    finally:
        http.close()

    async def go():
        ahttp = fast_v2.AsyncHttpClient()
        try:
            with pytest.raises(v2_exc.ParamInvalidError, match=next(iter(option))):
                await ahttp.send(HttpRequest("GET", url), **option)
            assert (await ahttp.send(HttpRequest("GET", url), allow_redirects=False)).status_code == 200
        finally:
            await ahttp.close()

    asyncio.run(go())
    assert len(recording_server.wait_for(2)) == 2  # only the accepted calls were sent


# ---------------------------------------------------------------- no signature in an error

BAD_URLS = [f"http://127.0.0.1:99999/bkt/k?OSSAccessKeyId=ak&Expires=1&Signature={SECRET}",
            f"http://127.0.0.1:port/bkt/k?x-oss-signature={SECRET}&x-oss-security-token={SECRET}",
            f"http://:80/bkt/k?security-token={SECRET}",
            f"127.0.0.1/bkt/k?Signature={SECRET}"]


def _chain(exc):
    out = []
    while exc is not None and len(out) < 5:
        out.append(f"{exc!s} {exc!r}")
        exc = exc.__cause__ or exc.__context__
    return " ".join(out)


@pytest.mark.parametrize("url", BAD_URLS)
def test_a_bad_presigned_url_never_shows_its_signature(url):
    session = fast_oss2.Session(fast_crc=False)
    try:
        with pytest.raises(oss2.exceptions.RequestError) as info:
            session.do_request(oss2.http.Request("GET", url), 5)
    finally:
        session.close()
    assert "bkt/k" in str(info.value) and SECRET not in _chain(info.value)
    http = fast_v2.HttpClient()
    try:
        with pytest.raises(v2_exc.ParamInvalidError) as v2info:
            http.send(HttpRequest("GET", url))
    finally:
        http.close()
    assert "bkt/k" in str(v2info.value) and SECRET not in _chain(v2info.value)

    async def go():
        ahttp = fast_v2.AsyncHttpClient()
        try:
            with pytest.raises(v2_exc.ParamInvalidError) as ainfo:
                await ahttp.send(HttpRequest("GET", url))
        finally:
            await ahttp.close()
        return ainfo.value

    assert SECRET not in _chain(asyncio.run(go()))


# ---------------------------------------------------------------- oss2 WGOR: the Service's own transport

class _CountingAdapter(requests.adapters.HTTPAdapter):
    sent = 0

    def send(self, *args, **kwargs):
        type(self).sent += 1
        return super().send(*args, **kwargs)


def _session_cases(url):
    plain = oss2.Session()
    custom = oss2.Session(adapter=_CountingAdapter())
    ca = oss2.Session()
    ca.session.verify = "/etc/ssl/certs/a-ca-of-ones-own.pem"
    proxied = oss2.Session()
    proxied.session.proxies = {"http": url}  # the recording server as the proxy
    return {"oss2 default": (plain, True), "custom adapter": (custom, False), "CA file": (ca, False),
            "session proxies": (proxied, False), "ossfast Session": (fast_oss2.Session(fast_crc=False), True),
            "ossfast Session with a CA": (fast_oss2.Session(verify="/etc/ssl/certs", fast_crc=False), False)}


@pytest.mark.parametrize("case", ["oss2 default", "custom adapter", "CA file", "session proxies", "ossfast Session",
                                  "ossfast Session with a CA"])
def test_patched_wgor_sends_through_a_services_own_transport(recording_server, case):
    sessions = _session_cases(recording_server.url)
    session, fast = sessions[case]
    svc = oss2.Service(oss2.Auth("ak", "sk"), recording_server.url, session=session)
    before = _CountingAdapter.sent
    fast_oss2.patch()
    try:
        result = svc.write_get_object_response(ROUTE, "tok", "200", b"x")
    finally:
        fast_oss2.unpatch()
        fast_oss2.close(svc)
        for s in sessions.values():
            s[0].close() if isinstance(s[0], fast_oss2.Session) else s[0].session.close()
    req = recording_server.wait_for(1)[0]
    assert req.body == b"x" and req.header("x-oss-request-token") == "tok"
    # ossfast's client sends no User-Agent; oss2's function (through the session) does
    assert hasattr(result.resp, "result") is fast
    assert (req.header("User-Agent") is None) is fast
    assert _CountingAdapter.sent - before == (1 if case == "custom adapter" else 0)


# ---------------------------------------------------------------- a proxy from the environment

UNREACHABLE = "oss-test.invalid"  # never resolves: only a proxy can take a request for it


@pytest.fixture
def proxy_env(monkeypatch):
    """set(proxy_url, no_proxy=""): HTTP_PROXY and HTTPS_PROXY as requests reads them."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                 "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)

    def set_(url, no_proxy=""):
        monkeypatch.setenv("HTTP_PROXY", url)
        monkeypatch.setenv("HTTPS_PROXY", url)
        monkeypatch.setenv("NO_PROXY", no_proxy)

    return set_


def test_oss2_session_sends_what_the_environment_proxies_through_oss2s_session(recording_server, proxy_env):
    proxy_env(recording_server.url)
    with fast_oss2.Session(fast_crc=False) as session:
        bucket = oss2.Bucket(oss2.Auth("ak", "sk"), f"http://{UNREACHABLE}", "bkt", session=session, enable_crc=False)
        bucket.put_object("k", b"via the proxy")
        req = recording_server.wait_for(1)[0]
        assert req.target == f"http://bkt.{UNREACHABLE}/k" and req.body == b"via the proxy"  # absolute form
        # a host NO_PROXY lists goes direct, through ossfast's transport
        proxy_env("http://127.0.0.1:9", no_proxy="127.0.0.1")
        oss2.Bucket(oss2.Auth("ak", "sk"), recording_server.url, "bkt", session=session).put_object("k", b"direct")
        req = recording_server.wait_for(2)[1]
        assert req.target == "/bkt/k" and req.header("User-Agent").startswith("aliyun-sdk-python")
        assert len(recording_server.connections) == 2


def test_patched_oss2_wgor_goes_through_an_environment_proxy(recording_server, proxy_env):
    proxy_env(recording_server.url)
    svc = oss2.Service(oss2.Auth("ak", "sk"), f"http://{UNREACHABLE}")
    fast_oss2.patch()
    try:
        result = svc.write_get_object_response(ROUTE, "tok", "200", b"x")
    finally:
        fast_oss2.unpatch()
        fast_oss2.close(svc)
        svc.session.session.close()
    req = recording_server.wait_for(1)[0]
    assert req.target.startswith(f"http://{UNREACHABLE}/") and not hasattr(result.resp, "result")


def test_v2_refuses_what_the_environment_would_proxy(recording_server, proxy_env):
    proxy_env("http://127.0.0.1:9")
    url = recording_server.url + "/bkt/k"
    http = fast_v2.HttpClient()
    try:
        with pytest.raises(v2_exc.ParamInvalidError, match="NO_PROXY"):
            http.send(HttpRequest("GET", url))
        client = _v2_client(recording_server)
        with pytest.raises(v2_exc.OperationError, match="NO_PROXY"):
            fast_v2.write_get_object_response(client, ROUTE, "tok", 200, b"x")

        async def go():
            ahttp = fast_v2.AsyncHttpClient()
            try:
                with pytest.raises(v2_exc.ParamInvalidError, match="NO_PROXY"):
                    await ahttp.send(HttpRequest("GET", url))
            finally:
                await ahttp.close()
            with pytest.raises(v2_exc.OperationError, match="NO_PROXY"):
                await fast_v2.async_write_get_object_response(client, ROUTE, "tok", 200, b"x")

        asyncio.run(go())
        assert recording_server.requests == []
        proxy_env("http://127.0.0.1:9", no_proxy="127.0.0.1")  # listed in NO_PROXY: sent directly
        assert http.send(HttpRequest("GET", url)).status_code == 200
        assert fast_v2.write_get_object_response(client, ROUTE, "tok", 200, b"x").status_code == 200
        assert len(recording_server.wait_for(2)) == 2
    finally:
        http.close()


# ---------------------------------------------------------------- Expect: 100-continue

def test_an_expect_header_is_refused_before_the_body_goes(recording_server):
    """The server answers ``Expect: 100-continue`` with an interim 100 that ossfast's reply
    reader refuses: the request failed after its body went (a PUT done on the server, an error
    for the caller; v2's retryer sent it again). Now refused before a byte is sent."""
    url = recording_server.url
    with fast_oss2.Session(fast_crc=False) as session:
        bucket = oss2.Bucket(oss2.Auth("ak", "sk"), url, "bkt", session=session)
        with pytest.raises(oss2.exceptions.RequestError, match="Expect"):
            bucket.put_object("k", b"x" * 1000, headers={"Expect": "100-continue"})
    http = fast_v2.HttpClient()
    try:
        with pytest.raises(v2_exc.ParamInvalidError, match="Expect"):
            http.send(HttpRequest("PUT", url + "/bkt/k", headers={"Expect": "100-continue"}, body=b"x" * 1000))
    finally:
        http.close()

    async def go():
        ahttp = fast_v2.AsyncHttpClient()
        try:
            with pytest.raises(v2_exc.ParamInvalidError, match="Expect"):
                await ahttp.send(HttpRequest("PUT", url + "/bkt/k", headers={"expect": "100-continue"},
                                             body=b"x" * 1000))
        finally:
            await ahttp.close()

    asyncio.run(go())
    assert recording_server.requests == [] and recording_server.aborted == []


# ---------------------------------------------------------------- the request target as requests sends it

NASTY_PATHS = ["/bkt/my file.txt", "/bkt/ключ?x=значение", "/bkt/a%2Fb?x=1 2&y=%7E", "/bkt/k\r\nX-Evil: 1",
               "/bkt/a\tb", "/bkt/100%zz", "/bkt/k?q=\"<>\"^`{|}", "/bkt/plain-key.txt?acl"]


def test_the_request_target_is_quoted_as_requests_quotes_it(start_server):
    """Blanks, CR/LF, control and non-ASCII characters in a URL went raw into the request line
    (a CR LF made a header of its own; a blank a malformed request). Now the target is what
    requests sends, byte for byte, through all three transports."""
    server = start_server(RecordingServer, strict=False)
    http = fast_v2.HttpClient()
    session = fast_oss2.Session(fast_crc=False)
    try:
        for path in NASTY_PATHS:
            url = server.url + path
            n = len(server.requests)
            requests.get(url, timeout=5).close()
            session.do_request(oss2.http.Request("GET", url), 5).read()
            http.send(HttpRequest("GET", url))

            async def go():
                ahttp = fast_v2.AsyncHttpClient()
                try:
                    await ahttp.send(HttpRequest("GET", url))
                finally:
                    await ahttp.close()

            asyncio.run(go())
            got = [r.target for r in server.wait_for(n + 4)[n:]]
            assert got == [got[0]] * 4, (path, got)
            assert "\r" not in got[0] and " " not in got[0] and got[0].isascii()
    finally:
        http.close()
        session.close()
    assert server.protocol_errors == []
