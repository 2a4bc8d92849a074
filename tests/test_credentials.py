"""Credentials: validation, secrecy in repr and errors, the environment, the FC context."""
from __future__ import annotations

import pickle
from types import SimpleNamespace

import pytest

import ossfast.credentials
from ossfast.credentials import ENV_FAMILIES, Credentials
from ossfast.errors import InvalidRequestError

SECRET = "S3cr3t-value-never-shown"
TOKEN = "CAIS-token-value-never-shown"
ALL_VARS = [v for family in ENV_FAMILIES for v in family]


@pytest.fixture
def env(monkeypatch):
    """A clean environment for the credential variables; returns a setter."""
    for var in ALL_VARS:
        monkeypatch.delenv(var, raising=False)

    def set_(**values):
        for k, v in values.items():
            monkeypatch.setenv(k, v)

    return set_


def test_fields_and_secrecy():
    c = Credentials("LTAIkeyid", SECRET, TOKEN)
    assert (c.access_key_id, c.access_key_secret, c.security_token) == ("LTAIkeyid", SECRET, TOKEN)
    assert c.is_sts
    for text in (repr(c), str(c), f"{c}", f"{c!r}", repr([c]), repr({"c": c})):
        assert SECRET not in text and TOKEN not in text
        assert "LTAIkeyid" in text and "<hidden>" in text
    assert repr(c) == "Credentials(access_key_id='LTAIkeyid', access_key_secret=<hidden>, security_token=<hidden>)"
    plain = Credentials("LTAIkeyid", SECRET)
    assert not plain.is_sts and plain.security_token is None
    assert repr(plain) == "Credentials(access_key_id='LTAIkeyid', access_key_secret=<hidden>, security_token=None)"
    assert Credentials("a", "b", "").security_token is None


def test_immutable_comparable_picklable():
    c = Credentials("ak", SECRET, TOKEN)
    with pytest.raises(AttributeError):
        c.access_key_secret = "other"
    with pytest.raises(AttributeError):
        c.extra = 1
    with pytest.raises(AttributeError):
        del c.security_token
    assert c == Credentials("ak", SECRET, TOKEN) and hash(c) == hash(Credentials("ak", SECRET, TOKEN))
    assert c != Credentials("ak", SECRET) and c != ("ak", SECRET, TOKEN)
    assert pickle.loads(pickle.dumps(c)) == c


@pytest.mark.parametrize("field, args", [
    ("access_key_id", ("", SECRET)),
    ("access_key_id", (None, SECRET)),
    ("access_key_id", (b"ak", SECRET)),
    ("access_key_id", ("ak\r\nX-Evil: 1", SECRET)),
    ("access_key_id", ("ak\0", SECRET)),
    ("access_key_id", ("akü", SECRET)),
    ("access_key_secret", ("ak", "")),
    ("access_key_secret", ("ak", None)),
    ("access_key_secret", ("ak", SECRET + "\n")),
    ("access_key_secret", ("ak", SECRET + "\r")),
    ("access_key_secret", ("ak", SECRET + "\0")),
    ("access_key_secret", ("ak", SECRET + "é")),
    ("access_key_secret", ("ak", 12345)),
    ("security_token", ("ak", SECRET, TOKEN + "\r\nX-Evil: 1")),
    ("security_token", ("ak", SECRET, TOKEN + "é")),
    ("security_token", ("ak", SECRET, b"token")),
])
def test_validation_names_the_field_and_hides_the_value(field, args):
    with pytest.raises(InvalidRequestError) as info:
        Credentials(*args)
    assert info.value.field == field
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert field in message
    assert SECRET not in message and TOKEN not in message and "X-Evil" not in message


def test_from_env_alibaba_cloud_names(env):
    env(ALIBABA_CLOUD_ACCESS_KEY_ID="LTAIa", ALIBABA_CLOUD_ACCESS_KEY_SECRET=SECRET,
        ALIBABA_CLOUD_SECURITY_TOKEN=TOKEN)
    assert Credentials.from_env() == Credentials("LTAIa", SECRET, TOKEN)


