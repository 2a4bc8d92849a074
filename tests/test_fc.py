"""ossfast.fc: the handler decorator, derived ETags and 304s, ranges, errors, and the instance's
client following credential rotation. The original object comes from a small loopback origin; the
WriteGetObjectResponse goes to the recording server (the emulator's own tests run these end to end)."""
from __future__ import annotations

import copy
import email.utils
import hashlib
import http.server
import io
import json
import logging
import pickle
import threading
import types

import pytest

import ossfast
from ossfast import fc

ROUTE = "fc-ap-01-1234-opap.oss-cn-hangzhou-internal.oss-object-process.aliyuncs.com"
LAST_MODIFIED = email.utils.formatdate(1_700_000_000, usegmt=True)


class Origin:
    """A loopback origin serving ``objects`` (key -> bytes) as OSS serves a presigned GET."""

    def __init__(self, objects):
        self.objects = objects
        self.gets = []
        origin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                key = self.path.split("?")[0].lstrip("/")
                origin.gets.append(key)
                data = origin.objects.get(key)
                if data is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Content-Type", "text/plain")
                self.send_header("ETag", '"%s"' % hashlib.md5(data).hexdigest())
                self.send_header("Last-Modified", LAST_MODIFIED)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), name="test-fc-origin")
        self.thread.start()

    def url(self, key):
        return "http://127.0.0.1:%d/%s?Expires=1&Signature=SeCrEtSiG" % (self.server.server_address[1], key)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def origin():
    o = Origin({"a.txt": b"hello object " * 10, "empty": b""})
    yield o
    o.close()


@pytest.fixture
def fc_env(recording_server, monkeypatch):
    monkeypatch.setenv("OSSFAST_ENDPOINT", recording_server.url)
    fc._reset_client()
    yield recording_server
    fc._reset_client()


def context(ak="ak", sk="sk", token="sts", request_id="req-1"):
    creds = types.SimpleNamespace(access_key_id=ak, access_key_secret=sk, security_token=token)
    return types.SimpleNamespace(credentials=creds, request_id=request_id, region="cn-hangzhou")


def event(origin, key="a.txt", token="tok-1", headers=None):
    return json.dumps({"getObjectContext": {"inputOssUrl": origin.url(key), "outputRoute": ROUTE,
                                            "outputToken": token},
                       "userRequest": {"url": "http://x/" + key, "headers": headers or {}}}).encode()


def fwd(req, name):
    return req.header("x-oss-fwd-header-" + name)


def etag_of(data):
    return '"%s"' % hashlib.md5(data).hexdigest()


def upper(obj):
    return obj.read().upper()


def test_bytes_transform_forwards_derived_etag_and_original_headers(origin, fc_env):
    handler = fc.handler(upper)
    reply = handler(event(origin), context())
    req = fc_env.wait_for(1)[0]
    data = origin.objects["a.txt"]
    assert req.body == data.upper()
    assert req.header("x-oss-fwd-status") == "200"
    assert req.header("x-oss-request-token") == "tok-1"
    name = "test_fc.py:upper"  # the file's name and the qualified name
    assert fwd(req, "ETag") == fc.derive_etag(etag_of(data), name, "")
    assert fwd(req, "Last-Modified") == LAST_MODIFIED
    assert fwd(req, "Content-Type") == "text/plain"
    assert reply["status"] == 200 and reply["bytes"] == len(data)


def test_derive_etag_is_stable_and_changes_with_each_input():
    base = fc.derive_etag('"abc"', "mod.fn", "1")
    assert base == fc.derive_etag('"abc"', "mod.fn", "1")
    assert base.startswith('"') and base.endswith('"') and len(base) == 34
    others = {fc.derive_etag('"abd"', "mod.fn", "1"), fc.derive_etag('"abc"', "mod.fm", "1"),
              fc.derive_etag('"abc"', "mod.fn", "2"), fc.derive_etag('"abc"', "mod.fn", "")}
    assert base not in others and len(others) == 4


