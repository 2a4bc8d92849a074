"""Client.prepare(): the request head byte for byte, and every validation rule."""
from __future__ import annotations

import datetime as dt
import io
import mmap
import os
import random
import string

import pytest

import ossfast
from ossfast import Credentials, InvalidRequestError
from ossfast.request import ALLOWED_STATUS, FWD_HEADERS
from ossfast.signing import region_from_route
from test_signing import frozen_oss2_clock  # noqa: F401  (a fixture)

HERE = os.path.dirname(__file__)
ROUTE = "fc-ap-01-111933544165xxxx-opap.oss-cn-qingdao-internal.oss-object-process.aliyuncs.com"
TOKEN = "OSSV1#ZvBDC3XPm3g"
WHEN = dt.datetime(2023, 10, 31, 3, 17, 58, tzinfo=dt.timezone.utc)


def head_file(name: str) -> bytes:
    with open(os.path.join(HERE, "data", "heads", name), "rb") as f:
        return f.read()


def client(**kw):
    creds = kw.pop("credentials", Credentials("ak", "sk"))
    return ossfast.Client(creds, endpoint="http://127.0.0.1:1", **kw)


@pytest.mark.parametrize("version,sts,fname", [
    ("v1", None, "v1.http"),
    ("v1", "sts-token", "v1_sts.http"),
    ("v4", None, "v4.http"),
])
def test_head_byte_for_byte(version, sts, fname):
    c = client(credentials=Credentials("ak", "sk", sts), signature_version=version)
    p = c.prepare(ROUTE, TOKEN, 200, b"", content_type="text/plain", etag='"abc"', date=WHEN)
    assert p.head == head_file(fname)
    assert p.method == "POST"
    assert p.target == "/?x-oss-write-get-object-response"
    assert p.content_length == 0
    assert p.head.endswith(b"\r\n\r\n")
    # headers list and head agree, in send order
    lines = p.head.decode().split("\r\n")[1:-2]
    assert [f"{n}: {v}" for n, v in p.headers] == lines


def test_forwarded_header_spelling_and_order():
    c = client()
    kwargs = {kw: None for kw, _ in FWD_HEADERS}
    kwargs.update(accept_ranges="bytes", cache_control="no-cache",
                  content_disposition='attachment; filename="a.txt"', content_encoding="gzip",
                  content_language="en", content_type="text/plain", etag='"e"',
                  expires="Tue, 31 Oct 2023 03:17:58 GMT", last_modified=WHEN)
    p = c.prepare(ROUTE, TOKEN, 200, b"xy", date=WHEN, **kwargs)
    names = [n for n, _ in p.headers]
    fwd = [n for n in names if n.startswith("x-oss-fwd-header-")]
    assert fwd == [h for kw, h in FWD_HEADERS if kwargs[kw] is not None]
    d = dict(p.headers)
    assert d["x-oss-fwd-header-Last-Modified"] == "Tue, 31 Oct 2023 03:17:58 GMT"
    assert d["Content-Length"] == "2"


def test_v4_region_sources(monkeypatch):
    monkeypatch.delenv("FC_REGION", raising=False)
    assert region_from_route(ROUTE) == "cn-qingdao"
    assert region_from_route("x.oss-cn-hangzhou.oss-object-process.aliyuncs.com") == "cn-hangzhou"
    assert region_from_route("example.com") is None
    c = client()
    p = c.prepare("x.example.com" if False else ROUTE, TOKEN, date=WHEN)
    assert "/cn-qingdao/oss/" in dict(p.headers)["Authorization"]
    p = client(region="ap-southeast-1").prepare(ROUTE, TOKEN, date=WHEN)
    assert "/ap-southeast-1/oss/" in dict(p.headers)["Authorization"]
    with pytest.raises(InvalidRequestError) as ei:
        client().prepare("my-host.example.com", TOKEN, date=WHEN)
    assert ei.value.field == "region" and "FC_REGION" in str(ei.value)
    monkeypatch.setenv("FC_REGION", "cn-beijing")
    p = client().prepare("my-host.example.com", TOKEN, date=WHEN)
    assert "/cn-beijing/oss/" in dict(p.headers)["Authorization"]