def test_from_env_oss2_names(env):
    env(OSS_ACCESS_KEY_ID="LTAIo", OSS_ACCESS_KEY_SECRET=SECRET, OSS_SESSION_TOKEN=TOKEN)
    assert Credentials.from_env() == Credentials("LTAIo", SECRET, TOKEN)
    # The same variables oss2 and alibabacloud-oss-v2 read.
    oss2_creds = pytest.importorskip("oss2").credentials.EnvironmentVariableCredentialsProvider().get_credentials()
    assert (oss2_creds.get_access_key_id(), oss2_creds.get_access_key_secret(),
            oss2_creds.get_security_token()) == ("LTAIo", SECRET, TOKEN)
    from alibabacloud_oss_v2.credentials import EnvironmentVariableCredentialsProvider
    v2 = EnvironmentVariableCredentialsProvider().get_credentials()
    assert (v2.access_key_id, v2.access_key_secret, v2.security_token) == ("LTAIo", SECRET, TOKEN)


def test_from_env_without_token_and_with_blanks(env):
    env(ALIBABA_CLOUD_ACCESS_KEY_ID=" LTAIa\n", ALIBABA_CLOUD_ACCESS_KEY_SECRET=SECRET + "\n",
        ALIBABA_CLOUD_SECURITY_TOKEN="")
    assert Credentials.from_env() == Credentials("LTAIa", SECRET)


def test_from_env_prefers_alibaba_cloud_and_keeps_families_apart(env):
    env(ALIBABA_CLOUD_ACCESS_KEY_ID="LTAIa", ALIBABA_CLOUD_ACCESS_KEY_SECRET="sa",
        OSS_ACCESS_KEY_ID="LTAIo", OSS_ACCESS_KEY_SECRET="so", OSS_SESSION_TOKEN=TOKEN)
    # The OSS_ token belongs to the OSS_ key, not to the ALIBABA_CLOUD_ one.
    assert Credentials.from_env() == Credentials("LTAIa", "sa")


def test_from_env_falls_back_to_a_complete_family(env):
    env(ALIBABA_CLOUD_ACCESS_KEY_ID="LTAIa", OSS_ACCESS_KEY_ID="LTAIo", OSS_ACCESS_KEY_SECRET="so")
    assert Credentials.from_env() == Credentials("LTAIo", "so")