@pytest.mark.parametrize("header,match", [
    ('"{e}"', True), ('W/"{e}"', True), ('"other", "{e}"', True), ("*", True),
    ('"other"', False), ("", False), ("garbage {e}", False),
])
def test_if_none_match(header, match):
    assert fc.if_none_match(header.format(e="abc"), '"abc"') is match


def test_matching_if_none_match_gets_304_without_transforming(origin, fc_env):
    calls = []

    def transform(obj):
        calls.append(obj)
        return obj.read().upper()

    handler = fc.handler(transform, version="3")
    handler(event(origin), context())
    etag = fwd(fc_env.wait_for(1)[0], "ETag")
    handler(event(origin, token="tok-2", headers={"If-None-Match": etag}), context())
    req = fc_env.wait_for(2)[1]
    assert req.header("x-oss-fwd-status") == "304"
    assert req.body == b"" and req.header("Content-Length") == "0"
    assert fwd(req, "ETag") == etag and fwd(req, "Last-Modified") == LAST_MODIFIED
    assert len(calls) == 1, "the transform ran for a 304"
    # a different version is a different ETag: no 304
    fc.handler(transform, version="4")(event(origin, token="tok-3", headers={"If-None-Match": etag}),
                                       context())
    req = fc_env.wait_for(3)[2]
    assert req.header("x-oss-fwd-status") == "200" and fwd(req, "ETag") != etag


def test_opting_out_forwards_no_etag_and_never_304(origin, fc_env):
    handler = fc.handler(etag=False)(upper)
    handler(event(origin, headers={"If-None-Match": "*"}), context())
    req = fc_env.wait_for(1)[0]
    assert req.header("x-oss-fwd-status") == "200"
    assert fwd(req, "ETag") is None
    assert fwd(req, "Last-Modified") == LAST_MODIFIED  # still the original's: the transform read it


def test_transform_etag_wins(origin, fc_env):
    fc.handler(lambda obj: fc.Response(200, b"x", etag='"mine"', content_type="image/png"))(
        event(origin), context())
    req = fc_env.wait_for(1)[0]
    assert fwd(req, "ETag") == '"mine"' and fwd(req, "Content-Type") == "image/png"


@pytest.mark.parametrize("kind", ["bytes", "file", "generator", "generator-sized", "spilled"])
def test_body_kinds(origin, fc_env, kind, monkeypatch):
    data = b"0123456789" * 10_000
    spills = []
    if kind == "spilled":  # past the in-memory spool: to a temporary file
        monkeypatch.setattr(fc, "_SPOOL_MEMORY", 30_000)
        import tempfile

        real = tempfile.TemporaryFile
        monkeypatch.setattr(tempfile, "TemporaryFile", lambda **kw: spills.append(1) or real(**kw))

    def transform(obj):
        obj.read()
        if kind == "bytes":
            return data
        if kind == "file":
            return io.BytesIO(data)
        chunks = (data[i:i + 777] for i in range(0, len(data), 777))
        if kind == "generator-sized":
            return fc.Response(200, chunks, content_length=len(data))
        return chunks

    fc.handler(transform)(event(origin), context())
    req = fc_env.wait_for(1)[0]
    assert req.header("Content-Length") == str(len(data))
    assert req.body_length == len(data) and req.crc64 == ossfast.crc64(data)
    assert len(spills) == (kind == "spilled")


@pytest.mark.parametrize("kind", ["bytes", "file", "generator", "generator-sized"])
@pytest.mark.parametrize("rng,expect", [
    ("bytes=2-5", (2, 5)), ("bytes=9990-", (9990, 9999)), ("bytes=-3", (9997, 9999)),
    ("bytes=5-100000", (5, 9999)), ("bytes=0-0", (0, 0)),
])
def test_ranges_applied_to_the_transformed_body(origin, fc_env, kind, rng, expect):
    data = bytes(range(100)) * 100

    def transform(obj):
        assert obj.range == rng
        if kind == "bytes":
            return data
        if kind == "file":
            return io.BytesIO(data)
        chunks = (data[i:i + 333] for i in range(0, len(data), 333))
        return fc.Response(200, chunks, content_length=len(data)) if kind == "generator-sized" else chunks

    fc.handler(transform)(event(origin, headers={"Range": rng}), context())
    req = fc_env.wait_for(1)[0]
    first, last = expect
    assert req.header("x-oss-fwd-status") == "206"
    assert fwd(req, "Content-Range") == f"bytes {first}-{last}/{len(data)}"
    assert req.body == data[first:last + 1]


