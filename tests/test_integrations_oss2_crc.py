"""ossfast.integrations.oss2.Session(fast_crc=True): oss2's CRC-64 made cheap inside Session calls.

oss2 builds crcmod's table in Python for every upload and download (``oss2.utils.Crc64``).
While a Session is open, ``oss2.utils.Crc64`` is a subclass computing the same values, which
shares one table (and hashes with ossfast's crc64) only for CRCs fed inside a Session's call;
elsewhere it is oss2's own object. The original class comes back when the last Session closes.
"""
from __future__ import annotations

import gc
import random

import pytest

oss2 = pytest.importorskip("oss2")

from oss2 import utils as oss2_utils  # noqa: E402

from ossfast.integrations import oss2 as fast_oss2  # noqa: E402
from servers import RecordingServer  # noqa: E402
from test_integrations_oss2_session import BUCKET, MiniOSS  # noqa: E402

ORIGINAL = fast_oss2._OSS2_CRC64


@pytest.fixture
def no_open_sessions():
    """No other Session holds the swap (collected ones release it)."""
    gc.collect()
    if fast_oss2._CRC.users:
        pytest.skip("another Session of this process is still open")
    assert oss2_utils.Crc64 is ORIGINAL
    yield
    gc.collect()
    assert fast_oss2._CRC.users == 0
    assert oss2_utils.Crc64 is ORIGINAL


def test_swapped_while_a_session_is_open_and_restored_exactly(no_open_sessions):
    a = fast_oss2.Session()
    assert oss2_utils.Crc64 is fast_oss2._ScopedCrc64 and issubclass(oss2_utils.Crc64, ORIGINAL)
    b = fast_oss2.Session()
    a.close()
    a.close()  # a second close does not release twice
    assert oss2_utils.Crc64 is fast_oss2._ScopedCrc64
    b.close()
    assert oss2_utils.Crc64 is ORIGINAL
    with fast_oss2.Session(fast_crc=False):
        assert oss2_utils.Crc64 is ORIGINAL
    c = fast_oss2.Session()
    assert oss2_utils.Crc64 is fast_oss2._ScopedCrc64
    del c  # never closed: collected
    gc.collect()
    assert oss2_utils.Crc64 is ORIGINAL


def test_a_class_put_there_by_someone_else_is_kept(no_open_sessions):
    class Theirs(ORIGINAL):
        pass

    s = fast_oss2.Session()
    try:
        oss2_utils.Crc64 = Theirs
    finally:
        s.close()
    try:
        assert oss2_utils.Crc64 is Theirs  # not ours to undo
        with fast_oss2.Session():
            assert oss2_utils.Crc64 is Theirs  # nor to replace
    finally:
        oss2_utils.Crc64 = ORIGINAL


@pytest.mark.parametrize("in_scope", [True, False])
def test_same_values_as_oss2s_crc64(in_scope):
    rnd = random.Random(7)
    scope = fast_oss2._CRC
    for init in (0, 1, rnd.getrandbits(64), (1 << 64) - 1, -1):
        data = rnd.randbytes(rnd.randrange(1, 5000))
        theirs, ours = ORIGINAL(init), fast_oss2._ScopedCrc64(init)
        assert ours.crc == theirs.crc  # nothing fed yet
        scope.enter(1 if in_scope else 0)
        try:
            cut = rnd.randrange(len(data))
            for piece in (data[:cut], bytearray(data[cut:cut + 3]), memoryview(data)[cut + 3:], b""):
                theirs.update(bytes(piece))
                ours(piece)
        finally:
            scope.exit(1 if in_scope else 0)
        assert ours._fast is in_scope
        assert ours.crc == theirs.crc == ours.crc64.crcValue
        assert ours.crc64.initCrc == theirs.crc64.initCrc
        other = rnd.getrandbits(64)
        assert ours.combine(ours.crc, other, 123) == theirs.combine(theirs.crc, other, 123)
    lazy = fast_oss2._ScopedCrc64(5)  # combine asked for first
    assert lazy.combine(1, 2, 3) == ORIGINAL(5).combine(1, 2, 3)


def test_inside_session_calls_the_table_is_shared_elsewhere_oss2s_own(no_open_sessions, start_server, monkeypatch):
    server = start_server(RecordingServer, responses=MiniOSS())
    made = []
    real = oss2_utils.make_crc_adapter

    def spy(data, *a, **kw):
        adapter = real(data, *a, **kw)
        made.append(adapter.crc_callback)
        return adapter

    monkeypatch.setattr(oss2_utils, "make_crc_adapter", spy)
    theirs_session = oss2.Session()
    body = random.Random(3).randbytes(200_000)
    try:
        with fast_oss2.Session() as session:
            ours = oss2.Bucket(oss2.Auth("ak", "sk"), server.url, BUCKET, session=session)
            theirs = oss2.Bucket(oss2.Auth("ak", "sk"), server.url, BUCKET, session=theirs_session)
            assert ours.put_object("k", body).crc == oss2_utils.Crc64(0).crc64.new(body).crcValue
            assert made[-1]._fast is True and made[-1].crc64.table is fast_oss2._CRC.template.table
            theirs.put_object("k2", body)  # checked by oss2 against the server's CRC
            assert made[-1]._fast is False and made[-1].crc64.table is not fast_oss2._CRC.template.table
            got = ours.get_object("k")
            assert got.read() == body and got.client_crc == got.server_crc
            assert got.stream.crc_callback._fast is True
            got = theirs.get_object("k")
            assert got.read() == body and got.client_crc == got.server_crc
            assert got.stream.crc_callback._fast is False
    finally:
        theirs_session.session.close()


def test_a_session_made_with_fast_crc_false_keeps_oss2s_crc_even_beside_others(no_open_sessions, start_server,
                                                                                monkeypatch):
    server = start_server(RecordingServer, responses=MiniOSS())
    made = []
    real = oss2_utils.make_crc_adapter
    monkeypatch.setattr(oss2_utils, "make_crc_adapter",
                        lambda data, *a, **kw: made.append(real(data, *a, **kw)) or made[-1])
    with fast_oss2.Session() as fast, fast_oss2.Session(fast_crc=False) as plain:
        assert oss2_utils.Crc64 is fast_oss2._ScopedCrc64  # swapped by ``fast``
        for session, expected in ((plain, False), (fast, True)):
            bucket = oss2.Bucket(oss2.Auth("ak", "sk"), server.url, BUCKET, session=session)
            bucket.put_object("k", b"abc" * 1000)
            assert made[-1].crc_callback._fast is expected
            got = bucket.get_object("k")
            assert got.read() == b"abc" * 1000 and got.client_crc == got.server_crc
            assert got.stream.crc_callback._fast is expected
