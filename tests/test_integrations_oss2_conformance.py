"""oss2's own unit tests, run over ``ossfast.integrations.oss2.Session`` (opt-in conformance suite).

oss2's ``unittests/`` replace the transport: ``@patch('oss2.Session.do_request')`` with a side
effect (``unittests.common.do4response``) that records the request and answers with a canned
reply parsed from raw HTTP text. Here that side effect sends the request oss2 built and signed
through an ossfast ``Session`` to a loopback server, which answers with the very same canned
reply; the test then reads the reply back from ossfast's ``SessionResponse``. So every
assertion of those tests on results, parsed XML, CRC checks, streamed downloads and raised
exceptions is made against what ossfast's transport delivered, and the request body the
tests check is the one that arrived on the wire. (The URL's host is the loopback server's, so
Host differs from the canned request; oss2's tests do not compare it.)

Run it with a checkout of https://github.com/aliyun/aliyun-oss-python-sdk (the version of the
installed oss2) given in ``OSSFAST_OSS2_SOURCE``:

    OSSFAST_OSS2_SOURCE=/path/to/aliyun-oss-python-sdk pytest tests/test_integrations_oss2_conformance.py

Only the tests that go through ``do4response`` (154 of the 180 in the modules run here) touch
the transport; the others (``do4put``, ``do4body``, ... hand-made mock objects) run too and
must pass, but exercise oss2 alone.
"""
from __future__ import annotations

import copy
import os
import re
import sys
import threading
import unittest
import unittest.mock

import pytest

oss2 = pytest.importorskip("oss2")

from ossfast.integrations import oss2 as fast_oss2  # noqa: E402
from servers import RecordingServer, Reply  # noqa: E402

SOURCE = os.environ.get("OSSFAST_OSS2_SOURCE", "")
MODULES = ["unittests.test_bucket", "unittests.test_object", "unittests.test_iterator",
           "unittests.test_multipart", "unittests.test_select_object"]

pytestmark = pytest.mark.skipif(not SOURCE or not os.path.isdir(os.path.join(SOURCE, "unittests")),
                                reason="set OSSFAST_OSS2_SOURCE to a checkout of aliyun-oss-python-sdk")


class Replay:
    """The loopback server's answer: the canned reply set for the request in flight."""

    def __init__(self) -> None:
        self.reply = None
        self.lock = threading.Lock()

    def __call__(self, req):
        return self.reply


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _reply_of(mock, method: str) -> Reply:
    headers = []
    for name, value in mock.headers.items():
        low = name.lower()
        if not _TOKEN.fullmatch(name):  # a stray line of the canned text (oss2's parser keeps it)
            continue
        if low == "content-length" and method != "HEAD":
            value = str(len(mock.body))  # the canned text may disagree with its own body
        if low in ("connection", "transfer-encoding"):
            continue
        headers.append((name, value))
    if method != "HEAD" and not any(n.lower() == "content-length" for n, _ in headers):
        headers.append(("Content-Length", str(len(mock.body))))
    return Reply(mock.status, headers, b"" if method == "HEAD" else mock.body,
                 request_id=mock.request_id or None)


@pytest.fixture
def oss2_unittests(monkeypatch):
    monkeypatch.setitem(sys.modules, "mock", unittest.mock)  # oss2's tests import the old backport
    monkeypatch.syspath_prepend(SOURCE)
    for name in [m for m in sys.modules if m == "unittests" or m.startswith("unittests.")]:
        monkeypatch.delitem(sys.modules, name)
    import unittests.common as common

    return common


def test_oss2s_unit_tests_pass_over_ossfasts_session(oss2_unittests, start_server, monkeypatch):
    common = oss2_unittests
    replay = Replay()
    server = start_server(RecordingServer, responses=replay)
    session = fast_oss2.Session()
    sent = []
    original = common.do4response

    def over_the_wire(req, timeout, req_info=None, payload=None):
        mock = common.MockResponse2(payload)
        if req_info is not None:  # what the original records, the body taken from the wire below
            req_info.req = req
            data = req.data
            req_info.size = 0 if data is None else (
                len(oss2.to_bytes(data)) if common.is_string_type(data) else common.get_length(data))
        with replay.lock:
            replay.reply = _reply_of(mock, req.method)
            n = len(server.requests)
            path = req.url.split("://", 1)[1]
            to_loopback = copy.copy(req)  # the tests compare req.url with oss2's
            to_loopback.url = server.url + (path[path.index("/"):] if "/" in path else "/")
            resp = session.do_request(to_loopback, timeout)
            got = server.wait_for(n + 1)[n]
        sent.append(got)
        if req_info is not None:
            req_info.data = got.body
        assert isinstance(resp, fast_oss2.SessionResponse)
        return resp

    monkeypatch.setattr(common, "do4response", over_the_wire)
    try:
        suite = unittest.defaultTestLoader.loadTestsFromNames(MODULES)
        result = unittest.TestResult()
        suite.run(result)
    finally:
        session.close()
    problems = [f"{test}: {tb.strip().splitlines()[-1]}" for test, tb in result.failures + result.errors]
    print("\n".join(problems))
    assert problems == []
    assert result.testsRun >= 150 and len(sent) >= 150  # the suite ran, and through ossfast
    assert original is not over_the_wire
