"""ossfast._http11 without sockets: replies fed through a mock stream cut every way."""
from __future__ import annotations

import pytest
from mockstream import MockStream

from ossfast import _http11 as h
from ossfast._http11 import COMPLETE, HEAD_DONE, NEED_DATA, ProtocolError, ReplyReader

OK = b"HTTP/1.1 200 OK\r\nx-oss-request-id: abc\r\nContent-Length: 5\r\n\r\nhello"


def read(source: MockStream, reader: ReplyReader, **kw):
    """What a driver does: recv, feed, until complete (or EOF)."""
    reader.reset()
    reader.configure(**kw)
    while True:
        data = source.recv()
        if not data:
            reader.feed_eof()
            return reader.reply()
        state = reader.feed(data)
        if state == COMPLETE or state == HEAD_DONE:
            return reader.reply()


@pytest.mark.parametrize("stream", list(MockStream.cuts(OK)), ids=lambda s: str(s.pieces[:3]))
def test_complete_reply_any_cut(stream):
    r = ReplyReader()
    reply = read(stream, r)
    assert (reply.status, reply.body, reply.keep_alive) == (200, b"hello", True)
    assert reply.header(b"x-oss-request-id") == "abc" and reply.headers["content-length"] == "5"


def test_reader_is_reused_for_the_next_reply():
    r = ReplyReader()
    for _ in range(3):
        assert read(MockStream(OK, [len(OK)]), r).body == b"hello"


@pytest.mark.parametrize("stream", list(MockStream.cuts(
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n<ok>\r\n5\r\n</ok>\r\n0\r\n\r\n", random_cuts=5)),
    ids=lambda s: str(s.pieces[:3]))
def test_chunked_reply_keeps_the_connection(stream):
    reply = read(stream, ReplyReader())
    assert reply.body == b"<ok></ok>" and reply.keep_alive


def test_reply_to_the_close_is_complete_at_eof_and_not_reusable():
    data = b"HTTP/1.1 200 OK\r\n\r\nuntil the end"
    for stream in MockStream.cuts(data, random_cuts=3):
        reply = read(stream, ReplyReader())
        assert reply.body == b"until the end" and not reply.keep_alive


@pytest.mark.parametrize("data,message", [
    (b"", "the server closed the connection before replying"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort", "in the middle of the reply"),
    (b"HTTP/1.1 2OO OK\r\n\r\n", "malformed reply"),
    (b"HTTP/1.1 100 Continue\r\n\r\n", "unexpected interim reply 100"),
    (b"HTTP/1.1 200 OK\r\nx-oss-request-id 5C3D\r\nContent-Length: 0\r\n\r\n", "malformed reply"),
])
def test_refused_replies(data, message):
    for stream in MockStream.cuts(data, exhaustive=0, random_cuts=3):
        with pytest.raises(ProtocolError, match=message):
            read(stream, ReplyReader())


def test_trailing_bytes_keep_the_reply_and_drop_the_connection():
    for extra in (b"junk", b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", b"x" * 100):
        reply = read(MockStream(OK + extra, [len(OK) + len(extra)]), ReplyReader())
        assert reply.body == b"hello" and not reply.keep_alive


def test_connection_close_is_not_reusable():
    data = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    assert not read(MockStream(data, [len(data)]), ReplyReader()).keep_alive


def test_head_over_64_KiB_is_refused():
    data = b"HTTP/1.1 200 OK\r\n" + b"x-pad: " + b"a" * (h.MAX_HEAD + 10) + b"\r\n\r\n"
    with pytest.raises(ProtocolError, match="the reply head is larger than 65536 bytes"):
        read(MockStream(data, [16384] * (len(data) // 16384 + 1)), ReplyReader())


def test_body_cap_and_no_cap():
    big = b"y" * (h.MAX_BODY + 1)
    data = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(big) + big
    with pytest.raises(ProtocolError, match="the reply body is larger than 1048576 bytes"):
        read(MockStream(data, [65536] * (len(data) // 65536 + 1)), ReplyReader())
    reply = read(MockStream(data, [65536] * (len(data) // 65536 + 1)), ReplyReader(), max_body=None)
    assert reply.body == big


def test_streamed_body_comes_in_pieces_and_is_not_kept():
    body = bytes(range(256)) * 40
    data = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    for stream in MockStream.cuts(data, exhaustive=0, random_cuts=5):
        r = ReplyReader()
        reply = read(stream, r, stream=True)
        got = b"".join(r.take_pieces())
        while not r.done:
            r.feed(stream.recv())
            got += b"".join(r.take_pieces())
        assert reply.status == 200 and reply.body == b"" and got == body and r.keep_alive


@pytest.mark.parametrize("extra,reusable", [(b"", True), (b"x", False)])
def test_reply_to_head_has_no_body(extra, reusable):
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + extra
    r = ReplyReader()
    reply = read(MockStream(data, [len(data)]), r, no_body=True)
    assert reply.status == 200 and reply.body == b"" and reply.keep_alive is reusable
    assert r.done and (not r.trailing) is reusable
    # the reader is still good for the next reply
    assert read(MockStream(OK, [len(OK)]), r).body == b"hello"


def test_need_data_until_complete():
    r = ReplyReader()
    assert r.feed(OK[:10]) == NEED_DATA and r.feed(OK[10:]) == COMPLETE


def test_request_head():
    head = h.request_head("GET", "/k?x=1", [("Host", "b.example"), ("x-oss-date", "20231031T031758Z")])
    assert head == b"GET /k?x=1 HTTP/1.1\r\nHost: b.example\r\nx-oss-date: 20231031T031758Z\r\n\r\n"
    with pytest.raises(ValueError):
        h.request_head("GET", "/", [("x", "a\r\nInjected: 1")])


# ---- chunked framing (both drivers' chunked bodies write what chunk_frames gives)
@pytest.mark.parametrize("n", [1, 15, 16, 4095, h.SMALL_CHUNK])
def test_a_small_chunk_is_one_piece_with_its_framing(n):
    data = bytes(range(256)) * (n // 256) + bytes(n % 256)
    (frame,) = h.chunk_frames(memoryview(data))
    assert frame == b"%x\r\n" % n + data + b"\r\n"
    assert int(frame.split(b"\r\n", 1)[0], 16) == n


@pytest.mark.parametrize("n", [h.SMALL_CHUNK + 1, 3 * h.SMALL_CHUNK + 7])
def test_a_big_chunk_is_framed_around_the_callers_view_not_a_copy(n):
    view = memoryview(bytearray(n))
    size_line, data, crlf = h.chunk_frames(view)
    assert size_line == f"{n:x}\r\n".encode() and crlf == b"\r\n"
    assert data is view


def test_framed_chunks_and_the_last_chunk_decode_as_chunked_by_llhttp():
    import random

    import httptools

    rng = random.Random(7)
    pieces = [rng.randbytes(rng.choice([1, 100, h.SMALL_CHUNK, h.SMALL_CHUNK + 1, 200_000])) for _ in range(12)]
    wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    wire += b"".join(bytes(f) for p in pieces for f in h.chunk_frames(memoryview(p))) + h.LAST_CHUNK

    class Collect:
        def __init__(self):
            self.body, self.done = bytearray(), False

        def on_body(self, b):
            self.body += b

        def on_message_complete(self):
            self.done = True

    c = Collect()
    httptools.HttpResponseParser(c).feed_data(wire)
    assert c.done and bytes(c.body) == b"".join(pieces)
