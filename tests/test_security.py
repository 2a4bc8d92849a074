"""Security: secrets stay out of logs, reprs and exception messages; TLS is verified by default
and plain HTTP is used only when asked for."""
from __future__ import annotations

import asyncio
import base64
import inspect
import logging
import os
import socket
import ssl
import traceback

import pytest
from srv_faults import FaultServer, early_reply, idle_close, reply
from srv_recording import RecordingServer
from srv_replies import Reply, oss_error

import ossfast
from ossfast import Credentials, InvalidRequestError, ServerError, TransportError, transport

pytestmark = pytest.mark.usefixtures("no_fd_leak")

ROUTE = "fc-ap-01-1234-opap.oss-cn-qingdao-internal.oss-object-process.aliyuncs.com"
TOKEN = "OSSV1#request-token"
SECRET = "SECRETsk9f8e7d6c5b4a3928"
STS_TOKEN = "STStoken+CAIS8gF1q6Ft5B2yfSjIr5bSEtbYgut/1/g=="
CREDS = Credentials("LTAIakid", SECRET, STS_TOKEN)


class Everything(logging.Handler):
    """Every record of every logger, formatted with its arguments and any traceback."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines = []
        self.records = []

    def emit(self, record):
        self.records.append(record)
        self.lines.append(self.format(record))


@pytest.fixture
def all_logs():
    handler = Everything()
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    loggers = [logging.getLogger(n) for n in ("ossfast", "ossfast.transport")]
    olds = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(old)
    for lg, level in zip(loggers, olds):
        lg.setLevel(level)


def secrets_in(text, extra=()):
    """The secrets (and their encodings a careless log might use) that occur in text."""
    needles = [SECRET, STS_TOKEN, repr(SECRET), SECRET.encode().hex(),
               base64.b64encode(SECRET.encode()).decode(), STS_TOKEN.split("+")[1], *extra]
    return [n for n in needles if n and n in text]


def _exception_text(exc):
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)) + repr(exc) + str(exc)


def test_a_full_run_logs_no_secret(all_logs, start_server, tls_material, free_port, monkeypatch):
    """Successes, retries, stale connections, every kind of failure, V1 and V4, plain and TLS, with
    DEBUG logging on for every logger: no secret in any line, record argument or exception text."""
    texts = []
    auths = []  # the Authorization value of every request that went out
    real_send, real_send_small = transport.send_request, ossfast.Client._send_small

    def note(head):
        auths.extend(line.split(b": ", 1)[1].decode() for line in head.split(b"\r\n")
                     if line.startswith(b"Authorization: "))

    def send_request(conn, head, body, progress=None):
        note(head)
        return real_send(conn, head, body, progress)

    def send_small(self, route, status, head, data, crc):  # the fast path's send
        note(head)
        return real_send_small(self, route, status, head, data, crc)

    monkeypatch.setattr(transport, "send_request", send_request)
    monkeypatch.setattr(ossfast.Client, "_send_small", send_small)
    recording = start_server(RecordingServer)
    recording.respond(oss_error(503, "ServiceUnavailable", "busy"), Reply(200),
                      oss_error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match"))
    faults = start_server(FaultServer, behaviours=[
        idle_close(0.02), reply(500), reply(200), early_reply(403), "read_body_then_close", "reply"])
    tls = start_server(RecordingServer, ssl_context=tls_material.server_context())
    bad_tls = start_server(RecordingServer, ssl_context=tls_material.server_context("expired"))
    retry = ossfast.Retry(total=2, backoff=0.001)

    def attempt(client, *args, **kw):
        try:
            r = client.write_get_object_response(*args, **kw)
            texts.append(repr(r))
        except Exception as exc:  # every failure's text is searched
            texts.append(_exception_text(exc))

    for sv in ("v4", "v1"):
        with ossfast.Client(CREDS, endpoint=recording.url, signature_version=sv, retries=retry, timeout=2) as c:
            texts.append(repr(c))
            attempt(c, ROUTE, TOKEN, 200, os.urandom(1000), content_type="text/plain")  # 503 then 200
            attempt(c, ROUTE, TOKEN, 404, b"x")  # 403 SignatureDoesNotMatch
            attempt(c, ROUTE, TOKEN, 200, iter([b"ab", b"c"]), content_length=2)  # aborted
            attempt(c, ROUTE, TOKEN, 200, b"body", content_md5=True, headers={"x-oss-meta-a": "1"})
            texts.append(repr(c.prepare(ROUTE, TOKEN, 200, b"x")))
        recording.respond(oss_error(503, "ServiceUnavailable", "busy"), Reply(200),
                          oss_error(403, "SignatureDoesNotMatch", "mismatch"))
    with ossfast.Client(CREDS, endpoint=faults.url, retries=retry, timeout=2) as c:
        import time

        for _ in range(5):
            attempt(c, ROUTE, TOKEN, 200, b"x" * 100)
            time.sleep(0.05)
    with ossfast.Client(CREDS, endpoint=f"http://127.0.0.1:{free_port}", retries=retry, timeout=1) as c:
        attempt(c, ROUTE, TOKEN, 200, b"x")
    for server, verify in ((tls, tls_material.ca_file), (bad_tls, tls_material.ca_file), (tls, True)):
        url = server.url.replace("127.0.0.1", "localhost")
        with ossfast.Client(CREDS, endpoint=url, verify=verify, retries=retry, timeout=2) as c:
            attempt(c, ROUTE, TOKEN, 200, b"tls body")
    with ossfast.Client(CREDS, endpoint=recording.url) as c:  # bad input
        for kw in ({"status": "nope"}, {"token": "a\r\nb"}, {"headers": {"Authorization": "x"}}):
            args = {"route": ROUTE, "token": TOKEN, "status": 200, "body": b"x", **kw}
            try:
                c.write_get_object_response(args.pop("route"), args.pop("token"), args.pop("status"),
                                            args.pop("body"), **args)
            except Exception as exc:
                texts.append(_exception_text(exc))

    assert len(auths) >= 15 and all(auths)
    assert {r.header("Authorization") for r in recording.requests + tls.requests} <= set(auths)
    signatures = [a.rsplit("=", 1)[-1] if "Signature=" in a else a.rsplit(":", 1)[-1] for a in auths]
    # the run did exercise the paths we care about
    log_text = "\n".join(all_logs.lines)
    assert "retrying" in log_text and "stale" in log_text and "WriteGetObjectResponse to" in log_text
    assert any(r.levelno == logging.DEBUG for r in all_logs.records)
    # the secret, the STS token and every Authorization value / signature: nowhere
    extra = auths + signatures
    for record in all_logs.records:
        blob = " ".join([record.getMessage(), repr(record.args), str(record.exc_text or "")])
        assert secrets_in(blob, extra) == [], record.getMessage()
    assert secrets_in(log_text, extra) == []
    for text in texts:
        assert secrets_in(text, extra) == [], text


def test_reprs_hide_secrets(recording_server):
    with ossfast.Client(CREDS, endpoint=recording_server.url, signature_version="v4",
                        region="cn-qingdao") as c:
        prepared = c.prepare(ROUTE, TOKEN, 200, b"x")
        result = c.send(prepared)
        auth = dict(prepared.headers)["Authorization"]
        objects = [CREDS, c, prepared, result, c.pool, c._signer(ROUTE, c._keys), ossfast.client.SignerV1(CREDS)]
        for obj in objects:
            for text in (repr(obj), str(obj)):
                assert secrets_in(text, [auth, auth.rsplit("=", 1)[-1]]) == [], text
    assert "LTAIakid" in repr(CREDS) and "<hidden>" in repr(CREDS)
    with pytest.raises(AttributeError):
        CREDS.access_key_secret = "x"


def test_async_client_repr_hides_secrets(recording_server):
    async def main():
        async with ossfast.AsyncClient(CREDS, endpoint=recording_server.url) as c:
            return repr(c) + repr(c.client)

    assert secrets_in(asyncio.run(main())) == []


def test_fc_context_hides_the_output_token():
    event = {"getObjectContext": {"inputOssUrl": "https://in", "outputRoute": ROUTE, "outputToken": TOKEN}}
    ctx = ossfast.fc.ObjectContext.from_event(event)
    assert TOKEN not in repr(ctx) and TOKEN not in str(ctx)


@pytest.mark.parametrize("args,field", [
    (("LTAIakid", SECRET + "\n"), "access_key_secret"),
    (("LTAIakid", SECRET + "é"), "access_key_secret"),
    (("LTAIakid", SECRET, STS_TOKEN + "\r\n"), "security_token"),
    (("LTAIakid", SECRET, STS_TOKEN + "ü"), "security_token"),
    (("LTAIakid", SECRET, STS_TOKEN + "\0"), "security_token"),
])
def test_credential_errors_do_not_echo_secrets(args, field):
    with pytest.raises(InvalidRequestError) as ei:
        Credentials(*args)
    assert ei.value.field == field and field in str(ei.value)
    assert secrets_in(_exception_text(ei.value)) == []


def test_credential_errors_from_env_do_not_echo_secrets():
    env = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIakid", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SECRET + "\0"}
    with pytest.raises(InvalidRequestError) as ei:
        Credentials.from_env(env)
    assert "ALIBABA_CLOUD_ACCESS_KEY_SECRET" in str(ei.value)
    assert secrets_in(_exception_text(ei.value)) == []


def test_server_error_keeps_only_the_documented_fields(start_server):
    """OSS's SignatureDoesNotMatch document carries the string to sign and the signature
    provided; the ServerError keeps Code, Message, RequestId, HostId and EC only."""
    server = start_server(RecordingServer)
    with ossfast.Client(CREDS, endpoint=server.url, retries=0) as c:
        def echo(req):
            auth = req.header("Authorization")
            body = (f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>SignatureDoesNotMatch</Code>"
                    f"<Message>mismatch</Message><RequestId>RID</RequestId><HostId>h</HostId>"
                    f"<SignatureProvided>{auth}</SignatureProvided><StringToSign>x</StringToSign>"
                    f"<OSSAccessKeyId>LTAIakid</OSSAccessKeyId></Error>").encode()
            return Reply(403, [("Content-Type", "application/xml")], body)

        server.handler = echo
        with pytest.raises(ServerError) as ei:
            c.write_get_object_response(ROUTE, TOKEN, 200, b"x")
    auth = server.wait_for(1)[0].header("Authorization")
    assert ei.value.code == "SignatureDoesNotMatch"
    assert secrets_in(str(ei.value) + repr(ei.value), [auth, auth.rsplit("=", 1)[-1]]) == []


# ---- TLS by default ----------------------------------------------------------------------


def test_defaults_are_https_and_verified(monkeypatch):
    monkeypatch.delenv("OSSFAST_ENDPOINT", raising=False)
    sig = inspect.signature(ossfast.Client)
    assert sig.parameters["scheme"].default == "https"
    assert sig.parameters["verify"].default is True
    with ossfast.Client(CREDS) as c:
        assert c.scheme == "https"
        ctx = c.pool.ssl_context()
        assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
        assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2


def _redirect_connections(monkeypatch, port):
    """Send every connection the transport makes to 127.0.0.1:port; record where it meant to go."""
    asked = []
    real = socket.create_connection

    def fake(address, *args, **kw):
        asked.append(address)
        return real(("127.0.0.1", port), *args, **kw)

    monkeypatch.setattr(transport.socket, "create_connection", fake)
    return asked


def test_no_endpoint_means_tls_to_the_route_on_443(monkeypatch, start_server, tls_material):
    """Without an endpoint the sender speaks TLS to <route>:443 and checks the certificate
    against the route's name."""
    monkeypatch.delenv("OSSFAST_ENDPOINT", raising=False)
    leaf = tls_material.ca.issue_cert(ROUTE)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    leaf.configure_cert(ctx)
    server = start_server(RecordingServer, ssl_context=ctx)
    asked = _redirect_connections(monkeypatch, server.port)
    with ossfast.Client(CREDS, verify=tls_material.ca_file, timeout=2) as c:
        r = c.write_get_object_response(ROUTE, TOKEN, 200, b"over tls")
    assert r.status == 200 and asked == [(ROUTE, 443)]
    assert server.connections[0].tls_version in ("TLSv1.2", "TLSv1.3")
    assert server.wait_for(1)[0].body == b"over tls"


