"""ossfast.integrations.oss_v2 against the real alibabacloud-oss-v2 package.

The signers are compared with the SDK's own on thousands of random requests (header and
presigned-query signing); WriteGetObjectResponse is compared on the wire, through the
loopback servers, with the same request sent by the SDK's ``invoke_operation`` with its
clock fixed at the second ossfast signed at.
"""
from __future__ import annotations

import asyncio
import datetime
import io
import random
import types
from urllib.parse import quote, urlencode

import pytest

oss = pytest.importorskip("alibabacloud_oss_v2")

from alibabacloud_oss_v2 import exceptions as sdk_exc  # noqa: E402
from alibabacloud_oss_v2.signer import v1 as sdk_v1_module  # noqa: E402
from alibabacloud_oss_v2.signer import v4 as sdk_v4_module  # noqa: E402
from alibabacloud_oss_v2.types import HttpRequest, SigningContext  # noqa: E402

import ossfast  # noqa: E402
from ossfast.integrations import oss_v2 as fast_v2  # noqa: E402
from srv_replies import Reply, oss_error  # noqa: E402
from test_integrations_oss2 import auth_fields, compared, signed_at  # noqa: E402

ROUTE = "fc-ap-01-1234-opap.oss-cn-qingdao-internal.oss-object-process.aliyuncs.com"
REGION = "cn-qingdao"
UTC = datetime.timezone.utc

# ---------------------------------------------------------------- random requests

SUBRESOURCES = sorted(sdk_v1_module.SignerV1._subresource_key_set) + [
    "x-oss-process", "x-oss-write-get-object-response", "cors", "lifecycle", "x-oss-traffic-limit"]
KEY_CHARS = "abcXYZ019 -_.~/+?#%&=*'()!$,;:@[]你好ü€😀\u00a0\t"
VALUE_CHARS = "abc XYZ 019-_.~/+=:;,\"'()!*你好ü€"


def rand_text(rng, chars, lo=0, hi=12):
    return "".join(rng.choice(chars) for _ in range(rng.randint(lo, hi)))


def rand_value(rng):
    v = rand_text(rng, VALUE_CHARS, 0, 20)
    r = rng.random()
    if r < 0.05:
        v = " " + v  # blanks around: the SDK signs them as they are
    elif r < 0.10:
        v = v + "\t "
    elif r < 0.12:
        v = v + "\nx-oss-injected: 1"  # not sendable, but signable
    return v


def rand_name(rng, base):
    return "".join(c.upper() if rng.random() < 0.3 else c for c in base)


