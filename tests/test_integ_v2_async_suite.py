"""alibabacloud-oss-v2's own async unit tests (tests/unit/aio/operations) over
``ossfast.integrations.oss_v2.AsyncHttpClient`` (opt-in: OSSFAST_OSS_V2_SOURCE, a checkout of
alibabacloud-oss-python-sdk-v2), as tests/test_integrations_oss_v2_transport.py runs the sync
ones over ``HttpClient``: the SDK's ``MockAsyncHttpClient.send`` sends the request the SDK
built through ossfast's AsyncHttpClient to a loopback server that answers with the test's canned
reply, so the SDK's assertions are made on what ossfast delivered. Each test runs on its own
event loop (``IsolatedAsyncioTestCase``): the client makes its pool on each."""
from __future__ import annotations

import importlib
import os
import sys
import unittest

import pytest

pytest.importorskip("alibabacloud_oss_v2")

from alibabacloud_oss_v2.types import HttpRequest  # noqa: E402

from ossfast.integrations import oss_v2 as fast_v2  # noqa: E402
from srv_recording import RecordingServer  # noqa: E402
from srv_replies import Reply  # noqa: E402

V2_SOURCE = os.environ.get("OSSFAST_OSS_V2_SOURCE", "")
#: tests that cannot pass over any real transport, and why (as in the sync suite's V2_MOCK_ONLY)
MOCK_ONLY = {
    "test_put_object": "progress_fn='progress_fn-test' is a str: a transport that reads the body calls it",
    "test_append_object": "the same str progress_fn",
    "test_upload_part": "the same str progress_fn",
    "test_copy_object": "declares Content-Length: 101 with no body (refused: the server would wait for it)",
    "test_initiate_multipart_upload": "the same Content-Length: 101 with no body",
    "test_head_object_fail": "an error document on a HEAD reply: HTTP gives a HEAD reply no body",
    "test_get_object_meta_fail": "the same: GetObjectMeta is a HEAD",
    "test_put_object_crc64_flags_retry": "its request_fn reads the async body first: a transport that sends "
                                         "it reads it again, feeding the SDK's CRC tee twice",
}


@pytest.fixture
def v2_unit_tests(monkeypatch):
    if not V2_SOURCE or not os.path.isdir(os.path.join(V2_SOURCE, "tests", "unit", "aio")):
        pytest.skip("set OSSFAST_OSS_V2_SOURCE to a checkout of alibabacloud-oss-python-sdk-v2")
    monkeypatch.syspath_prepend(V2_SOURCE)
    monkeypatch.chdir(V2_SOURCE)
    for name in [m for m in sys.modules if m == "tests" or m.startswith("tests.")]:
        monkeypatch.delitem(sys.modules, name)
    import tests.unit as unit

    return unit


def test_the_sdks_async_unit_tests_over_async_http_client(v2_unit_tests, start_server, monkeypatch):
    unit = v2_unit_tests
    state = {}
    server = start_server(RecordingServer, responses=lambda req: state["reply"])
    http = fast_v2.AsyncHttpClient()
    sent = []

    async def send(self, request, **kwargs):
        if self._request_fn is not None:
            await self._request_fn(request)
        mock = self._response_fn()
        body = mock._body if mock._body is not None else b""
        body = body.encode() if isinstance(body, str) else body
        headers = [(k, v) for k, v in (mock._headers or {}).items()
                   if k.lower() not in ("content-length", "transfer-encoding", "connection")]
        state["reply"] = Reply(mock._status_code or 200, headers, b"" if request.method == "HEAD" else body,
                               reason=mock._reason or None, request_id=(mock._headers or {}).get("x-oss-request-id"))
        path = request.url.split("://", 1)[1]
        url = server.url + (path[path.index("/"):] if "/" in path else "/")
        resp = await http.send(HttpRequest(request.method, url, headers=dict(request.headers), body=request.body),
                               **kwargs)
        assert isinstance(resp, fast_v2.AsyncHttpResponse)
        sent.append(resp.status_code)
        return resp

    monkeypatch.setattr(unit.MockAsyncHttpClient, "send", send)
    result = unittest.TestResult()
    names = ["tests.unit.aio.operations.test_object_basic", "tests.unit.aio.operations.test_bucket_basic",
             "tests.unit.aio.operations.test_region", "tests.unit.aio.operations.test_service"]
    for name in names:
        unittest.defaultTestLoader.loadTestsFromModule(importlib.import_module(name)).run(result)
    failed = {t.id().rsplit(".", 1)[1]: tb.strip().splitlines()[-1] for t, tb in result.failures + result.errors}
    print(result.testsRun, "run;", len(sent), "through ossfast;", failed)
    assert sorted(failed) == sorted(MOCK_ONLY), failed
    assert result.testsRun >= 50 and len(sent) >= 40
