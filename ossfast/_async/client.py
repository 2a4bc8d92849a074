"""``ossfast.AsyncClient``: the same sender for asyncio code, with its own pool on the loop.

Requests are validated, built and signed by a blocking ``Client`` held only as the builder
(its ``prepare()`` and signer caches; it never opens a socket). Replies are read by
``_http11.ReplyReader`` as their bytes arrive; retries are decided by ``_policy`` from the
same facts the blocking client reports; errors are the same (``ServerError`` from the OSS
XML, ``TransportError``, ``TimeoutError``).

Bodies: buffers go to ``transport.write`` as memoryview slices (no copy, no thread);
files are read in 1 MiB pieces in the loop's default executor; synchronous iterators are
iterated on the loop; async iterators (``content_length`` required) are awaited. Hashing a
big body (``content_md5=True``, or the CRC-64 of a large buffer) runs in the executor, so the
loop never stalls on it.

Cancellation: a call cancelled (or timed out by the caller) before the reply is read aborts
its connection at once: SO_LINGER 0 and ``transport.abort()``, so the kernel resets the
connection and discards every byte not yet sent. If the body had not been fully written when
the call was cancelled, OSS cannot take the request (it never sees a complete body). If the
body had been fully written and the call was then cancelled while waiting for the reply, OSS
may or may not have taken it: the token is single use, so do not assume it can be sent again.
A call cancelled while a worker thread works on its body (the Content-MD5 hash of a big body,
the read of a file-like without a descriptor) raises CancelledError once that work is over: the
body is the caller's again when the call is done.

Event loops: the client works on one loop at a time (its pool: see ``connection``). When that
loop shuts down (``asyncio.run`` ending) its idle connections are closed; the client then works
on the next loop. Used from a second loop while the first still runs, it raises
InvalidRequestError before any byte.
"""
from __future__ import annotations

import asyncio
import datetime as _dt
import os
import functools
import logging
import socket
import time
from typing import Any, Callable, Optional, Tuple, Union

from .. import _outcome, _policy
from .. import body as _body
from .._backend import impl
from .. import request as _request
from .._sync.client import _FAST_BODY
from ..client import (Client, Result, _AttemptFailed, judge_reply,
                      parse_error)
from ..errors import InvalidRequestError
from ..credentials import Credentials
from ..errors import TimeoutError, TransportError
from ..request import PreparedRequest
from .connection import AsyncConnection, AsyncPool, ConnectionLost, drop_reply

log = logging.getLogger("ossfast")
_DEBUG = logging.DEBUG
_perf_counter = time.perf_counter

#: buffers at least this big are hashed (CRC-64, or MD5 for content_md5=True) in the executor
HASH_OFF_LOOP = 1024 * 1024
FILE_PIECE = 1024 * 1024


class _AsyncIterBody(_body.Body):
    """An async iterator of buffers with a declared ``content_length``. As IterBody: the first
    item is fetched before the head goes, and the completing chunk goes out only once the
    iterator is done (a long or short body is never sent complete)."""

    kind = "async iterator"

    def __init__(self, aiterable: Any, content_length: int) -> None:
        self.length = content_length
        self._it = aiterable.__aiter__()
        self.sent = 0
        self.taken = 0
        self._first: Optional[memoryview] = None
        self._fetched = False

    @property
    def replayable(self) -> bool:  # type: ignore[override]
        return False

    async def _next(self) -> Optional[memoryview]:
        try:
            item = await self._it.__anext__()
        except StopAsyncIteration:
            return None
        try:
            mv = _body.as_buffer(item) if not isinstance(item, str) else None
        except TypeError as exc:  # a non-contiguous buffer
            raise InvalidRequestError(str(exc), field="body") from None
        if mv is None:
            raise InvalidRequestError(
                f"body: the iterator yielded {type(item).__name__}; it must yield bytes-like objects",
                field="body")
        return mv

    async def first(self) -> Optional[memoryview]:
        """The first item, fetched once: an attempt retried before any byte left (a stale
        pooled connection) sends it again."""
        if not self._fetched:
            self._first = await self._next()
            self._fetched = True
        return self._first

    async def chunks(self, first: Optional[memoryview]):  # type: ignore[no-untyped-def]
        sent, total, pending = 0, self.length, first
        while True:
            if pending is None:
                if sent != total:
                    raise InvalidRequestError(
                        f"body: the iterator ended after {sent} of content_length={total} bytes", field="body")
                return
            n = len(pending)
            if sent + n > total:
                raise InvalidRequestError(
                    f"body: the iterator yielded more than content_length={total} bytes", field="body")
            if sent + n == total:
                while True:
                    nxt = await self._next()
                    if nxt is None or len(nxt):
                        break
                if nxt is not None:
                    raise InvalidRequestError(
                        f"body: the iterator yielded more than content_length={total} bytes", field="body")
                if n:
                    yield pending
                return
            if n:
                yield pending
            sent += n
            pending = await self._next()