def random_context(rng, version):
    method = rng.choice(["GET", "PUT", "POST", "DELETE", "HEAD", "OPTIONS"])
    bucket = rng.choice([None, "bucket", "my-bucket-01", "b" * 20])
    key = rng.choice([None, rand_text(rng, KEY_CHARS, 1, 30)])
    params = {}
    for _ in range(rng.randint(0, 5)):
        name = rng.choice(SUBRESOURCES) if rng.random() < 0.6 else rand_text(rng, "abcxyz-_.你", 1, 8)
        params[name] = rng.choice(["", rand_text(rng, VALUE_CHARS + "&=%", 0, 10)])
    host = f"{bucket}.oss-cn-hangzhou.aliyuncs.com" if bucket else "oss-cn-hangzhou.aliyuncs.com"
    url = f"https://{host}/" + (quote(key) if key is not None else "")
    if params:
        url += "?" + urlencode(params, quote_via=quote)
    req = HttpRequest(method, url)
    headers = {}
    if rng.random() < 0.5:
        headers[rand_name(rng, "content-type")] = rng.choice(["text/plain", "application/xml; charset=utf-8", ""])
    if rng.random() < 0.3:
        headers[rand_name(rng, "content-md5")] = "XUFAKrxLKna5cZ2REBfFkg=="
    for _ in range(rng.choice([0, 1, 3, 8, 70]) if rng.random() < 0.9 else 0):
        headers[rand_name(rng, "x-oss-meta-" + rand_text(rng, "abcxyz019-_", 1, 10))] = rand_value(rng)
    for name in rng.sample(["x-oss-acl", "x-oss-storage-class", "x-oss-forbid-overwrite", "Range",
                            "If-Modified-Since", "Cache-Control", "User-Agent", "x-oss-date",
                            "x-oss-content-sha256", "Host", "x-oss-callback"], rng.randint(0, 5)):
        headers[rand_name(rng, name)] = rand_value(rng)
    req.headers.update(headers)
    token = rng.choice([None, None, "sts/token+with=chars", rand_text(rng, "abcXYZ019+/=", 1, 200)])
    cred = oss.credentials.Credentials(rng.choice(["ak", "LTAI5t" + "x" * 18]),
                                       rng.choice(["sk", "secret/+=" + "y" * 22]), token)
    additional = None
    if rng.random() < 0.5:
        additional = set(rng.sample(["range", "Range", "if-modified-since", "cache-control", "host", "x-oss-acl",
                                     "content-type", "user-agent", "absent-header"], rng.randint(0, 5)))
    tz = rng.choice([UTC, datetime.timezone(datetime.timedelta(hours=8)), datetime.timezone(-datetime.timedelta(hours=5))])
    when = datetime.datetime(2023, 1, 1, tzinfo=UTC) + datetime.timedelta(seconds=rng.randint(0, 10 ** 8),
                                                                          microseconds=rng.randint(0, 999999))
    ctx = SigningContext(product=rng.choice(["oss", "oss-cloudbox", None]),
                         region=rng.choice(["cn-hangzhou", "cn-qingdao", "us-west-1", "", None]),
                         bucket=bucket, key=key, request=req, credentials=cred,
                         signing_time=when.astimezone(tz), clock_offset=rng.choice([0, 5, None]),
                         additional_headers=additional)
    ctx.sub_resource = rng.sample(list(params) + ["foo"], rng.randint(0, len(params))) if params else []
    if rng.random() < 0.3:
        ctx.auth_method_query = True
        ctx.expiration_time = when + datetime.timedelta(seconds=rng.randint(1, 7 * 86400))
    return ctx


def clone(ctx, drop_token_into_header=False):
    req = HttpRequest(ctx.request.method, ctx.request.url)
    req.headers.update(ctx.request.headers)
    cred = ctx.credentials
    if drop_token_into_header:
        # What ossfast's V1 signs: the token as an x-oss-* header, signed like any other.
        req.headers["x-oss-security-token"] = cred.security_token
        cred = oss.credentials.Credentials(cred.access_key_id, cred.access_key_secret)
    c = SigningContext(product=ctx.product, region=ctx.region, bucket=ctx.bucket, key=ctx.key, request=req,
                       credentials=cred, signing_time=ctx.signing_time, clock_offset=ctx.clock_offset,
                       additional_headers=ctx.additional_headers)
    c.sub_resource = list(ctx.sub_resource)
    c.auth_method_query = ctx.auth_method_query
    c.expiration_time = ctx.expiration_time
    return c


def outcome(signer, ctx):
    try:
        signer.sign(ctx)
    except Exception as exc:  # the same failure on both sides counts as agreement
        return ("raised", type(exc))
    return (ctx.string_to_sign, ctx.request.url, list(ctx.request.headers.items()), ctx.signing_time,
            ctx.expiration_time)


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_signers_agree_with_the_sdk_on_random_requests(version):
    ours_cls, sdk_cls = ((fast_v2.SignerV1, sdk_v1_module.SignerV1) if version == "v1"
                         else (fast_v2.SignerV4, sdk_v4_module.SignerV4))
    rng = random.Random(20231031 + len(version))
    ours, sdk = ours_cls(), sdk_cls()
    n_c_path = n_query = 0
    for i in range(3000):
        ctx = random_context(rng, version)
        v1_sts_header = (version == "v1" and ctx.credentials.security_token and not ctx.auth_method_query)
        mine = outcome(ours, clone(ctx))
        theirs = outcome(sdk, clone(ctx, drop_token_into_header=bool(v1_sts_header)))
        if v1_sts_header and mine[0] != "raised":
            mine = mine[:2] + (sorted(mine[2]),) + mine[3:]
            theirs = theirs[:2] + (sorted(theirs[2]),) + theirs[3:]
        assert mine == theirs, (i, ctx.request.method, ctx.request.url, dict(ctx.request.headers))
        n_query += ctx.auth_method_query
        n_c_path += all(fast_v2._plain(k, v) for k, v in ctx.request.headers.items())
    assert n_query > 500 and 500 < n_c_path < 2500  # both modes and both paths were exercised


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_v1_sts_header_is_the_signed_x_oss_security_token(version):
    ctx = random_context(random.Random(7), version)
    ctx.auth_method_query = False
    ctx.credentials = oss.credentials.Credentials("ak", "sk", "the-token")
    signer = fast_v2.SignerV1() if version == "v1" else fast_v2.SignerV4()
    signer.sign(ctx)
    assert ctx.request.headers["x-oss-security-token"] == "the-token"
    assert "security-token" not in [k.lower() for k in ctx.request.headers]
    assert "x-oss-security-token:the-token" in ctx.string_to_sign or version == "v4"


