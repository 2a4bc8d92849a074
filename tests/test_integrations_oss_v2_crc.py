"""ossfast.integrations.oss_v2.HttpClient(fast_crc=True): the SDK's CRC-64 made cheap inside its calls.

alibabacloud-oss-v2 builds crcmod's table in Python for every upload and download
(``alibabacloud_oss_v2.crc.Crc64``) and hashes at crcmod's speed. While an HttpClient made
with ``fast_crc`` is open, ``alibabacloud_oss_v2.crc.Crc64`` is a subclass computing the same
values, which shares one table (and hashes with ossfast's crc64) only for CRCs fed inside an
HttpClient call; elsewhere (the SDK's default transport) it is the SDK's own object. The
original class comes back when the last such HttpClient is closed or collected.
"""
from __future__ import annotations

import gc
import random

import pytest

oss = pytest.importorskip("alibabacloud_oss_v2")

from alibabacloud_oss_v2 import crc as v2_crc  # noqa: E402

from ossfast.integrations import _common  # noqa: E402
from ossfast.integrations import oss_v2 as fast_v2  # noqa: E402
from srv_recording import RecordingServer  # noqa: E402
from test_integrations_oss2_session import BUCKET, MiniOSS  # noqa: E402
from test_integrations_oss_v2_transport import make_client  # noqa: E402

SCOPE = fast_v2._v2_crc_scope()
ORIGINAL = SCOPE.original
SCOPED = SCOPE.scoped


@pytest.fixture
def no_open_clients():
    """No other HttpClient holds the swap (collected ones release it)."""
    gc.collect()
    if SCOPE.users:
        pytest.skip("another HttpClient of this process is still open")
    assert v2_crc.Crc64 is ORIGINAL
    yield
    gc.collect()
    assert SCOPE.users == 0
    assert v2_crc.Crc64 is ORIGINAL


@pytest.fixture
def started(monkeypatch):
    """Every scoped CRC as it starts: (object, fast)."""
    seen = []
    real = _common.ScopedCrc._start

    def spy(self, fast):
        seen.append((self, fast))
        real(self, fast)

    monkeypatch.setattr(_common.ScopedCrc, "_start", spy)
    return seen


def test_swapped_while_a_client_is_open_and_restored_exactly(no_open_clients):
    assert issubclass(SCOPED, ORIGINAL) and SCOPED is not ORIGINAL
    a = fast_v2.HttpClient()
    assert v2_crc.Crc64 is ORIGINAL  # the pool (and the swap) come with the first use
    a.open()
    assert v2_crc.Crc64 is SCOPED
    b = fast_v2.HttpClient()
    b.open()
    a.close()
    a.close()  # a second close does not release twice
    assert v2_crc.Crc64 is SCOPED
    b.close()
    assert v2_crc.Crc64 is ORIGINAL
    with fast_v2.HttpClient(fast_crc=False):
        assert v2_crc.Crc64 is ORIGINAL
    c = fast_v2.HttpClient()
    c.open()
    assert v2_crc.Crc64 is SCOPED
    del c  # never closed: collected
    gc.collect()
    assert v2_crc.Crc64 is ORIGINAL


def test_a_class_put_there_by_someone_else_is_kept(no_open_clients):
    class Theirs(ORIGINAL):
        pass

    c = fast_v2.HttpClient()
    c.open()
    try:
        v2_crc.Crc64 = Theirs
    finally:
        c.close()
    try:
        assert v2_crc.Crc64 is Theirs  # not ours to undo
        with fast_v2.HttpClient():
            assert v2_crc.Crc64 is Theirs  # nor to replace
    finally:
        v2_crc.Crc64 = ORIGINAL


