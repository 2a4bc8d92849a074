"""The SDK transports end to end through the emulator: a client GETs through the local Object
FC Access Point with the SDK on ossfast's transport (oss2 ``Session()``, v2 ``HttpClient``),
and the handler answers with the SDK's own WriteGetObjectResponse request sent over ossfast's
transport, which the emulator checks as OSS would (signature, STS token, Content-Length)."""
from __future__ import annotations

import os

import pytest

oss2 = pytest.importorskip("oss2")
oss = pytest.importorskip("alibabacloud_oss_v2")
pytest.importorskip("aiohttp")

from ossfast import Credentials  # noqa: E402
from ossfast.emulator import Emulator  # noqa: E402
from ossfast.integrations import oss2 as fast_oss2  # noqa: E402
from ossfast.integrations import oss_v2 as fast_v2  # noqa: E402
from test_emulator import Calls, answer_with  # noqa: E402

pytestmark = pytest.mark.usefixtures("no_fd_leak")
ORIGINAL = os.urandom(300_000)


@pytest.fixture
def emulator(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "obj.bin").write_bytes(ORIGINAL)
    started = []

    def start(handler):
        emu = Emulator(root, handler).start()
        started.append(emu)
        return emu

    yield start
    for emu in started:
        emu.stop()


def transform(data):
    return bytes(reversed(data))


def test_oss2_session_both_sides(emulator):
    calls = Calls()

    def send(context, route, token, ev):
        c = Credentials.from_fc_context(context)
        with fast_oss2.Session() as session:
            svc = oss2.Service(oss2.StsAuth(c.access_key_id, c.access_key_secret, c.security_token,
                                            auth_version="v4"),
                               os.environ["OSSFAST_ENDPOINT"], region=os.environ["FC_REGION"], session=session)
            reply = session.do_request(oss2.http.Request("GET", ev["getObjectContext"]["inputOssUrl"]), 10)
            assert reply.status == 200
            data = reply.read()
            # oss2's own function, its request sent by the Session (the emulator checks it)
            calls.results.append(fast_oss2.ORIGINAL(svc, route, token, "200", transform(data),
                                                    {"x-oss-fwd-header-Content-Type": "application/x-rev"}))

    emu = emulator(answer_with(calls, send))
    with fast_oss2.Session() as session:
        bucket = oss2.Bucket(oss2.Auth("client-ak", "client-sk"), emu.url, emu.alias, is_cname=True,
                             session=session, enable_crc=False)
        res = bucket.get_object("obj.bin")
        got = b"".join(iter(lambda: res.read(10_000), b""))
        assert got == transform(ORIGINAL) and res.headers["Content-Type"] == "application/x-rev"
        with pytest.raises(oss2.exceptions.NoSuchKey):
            bucket.get_object("missing.bin")
    calls.wait()
    assert calls.errors == [] and calls.results[0].status == 200


def test_v2_http_client_both_sides(emulator):
    calls = Calls()

    def send(context, route, token, ev):
        c = Credentials.from_fc_context(context)
        cfg = oss.config.load_default()
        cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(
            c.access_key_id, c.access_key_secret, c.security_token)
        cfg.region = os.environ["FC_REGION"]
        cfg.endpoint = os.environ["OSSFAST_ENDPOINT"]
        with fast_v2.HttpClient() as transport:
            cfg.http_client = transport
            client = oss.Client(cfg)
            original = transport.send(oss.types.HttpRequest("GET", ev["getObjectContext"]["inputOssUrl"]))
            assert original.status_code == 200
            # the SDK's own pipeline (signer, retryer) for the operation it lacks, over HttpClient
            out = client.invoke_operation(oss.OperationInput(
                op_name="WriteGetObjectResponse", method="POST",
                headers={"x-oss-request-route": route, "x-oss-request-token": token, "x-oss-fwd-status": "200",
                         "x-oss-fwd-header-Content-Type": "application/x-rev"},
                parameters={"x-oss-write-get-object-response": ""}, body=transform(original.content),
                op_metadata={"sub-resource": ["x-oss-write-get-object-response"]}))
            calls.results.append(out)

    emu = emulator(answer_with(calls, send))
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider("client-ak", "client-sk")
    cfg.region = emu.region
    cfg.endpoint = emu.url
    cfg.use_cname = True
    with fast_v2.HttpClient() as transport:
        cfg.http_client = transport
        client = oss.Client(cfg)
        result = client.get_object(oss.GetObjectRequest(bucket=emu.alias, key="obj.bin"))
        with result.body as body:
            assert b"".join(body.iter_bytes()) == transform(ORIGINAL)
        assert result.content_type == "application/x-rev"
        with pytest.raises(oss.exceptions.OperationError) as info:
            client.get_object(oss.GetObjectRequest(bucket=emu.alias, key="missing.bin"))
        assert info.value.unwrap().code == "NoSuchKey"
    calls.wait()
    assert calls.errors == [] and calls.results[0].status_code == 200