def fixed_sdk_clock(monkeypatch, when):
    class Fixed(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return when.astimezone(tz) if tz is not None else when.replace(tzinfo=None)

    fake = types.SimpleNamespace(datetime=Fixed, timezone=datetime.timezone, timedelta=datetime.timedelta)
    monkeypatch.setattr(sdk_v1_module, "datetime", fake)
    monkeypatch.setattr(sdk_v4_module, "datetime", fake)
    monkeypatch.setattr(fast_v2, "_now", Fixed.now)


@pytest.mark.parametrize("query", [False, True])
@pytest.mark.parametrize("version", ["v1", "v4"])
def test_signers_read_the_clock_as_the_sdk_does(monkeypatch, version, query):
    when = datetime.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC)
    fixed_sdk_clock(monkeypatch, when)
    rng = random.Random(3)
    for _ in range(50):
        ctx = random_context(rng, version)
        ctx.credentials = oss.credentials.Credentials("ak", "sk")
        ctx.signing_time = None
        ctx.auth_method_query = query
        ctx.expiration_time = None
        ctx.clock_offset = rng.choice([0, 30, -3600, None])
        ours = fast_v2.SignerV1() if version == "v1" else fast_v2.SignerV4()
        sdk = sdk_v1_module.SignerV1() if version == "v1" else sdk_v4_module.SignerV4()
        assert outcome(ours, clone(ctx)) == outcome(sdk, clone(ctx))


def test_signers_are_the_sdks_for_isinstance_checks():
    assert isinstance(fast_v2.SignerV4(), sdk_v4_module.SignerV4)
    assert isinstance(fast_v2.SignerV1(), sdk_v1_module.SignerV1)
    assert isinstance(fast_v2.SignerV4(), oss.Signer)
    for bad in (None, SigningContext()):
        with pytest.raises(sdk_exc.BaseError):
            fast_v2.SignerV4().sign(bad)


def test_known_answer_vectors_from_design():
    """DESIGN.md's WriteGetObjectResponse vectors, through the SDK signer interface."""
    route = "fc-ap-01-111933544165xxxx-opap.oss-cn-qingdao-internal.oss-object-process.aliyuncs.com"
    when = datetime.datetime(2023, 10, 31, 3, 17, 58, tzinfo=UTC)

    def sign(signer, token=None):
        req = HttpRequest("POST", f"https://{route}/?x-oss-write-get-object-response")
        req.headers.update({"x-oss-request-route": route, "x-oss-request-token": "OSSV1#ZvBDC3XPm3g",
                            "x-oss-fwd-status": "200", "x-oss-fwd-header-Content-Type": "text/plain",
                            "x-oss-fwd-header-ETag": '"abc"'})
        ctx = SigningContext(product="oss", region="cn-qingdao", request=req, signing_time=when,
                             credentials=oss.credentials.Credentials("ak", "sk", token))
        ctx.sub_resource = ["x-oss-write-get-object-response"]
        signer.sign(ctx)
        return req.headers["Authorization"]

    assert sign(fast_v2.SignerV1()) == "OSS ak:LeEIHrg1MNIYZ01lGXxjn8sf5jk="
    assert sign(fast_v2.SignerV1(), "sts-token") == "OSS ak:EaH3Y36LSxU4L5CUl3Z0fSxuiRc="
    assert sign(fast_v2.SignerV4()).endswith(
        ",Signature=7f24aa2bfa940bd889899cc15d2647666a1c8686f588ba4c1be8184f2279a498")