@pytest.mark.parametrize("rng", ["bytes=100-", "bytes=-0"])
def test_unsatisfiable_range_gets_416(origin, fc_env, rng):
    fc.handler(lambda obj: b"x" * 10)(event(origin, headers={"Range": rng}), context())
    req = fc_env.wait_for(1)[0]
    assert req.header("x-oss-fwd-status") == "416" and fwd(req, "Content-Range") == "bytes */10"
    assert req.body == b""


@pytest.mark.parametrize("rng", ["bytes=5-2", "bytes=0-1,4-5", "items=1-2", "bytes=-"])
def test_unusable_range_sends_the_whole_body(origin, fc_env, rng):
    fc.handler(lambda obj: b"x" * 10)(event(origin, headers={"Range": rng}), context())
    req = fc_env.wait_for(1)[0]
    assert req.header("x-oss-fwd-status") == "200" and req.body == b"x" * 10


def test_transform_that_answers_itself_is_not_ranged(origin, fc_env):
    fc.handler(lambda obj: fc.Response(206, b"abc", content_range="bytes 0-2/9"))(
        event(origin, headers={"Range": "bytes=0-2"}), context())
    req = fc_env.wait_for(1)[0]
    assert req.header("x-oss-fwd-status") == "206" and fwd(req, "Content-Range") == "bytes 0-2/9"
    assert req.body == b"abc"


def test_raising_transform_answers_500_without_its_message(origin, fc_env, caplog):
    def transform(obj):
        raise RuntimeError("password=SeCrEt42")

    caplog.set_level(logging.INFO, logger="ossfast")
    reply = fc.handler(transform)(event(origin), context(request_id="rid-9"))
    req = fc_env.wait_for(1)[0]
    assert req.header("x-oss-fwd-status") == "500" and reply["status"] == 500
    assert b"SeCrEt42" not in req.body and b"rid-9" in req.body
    assert fwd(req, "Content-Type").startswith("text/plain")
    assert "Traceback" in caplog.text and "RuntimeError" in caplog.text


def test_abort_answers_its_status(origin, fc_env):
    def transform(obj):
        raise fc.Abort(403, "not for you")

    fc.handler(transform)(event(origin), context())
    req = fc_env.wait_for(1)[0]
    assert req.header("x-oss-fwd-status") == "403" and b"not for you" in req.body


def test_missing_original_is_forwarded(origin, fc_env):
    fc.handler(upper)(event(origin, key="nope"), context())
    req = fc_env.wait_for(1)[0]
    assert req.header("x-oss-fwd-status") == "404"


def test_returning_str_is_a_transform_error(origin, fc_env):
    fc.handler(lambda obj: "text")(event(origin), context())
    assert fc_env.wait_for(1)[0].header("x-oss-fwd-status") == "500"


def test_original_streams_and_opens_once(origin, fc_env):
    seen = {}

    def transform(obj):
        seen["etag"] = obj.headers["etag"]
        with obj.open() as f:
            seen["first"] = f.read(5)
            seen["rest"] = f.read()
        with pytest.raises(ossfast.OssfastError, match="once"):
            obj.open()
        return b""

    fc.handler(transform)(event(origin), context())
    fc_env.wait_for(1)
    data = origin.objects["a.txt"]
    assert seen == {"etag": etag_of(data), "first": data[:5], "rest": data[5:]}
    assert origin.gets == ["a.txt"]  # one GET for headers and body


