"""Any HTTP/1.1 request on the asyncio driver: the async twin of ``transport.request()``.

``await request(pool, key, timeout, method, target, headers, body, ...)`` sends one request
over an ``AsyncPool`` and returns the reply read whole (``_http11.Reply``) or, with
``stream=True``, an :class:`AsyncStreamedReply` whose body is read as it arrives. The rules
are the blocking ``transport.request``'s: Content-Length added for a body (and for PUT/POST/
PATCH without one); a HEAD reply has no body; retried once, on a fresh connection, when a
pooled connection turns out stale before any reply (and the body can be replayed, or none
of it left) or the connection cannot be made; never otherwise. Bodies go as the
AsyncClient sends WGOR bodies (buffers without a copy or a thread; regular files read in a
worker thread; iterators on the loop), plus async iterators of a known length, and bodies
of unknown length chunked (``chunked=True``; never retried).

Cancellation, as for AsyncClient: an exchange cancelled before its reply is in aborts the
connection (a reset; a cut body never looks complete to the server).
"""
from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, List, Optional, Tuple, Union

from .. import body as _body
from .._http11 import LAST_CHUNK, Reply, chunk_frames, request_head
from .._policy import Attempt, retry_request
from ..errors import CertificateError, InvalidRequestError, TimeoutError, TransportError
from .client import AsyncClient, _AsyncIterBody
from .connection import AsyncConnection, AsyncPool, drop_reply


class _Request:
    """What ``AsyncClient._write`` needs of a request: its head and body."""

    __slots__ = ("head", "body")

    def __init__(self, head: bytes, body: _body.Body) -> None:
        self.head = head
        self.body = body


async def request(pool: AsyncPool, key: Tuple[str, str, int], timeout: Any, method: str, target: str,
                  headers: List[Tuple[str, str]], body: Any = None, *, content_length: Optional[int] = None,
                  stream: bool = False, max_body: Optional[int] = None,
                  chunked: bool = False) -> Union[Reply, "AsyncStreamedReply"]:
    """Send one request (see the module docstring). ``body``: None, a buffer, a binary file,
    an iterable or async iterable of buffers (with ``content_length``, or ``chunked``).
    Raises TransportError / TimeoutError, InvalidRequestError for a body that is not what
    it declares."""
    if chunked:
        return await _send_chunked(pool, key, timeout, method, target, list(headers), body, stream)
    if body is not None and hasattr(body, "__aiter__"):
        if content_length is None:
            raise InvalidRequestError("content_length: required for an async iterator body "
                                      "(or send it chunked)", field="content_length")
        b: Optional[_body.Body] = _AsyncIterBody(body, content_length)
    else:
        b = _body.classify(body, content_length) if body is not None else None
    if b is not None:
        b.crc = _body.UNHASHED  # the reply is what counts here: no CRC-64 of the body
    hdrs = list(headers)
    if b is not None or method in ("PUT", "POST", "PATCH"):
        hdrs.append(("Content-Length", str(b.length if b is not None else 0)))
    head = request_head(method, target, hdrs)
    no_body = method == "HEAD"
    req = _Request(head, b if b is not None else _body.MemoryBody(_body.EMPTY))
    wait = timeout.read
    try:
        retries = 0
        while True:
            try:
                conn, reused = await pool.acquire(key, timeout.connect)
            except TransportError as exc:
                facts = Attempt(False, certificate_rejected=isinstance(exc, CertificateError),
                                client_closed=pool.closed, detail=str(exc))
                if not retry_request(facts, replayable=True, retries_made=retries):
                    raise
                retries += 1
                continue
            fut = conn.begin_any(stream=stream, no_body=no_body, max_body=max_body)
            try:
                try:
                    await AsyncClient._write(conn, req, None, wait)
                except TransportError as exc:
                    conn.close(abort=True)
                    drop_reply(fut)
                    facts = Attempt(True, reused, exc.request_sent, True, detail=str(exc))
                    replayable = b is None or b.replayable
                    if not retry_request(facts, replayable=replayable, retries_made=retries):
                        raise
                    retries += 1
                    if b is not None and b.replayable:
                        b.rewind()
                    continue
                resp = await _await_reply(pool, conn, fut, wait)
            except BaseException:
                conn.close(abort=True)
                drop_reply(fut)
                raise
            return _deliver(pool, conn, resp, stream, wait)
    finally:
        if b is not None:
            b.close()


async def _await_reply(pool: AsyncPool, conn: AsyncConnection, fut: asyncio.Future, wait: float) -> Reply:
    if fut.done():
        return fut.result()
    pool.watch(conn, wait)
    try:
        return await fut
    finally:
        pool.unwatch(conn)


async def _pieces(body: Any) -> AsyncIterator[Any]:
    """A body of unknown length as pieces: an async iterable's items, a reader's blocks, or
    an iterable's items (on the loop, as the AsyncClient iterates a sync iterator)."""
    if hasattr(body, "__aiter__"):
        async for piece in body:
            yield piece
        return
    read = getattr(body, "read", None)
    if read is not None:
        while True:
            piece = read(16 * 1024)
            if not piece:
                return
            yield piece
    else:
        for piece in body:
            yield piece