@pytest.mark.parametrize("present, missing", [
    ({}, "ALIBABA_CLOUD_ACCESS_KEY_ID"),
    ({"ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIa"}, "ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
    ({"ALIBABA_CLOUD_ACCESS_KEY_SECRET": SECRET}, "ALIBABA_CLOUD_ACCESS_KEY_ID"),
    ({"OSS_ACCESS_KEY_ID": "LTAIo"}, "OSS_ACCESS_KEY_SECRET"),
    ({"OSS_ACCESS_KEY_SECRET": SECRET, "OSS_SESSION_TOKEN": TOKEN}, "OSS_ACCESS_KEY_ID"),
    ({"ALIBABA_CLOUD_ACCESS_KEY_ID": "  "}, "ALIBABA_CLOUD_ACCESS_KEY_ID"),
])
def test_from_env_names_the_missing_variable(env, present, missing):
    env(**present)
    with pytest.raises(InvalidRequestError, match=missing) as info:
        Credentials.from_env()
    assert info.value.field == missing
    assert SECRET not in str(info.value) and TOKEN not in str(info.value)


def test_from_env_bad_value_names_the_variable(env):
    env(OSS_ACCESS_KEY_ID="LTAIo", OSS_ACCESS_KEY_SECRET=SECRET, OSS_SESSION_TOKEN="tokVALUE\rX-Evil: en")
    with pytest.raises(InvalidRequestError, match="OSS_SESSION_TOKEN") as info:
        Credentials.from_env()
    assert "tokVALUE" not in str(info.value) and "X-Evil" not in str(info.value)


def test_from_env_with_an_explicit_mapping(env):
    env(OSS_ACCESS_KEY_ID="LTAIo", OSS_ACCESS_KEY_SECRET="so")
    assert Credentials.from_env({"ALIBABA_CLOUD_ACCESS_KEY_ID": "x", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "y"}) \
        == Credentials("x", "y")
    with pytest.raises(InvalidRequestError, match="ALIBABA_CLOUD_ACCESS_KEY_ID"):
        Credentials.from_env({})


def test_from_fc_context(env):
    ctx = SimpleNamespace(credentials=SimpleNamespace(access_key_id="LTAIf", access_key_secret=SECRET,
                                                      security_token=TOKEN))
    assert Credentials.from_fc_context(ctx) == Credentials("LTAIf", SECRET, TOKEN)
    camel = SimpleNamespace(credentials=SimpleNamespace(accessKeyId="LTAIc", accessKeySecret=SECRET,
                                                        securityToken=None))
    assert Credentials.from_fc_context(camel) == Credentials("LTAIc", SECRET)
    as_dict = SimpleNamespace(credentials={"access_key_id": "LTAId", "access_key_secret": SECRET})
    assert Credentials.from_fc_context(as_dict) == Credentials("LTAId", SECRET)
    # Newer runtimes put the keys in the environment instead.
    env(ALIBABA_CLOUD_ACCESS_KEY_ID="LTAIe", ALIBABA_CLOUD_ACCESS_KEY_SECRET=SECRET,
        ALIBABA_CLOUD_SECURITY_TOKEN=TOKEN)
    assert Credentials.from_fc_context(SimpleNamespace(credentials=None)) == Credentials("LTAIe", SECRET, TOKEN)
    assert Credentials.from_fc_context(SimpleNamespace()) == Credentials("LTAIe", SECRET, TOKEN)
    with pytest.raises(InvalidRequestError, match="access_key_secret"):
        Credentials.from_fc_context(SimpleNamespace(credentials=SimpleNamespace(access_key_id="LTAIx")))


def test_module_exports():
    assert ossfast.credentials.__all__ == ["Credentials", "ENV_FAMILIES"]


def test_an_sts_key_without_its_token_names_the_missing_token(env):
    # OSS would answer "The Access Key ID does not exist" after the body went out
    env(ALIBABA_CLOUD_ACCESS_KEY_ID="STS.NUgYrLnoC37mZZCNnAbez2zR", ALIBABA_CLOUD_ACCESS_KEY_SECRET=SECRET)
    with pytest.raises(InvalidRequestError, match="ALIBABA_CLOUD_SECURITY_TOKEN") as info:
        Credentials.from_env()
    assert info.value.field == "ALIBABA_CLOUD_SECURITY_TOKEN" and SECRET not in str(info.value)
    env(ALIBABA_CLOUD_SECURITY_TOKEN=TOKEN)
    assert Credentials.from_env().security_token == TOKEN
    ctx = SimpleNamespace(credentials=SimpleNamespace(access_key_id="STS.abc", access_key_secret=SECRET,
                                                      security_token=None))
    with pytest.raises(InvalidRequestError, match="security_token") as info:
        Credentials.from_fc_context(ctx)
    assert "context.credentials" in str(info.value) and SECRET not in str(info.value)
    assert Credentials("STS.abc", SECRET).security_token is None  # the constructor itself stays plain


def test_bad_fc_context_credentials_say_where_they_came_from(env):
    ctx = SimpleNamespace(credentials=SimpleNamespace(access_key_id="LTAIx", access_key_secret=SECRET + "\n",
                                                      security_token=TOKEN))
    with pytest.raises(InvalidRequestError) as info:
        Credentials.from_fc_context(ctx)
    text = str(info.value)
    assert text.startswith("context.credentials.access_key_secret") and SECRET not in text
    assert info.value.field == "context.credentials.access_key_secret"
