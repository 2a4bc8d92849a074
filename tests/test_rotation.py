"""Credentials that rotate: assigned, or asked of a provider before every request; pooled
connections kept, signers cached per Credentials, every request signed with the keys of its time."""
from __future__ import annotations

import threading
import types

import pytest

import ossfast
from ossfast import _pure
from ossfast.credentials import Credentials

ROUTE = "fc-ap-01-1234-opap.oss-cn-qingdao-internal.oss-object-process.aliyuncs.com"
A = Credentials("ak-a", "secret-a", "token-a")
B = Credentials("ak-b", "secret-b", "token-b")
C = Credentials("ak-c", "secret-c")


def verify_v1(req, creds):
    """The request's V1 signature checked with the pure twin against ``creds``; the key id returned."""
    auth = req.header("Authorization")
    assert auth.startswith("OSS "), auth
    key_id, _, sig = auth[4:].rpartition(":")
    block = b"".join(k + b":" + v + b"\n" for k, v in req.headers)
    expect = _pure.v1_sign(creds.access_key_secret.encode(), b"POST", block,
                           b"/?x-oss-write-get-object-response")
    assert sig == expect, (key_id, creds)
    assert req.header("x-oss-security-token") == creds.security_token
    return key_id


def verify_v4(req, creds, region="cn-qingdao"):
    auth = req.header("Authorization")
    assert auth.startswith("OSS4-HMAC-SHA256 Credential=" + creds.access_key_id + "/"), auth
    sig = auth.rpartition("Signature=")[2]
    block = b"".join(k + b":" + v + b"\n" for k, v in req.headers)
    sts = _pure.v4_string_to_sign(b"POST", b"/", b"x-oss-write-get-object-response", block, b"",
                                  region.encode(), b"oss")
    day = req.header("x-oss-date")[:8].encode()
    key = _pure.v4_signing_key(creds.access_key_secret.encode(), day, region.encode(), b"oss")
    assert sig == _pure.hmac_sha256(key, sts).hex()
    assert req.header("x-oss-security-token") == creds.security_token


@pytest.mark.parametrize("version", ["v1", "v4"])
@pytest.mark.parametrize("body", [b"small", b"x" * 100_000], ids=["fast-path", "general-path"])
def test_assignment_signs_the_next_request_and_keeps_the_connection(recording_server, version, body):
    verify = verify_v1 if version == "v1" else verify_v4
    with ossfast.Client(A, endpoint=recording_server.url, signature_version=version) as client:
        client.write_get_object_response(ROUTE, "t1", 200, body)
        client.credentials = B
        assert client.credentials is B
        client.write_get_object_response(ROUTE, "t2", 200, body)
        client.credentials = C
        client.write_get_object_response(ROUTE, "t3", 200, body)
        client.credentials = A
        client.write_get_object_response(ROUTE, "t4", 200, body)
    reqs = recording_server.wait_for(4)
    for req, creds in zip(reqs, (A, B, C, A)):
        verify(req, creds)
    assert {r.conn_id for r in reqs} == {1}, "pooled connection not kept"


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_provider_is_asked_before_every_request(recording_server, version):
    verify = verify_v1 if version == "v1" else verify_v4
    answers = [A, A, B, B, C]
    asked = []

    def provider():
        creds = answers[len(asked)]
        asked.append(creds)
        return creds

    with ossfast.Client(provider, endpoint=recording_server.url, signature_version=version) as client:
        for i in range(len(answers)):
            client.write_get_object_response(ROUTE, f"t{i}", 200, b"body" if i % 2 else b"b" * 70_000)
    assert len(asked) == len(answers)
    reqs = recording_server.wait_for(len(answers))
    for req, creds in zip(reqs, answers):
        verify(req, creds)
    assert {r.conn_id for r in reqs} == {1}


def test_signers_cached_per_credentials(recording_server):
    with ossfast.Client(A, endpoint=recording_server.url) as client:
        client.write_get_object_response(ROUTE, "t1", 200, b"x")
        keys_a = client._keys
        client.credentials = B
        client.write_get_object_response(ROUTE, "t2", 200, b"x")
        assert client._keys is not keys_a
        # an equal Credentials in a new object finds the same signers (no new signing key)
        client.credentials = Credentials("ak-a", "secret-a", "token-a")
        client.write_get_object_response(ROUTE, "t3", 200, b"x")
        assert client._keys is keys_a and ROUTE in keys_a.lanes
    verify_v4(recording_server.wait_for(3)[2], A)