class _Unread:
    """Stands for an async iterator in ``prepare()``: a non-seekable reader of the declared
    length (the head depends on the length only)."""

    def read(self, n: int = -1) -> bytes:  # pragma: no cover - never read
        raise RuntimeError("not readable")

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False


def _big(body: Any) -> bool:
    """Is hashing ``body`` heavy enough to go off the loop?"""
    try:
        return memoryview(body).nbytes >= HASH_OFF_LOOP
    except TypeError:
        return hasattr(body, "read")  # a file: read whole to hash it


class AsyncClient:
    """Sends WriteGetObjectResponse requests from asyncio code; same arguments as ``Client``
    (``max_workers`` is accepted and ignored, for code written for the thread shim). Use it
    on one event loop at a time (each ``asyncio.run`` in turn is fine; see the module
    docstring)."""

    def __init__(self, credentials: Optional[Credentials] = None, *, max_workers: Any = None,
                 **kwargs: Any) -> None:
        self._builder = Client(credentials, **kwargs)  # builds and signs; never does I/O
        b = self._builder
        self._timeout = b._timeout
        self._retry = b._retry
        self._pool = AsyncPool(maxsize=b._pool.maxsize, ssl_context_factory=b._pool.ssl_context)

    # ------------------------------------------------------------ settings
    @property
    def client(self) -> Client:
        """The blocking client used to build and sign requests (it holds no connection)."""
        return self._builder

    @property
    def credentials(self) -> Credentials:
        return self._builder.credentials

    @credentials.setter
    def credentials(self, value: Any) -> None:
        self._builder.credentials = value

    @property
    def pool(self) -> AsyncPool:
        return self._pool

    def __repr__(self) -> str:
        return "Async" + repr(self._builder)

    def prepare(self, *args: Any, **kwargs: Any) -> PreparedRequest:
        """Validate and build the request without sending it (as ``Client.prepare``)."""
        return self._builder.prepare(*args, **kwargs)

    # ------------------------------------------------------------ sending
    async def write_get_object_response(
            self, route: str, token: str, status: Any = 200, body: Any = b"", *,
            accept_ranges: Optional[str] = None, cache_control: Optional[str] = None,
            content_disposition: Optional[str] = None, content_encoding: Optional[str] = None,
            content_language: Optional[str] = None, content_range: Optional[str] = None,
            content_type: Optional[str] = None, etag: Optional[str] = None, expires: Any = None,
            last_modified: Any = None, headers: Any = None, content_length: Optional[int] = None,
            content_md5: Any = False, progress: Optional[Callable[[int, int], Any]] = None) -> Result:
        """``Client.write_get_object_response``, awaited. ``body`` may also be an async
        iterator of buffers (with ``content_length``). See the module docstring for what a
        cancelled call may have delivered."""
        if (progress is None and headers is None and content_length is None and content_md5 is False
                and content_range is None and type(body) is bytes and len(body) <= _FAST_BODY
                and type(route) is str):
            # The common case as the blocking client's fast path: the head built and signed in
            # one C call, head and body in one write on an idle pooled connection. Anything
            # unusual (and any error) goes the general way, which says what is wrong.
            fwd = _request.fwd_lines(accept_ranges, cache_control, content_disposition, content_encoding,
                                     content_language, content_type, etag, expires, last_modified)
            made = None if fwd is None else self._builder._small_head(route, token, status, body, fwd)
            if made is not None:
                return await self._send_small(route, status, made[0], body, made[1])
        abody = None
        if hasattr(body, "__aiter__"):
            if content_length is None:
                raise InvalidRequestError(
                    "content_length: required when the body is an iterator", field="content_length")
            abody, body = body, _Unread()
        kwargs = dict(accept_ranges=accept_ranges, cache_control=cache_control,
                      content_disposition=content_disposition, content_encoding=content_encoding,
                      content_language=content_language, content_range=content_range,
                      content_type=content_type, etag=etag, expires=expires, last_modified=last_modified,
                      headers=headers, content_length=content_length, content_md5=content_md5,
                      progress=progress)
        if content_md5 is True and abody is None and _big(body):
            prepared = await _in_worker(functools.partial(
                self._builder.prepare, route, token, status, body, **kwargs), _close_prepared)
        else:
            prepared = self._builder.prepare(route, token, status, body, **kwargs)
        if abody is not None:
            prepared.body = _AsyncIterBody(abody, prepared.content_length)
        return await self.send(prepared, progress)

    async def _send_small(self, route: str, status: int, head: bytes, data: bytes, crc: int) -> Result:
        """The fast path's send: attempt 0 over an idle pooled connection, head and body in one
        ``transport.write`` (one send on plain TCP, one TLS record), the reply's deadline kept
        by the pool's one timer. No idle connection: the general path connects. Any outcome
        but a plain 2xx goes on as the general path would (retries included)."""
        start = _perf_counter()
        b = self._builder
        key = b._endpoint if b._endpoint is not None else b._key(route)
        pool = self._pool
        loop = asyncio.get_running_loop()
        conn = pool.take_idle(key, loop) if not pool.closed else None
        if conn is None:
            return await self._send_general(_small_request(route, status, head, data, crc), None, start, None)
        fut = conn.begin(loop)
        try:
            conn.write(head + data)
            pool.watch(conn, self._timeout.read, loop)
            try:
                resp = await fut
            finally:
                pool.unwatch(conn)
        except BaseException as exc:  # errors and cancellation: a RST, never a completed cut body
            conn.close(abort=True)
            drop_reply(fut)
            if isinstance(exc, ConnectionLost):  # nothing was written: the general loop decides
                err = TransportError(f"sending the request failed: {exc}", request_sent=False, bytes_sent=0)
                return await self._send_general(
                    _small_request(route, status, head, data, crc), None, start,
                    _AttemptFailed(err, _policy.Attempt(True, True, False, True, 0, detail=str(err))))
            if isinstance(exc, TransportError):
                exc.bytes_sent = len(data)  # the body was handed over whole; the reply failed
            raise
        if resp.keep_alive and 200 <= resp.status < 300 and not conn.stale:
            pool.release(conn)
            result = Result(resp.status, None, resp, len(data), crc, _perf_counter() - start, 1, True)
            if log.isEnabledFor(_DEBUG):
                log.debug("WriteGetObjectResponse to %s: status %d forwarded, %d body bytes, request id %s, "
                          "%.1f ms", route, status, len(data), result.request_id, result.elapsed * 1e3)
            return result
        if resp.keep_alive and not conn.stale:
            pool.release(conn)
        else:
            conn.close()
        prepared = _small_request(route, status, head, data, crc)
        try:
            return judge_reply(resp, prepared, _outcome.SendOutcome.whole(len(head), len(data), crc),
                               start, 0, True)
        except _AttemptFailed as exc:
            return await self._send_general(prepared, None, start, exc)

    async def send(self, prepared: PreparedRequest,
                   progress: Optional[Callable[[int, int], Any]] = None) -> Result:
        """Send a PreparedRequest, once (a second send() is refused: see PreparedRequest.take)."""
        progress = prepared.take(progress)
        return await self._send_general(prepared, progress, time.perf_counter(), None)

    async def _send_general(self, prepared: PreparedRequest, progress: Optional[Callable[[int, int], Any]],
                            start: float, failed: Optional[_AttemptFailed]) -> Result:
        """The attempts and the retry policy. ``failed``: how attempt 0 failed when the fast
        path made it (the loop then goes on from attempt 1)."""
        key = self._builder._key(prepared.route)
        body = prepared.body
        retry = self._retry
        attempt = 0
        try:
            while True:
                try:
                    if failed is not None:
                        exc, failed = failed, None
                        raise exc
                    return await self._attempt(key, prepared, progress, start, attempt)
                except _AttemptFailed as exc:
                    reason = _policy.retry_reason(exc.attempt, replayable=body.replayable,
                                                  retries_made=attempt, total=retry.total,
                                                  statuses=retry.statuses)
                    if reason is None:
                        raise exc.error from None
                    delay = retry.delay(attempt)
                    attempt += 1
                    log.info("retrying WriteGetObjectResponse to %s (attempt %d of %d) in %.3fs: %s",
                             prepared.route, attempt + 1, retry.total + 1, delay, reason)
                    if body.replayable:
                        body.rewind()
                    await asyncio.sleep(delay)
                    if progress is not None and body.length:
                        progress(0, body.length)
        finally:
            body.close()

    async def _attempt(self, key: Tuple[str, str, int], prepared: PreparedRequest,
                       progress: Optional[Callable[[int, int], Any]], start: float, attempt: int) -> Result:
        try:
            conn, reused = await self._pool.acquire(key, self._timeout.connect)
        except TransportError as exc:
            from ..errors import CertificateError

            raise _AttemptFailed(exc, _policy.Attempt(
                connected=False, certificate_rejected=isinstance(exc, CertificateError),
                client_closed=self._pool.closed, detail=str(exc))) from None
        reply_fut = conn.begin()
        wait = self._timeout.read
        try:
            theirs: Optional[BaseException] = None
            try:
                outcome = await self._write(conn, prepared, progress, wait)
            except _outcome.CallerRaised as carried:  # the body's source or progress: unchanged,
                theirs = carried.error                # no failed connection (never retried)
            except TransportError as exc:
                await self._send_failed(conn, reply_fut, exc, reused)
            if theirs is not None:
                raise theirs
            if reply_fut.done():  # the reply came (or failed) while the body went out
                try:
                    resp = reply_fut.result()
                except TransportError as exc:
                    exc.bytes_sent = outcome.body_sent
                    raise
            else:
                # No task or shield: the pool's deadline timer fails the reply's future.
                self._pool.watch(conn, wait)
                try:
                    resp = await reply_fut
                except TransportError as exc:
                    exc.bytes_sent = outcome.body_sent
                    raise
                finally:
                    self._pool.unwatch(conn)
        except BaseException:  # errors and cancellation: a RST, never a completed cut body
            conn.close(abort=True)
            drop_reply(reply_fut)
            raise
        if resp.keep_alive and not conn.stale:
            self._pool.release(conn)
        else:
            conn.close()
        return judge_reply(resp, prepared, outcome, start, attempt, reused)

    async def _send_failed(self, conn: AsyncConnection, reply_fut: asyncio.Future,
                           exc: TransportError, reused: bool) -> None:
        """Sending failed: an early reply already parsed (or arriving within a moment after a
        reset) is the error to show; the connection is closed; the facts go to the policy."""
        if exc.request_sent and not reply_fut.done() and not isinstance(exc, TimeoutError):
            # asyncio.wait: neither cancels the reply's future on the timeout nor swallows a
            # cancellation of the call (which _attempt then turns into an abort).
            await asyncio.wait((reply_fut,), timeout=min(0.25, self._timeout.read))
        early = None
        if reply_fut.done() and not reply_fut.cancelled() and reply_fut.exception() is None:
            early = reply_fut.result()
        conn.close(abort=True)
        if early is not None and early.status >= 300:
            raise _AttemptFailed(parse_error(early.status, early.body, early.headers), _policy.Attempt(
                True, reused, exc.request_sent, True, early.status, detail=str(exc))) from None
        raise _AttemptFailed(exc, _policy.Attempt(True, reused, exc.request_sent, True, 0,
                                                  detail=str(exc))) from None

    @staticmethod
    async def _write(conn: AsyncConnection, prepared: Any,
                     progress: Optional[Callable[[int, int], Any]], wait: float) -> _outcome.SendOutcome:
        """Write head and body; the CRC-64 of the body on the way. TransportError on failure."""
        out = _outcome.SendOutcome()
        body = prepared.body
        total = body.length
        tick = _outcome.guarded(_outcome.Progress(progress, total)) if progress is not None and total else None
        loop = asyncio.get_running_loop()
        crc_fut: Optional[asyncio.Future] = None
        try:
            if isinstance(body, _AsyncIterBody):
                try:
                    first = await body.first()  # a bad first item costs no byte on the wire
                except OSError as exc:
                    raise _outcome.CallerRaised(exc) from None
            crc = 0
            if type(body) is _body.MemoryBody and total + len(prepared.head) <= _outcome.SMALL_BODY:
                # Head and a small body in one write (one send, one TCP segment or TLS record).
                conn.write(prepared.head + body.view if total else prepared.head)
                out.head_sent = len(prepared.head)
                crc = body.crc if body.crc is not None else impl.crc64(body.view) if total else 0
                out.body_sent = total
                if tick is not None:
                    tick(total)
                await conn.drain(wait)
                out.crc64 = crc
                out.complete = True
                return out
            conn.write(prepared.head)
            out.head_sent = len(prepared.head)
            if type(body) is _body.MemoryBody:
                view = body.view
                known = body.crc
                if known is None and total >= HASH_OFF_LOOP:
                    crc_fut = loop.run_in_executor(None, impl.crc64, view[:])  # its own export
                    known = -1
                # Plain TCP: write-buffer limits 0 for the body, so each piece is written when
                # the transport holds nothing: the kernel takes it straight from the caller's
                # buffer (asyncio copies only what it could not send at once).
                chunk = _body.CHUNK
                if conn.plain:
                    conn.transport.set_write_buffer_limits(high=0, low=0)
                for off in range(0, total, chunk):
                    piece = view[off:off + chunk]
                    if known is None:
                        crc = impl.crc64(piece, crc)
                    conn.write(piece)
                    await conn.drain(wait)
                    out.body_sent += len(piece)
                    if tick is not None:
                        tick(out.body_sent)
                await conn.drain(wait)
                if conn.plain and not conn.lost:
                    conn.transport.set_write_buffer_limits()
                if crc_fut is not None:
                    crc = await crc_fut
                    crc_fut = None
                elif body.crc is not None:
                    crc = body.crc
            elif isinstance(body, _body.FileBody) and body.fd is not None:
                crc = await AsyncClient._send_file(conn, body, out, tick, wait, loop)
            else:
                digest = impl.crc64 if body.crc is None else None
                if isinstance(body, _body.FileBody):
                    pieces = AsyncClient._file_pieces(body, loop)
                elif isinstance(body, _AsyncIterBody):
                    pieces = body.chunks(first)
                else:
                    pieces = _aiter_sync(body.chunks())
                async for piece in _theirs(pieces):
                    if digest is not None:
                        crc = digest(piece, crc)
                    conn.write(piece)
                    await conn.drain(wait)
                    out.body_sent += len(piece)
                    if tick is not None:
                        tick(out.body_sent)
                if body.crc is not None:
                    crc = body.crc
            out.crc64 = crc
        except (OSError, ConnectionLost) as exc:
            what = "sending the request"
            sent = out.head_sent > 0
            if isinstance(exc, socket.timeout):
                raise TimeoutError(f"{what} timed out", request_sent=sent, bytes_sent=out.body_sent) from None
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise TransportError(f"{what} failed: {reason}", request_sent=sent,
                                 bytes_sent=out.body_sent) from None
        finally:
            if crc_fut is not None:
                crc_fut.cancel()
        out.complete = True
        return out

    @staticmethod
    async def _send_file(conn: AsyncConnection, body: _body.FileBody, out: _outcome.SendOutcome,
                         tick: Any, wait: float, loop: asyncio.AbstractEventLoop) -> int:
        """A regular file in FILE_PIECE pieces, through two reused buffers: a worker thread
        preads (and hashes) the next piece into one while the loop writes the other. A buffer
        is refilled only once the transport holds none of it: on plain TCP the write-buffer
        limits are 0 for the body (the protocol is paused until every byte is in the kernel;
        asyncio may keep a reference to what it was given, not a copy); over TLS the piece is
        encrypted, hence copied, as it is written. Memory: two pieces, whatever the file size.
        Returns the body's CRC-64."""
        fd = body.fd
        pos, end = body.start, body.start + body.length
        size = min(FILE_PIECE, body.length)
        bufs = (bytearray(size), bytearray(size))
        views = (memoryview(bufs[0]), memoryview(bufs[1]))
        digest = body.crc is None
        crc = 0
        job: Optional[asyncio.Future] = None
        if pos < end:
            job = loop.run_in_executor(None, _read_piece, fd, bufs[0], pos, min(size, end - pos), crc, digest, end)
        i = 0
        plain = conn.plain
        if plain:
            conn.transport.set_write_buffer_limits(high=0, low=0)
        try:
            while job is not None:
                try:
                    n, crc = await job
                except OSError as exc:  # reading the caller's file
                    job = None
                    raise _outcome.CallerRaised(exc) from None
                job = None
                pos += n
                if pos < end:
                    job = loop.run_in_executor(None, _read_piece, fd, bufs[1 - i], pos, min(size, end - pos),
                                               crc, digest, end)
                conn.write(views[i][:n] if plain else bytes(views[i][:n]))
                await conn.drain(wait)
                out.body_sent += n
                if tick is not None:
                    tick(out.body_sent)
                i = 1 - i
        except BaseException:
            if job is not None:  # a thread may still be filling a buffer: it is not released
                job.cancel()
            raise
        if plain and not conn.lost:
            conn.transport.set_write_buffer_limits()
        for v in views:
            v.release()
        body.seek_past()
        return crc if digest else body.crc

    @staticmethod
    async def _file_pieces(body: _body.FileBody, loop: asyncio.AbstractEventLoop):  # type: ignore[no-untyped-def]
        """The file's ``length`` bytes, read in the executor one fresh piece at a time (a
        piece handed to the transport is never overwritten). A cancelled call returns once
        the read under way is over (the caller's stream is theirs again)."""
        remaining = body.length
        read = body.fobj.read
        while remaining > 0:
            data = await _in_worker(functools.partial(read, min(FILE_PIECE, remaining)))
            if not data:
                raise InvalidRequestError(
                    f"body: the file ended {remaining} bytes before the declared length", field="body")
            remaining -= len(data)
            yield memoryview(data)

    # ------------------------------------------------------------ lifecycle
    async def close(self) -> None:
        """Close every pooled connection; the client cannot send afterwards."""
        self._pool.close()
        self._builder.close()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