def test_content_md5():
    import base64
    import hashlib

    data = os.urandom(1000)
    p = client().prepare(ROUTE, TOKEN, 200, data, content_md5=True, date=WHEN)
    assert dict(p.headers)["Content-MD5"] == base64.b64encode(hashlib.md5(data).digest()).decode()
    f = io.BytesIO(b"zz" + data)
    f.seek(2)
    p = client().prepare(ROUTE, TOKEN, 200, f, content_md5=True, date=WHEN)
    assert dict(p.headers)["Content-MD5"] == base64.b64encode(hashlib.md5(data).digest()).decode()
    assert f.tell() == 2  # rewound for the send
    with pytest.raises(InvalidRequestError) as ei:
        client().prepare(ROUTE, TOKEN, 200, iter([data]), content_length=len(data), content_md5=True)
    assert ei.value.field == "content_md5"


def test_non_ascii_filename_rfc5987():
    p = client().prepare(ROUTE, TOKEN, content_disposition='attachment; filename="résumé ü.pdf"', date=WHEN)
    value = dict(p.headers)["x-oss-fwd-header-Content-Disposition"]
    assert value.isascii()
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9%20%C3%BC.pdf" in value
    assert value.startswith('attachment; filename="r?sum? ?.pdf"')


@pytest.mark.parametrize("status", sorted(ALLOWED_STATUS))
def test_every_allowed_status(status):
    kw = {}
    body = b"abc"
    if status == 206:
        kw["content_range"] = "bytes 0-2/10"
    if status == 416:
        kw["content_range"] = "bytes */10"
    if status == 304:
        body = b""
    p = client().prepare(ROUTE, TOKEN, status, body, date=WHEN, **kw)
    assert dict(p.headers)["x-oss-fwd-status"] == str(status)
    assert p.status == status


def test_status_as_numeric_string():
    assert client().prepare(ROUTE, TOKEN, "404", date=WHEN).status == 404


def test_body_kinds_lengths(tmp_path):
    data = os.urandom(5000)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    c = client()
    assert c.prepare(ROUTE, TOKEN, 200, bytearray(data)).content_length == 5000
    assert c.prepare(ROUTE, TOKEN, 200, memoryview(data)[10:]).content_length == 4990
    with open(path, "rb") as f:
        f.seek(100)
        assert c.prepare(ROUTE, TOKEN, 200, f).content_length == 4900
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            assert c.prepare(ROUTE, TOKEN, 200, m).content_length == 5000
    assert c.prepare(ROUTE, TOKEN, 200, [data[:10], data[10:]], content_length=5000).content_length == 5000


def test_repr_hides_secrets():
    c = client(credentials=Credentials("ak-id", "very-secret-value", "sts-token-value"))
    p = c.prepare(ROUTE, TOKEN, date=WHEN)
    for text in (repr(c), repr(p), str(p), repr(c.credentials)):
        assert "very-secret-value" not in text
        assert "sts-token-value" not in text
        assert "Signature" not in text and "OSS4-HMAC" not in text


# ------------------------------------------------------------------ validation