# ---------------------------------------------------------------- the SDK client with our signers


@pytest.fixture
def sdk_client_factory():
    made = []

    def make(url, version="v4", provider=None, **kw):
        cfg = oss.config.load_default()
        cfg.credentials_provider = provider or oss.credentials.StaticCredentialsProvider("ak", "sk")
        cfg.region = REGION
        cfg.endpoint = url
        cfg.signature_version = version
        for k, v in kw.items():
            setattr(cfg, k, v)
        signer = kw.pop("signer", None)
        client = oss.Client(cfg, signer=signer) if signer is not None else oss.Client(cfg)
        made.append(client)
        return client

    yield make
    for c in made:
        fast_v2.close(c)
        c._client._options.http_client.close()


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_sdk_operations_signed_by_ossfast_match_the_sdks(monkeypatch, recording_server, sdk_client_factory, version):
    when = datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    fixed_sdk_clock(monkeypatch, when)
    signer = fast_v2.SignerV1() if version == "v1" else fast_v2.SignerV4()
    ours = sdk_client_factory(recording_server.url, version, signer=signer)
    theirs = sdk_client_factory(recording_server.url, version)
    for client in (ours, theirs):
        client.put_object(oss.PutObjectRequest(bucket="bucket", key="dir/ü key+1.txt", body=b"data",
                                               content_type="text/plain", metadata={"a": "1"},
                                               acl="private"))
        client.get_object_meta(oss.GetObjectMetaRequest(bucket="bucket", key="k"))
    reqs = recording_server.wait_for(4)
    for a, b in ((reqs[0], reqs[2]), (reqs[1], reqs[3])):
        assert (a.method, a.target) == (b.method, b.target)
        assert a.header("Authorization") == b.header("Authorization")
        assert a.headers == b.headers
    for client in (ours, theirs):
        url = client.presign(oss.GetObjectRequest(bucket="bucket", key="a/b c"),
                             expires=datetime.timedelta(hours=1)).url
        assert "Signature" in url or "x-oss-signature" in url
    assert ours.presign(oss.GetObjectRequest(bucket="bucket", key="a/b c"), expires=datetime.timedelta(hours=1)).url \
        == theirs.presign(oss.GetObjectRequest(bucket="bucket", key="a/b c"), expires=datetime.timedelta(hours=1)).url


# ---------------------------------------------------------------- WriteGetObjectResponse


def sdk_wgor(client, route, token, status, body, headers=None):
    """The same request through the SDK's own pipeline."""
    h = {"x-oss-request-route": route, "x-oss-request-token": token, "x-oss-fwd-status": str(status)}
    h.update(headers or {})
    return client.invoke_operation(oss.OperationInput(
        op_name="WriteGetObjectResponse", method="POST", headers=h,
        parameters={"x-oss-write-get-object-response": ""}, body=body,
        op_metadata={"sub-resource": ["x-oss-write-get-object-response"]}))