class _ChunkedBody(_AsyncIterBody):
    """A body of unknown length as its ``Transfer-Encoding: chunked`` framing, for
    ``AsyncClient._write`` (the async twin of ``integrations._http.ChunkedBody``): its pieces
    are the framed chunks (``_http11.chunk_frames``), then the last chunk; empty items are
    skipped. ``sent``: the body's own bytes handed over (framing not counted). Never
    replayable, not hashed."""

    kind = "chunked"
    crc = _body.UNHASHED

    def __init__(self, body: Any) -> None:  # no _AsyncIterBody.__init__: no length
        self.length = 0  # unknown: not sent as a Content-Length
        self._body = body
        self.sent = 0
        self.taken = 0

    async def first(self) -> None:
        return None

    async def chunks(self, first: None) -> AsyncIterator[Any]:  # type: ignore[override]
        async for piece in _pieces(self._body):
            view = _body.chunk_view(piece)
            if view.nbytes:
                for frame in chunk_frames(view):
                    yield frame
                self.sent += view.nbytes
                self.taken += 1
        yield LAST_CHUNK


async def _send_chunked(pool: AsyncPool, key: Tuple[str, str, int], timeout: Any, method: str, target: str,
                        hdrs: List[Tuple[str, str]], body: Any, stream: bool) -> Union[Reply, "AsyncStreamedReply"]:
    """A body of unknown length, ``Transfer-Encoding: chunked``, through ``AsyncClient._write``
    (``_ChunkedBody``). Never retried (the body cannot be sent twice); the pool's staleness
    check guards reuse. A failed send's ``bytes_sent`` counts the body's own bytes, not the
    framing."""
    hdrs.append(("Transfer-Encoding", "chunked"))
    chunked = _ChunkedBody(body)
    req = _Request(request_head(method, target, hdrs), chunked)
    conn, _reused = await pool.acquire(key, timeout.connect)
    wait = timeout.read
    fut = conn.begin_any(stream=stream, no_body=method == "HEAD", max_body=None)
    try:
        try:
            await AsyncClient._write(conn, req, None, wait)
        except TransportError as exc:
            exc.bytes_sent = chunked.sent
            raise
        resp = await _await_reply(pool, conn, fut, wait)
    except BaseException:
        conn.close(abort=True)
        drop_reply(fut)
        raise
    return _deliver(pool, conn, resp, stream, wait)


def _deliver(pool: AsyncPool, conn: AsyncConnection, resp: Reply, stream: bool,
             wait: float) -> Union[Reply, "AsyncStreamedReply"]:
    """A reply read: streamed (the connection goes with it), or whole (the connection back to
    the pool when it may carry another request, else closed)."""
    if stream:
        return AsyncStreamedReply(pool, conn, resp, wait)
    if resp.keep_alive and not conn.stale:
        pool.release(conn)
    else:
        conn.close()
    return resp


class AsyncStreamedReply:
    """A reply whose body is read as it comes (``request(..., stream=True)``): ``status``,
    ``headers``, ``raw_headers``, ``keep_alive``; ``await read_some()`` (b"" at the end),
    ``iter_bytes()`` (async), ``await read()``; ``close()`` gives the connection back to the
    pool once the body was read whole (else aborts it). Each wait for body bytes is bounded
    by ``timeout``. Also an async context manager."""

    def __init__(self, pool: AsyncPool, conn: AsyncConnection, reply: Reply, timeout: float) -> None:
        self._pool = pool
        self._conn: Optional[AsyncConnection] = conn
        self._reply = reply
        self._timeout = timeout
        self.status = reply.status

    @property
    def headers(self) -> Any:
        return self._reply.headers

    @property
    def raw_headers(self) -> List[Tuple[bytes, bytes]]:
        return self._reply.raw_headers

    @property
    def keep_alive(self) -> bool:
        return self._reply.keep_alive

    @property
    def complete(self) -> bool:
        conn = self._conn
        return conn is None or conn.reader.done

    async def read_some(self) -> bytes:
        conn = self._conn
        if conn is None:
            return b""
        while True:
            pieces = conn.take_pieces()
            if pieces:
                return pieces[0] if len(pieces) == 1 else b"".join(pieces)
            if conn.reader.done:
                self._finish()
                return b""
            err = conn.body_error
            if err is None and conn.lost:
                err = TransportError("the server closed the connection in the middle of the reply",
                                     request_sent=True)
            if err is not None:
                self.close()
                raise err
            loop = asyncio.get_running_loop()
            w = conn.body_waiter = loop.create_future()
            timer = loop.call_later(self._timeout, _late, w)
            try:
                await w
            except TimeoutError:
                self.close()
                raise TimeoutError(f"no reply body bytes within {self._timeout}s", request_sent=True) from None
            except BaseException:
                self.close()
                raise
            finally:
                timer.cancel()
                conn.body_waiter = None

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        try:
            while True:
                data = await self.read_some()
                if not data:
                    return
                yield data
        finally:
            self.close()

    async def read(self) -> bytes:
        parts = []
        while True:
            data = await self.read_some()
            if not data:
                return b"".join(parts)
            parts.append(data)

    def _finish(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            if conn.reader.done and conn.reader.keep_alive and not conn.stale:
                self._pool.release(conn)
            else:
                conn.end_stream()
                conn.close()

    def close(self) -> None:
        """Give the connection back (the body was read whole) or abort it."""
        conn = self._conn
        if conn is not None:
            if conn.reader.done and not conn.reader.pieces:
                self._finish()
            else:
                self._conn = None
                conn.end_stream()
                conn.close(abort=True)

    async def aclose(self) -> None:
        self.close()

    async def __aenter__(self) -> "AsyncStreamedReply":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()


def _late(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError("no reply body bytes in time", request_sent=True))


__all__ = ["request", "AsyncStreamedReply"]
