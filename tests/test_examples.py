"""The FC handler example runs end to end against the loopback server."""
from __future__ import annotations

import importlib.util
import json
import os
import types

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROUTE = "fc-ap-01-1234-opap.oss-cn-hangzhou-internal.oss-object-process.aliyuncs.com"


def load_example(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "examples", name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("fail", [False, True])
def test_fc_handler_example(recording_server, monkeypatch, fail):
    example = load_example("fc_handler")
    monkeypatch.setenv("OSSFAST_ENDPOINT", recording_server.url)

    def download(url, timeout=30.0):
        assert url == "https://bucket.oss/object?signature"
        if fail:
            raise OSError("no route to the object")
        return b"hello object"

    monkeypatch.setattr(example, "download", download)
    creds = types.SimpleNamespace(access_key_id="ak", access_key_secret="sk", security_token="sts")
    context = types.SimpleNamespace(credentials=creds)
    event = json.dumps({"getObjectContext": {"inputOssUrl": "https://bucket.oss/object?signature",
                                             "outputRoute": ROUTE, "outputToken": "tok-1"}}).encode()
    try:
        reply = example.handler(event, context)
    finally:
        if example._client is not None:
            example._client.close()
    req = recording_server.wait_for(1)[0]
    assert req.header("x-oss-request-token") == "tok-1"
    assert req.header("x-oss-security-token") == "sts"
    if fail:
        assert reply == {"statusCode": 500}
        assert req.header("x-oss-fwd-status") == "500"
    else:
        assert reply == {"statusCode": 200}
        assert req.body == b"HELLO OBJECT"
        assert req.header("x-oss-fwd-header-Content-Type") == "text/plain"