CASES = {
    "v4": ("v4", None), "v4-sts": ("v4", "sts-token+/="), "v1": ("v1", None),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("body", ["bytes", "str", "file", "iterator"])
def test_same_request_as_the_sdk_would_send(monkeypatch, recording_server, sdk_client_factory, tmp_path, case,
                                            body):
    version, token = CASES[case]
    client = sdk_client_factory(recording_server.url, version,
                                provider=oss.credentials.StaticCredentialsProvider("ak", "sk", token))
    data = b"transformed \x00\xff" * 100
    make = {"bytes": lambda: data, "str": lambda: "ünïcode",
            "file": lambda: io.BytesIO(data), "iterator": lambda: iter([data[:10], data[10:]])}[body]
    result = fast_v2.write_get_object_response(client, ROUTE, "tok-1", 200, make(), content_type="text/plain",
                                               fwd_header_etag='"etag"', cache_control="no-cache")
    ours = recording_server.wait_for(1)[0]
    fixed_sdk_clock(monkeypatch, signed_at(ours))
    sdk_body = make() if body != "iterator" else data  # the SDK cannot size an iterator
    sdk_wgor(client, ROUTE, "tok-1", 200, sdk_body, {"x-oss-fwd-header-Content-Type": "text/plain",
                                                      "x-oss-fwd-header-ETag": '"etag"',
                                                      "x-oss-fwd-header-Cache-Control": "no-cache"})
    theirs = recording_server.wait_for(2)[1]
    assert ours.header("Host") == ROUTE and ours.target == "/?x-oss-write-get-object-response"
    assert compared(ours) == compared(theirs)
    assert ours.body == theirs.body and ours.header("Content-Length") == theirs.header("Content-Length")
    assert auth_fields(ours.header("Authorization")) == auth_fields(theirs.header("Authorization"))
    assert ours.header("Authorization") == theirs.header("Authorization")
    assert isinstance(result, fast_v2.WriteGetObjectResponseResult)
    assert (result.status_code, result.status, result.request_id) == (200, "OK", ours.request_id)
    assert result.headers["X-Oss-Request-Id"] == ours.request_id
    assert isinstance(result.result, ossfast.Result) and result.result.bytes_sent == len(ours.body)


def test_v1_sts_goes_as_the_signed_x_oss_security_token(recording_server, sdk_client_factory):
    client = sdk_client_factory(recording_server.url, "v1",
                                provider=oss.credentials.StaticCredentialsProvider("ak", "sk", "tok"))
    fast_v2.write_get_object_response(client, ROUTE, "t", 200, b"x")
    req = recording_server.wait_for(1)[0]
    assert req.header("x-oss-security-token") == "tok" and req.header("security-token") is None


def dated(reply):
    """The reply with the Date header OSS always sends (the SDK's error parser needs it)."""
    reply.headers = list(reply.headers) + [("Date", "Tue, 31 Oct 2023 03:17:58 GMT")]
    return reply


@pytest.mark.parametrize("reply", [oss_error(403, "AccessDenied", "no"), oss_error(404, "NoSuchKey", "gone"),
                                   oss_error(400, "InvalidArgument", "bad", ec="0017-00000208"),
                                   Reply(403, [("Content-Type", "text/html")], b"<p>no</p>", request_id="ABC")])
def test_oss_errors_raise_what_the_sdk_raises(recording_server, sdk_client_factory, reply):
    reply = dated(reply)
    client = sdk_client_factory(recording_server.url, retry_max_attempts=1)
    recording_server.respond(reply, reply)
    with pytest.raises(sdk_exc.OperationError) as ours:
        fast_v2.write_get_object_response(client, ROUTE, "tok", 200, b"body")
    with pytest.raises(sdk_exc.OperationError) as theirs:
        sdk_wgor(client, ROUTE, "tok", 200, b"body")
    a, b = ours.value.unwrap(), theirs.value.unwrap()
    assert type(a) is type(b) is sdk_exc.ServiceError
    for field in ("status_code", "code", "request_id", "ec", "timestamp"):
        assert getattr(a, field) == getattr(b, field), field
    if b.code != "BadErrorResponse":
        assert a.message == b.message and a.error_fileds == b.error_fileds
    assert "WriteGetObjectResponse" in str(ours.value)
    assert isinstance(ours.value.__cause__, ossfast.ServerError)


def test_5xx_is_retried_by_ossfast_not_the_sdk(recording_server, sdk_client_factory):
    client = sdk_client_factory(recording_server.url)
    recording_server.respond(*[oss_error(503, "ServiceUnavailable", "busy")] * 3)
    with pytest.raises(sdk_exc.OperationError) as info:
        fast_v2.write_get_object_response(client, ROUTE, "tok", 200, b"body")
    assert info.value.unwrap().status_code == 503
    assert len(recording_server.wait_for(3)) == 3


@pytest.mark.parametrize("behaviour,inner", [("close_immediately", sdk_exc.RequestError),
                                             ("reset_mid_body", sdk_exc.RequestError),
                                             ("hold_after_body", sdk_exc.ResponseError)])
def test_transport_failures_raise_what_the_sdk_raises(fault_server, sdk_client_factory, behaviour, inner):
    fault_server.set_behaviours(*[behaviour] * 8)
    client = sdk_client_factory(fault_server.url, retry_max_attempts=1, readwrite_timeout=0.5, connect_timeout=1)
    body = b"x" * 300_000
    with pytest.raises(sdk_exc.OperationError) as ours:
        fast_v2.write_get_object_response(client, ROUTE, "tok", 200, body)
    with pytest.raises(sdk_exc.OperationError) as theirs:
        sdk_wgor(client, ROUTE, "tok", 200, body)
    assert type(ours.value.unwrap()) is type(theirs.value.unwrap()) is inner
    assert isinstance(ours.value.__cause__, ossfast.TransportError)


def test_credentials_provider_is_asked_and_mapped(recording_server, sdk_client_factory):
    current = [oss.credentials.Credentials("k1", "s1", "t1")]
    client = sdk_client_factory(recording_server.url,
                                provider=oss.credentials.CredentialsProviderFunc(lambda: current[0]))
    fast = fast_v2.fast_client(client)
    first = fast.credentials
    assert (first.access_key_id, first.security_token) == ("k1", "t1") and fast.credentials is first
    current[0] = oss.credentials.Credentials("k1", "s1", "t1")  # equal, new object: same Credentials
    assert fast.credentials is first
    fast_v2.write_get_object_response(client, ROUTE, "a", 200, b"x")
    current[0] = oss.credentials.Credentials("k2", "s2")
    fast_v2.write_get_object_response(client, ROUTE, "b", 200, b"x")
    reqs = recording_server.wait_for(2)
    assert [auth_fields(r.header("Authorization"))[2]["Credential"][:2] for r in reqs] == ["k1", "k2"]
    assert len(recording_server.connections) == 1 and fast_v2.fast_client(client) is fast


def test_credentials_failures_are_the_sdks(sdk_client_factory):
    def boom():
        raise RuntimeError("no keys today")

    client = sdk_client_factory("http://127.0.0.1:9", provider=oss.credentials.CredentialsProviderFunc(boom))
    with pytest.raises(sdk_exc.OperationError) as info:
        fast_v2.write_get_object_response(client, ROUTE, "tok", 200, b"x")
    assert isinstance(info.value.unwrap(), sdk_exc.CredentialsFetchError)
    anon = sdk_client_factory("http://127.0.0.1:9", provider=oss.credentials.AnonymousCredentialsProvider())
    with pytest.raises(sdk_exc.OperationError) as info:
        fast_v2.write_get_object_response(anon, ROUTE, "tok", 200, b"x")
    assert isinstance(info.value.unwrap(), sdk_exc.CredentialsEmptyError)


def test_bad_input_is_param_invalid_before_anything_is_sent(recording_server, sdk_client_factory):
    client = sdk_client_factory(recording_server.url)
    for args, kw in [((ROUTE, "tok", 999, b"x"), {}), (("", "tok", 200, b"x"), {}),
                     ((ROUTE, "tok", 200, b"x"), {"etag": "a\r\nb"})]:
        with pytest.raises(sdk_exc.OperationError) as info:
            fast_v2.write_get_object_response(client, *args, **kw)
        assert isinstance(info.value.unwrap(), sdk_exc.ParamInvalidError)
        assert isinstance(info.value.__cause__, ossfast.InvalidRequestError)
    assert recording_server.accepted == 0


def test_async_twin(recording_server, sdk_client_factory):
    client = sdk_client_factory(recording_server.url)

    async def main():
        results = await asyncio.gather(*[
            fast_v2.async_write_get_object_response(client, ROUTE, f"tok{i}", 200, b"x" * i, content_type="a/b")
            for i in range(5)])
        recording_server.respond(oss_error(403, "AccessDenied", "no"))
        with pytest.raises(sdk_exc.OperationError) as info:
            await fast_v2.async_write_get_object_response(client, ROUTE, "t", 200, b"x")
        await fast_v2.aclose(client)
        return results, info.value

    results, err = asyncio.run(main())
    assert [r.status_code for r in results] == [200] * 5
    assert isinstance(err.unwrap(), sdk_exc.ServiceError) and err.unwrap().code == "AccessDenied"
    reqs = recording_server.wait_for(6)
    assert sorted(r.header("x-oss-request-token") for r in reqs[:5]) == [f"tok{i}" for i in range(5)]
    assert all(r.header("x-oss-fwd-header-Content-Type") == "a/b" for r in reqs[:5])


def test_route_is_connected_to_unless_the_endpoint_is_elsewhere(sdk_client_factory):
    aliyun = sdk_client_factory(f"https://{ROUTE}")
    assert fast_v2._Setup(aliyun).endpoint is None
    regional = sdk_client_factory("oss-cn-qingdao-internal.aliyuncs.com")
    assert fast_v2._Setup(regional).endpoint is None
    local = sdk_client_factory("http://127.0.0.1:9000")
    assert fast_v2._Setup(local).endpoint == "http://127.0.0.1:9000"


@pytest.mark.parametrize("expires", ["0", "-1", "Thu, 01 Jan 1970 00:00:00 GMT"])
def test_expires_as_origins_send_it_is_forwarded_as_the_sdk_forwards_it(monkeypatch, recording_server,
                                                                         sdk_client_factory, expires):
    client = sdk_client_factory(recording_server.url, "v4")
    fast_v2.write_get_object_response(client, ROUTE, "tok-1", 200, b"body", expires=expires)
    ours = recording_server.wait_for(1)[0]
    fixed_sdk_clock(monkeypatch, signed_at(ours))
    sdk_wgor(client, ROUTE, "tok-1", 200, b"body", {"x-oss-fwd-header-Expires": expires})
    theirs = recording_server.wait_for(2)[1]
    assert ours.header("x-oss-fwd-header-Expires") == theirs.header("x-oss-fwd-header-Expires") == expires
    assert ours.header("Authorization") == theirs.header("Authorization")
    with pytest.raises(sdk_exc.OperationError) as info:
        fast_v2.write_get_object_response(client, ROUTE, "tok-1", 200, b"body", expires="1")  # not a date
    assert isinstance(info.value.unwrap(), sdk_exc.ParamInvalidError)
    assert len(recording_server.requests) == 2


def test_the_sdks_signer_unit_tests_pass_with_ossfasts_signers(monkeypatch):
    """The SDK's tests/unit/signer/test_v1.py and test_v4.py (known answers: header and query
    signing, tokens, additional headers), run with ``SignerV1``/``SignerV4`` replaced by
    ossfast's in their modules (opt-in: OSSFAST_OSS_V2_SOURCE, a checkout of
    alibabacloud-oss-python-sdk-v2)."""
    import importlib
    import os
    import sys
    import unittest

    source = os.environ.get("OSSFAST_OSS_V2_SOURCE", "")
    if not source or not os.path.isdir(os.path.join(source, "tests", "unit", "signer")):
        pytest.skip("set OSSFAST_OSS_V2_SOURCE to a checkout of alibabacloud-oss-python-sdk-v2")
    monkeypatch.syspath_prepend(source)
    for name in [m for m in sys.modules if m == "tests" or m.startswith("tests.")]:
        monkeypatch.delitem(sys.modules, name)
    signed = []
    for module, name, ours in [("tests.unit.signer.test_v1", "SignerV1", fast_v2.SignerV1),
                               ("tests.unit.signer.test_v4", "SignerV4", fast_v2.SignerV4)]:
        mod = importlib.import_module(module)

        class Counted(ours):
            def sign(self, ctx):
                signed.append(name)
                return super().sign(ctx)

        monkeypatch.setattr(mod, name, Counted)
        result = unittest.TestResult()
        unittest.defaultTestLoader.loadTestsFromModule(mod).run(result)
        assert [(str(t), tb.strip().splitlines()[-1]) for t, tb in result.failures + result.errors] == []
        assert result.testsRun >= 9
    assert signed.count("SignerV1") >= 9 and signed.count("SignerV4") >= 11
