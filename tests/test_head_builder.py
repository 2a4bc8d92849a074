"""request.HeadBuilder: one object per signer owns the core's builder handle, the per-second
signing lines and the route cache; prepare() builds the common request with the same one-call
head function the fast path uses, and the general way gives the same bytes."""
from __future__ import annotations

import datetime as dt

import pytest

import ossfast
from ossfast import Credentials, InvalidRequestError, signing
from ossfast.request import HeadBuilder

ROUTE = "fc-ap-01-111933544165xxxx-opap.oss-cn-qingdao-internal.oss-object-process.aliyuncs.com"
TOKEN = "OSSV1#ZvBDC3XPm3g"
WHEN = dt.datetime(2023, 10, 31, 3, 17, 58, tzinfo=dt.timezone.utc)


@pytest.fixture
def frozen(monkeypatch):
    monkeypatch.setattr(signing, "_time", lambda: WHEN.timestamp())


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_one_builder_per_signer_owns_the_route_cache(version):
    signer = signing.make_signer(Credentials("ak", "sk", "sts"), version, "cn-qingdao")
    heads = signer.heads
    assert isinstance(heads, HeadBuilder) and signer.heads is heads and heads.signer is signer
    assert not hasattr(signer, "_head")  # the signer only signs
    entry = heads.route(ROUTE)
    assert entry[0] is heads and entry[1] == ROUTE.encode() and heads.route(ROUTE) is entry
    with pytest.raises(InvalidRequestError, match="route"):
        heads.route("bad/route")


@pytest.mark.parametrize("version", ["v1", "v4"])
@pytest.mark.parametrize("fwd", [{}, {"content_type": "text/plain", "etag": '"abc"'},
                                 {"cache_control": "no-cache", "expires": "Tue, 31 Oct 2023 03:17:58 GMT"}])
def test_prepare_one_call_and_general_way_give_the_same_head(frozen, version, fwd):
    """The common request goes the one-call way; ``date=`` sends it the general way: same bytes,
    and the same as the known-answer vectors' signer gives for the block."""
    c = ossfast.Client(Credentials("ak", "sk"), signature_version=version, region="cn-qingdao",
                       endpoint="http://127.0.0.1:9")
    one_call = c.prepare(ROUTE, TOKEN, 200, b"hello", **fwd)
    general = c.prepare(ROUTE, TOKEN, 200, b"hello", date=WHEN, **fwd)
    assert one_call.head == general.head
    assert one_call.body.crc == general.body.crc == ossfast.crc64(b"hello")
    # The signature is the signer's for the head's own header block.
    lines = one_call.head.split(b"\r\n")[1:-2]
    auth = next(v for v in lines if v.startswith(b"Authorization: "))[len(b"Authorization: "):].decode()
    block = b"".join(line + b"\r\n" for line in lines if not line.startswith(b"Authorization: "))
    signer = c._signer(ROUTE, c._keys)
    assert auth == signer.authorization("POST", "/", "x-oss-write-get-object-response", block)
    c.close()


def test_the_builder_follows_the_signers_clock(monkeypatch):
    signer = signing.SignerV1(Credentials("ak", "sk"))
    heads = signer.heads
    monkeypatch.setattr(signing, "_time", lambda: WHEN.timestamp())
    first = heads.wgor_head(ROUTE.encode(), TOKEN.encode(), 200, 0)[0]
    assert b"Date: Tue, 31 Oct 2023 03:17:58 GMT\r\n" in first
    monkeypatch.setattr(signing, "_time", lambda: WHEN.timestamp() + 1)
    later = heads.wgor_head(ROUTE.encode(), TOKEN.encode(), 200, 0)[0]
    assert b"Date: Tue, 31 Oct 2023 03:17:59 GMT\r\n" in later


def test_bad_input_on_the_one_call_way_is_named_as_before():
    c = ossfast.Client(Credentials("ak", "sk"), region="cn-qingdao", endpoint="http://127.0.0.1:9")
    with pytest.raises(InvalidRequestError) as ei:
        c.prepare(ROUTE, "bad token", 200, b"x")
    assert ei.value.field == "token" and "blanks" in str(ei.value)
    with pytest.raises(InvalidRequestError) as ei:
        c.prepare(ROUTE, TOKEN, 200, b"x", content_type="a\r\nb")
    assert ei.value.field == "content_type"
    c.close()
