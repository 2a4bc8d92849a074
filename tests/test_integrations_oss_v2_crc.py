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


# ---------------------------------------------------------------- AsyncHttpClient: the scope follows the task

import asyncio  # noqa: E402

from alibabacloud_oss_v2 import aio as oss_aio  # noqa: E402
from test_integrations_oss2_session import sdk_default_leaks  # noqa: E402
from test_integrations_oss_v2_transport import NoWait  # noqa: E402


def make_async_client(url, http_client=None):
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider("ak", "sk")
    cfg.region = "cn-hangzhou"
    cfg.endpoint = url
    cfg.retryer = NoWait()
    if http_client is not None:
        cfg.http_client = http_client
    return oss_aio.AsyncClient(cfg)


@pytest.fixture
def started_in_task(monkeypatch):
    """Every scoped CRC as it starts: (object, fast, the asyncio task it started in)."""
    seen = []
    real = _common.ScopedCrc._start

    def spy(self, fast):
        try:
            task = asyncio.current_task()
        except RuntimeError:  # no running loop
            task = None
        seen.append((self, fast, task))
        real(self, fast)

    monkeypatch.setattr(_common.ScopedCrc, "_start", spy)
    return seen


def crc_of(data):
    c = ORIGINAL(0)
    c.write(data)
    return c.sum64()


def test_async_swapped_while_open_and_restored_exactly(no_open_clients):
    async def main():
        a = fast_v2.AsyncHttpClient()
        assert v2_crc.Crc64 is ORIGINAL  # the pool (and the swap) come with the first use
        await a.open()
        assert v2_crc.Crc64 is SCOPED
        async with fast_v2.AsyncHttpClient():
            assert v2_crc.Crc64 is SCOPED
        assert v2_crc.Crc64 is SCOPED  # ``a`` still holds it
        await a.close()
        await a.close()
        assert v2_crc.Crc64 is ORIGINAL
        async with fast_v2.AsyncHttpClient(fast_crc=False):
            assert v2_crc.Crc64 is ORIGINAL

    asyncio.run(main())


def test_async_put_and_get_share_the_table_with_the_sdks_values(no_open_clients, start_server, started_in_task):
    server = start_server(RecordingServer, responses=MiniOSS())
    rnd = random.Random(5)
    bodies = [rnd.randbytes(n) for n in (1, 1024, 300_000, 1_000_003)]

    async def main():
        transport = fast_v2.AsyncHttpClient()
        await transport.open()  # the swap comes with the pool: the SDK makes its Crc64 before send
        client = make_async_client(server.url, transport)
        try:
            for i, body in enumerate(bodies):
                del started_in_task[:]
                r = await client.put_object(oss.PutObjectRequest(bucket=BUCKET, key=f"k{i}", body=body))
                assert r.hash_crc64 == str(crc_of(body))  # and the SDK compared its CRC with the server's
                assert [fast for _, fast, _ in started_in_task] == [True]
                crc = started_in_task[0][0]
                assert crc._crc.table is SCOPE.template.table and crc.sum64() == crc_of(body)
            # a streamed reply (the SDK's async get_object reads replies whole, which are not marked)
            reply = await transport.send(oss.types.HttpRequest("GET", f"{server.url}/{BUCKET}/k3"), stream=True)
            mine, copies = v2_crc.Crc64(0), v2_crc.Crc64(0)
            async for piece in reply.iter_bytes():
                mine.write(piece)  # the piece just handed out: this call's
                copies.write(bytes(bytearray(piece)))  # other bytes: the SDK's own object
            assert mine._fast is True and copies._fast is False
            assert mine.sum64() == copies.sum64() == crc_of(bodies[3])
        finally:
            await client.close()
            await transport.close()

    asyncio.run(main())


def test_async_scope_does_not_leak_into_a_task_using_aiohttp(no_open_clients, start_server, started_in_task):
    """Our send is suspended mid-body (its CRC already started fast) while another task on
    the same thread uploads through the SDK's default transport: that task's CRCs are the
    SDK's own. A per-thread scope would have made them ours."""
    server = start_server(RecordingServer, responses=MiniOSS())
    rnd = random.Random(9)
    head, tail, other = rnd.randbytes(70_000), rnd.randbytes(50_000), rnd.randbytes(200_000)

    async def main():
        inside, resume = asyncio.Event(), asyncio.Event()

        async def body():
            yield head
            inside.set()  # our send is in progress, its body half sent
            await resume.wait()
            yield tail

        transport = fast_v2.AsyncHttpClient()
        await transport.open()
        ours, theirs = make_async_client(server.url, transport), make_async_client(server.url)

        async def their_puts():
            await inside.wait()
            try:
                for i in range(3):
                    r = await theirs.put_object(oss.PutObjectRequest(bucket=BUCKET, key=f"t{i}", body=other))
                    assert r.hash_crc64 == str(crc_of(other))
            finally:
                resume.set()

        try:
            mine = asyncio.ensure_future(ours.put_object(oss.PutObjectRequest(bucket=BUCKET, key="o", body=body())))
            await asyncio.gather(mine, their_puts())
            assert mine.result().hash_crc64 == str(crc_of(head + tail))
            return asyncio.current_task()
        finally:
            await ours.close()
            await theirs.close()
            await transport.close()

    with sdk_default_leaks():
        asyncio.run(main())
    assert len(started_in_task) == 4
    by_fast = {}
    for crc, fast, task in started_in_task:
        by_fast.setdefault(fast, set()).add(task)
    assert len(by_fast[True]) == 1 and by_fast[True].isdisjoint(by_fast[False])  # (aiohttp writes in tasks of its own)
    fast_crcs = [crc for crc, fast, _ in started_in_task if fast]
    assert len(fast_crcs) == 1 and fast_crcs[0]._crc.table is SCOPE.template.table
    for crc, fast, _ in started_in_task:
        if not fast:
            assert crc._crc.table is not SCOPE.template.table and crc.sum64() == crc_of(other)


def test_async_fast_crc_false_keeps_the_sdks_crc_beside_a_fast_one(no_open_clients, start_server, started_in_task):
    server = start_server(RecordingServer, responses=MiniOSS())

    async def main():
        async with fast_v2.AsyncHttpClient() as fast, fast_v2.AsyncHttpClient(fast_crc=False) as plain:
            assert v2_crc.Crc64 is SCOPED  # swapped by ``fast``
            clients = {plain: make_async_client(server.url, plain), fast: make_async_client(server.url, fast)}
            for http, expected in ((plain, False), (fast, True), (plain, False)):
                del started_in_task[:]
                await clients[http].put_object(oss.PutObjectRequest(bucket=BUCKET, key="k", body=b"x" * 5000))
                assert [fast for _, fast, _ in started_in_task] == [expected]
        assert v2_crc.Crc64 is ORIGINAL  # (the SDK's AsyncClient.close would close them too)

    asyncio.run(main())