def test_provider_returning_the_wrong_type_sends_nothing(recording_server):
    with ossfast.Client(lambda: ("ak", "sk"), endpoint=recording_server.url) as client:
        with pytest.raises(ossfast.InvalidRequestError, match="provider returned tuple") as info:
            client.write_get_object_response(ROUTE, "t", 200, b"x")
        assert info.value.field == "credentials"
        with pytest.raises(ossfast.InvalidRequestError, match="provider returned"):
            client.prepare(ROUTE, "t", 200, b"x")
    assert recording_server.accepted == 0


def test_provider_errors_propagate_and_nothing_is_sent(recording_server):
    def provider():
        raise RuntimeError("credentials service down")

    with ossfast.Client(provider, endpoint=recording_server.url) as client:
        with pytest.raises(RuntimeError, match="service down"):
            client.write_get_object_response(ROUTE, "t", 200, b"x")
    assert recording_server.accepted == 0


@pytest.mark.parametrize("bad", [("ak", "sk"), "ak:sk", 42, None.__class__])
def test_credentials_argument_checked(bad):
    if callable(bad):
        return  # a class is a callable: a provider
    with pytest.raises(ossfast.InvalidRequestError, match="credentials") as info:
        ossfast.Client(bad, endpoint="http://127.0.0.1:9")
    assert info.value.field == "credentials"
    client = ossfast.Client(A, endpoint="http://127.0.0.1:9")
    with pytest.raises(ossfast.InvalidRequestError):
        client.credentials = bad
    assert client.credentials is A


def test_repr_of_a_provider_client_asks_nothing():
    def provider():
        raise AssertionError("repr must not ask the provider")

    client = ossfast.Client(provider, endpoint="http://127.0.0.1:9")
    assert "provider" in repr(client) and "secret" not in repr(client)


def test_threads_with_rotating_credentials(recording_server):
    """Each request is signed with one consistent set of keys, whatever another thread assigns."""
    sets = [Credentials(f"ak-{i}", f"sk-{i}", f"tok-{i}") for i in range(4)]
    with ossfast.Client(sets[0], endpoint=recording_server.url, signature_version="v1") as client:
        def work(n):
            for j in range(15):
                client.credentials = sets[(n + j) % 4]
                client.write_get_object_response(ROUTE, f"t{n}-{j}", 200, b"x" * (j * 10))

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    by_id = {c.access_key_id: c for c in sets}
    for req in recording_server.wait_for(60):
        key_id = req.header("Authorization")[4:].rpartition(":")[0]
        verify_v1(req, by_id[key_id])


# ----------------------------------------------------------------- validation of the keys


@pytest.mark.parametrize("field,args", [
    ("security_token", ("ak", "sk", "token ")),
    ("security_token", ("ak", "sk", " token")),
    ("security_token", ("ak", "sk", "to\x01ken")),
    ("security_token", ("ak", "sk", "to\x7fken")),
    ("access_key_secret", ("ak", "sk\t", None)),
    ("access_key_secret", ("ak", "s\x1bk", None)),
    ("access_key_id", ("a,k", "sk", None)),
    ("access_key_id", ("a/k", "sk", None)),
    ("access_key_id", ("ak ", "sk", None)),
])
def test_credentials_refuse_control_characters_blanks_and_separators(field, args):
    key_id, secret, token = args
    args = (key_id, secret.replace("sk", "SeCrEt"), token and token.replace("token", "ToKeN"))
    with pytest.raises(ossfast.InvalidRequestError) as info:
        Credentials(*args)
    assert info.value.field == field
    assert "SeCrEt" not in str(info.value) and "ToKeN" not in str(info.value)


def test_fc_context_credentials_validated():
    creds = types.SimpleNamespace(access_key_id="ak", access_key_secret="sk", security_token="ToKeN\x01")
    with pytest.raises(ossfast.InvalidRequestError) as info:
        Credentials.from_fc_context(types.SimpleNamespace(credentials=creds))
    # the field says where the value came from (the handler's context), as the message does
    assert info.value.field == "context.credentials.security_token"
    assert str(info.value).startswith("context.credentials.security_token") and "ToKeN" not in str(info.value)


def test_slashes_and_commas_allowed_in_secret_and_token():
    creds = Credentials("ak", "s/e,c+r=et", "CAIS/tok,en+==")
    assert creds.access_key_secret == "s/e,c+r=et"