@pytest.mark.parametrize("in_scope", [True, False])
def test_same_values_as_the_sdks_crc64(in_scope):
    rnd = random.Random(11)
    n = 1 if in_scope else 0
    for init in (0, 1, rnd.getrandbits(64), (1 << 64) - 1):
        data = rnd.randbytes(rnd.randrange(1, 70_000))
        theirs, ours = ORIGINAL(init), SCOPED(init)
        assert ours.sum64() == theirs.sum64()  # nothing fed yet
        SCOPE.enter(n)
        try:
            cut = rnd.randrange(len(data))
            for piece in (data[:cut], bytearray(data[cut:cut + 3]), memoryview(data)[cut + 3:], b""):
                theirs.write(bytes(piece))
                ours.write(piece)
        finally:
            SCOPE.exit(n)
        assert ours._fast is in_scope
        assert ours.sum64() == theirs.sum64() == ours._crc.crcValue
        assert ours.digest() == theirs.digest() and ours.hexdigest() == theirs.hexdigest()
        ours.reset()
        theirs.reset()
        assert ours.sum64() == theirs.sum64()
        ours.update(data)
        theirs.update(data)
        assert ours.sum64() == theirs.sum64() == ORIGINAL(init)._crc.new(data).crcValue
    lazy = SCOPED(0)  # reset before any data (the SDK's retry)
    lazy.reset()
    assert lazy._fast is False and lazy.sum64() == ORIGINAL(0).sum64()


def test_inside_client_calls_the_table_is_shared_elsewhere_the_sdks_own(no_open_clients, start_server, started,
                                                                         tmp_path):
    server = start_server(RecordingServer, responses=MiniOSS())
    body = random.Random(3).randbytes(300_000)
    expected = ORIGINAL(0)
    expected.write(body)
    with fast_v2.HttpClient() as http:
        ours, theirs = make_client(server.url, http), make_client(server.url)
        try:
            assert ours.put_object(oss.PutObjectRequest(bucket=BUCKET, key="k", body=body)).hash_crc64 \
                == str(expected.sum64())  # and the SDK compared its CRC with the server's
            assert [fast for _, fast in started] == [True]
            assert started[-1][0]._crc.table is SCOPE.template.table
            theirs.put_object(oss.PutObjectRequest(bucket=BUCKET, key="k2", body=body))
            assert [fast for _, fast in started] == [True, False]
            assert started[-1][0]._crc.table is not SCOPE.template.table
            for client, fast in ((ours, True), (theirs, False)):
                path = tmp_path / f"{fast}.bin"
                client.get_object_to_file(oss.GetObjectRequest(bucket=BUCKET, key="k"), str(path))
                assert path.read_bytes() == body
                assert started[-1][1] is fast and started[-1][0].sum64() == expected.sum64()
        finally:
            theirs._client._options.http_client.close()


def test_a_client_made_with_fast_crc_false_keeps_the_sdks_crc_even_beside_others(no_open_clients, start_server,
                                                                                  started):
    server = start_server(RecordingServer, responses=MiniOSS())
    with fast_v2.HttpClient() as fast, fast_v2.HttpClient(fast_crc=False) as plain:
        assert v2_crc.Crc64 is SCOPED  # swapped by ``fast``
        for http, expected in ((plain, False), (fast, True)):
            client = make_client(server.url, http)
            client.put_object(oss.PutObjectRequest(bucket=BUCKET, key="k", body=b"x" * 5000))
            assert started[-1][1] is expected


def test_a_wrong_crc_from_the_server_is_still_the_sdks_inconsistent_error(no_open_clients, start_server):
    from srv_replies import Reply

    server = start_server(RecordingServer, responses=lambda req: Reply(200, [("x-oss-hash-crc64ecma", "1")]))
    with fast_v2.HttpClient() as http:
        with pytest.raises(oss.exceptions.OperationError) as info:
            make_client(server.url, http).put_object(oss.PutObjectRequest(bucket=BUCKET, key="k", body=b"abc"))
    assert isinstance(info.value.unwrap(), oss.exceptions.InconsistentError)