def test_instance_client_follows_rotating_credentials(origin, fc_env):
    handler = fc.handler(upper)
    handler(event(origin, token="t1"), context("ak-one", "sk-one", "sts-one"))
    first = fc.client(context("ak-one", "sk-one", "sts-one"))
    handler(event(origin, token="t2"), context("ak-two", "sk-two", "sts-two"))
    assert fc.client(context("ak-two", "sk-two", "sts-two")) is first
    reqs = fc_env.wait_for(2)
    assert "Credential=ak-one/" in reqs[0].header("Authorization")
    assert reqs[0].header("x-oss-security-token") == "sts-one"
    assert "Credential=ak-two/" in reqs[1].header("Authorization")
    assert reqs[1].header("x-oss-security-token") == "sts-two"
    assert reqs[0].conn_id == reqs[1].conn_id, "the pooled connection was not kept"


def test_instance_client_from_environment(fc_env, monkeypatch):
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "env-ak")
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "env-sk")
    monkeypatch.delenv("ALIBABA_CLOUD_SECURITY_TOKEN", raising=False)
    assert fc.client().credentials.access_key_id == "env-ak"


def test_object_context_repr_hides_presigned_query_and_token(origin):
    ctx = fc.ObjectContext.from_event(event(origin, token="ToKeN-1"))
    text = repr(ctx)
    assert "SeCrEtSiG" not in text and "ToKeN-1" not in text and "Signature" not in text
    assert ROUTE in text and "/a.txt" in text
    assert "SeCrEtSiG" in ctx.input_oss_url  # the value itself is intact


def test_decorator_keeps_the_transform_and_its_name():
    handler = fc.handler(version="1")(upper)
    assert handler.transform.func is upper and handler.__name__ == "upper"


def test_run_local_answers_as_the_handler_does(origin, fc_env, tmp_path):
    data = origin.objects["a.txt"]
    path = tmp_path / "a.txt"
    path.write_bytes(data)
    handler = fc.handler(version="7")(upper)
    local = fc.run_local(handler, str(path))
    assert (local.status, local.body) == (200, data.upper())
    original_etag = '"%s"' % hashlib.md5(data).hexdigest().upper()
    assert local.headers["etag"] == fc.derive_etag(original_etag, "test_fc.py:upper", "7")
    part = fc.run_local(handler, str(path), range="bytes=3-9")
    assert (part.status, part.body) == (206, data.upper()[3:10])
    assert part.headers["content_range"] == f"bytes 3-9/{len(data)}"
    cached = fc.run_local(handler, str(path), headers={"If-None-Match": local.headers["etag"]})
    assert (cached.status, cached.body) == (304, b"")
    # a plain transform, not decorated, with its own settings
    plain = fc.run_local(lambda obj: obj.read()[::-1], str(path), etag=False)
    assert (plain.status, plain.body) == (200, data[::-1]) and "etag" not in plain.headers


@pytest.mark.parametrize("response", [
    lambda: fc.Response(201, b"created?"),
    lambda: fc.Response(200, b"x", content_type="a\r\nb"),
    lambda: fc.Response(200, iter([b"abc"]), content_length=0),
    lambda: fc.Response(200, iter([]), content_length=5),
    lambda: fc.Response(206, b"abc"),  # 206 without Content-Range
], ids=["status", "header", "long-iterator", "short-iterator", "206-no-range"])
def test_a_response_the_sender_refuses_still_answers_500(origin, fc_env, response, caplog):
    reply = fc.handler(lambda obj: response())(event(origin), context(request_id="rid-5"))
    req = fc_env.wait_for(1)[0]
    assert req.header("x-oss-fwd-status") == "500" and reply["status"] == 500
    assert b"rid-5" in req.body and "cannot be sent" in caplog.text


def test_concurrent_invocations_each_sign_with_their_own_credentials(origin, fc_env):
    barrier = threading.Barrier(2, timeout=10)
    errors = []

    def invoke(n):
        try:
            ctx = context(f"ak-{n}", f"sk-{n}", f"sts-{n}")
            sender = fc.client(ctx)
            barrier.wait()  # both have called fc.client before either sends
            sender.write_get_object_response(ROUTE, f"tok-{n}", 200, b"x")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=invoke, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for req in fc_env.wait_for(2):
        n = req.header("x-oss-request-token")[-1]
        assert f"Credential=ak-{n}/" in req.header("Authorization")
        assert req.header("x-oss-security-token") == f"sts-{n}"