def _small_request(route: str, status: int, head: bytes, data: bytes, crc: int) -> PreparedRequest:
    body = _body.MemoryBody(memoryview(data))
    body.crc = crc
    return PreparedRequest(head, body.length, route, status, body)


async def _theirs(pieces: Any) -> Any:
    """The pieces of the caller's body (an iterator, a file read in the executor), with the
    OSErrors of their source carried as _outcome.CallerRaised (no failed connection)."""
    it = pieces.__aiter__()
    while True:
        try:
            piece = await it.__anext__()
        except StopAsyncIteration:
            return
        except OSError as exc:
            raise _outcome.CallerRaised(exc) from None
        yield piece


def _read_piece(fd: int, buf: bytearray, pos: int, n: int, crc: int, digest: bool, end: int) -> Tuple[int, int]:
    """(worker thread) pread ``n`` bytes at ``pos`` into ``buf``, and their CRC-64 after ``crc``
    (``end``: where the body ends in the file, for the message when the file ends first)."""
    got = 0
    with memoryview(buf) as mv:
        while got < n:
            k = os.preadv(fd, [mv[got:n]], pos + got)
            if k <= 0:
                raise InvalidRequestError(
                    f"body: the file ended {end - pos - got} bytes before the declared length", field="body")
            got += k
        if digest:
            crc = impl.crc64(mv[:n], crc)
    return n, crc


async def _in_worker(fn: Callable[[], Any], discard: Optional[Callable[[Any], Any]] = None) -> Any:
    """``fn()`` in the loop's default executor. A cancellation is raised only once ``fn`` has
    returned (its result then given to ``discard``): the thread cannot be stopped, and it
    reads (and seeks) the caller's body, which the caller may use again as soon as the call
    is over."""
    job = asyncio.get_running_loop().run_in_executor(None, fn)
    try:
        return await asyncio.shield(job)
    except asyncio.CancelledError:
        while not job.done():
            try:
                await asyncio.wait((job,))
            except asyncio.CancelledError:  # cancelled again: still the one CancelledError below
                pass
        if not job.cancelled() and job.exception() is None and discard is not None:
            discard(job.result())
        raise


def _close_prepared(prepared: PreparedRequest) -> None:
    prepared.body.close()


async def _aiter_sync(it: Any):  # type: ignore[no-untyped-def]
    for piece in it:
        yield piece


__all__ = ["AsyncClient"]