BAD = [
    # (kwargs for prepare, field named)
    (dict(status=201), "status"),
    (dict(status=600), "status"),
    (dict(status="abc"), "status"),
    (dict(status=True), "status"),
    (dict(status=200.0), "status"),
    (dict(route=""), "route"),
    (dict(route="https://" + ROUTE), "route"),
    (dict(route=ROUTE + ":443"), "route"),
    (dict(route=ROUTE + "/path"), "route"),
    (dict(route="user@" + ROUTE), "route"),
    (dict(route=ROUTE + "\r\nX: y"), "route"),
    (dict(route="bad_host!.com"), "route"),
    (dict(route=None), "route"),
    (dict(token=""), "token"),
    (dict(token="abc\r\nX-Evil: 1"), "token"),
    (dict(token="abc\x00"), "token"),
    (dict(token=123), "token"),
    (dict(token="tök"), "token"),
    (dict(content_type="text/plain\r\nX-Evil: 1"), "content_type"),
    (dict(content_type="text/plain\n"), "content_type"),
    (dict(etag='"a"\x00'), "etag"),
    (dict(cache_control=5), "cache_control"),
    (dict(content_language="dé"), "content_language"),
    (dict(content_encoding=""), "content_encoding"),
    (dict(accept_ranges="x" * 10000), "accept_ranges"),
    (dict(content_disposition="inline\r\n"), "content_disposition"),
    (dict(content_disposition="inlinë"), "content_disposition"),
    (dict(status=206), "content_range"),
    (dict(status=206, content_range="bytes 0-9/100"), "content_range"),  # body is 3 bytes
    (dict(status=206, content_range="bytes 2-0/100"), "content_range"),
    (dict(status=206, content_range="bytes 0-2/2"), "content_range"),
    (dict(status=206, content_range="0-2/100"), "content_range"),
    (dict(status=200, content_range="bytes 0-2/100"), "content_range"),
    (dict(status=416, content_range="bytes 0-2/100"), "content_range"),
    (dict(expires="tomorrow"), "expires"),
    (dict(last_modified="2023-10-31"), "last_modified"),
    (dict(last_modified=dt.datetime(2023, 1, 1)), "last_modified"),
    (dict(headers={"Bad Name": "v"}), "headers"),
    (dict(headers={"x-oss-meta-a": "v\r\nX: y"}), "headers[x-oss-meta-a]"),
    (dict(headers={"Host": "evil"}), "headers"),
    (dict(headers={"Authorization": "x"}), "headers"),
    (dict(headers={"x-oss-request-token": "x"}), "headers"),
    (dict(headers={"Content-Length": "5"}), "headers"),
    (dict(headers=[("a", "1"), ("A", "2")]), "headers"),
    (dict(headers="x-a: 1"), "headers"),
    (dict(headers=[("only-name",)]), "headers"),
    (dict(content_length=10), "content_length"),
    (dict(content_length=-1), "content_length"),
    (dict(content_length="3"), "content_length"),
    (dict(body=iter([b"abc"])), "content_length"),
    (dict(status=304, body=b"abc"), "body"),
    (dict(content_md5="not-base64"), "content_md5"),
    (dict(date=dt.datetime(2023, 1, 1)), "date"),
    (dict(body=iter([123]), content_length=3), "body"),
    (dict(body=iter([b"abcd"]), content_length=3), "body"),
    (dict(progress=5), "progress"),
]


@pytest.mark.parametrize("kwargs,fieldname", BAD, ids=[f"{i}-{f}" for i, (_, f) in enumerate(BAD)])
def test_bad_input_names_the_field(kwargs, fieldname):
    args = dict(route=ROUTE, token=TOKEN, status=200, body=b"abc")
    args.update(kwargs)
    c = client()
    with pytest.raises(InvalidRequestError) as ei:
        c.prepare(args.pop("route"), args.pop("token"), args.pop("status"), args.pop("body"), **args)
    assert ei.value.field == fieldname
    assert fieldname.split("[")[0] in str(ei.value)
    assert isinstance(ei.value, ValueError)


@pytest.mark.parametrize("body", ["text", 12, 1.5, {"a": 1}, object()])
def test_bad_body_types_raise_typeerror(body):
    with pytest.raises(TypeError) as ei:
        client().prepare(ROUTE, TOKEN, 200, body)
    assert "body" in str(ei.value)
    if isinstance(body, str):
        assert "encode" in str(ei.value)


def test_closed_file_and_text_file(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(b"abc")
    f = open(path, "rb")
    f.close()
    with pytest.raises(InvalidRequestError) as ei:
        client().prepare(ROUTE, TOKEN, 200, f)
    assert ei.value.field == "body"
    with open(path, "r") as tf:
        with pytest.raises(TypeError, match="binary"):
            client().prepare(ROUTE, TOKEN, 200, tf)


def test_non_contiguous_buffer_refused():
    mv = memoryview(bytearray(100))[::2]
    with pytest.raises(TypeError, match="contiguous"):
        client().prepare(ROUTE, TOKEN, 200, mv)


def test_random_valid_requests_round_trip_headers():
    rng = random.Random(7)
    c = client()
    alphabet = string.ascii_letters + string.digits + "-_.;=/ ,"
    for _ in range(300):
        kw = {}
        for name, _h in FWD_HEADERS:
            if name in ("content_range", "expires", "last_modified", "content_disposition"):
                continue
            if rng.random() < 0.5:
                kw[name] = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))).strip() or "x"
        body = os.urandom(rng.randint(0, 300))
        p = c.prepare(ROUTE, TOKEN + str(rng.random()), rng.choice([200, 404, 500]), body, date=WHEN, **kw)
        d = dict(p.headers)
        for name, h in FWD_HEADERS:
            if name in kw:
                assert d[h] == kw[name]
        assert int(d["Content-Length"]) == len(body)