def test_error_responses_do_not_inherit_the_originals_headers(origin, fc_env):
    fc.handler(lambda obj: fc.Response(404, b"not here"))(event(origin), context())
    req = fc_env.wait_for(1)[0]
    assert req.header("x-oss-fwd-status") == "404" and req.body == b"not here"
    for name in ("ETag", "Last-Modified", "Content-Type"):
        assert fwd(req, name) is None, name


def test_transforms_named_alike_in_different_files_get_different_etags(tmp_path):
    funcs = []
    for name in ("one", "two"):
        path = tmp_path / f"{name}.py"
        path.write_text("def handler(obj):\n    return b''\n")
        namespace = {}
        exec(compile(path.read_text(), str(path), "exec"), namespace)
        funcs.append(namespace["handler"])
    names = [fc.handler(f).transform.name for f in funcs]
    assert names == ["one.py:handler", "two.py:handler"]
    assert fc.derive_etag('"e"', names[0]) != fc.derive_etag('"e"', names[1])


def test_a_bare_etag_is_quoted(origin, fc_env):
    fc.handler(lambda obj: fc.Response(200, b"x", etag="abc"))(event(origin), context())
    assert fwd(fc_env.wait_for(1)[0], "ETag") == '"abc"'


class Unseekable(io.RawIOBase):
    def __init__(self, data):
        self.inner = io.BytesIO(data)

    def readable(self):
        return True

    def readinto(self, b):
        return self.inner.readinto(b)


@pytest.mark.parametrize("rng", [None, "bytes=2-6"])
def test_the_transforms_file_is_closed_after_sending(origin, fc_env, rng):
    files = []

    def transform(obj):
        f = Unseekable(b"0123456789")
        files.append(f)
        return fc.Response(200, f, content_length=10)

    fc.handler(transform)(event(origin, headers={"Range": rng} if rng else {}), context())
    req = fc_env.wait_for(1)[0]
    assert req.body == (b"23456" if rng else b"0123456789")
    assert files[0].closed


def test_spooled_file_is_closed_when_the_iterator_fails(monkeypatch):
    import tempfile

    spills = []
    real = tempfile.TemporaryFile
    monkeypatch.setattr(tempfile, "TemporaryFile", lambda **kw: spills.append(real(**kw)) or spills[-1])
    monkeypatch.setattr(fc, "_SPOOL_MEMORY", 10)

    def chunks():
        yield b"x" * 20
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fc._spool(chunks())
    assert spills and spills[0].closed


