"""The asyncio client: the caller's side of a send failing (the progress callback, an async or
plain iterator, reading a file) raises its own exception, unchanged, and is never retried as a
stale pooled connection; a file truncated while sent is InvalidRequestError; a file closed
after prepare() is refused before any byte. (From the blocking client's review: each failed
before its fix in ossfast/_async/client.py.)"""
from __future__ import annotations

import asyncio
import errno
import logging
import os

import pytest
from srv_recording import RecordingServer

import ossfast
from ossfast import Credentials, InvalidRequestError, TransportError

pytestmark = pytest.mark.usefixtures("no_fd_leak")

ROUTE = "fc-ap-01-1234-opap.oss-cn-qingdao-internal.oss-object-process.aliyuncs.com"
CREDS = Credentials("ak", "sk")
MiB = 1024 * 1024


def retry_lines(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "ossfast" and "retrying" in r.getMessage()]


def complete_with(server, token):
    return [r for r in server.requests if r.header("x-oss-request-token") == token]


def run(server, call):
    async def main():
        async with ossfast.AsyncClient(CREDS, endpoint=server.url, timeout=5,
                                       retries=ossfast.Retry(total=2, backoff=0.001, max_backoff=0.002)) as c:
            await c.write_get_object_response(ROUTE, "warm", 200, b"warm")  # a pooled connection
            return await call(c)

    return asyncio.run(main())


@pytest.mark.parametrize("when", ["middle", "end"])
def test_progress_raising_an_oserror(start_server, caplog, when):
    caplog.set_level(logging.INFO, logger="ossfast")
    server = start_server(RecordingServer)
    err = BrokenPipeError(errno.EPIPE, "stdout is gone")

    def progress(sent, total):
        if sent == total or when == "middle":
            raise err

    with pytest.raises(BrokenPipeError) as ei:
        run(server, lambda c: c.write_get_object_response(ROUTE, "tok", 200, os.urandom(9 * MiB),
                                                          progress=progress))
    assert ei.value is err and retry_lines(caplog) == []
    assert len(complete_with(server, "tok")) <= (1 if when == "end" else 0)


@pytest.mark.parametrize("kind", ["sync", "async", "async-first"])
def test_an_iterator_raising_an_oserror_or_a_transport_error(start_server, caplog, kind):
    caplog.set_level(logging.INFO, logger="ossfast")
    server = start_server(RecordingServer)
    for err in (ConnectionResetError(errno.ECONNRESET, "upstream reset"),
                TransportError("reading the reply failed: upstream", request_sent=True, bytes_sent=123)):
        def pieces():
            yield b"a" * 1000
            raise err

        async def apieces():
            if kind == "async":
                yield b"a" * 1000
            raise err

        body = pieces() if kind == "sync" else apieces()
        with pytest.raises(type(err)) as ei:
            run(server, lambda c: c.write_get_object_response(ROUTE, "tok", 200, body, content_length=5000))
        assert ei.value is err
    assert retry_lines(caplog) == [] and complete_with(server, "tok") == []


def test_a_file_truncated_while_sent(start_server, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="ossfast")
    server = start_server(RecordingServer)
    size = 3 * MiB + 5
    path = tmp_path / "f.bin"
    path.write_bytes(os.urandom(size))

    async def call(c):
        with open(path, "rb") as f:
            prepared = c.prepare(ROUTE, "tok", 200, f)
            os.truncate(path, size // 2)
            return await c.send(prepared)

    with pytest.raises(InvalidRequestError) as ei:
        run(server, call)
    assert ei.value.field == "body" and "ended" in str(ei.value)
    assert retry_lines(caplog) == [] and complete_with(server, "tok") == []


def test_a_file_closed_after_prepare(start_server, tmp_path):
    server = start_server(RecordingServer)
    path = tmp_path / "f.bin"
    path.write_bytes(b"M" * 200_000)

    async def call(c):
        with open(path, "rb") as f:
            prepared = c.prepare(ROUTE, "tok", 200, f)
        return await c.send(prepared)

    with pytest.raises(InvalidRequestError) as ei:
        run(server, call)
    assert ei.value.field == "body" and "closed" in str(ei.value)
    assert [r.header("x-oss-request-token") for r in server.requests] == ["warm"]