# ------------------------------------------------------------ prepare() vs the SDKs

def _random_prepare_args(rng: random.Random):
    region = rng.choice(["cn-hangzhou", "cn-qingdao", "ap-southeast-1", "us-west-1"])
    route = f"fc-ap-01-{rng.randrange(10**15, 10**16)}-opap.oss-{region}{rng.choice(['', '-internal'])}" \
            ".oss-object-process.aliyuncs.com"
    token = "OSSV1#" + "".join(rng.choice(string.ascii_letters + string.digits + "+/=") for _ in range(30))
    printable = string.ascii_letters + string.digits + " -_.;=/,()"
    kw = {}
    for name, _h in FWD_HEADERS:
        if name in ("content_range", "expires", "last_modified") or rng.random() < 0.5:
            continue
        kw[name] = ("".join(rng.choice(printable) for _ in range(rng.randint(1, 30))).strip() or "v")
    if rng.random() < 0.3:
        kw["last_modified"] = "Tue, 31 Oct 2023 03:17:58 GMT"
    if rng.random() < 0.5:
        kw["headers"] = {f"x-oss-meta-k{i}": str(rng.random()) for i in range(rng.randint(1, 3))}
    kw["content_md5"] = rng.random() < 0.3
    body = rng.randbytes(rng.randint(0, 200))
    when = dt.datetime.fromtimestamp(rng.randrange(946684800, 2145916800), dt.timezone.utc)
    sts = "CAIS" + "".join(rng.choice(string.ascii_letters) for _ in range(40)) if rng.random() < 0.5 else None
    return region, route, token, kw, body, when, sts


def test_prepare_signatures_match_oss2(frozen_oss2_clock):
    """The Authorization of prepare()'s head equals what oss2 computes for the same headers."""
    import re

    import oss2
    import oss2.http
    from oss2.credentials import StaticCredentialsProvider

    rng = random.Random(20231031)
    for i in range(400):
        region, route, token, kw, body, when, sts = _random_prepare_args(rng)
        version = "v1" if i % 2 else "v4"
        c = client(credentials=Credentials("LTAIak", "secret-sk", sts), signature_version=version)
        p = c.prepare(route, token, 200, body, date=when, **kw)
        headers = dict(p.headers)
        ours = headers.pop("Authorization")
        frozen_oss2_clock["epoch"] = int(when.timestamp())
        if version == "v1":
            auth = oss2.StsAuth("LTAIak", "secret-sk", sts) if sts else oss2.Auth("LTAIak", "secret-sk")
            req = oss2.http.Request("POST", f"https://{route}/", params={"x-oss-write-get-object-response": ""},
                                    headers=headers)
            auth._sign_request(req, "", "")
            assert req.headers["authorization"] == ours
        else:
            auth = oss2.ProviderAuthV4(StaticCredentialsProvider("LTAIak", "secret-sk", sts))
            req = oss2.http.Request("POST", f"https://{route}/", params={"x-oss-write-get-object-response": ""},
                                    headers=headers, region=region, product="oss")
            auth._sign_request(req, "", "")
            theirs = re.search(r"Signature=([0-9a-f]{64})", req.headers["authorization"]).group(1)
            assert ours.endswith("Signature=" + theirs)
            assert f"Credential=LTAIak/{when:%Y%m%d}/{region}/oss/aliyun_v4_request" in ours


def test_prepare_signatures_match_alibabacloud_oss_v2():
    from alibabacloud_oss_v2 import signer as v2signer
    from alibabacloud_oss_v2.types import Credentials as V2Credentials
    from alibabacloud_oss_v2.types import HttpRequest as V2HttpRequest
    from alibabacloud_oss_v2.types import SigningContext

    rng = random.Random(77)
    for _ in range(400):
        region, route, token, kw, body, when, sts = _random_prepare_args(rng)
        p = client(credentials=Credentials("LTAIak", "secret-sk", sts)).prepare(
            route, token, 200, body, date=when, **kw)
        headers = dict(p.headers)
        ours = headers.pop("Authorization")
        req = V2HttpRequest("POST", f"https://{route}/?x-oss-write-get-object-response", headers=headers)
        ctx = SigningContext(product="oss", region=region, request=req,
                             credentials=V2Credentials("LTAIak", "secret-sk", sts), signing_time=when)
        v2signer.SignerV4().sign(ctx)
        assert req.headers["Authorization"] == ours