def test_run_local_matches_the_handlers_refusals(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    assert fc.run_local(lambda obj: fc.Response(201, b"x"), str(path)).status == 500
    with pytest.raises(ossfast.OssfastError, match="content_length"):
        fc.run_local(lambda obj: fc.Response(200, iter([b"ab", b"cd"]), content_length=3), str(path))


def test_object_context_and_local_result_are_values():
    """Plain classes (no dataclasses at import): immutable, compared by value, the secrets kept
    out of repr."""
    url = "https://b.oss-cn-hangzhou.aliyuncs.com/k?Signature=SECRETSIG&Expires=1"
    a = fc.ObjectContext(url, "route", "TOKEN123")
    b = fc.ObjectContext(url, "route", "TOKEN123", {})
    assert a == b and a.event == {}
    with pytest.raises(TypeError):
        hash(a)  # hashed by value, as the frozen dataclass it was: the event dict is not hashable
    assert a != fc.ObjectContext(url, "route", "OTHER") and a != ("x",)
    for name in ("output_token", "other"):
        with pytest.raises(AttributeError):
            setattr(a, name, "x")
    with pytest.raises(AttributeError):
        del a.output_route
    assert "TOKEN123" not in repr(a) and "SECRETSIG" not in repr(a) and "route" in repr(a)
    assert copy.copy(a) == a == pickle.loads(pickle.dumps(a))
    r = fc.LocalResult(200, {"content_type": "text/plain"}, b"x")
    assert r == fc.LocalResult(200, {"content_type": "text/plain"}, b"x") != fc.LocalResult(200, {}, b"x")
    assert repr(r) == "LocalResult(status=200, headers={'content_type': 'text/plain'}, body=b'x')"
    with pytest.raises(TypeError):
        hash(r)


# ---- malformed events, as a user would meet them -------------------------------------


def _raw_event(**ctx):
    base = {"inputOssUrl": "http://127.0.0.1:9/a?Signature=x", "outputRoute": ROUTE, "outputToken": "tok"}
    base.update(ctx)
    return json.dumps({"getObjectContext": {k: v for k, v in base.items() if v is not None}})


@pytest.mark.parametrize("key,value,says", [
    ("outputRoute", "http://not-a-host/", "getObjectContext.outputRoute"),
    ("outputRoute", "bad route", "getObjectContext.outputRoute"),
    ("outputToken", "tok\r\nX-Injected: 1", "getObjectContext.outputToken"),
    ("outputToken", "tok en", "getObjectContext.outputToken"),
])
def test_an_event_field_the_sender_refuses_is_named_as_the_events(fc_env, key, value, says):
    with pytest.raises(ossfast.InvalidRequestError) as info:
        fc.handler(upper)(_raw_event(**{key: value}), context())
    assert info.value.field == says and str(info.value).startswith("event: " + says)
    if key == "outputToken":
        assert "Injected" not in str(info.value) and "tok en" not in str(info.value)
    assert fc_env.accepted == 0


@pytest.mark.parametrize("value,says", [(5, "int"), ([], "list"), (None, "missing"), ("", "empty")])
def test_an_event_field_of_the_wrong_type_says_what_it_got(value, says):
    event = json.loads(_raw_event())
    if value is None:
        del event["getObjectContext"]["outputRoute"]
    else:
        event["getObjectContext"]["outputRoute"] = value
    with pytest.raises(ossfast.InvalidRequestError) as info:
        fc.ObjectContext.from_event(event)
    assert info.value.field == "getObjectContext.outputRoute" and says in str(info.value)


@pytest.mark.parametrize("url", ["file:///{path}", "ftp://127.0.0.1/x", "data:,secret-data"])
def test_the_original_is_read_only_over_http(fc_env, tmp_path, url, caplog):
    # inputOssUrl is a presigned OSS URL: a forged event must not make the function read a
    # local file (its environment holds the instance's keys) and send it out transformed
    secret = tmp_path / "environ"
    secret.write_bytes(b"secret-data")
    event = _raw_event(inputOssUrl=url.format(path=str(secret).lstrip("/")))
    with caplog.at_level(logging.WARNING, logger="ossfast.fc"):
        fc.handler(upper)(event, context())
    req = fc_env.wait_for(1)[0]
    assert req.header("x-oss-fwd-status") == "500"  # as any failure to read the original but 403/404
    assert b"SECRET-DATA" not in req.body and b"secret-data" not in req.body
    assert "inputOssUrl" in caplog.text


def test_the_handler_logs_no_secret_whatever_happens(origin, fc_env, caplog):
    def raises(obj):
        raise RuntimeError("boom")

    def aborts(obj):
        raise fc.Abort(404, "no such page")

    def bad_header(obj):
        return fc.Response(200, b"x", content_type="a\r\nb")

    ctx = context("ak-x", "SeCrEtKeY-x", "StS-ToKeN-x")
    with caplog.at_level(logging.DEBUG):
        for i, transform in enumerate((upper, raises, aborts, bad_header)):
            fc.handler(transform)(event(origin, token=f"OuTpUt-ToKeN-{i}"), ctx)
        fc.handler(upper)(event(origin, key="missing", token="OuTpUt-ToKeN-m"), ctx)
    reqs = fc_env.wait_for(5)
    assert [r.header("x-oss-fwd-status") for r in reqs] == ["200", "500", "404", "500", "404"]
    text = caplog.text
    assert "raises failed" in text and "RuntimeError: boom" in text  # the traceback is logged
    secrets = ["SeCrEtKeY-x", "StS-ToKeN-x", "OuTpUt-ToKeN", "SeCrEtSiG"]
    secrets += [r.header("Authorization").rsplit("Signature=", 1)[1] for r in reqs]
    for secret in secrets:
        assert secret not in text, secret
