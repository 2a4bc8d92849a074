"""oss_v2.AsyncHttpClient on the native asyncio driver: what it shares with HttpClient's
framing (a Content-Length the SDK put in its headers goes once) and that it asks for no worker
thread for buffer bodies and replies."""
from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("alibabacloud_oss_v2")

from alibabacloud_oss_v2 import exceptions as sdk_exc  # noqa: E402
from alibabacloud_oss_v2.types import HttpRequest  # noqa: E402

from ossfast.integrations import oss_v2 as fast_v2  # noqa: E402


async def _agen(*pieces):
    for p in pieces:
        await asyncio.sleep(0)
        yield p


def test_a_content_length_in_the_headers_goes_once(recording_server):
    url = recording_server.url + "/bkt/k"

    async def main():
        http = fast_v2.AsyncHttpClient()
        try:
            r = await http.send(HttpRequest("PUT", url, headers={"Content-Length": "5"}, body=b"hello"))
            assert r.status_code == 200
            await http.send(HttpRequest("PUT", url, headers={"content-length": "5"},
                                        body=_agen(b"ab", b"cde")))  # no len(): goes with the declared one
            for headers in ({"Content-Length": "101"}, {"content-length": "-1"}, {"Content-Length": "5x"}):
                with pytest.raises(sdk_exc.ParamInvalidError):
                    await http.send(HttpRequest("PUT", url, headers=headers))
            await http.send(HttpRequest("PUT", url, headers={"Content-Length": "0"}))
        finally:
            await http.close()

    asyncio.run(main())
    a, b, c = recording_server.wait_for(3)
    assert [v for k, v in a.headers if k.lower() == b"content-length"] == [b"5"] and a.body == b"hello"
    assert (b.header("Content-Length"), b.header("Transfer-Encoding"), b.body) == ("5", None, b"abcde")
    assert c.header("Content-Length") == "0" and len(recording_server.requests) == 3


def test_no_thread_for_buffer_bodies_and_replies(recording_server):
    url = recording_server.url + "/bkt/k"

    async def main():
        loop = asyncio.get_running_loop()

        def no_threads(*a, **k):
            raise AssertionError("a worker thread was asked for")

        loop.run_in_executor = no_threads
        async with fast_v2.AsyncHttpClient() as http:
            rs = await asyncio.gather(*[http.send(HttpRequest("PUT", url, body=b"x" * 1000)) for _ in range(16)])
            g = await http.send(HttpRequest("GET", url), stream=True)
            body = await g.read()
        return rs, body

    rs, body = asyncio.run(main())  # (the loopback server's own threads serve the connections)
    assert {r.status_code for r in rs} == {200} and body == b""
    assert len(recording_server.wait_for(17)) == 17


@pytest.mark.parametrize("pieces,length,expected", [
    ([b"ab", "c\u00fc", bytearray(b"!")], 6, b"abc\xc3\xbc!"),
    ([b"ab", b"", memoryview(b"cd")], 4, b"abcd"),
    ([b"ab"], 3, "body: 2 bytes where its length says 3"),
    ([b"ab", b"cd", b"never taken"], 3, "body: more than 3 bytes where its length says 3"),
])
def test_a_small_body_is_gathered_alike_by_both_clients(pieces, length, expected):
    """A small body of known length is read whole before it is sent, by the blocking client
    (an SDK adapter or iterator: ``_http._small``) and by the async one (an async iterable:
    ``oss_v2._collect``) with the one helper: the same bytes (a str as UTF-8) or the same
    refusal, and no piece taken once there are more bytes than declared."""
    from ossfast.errors import InvalidRequestError
    from ossfast.integrations import _http

    def outcome(run):
        taken = []
        try:
            return run(taken), len(taken)
        except InvalidRequestError as exc:
            return str(exc), len(taken)

    def sync_run(taken):
        class Sized:  # an iterable with a len(), as requests measures one
            def __len__(self):
                return length

            def __iter__(self):
                for p in pieces:
                    taken.append(p)
                    yield p
        return _http._small(Sized(), length)

    def async_run(taken):
        async def agen():
            for p in pieces:
                taken.append(p)
                yield p
        return asyncio.run(fast_v2._collect(agen(), length))

    sync, aio = outcome(sync_run), outcome(async_run)
    assert sync == aio
    assert sync[0] == expected
    assert sync[1] == (2 if "more than" in str(expected) else len(pieces))


@pytest.mark.usefixtures("no_fd_leak")
@pytest.mark.parametrize("body,kept,in_thread", [(b"x" * 1_000_000, False, False), (b"", True, False),
                                                 (b"x" * 1_000_000, False, True)])
def test_an_unclosed_streamed_reply_gives_its_connection_up_when_collected(start_server, body, kept, in_thread):
    """A streamed reply dropped unread and unclosed does not keep its connection (as the
    blocking HttpResponse and aiohttp's reply): when collected, a body left unread aborts the
    connection, one with nothing left to read gives it back to the pool for the next request.
    Collected in another thread, that is done on the reply's loop."""
    import gc
    import weakref

    from srv_recording import RecordingServer
    from srv_replies import Reply

    server = start_server(RecordingServer, responses=lambda req: Reply(200, body=body))
    url = server.url + "/bkt/k"

    async def main():
        async with fast_v2.AsyncHttpClient() as http:
            held = [await http.send(HttpRequest("GET", url), stream=True)]
            assert not held[0].is_closed
            conn, pool, gone = held[0]._reply._conn, http._apool, weakref.ref(held[0])
            await asyncio.sleep(0.05)  # the body (or its end) has come meanwhile

            def drop():
                held.clear()
                gc.collect()

            if in_thread:
                await asyncio.get_running_loop().run_in_executor(None, drop)
            else:
                drop()
            assert gone() is None
            for _ in range(3):  # an abort reports its loss on a later turn of the loop
                await asyncio.sleep(0)
            assert (conn.lost, pool.idle_count()) == (not kept, 1 if kept else 0)
            again = await http.send(HttpRequest("GET", url))
            assert again.content == body

    asyncio.run(main())
    assert len(server.wait_for(2)) == 2 and len(server.connections) == (1 if kept else 2)