@pytest.mark.parametrize("verify", ["ca_file", True])
def test_no_endpoint_rejects_a_certificate_for_another_name(monkeypatch, start_server, tls_material, verify):
    monkeypatch.delenv("OSSFAST_ENDPOINT", raising=False)
    server = start_server(RecordingServer, ssl_context=tls_material.server_context())  # localhost
    asked = _redirect_connections(monkeypatch, server.port)
    verify = tls_material.ca_file if verify == "ca_file" else True
    with ossfast.Client(CREDS, verify=verify, timeout=2, retries=2) as c:
        with pytest.raises(transport.CertificateError, match="TLS certificate of .* rejected"):
            c.write_get_object_response(ROUTE, TOKEN, 200, b"x")
    assert asked == [(ROUTE, 443)]  # not retried, not downgraded to plain HTTP
    assert server.requests == []


def test_plain_http_only_when_asked(monkeypatch, start_server):
    monkeypatch.delenv("OSSFAST_ENDPOINT", raising=False)
    server = start_server(RecordingServer)
    asked = _redirect_connections(monkeypatch, server.port)
    with ossfast.Client(CREDS, scheme="http", timeout=2) as c:
        c.write_get_object_response(ROUTE, TOKEN, 200, b"plain")
    assert asked == [(ROUTE, 80)]
    assert server.wait_for(1)[0].header("Host") == ROUTE


def test_https_endpoint_to_a_plain_server_fails_rather_than_downgrading(start_server):
    server = start_server(RecordingServer, strict=False)
    url = server.url.replace("http://", "https://")
    with ossfast.Client(CREDS, endpoint=url, timeout=2, retries=0) as c:
        with pytest.raises(TransportError, match="TLS handshake"):
            c.write_get_object_response(ROUTE, TOKEN, 200, b"x")
    assert server.requests == []


def test_verify_false_is_explicit_and_still_encrypts(start_server, tls_material):
    server = start_server(RecordingServer, ssl_context=tls_material.server_context("self_signed"))
    with ossfast.Client(CREDS, endpoint=server.url, verify=False, timeout=2) as c:
        assert c.pool.ssl_context().verify_mode == ssl.CERT_NONE
        c.write_get_object_response(ROUTE, TOKEN, 200, b"x")
    assert server.connections[0].tls_version in ("TLSv1.2", "TLSv1.3")
