"""Body sources: what a WGOR body can be, and how it is measured and replayed.

A body is classified once, before any byte is sent:

* ``MemoryBody``: bytes, bytearray, memoryview, mmap, array... -- one
  contiguous buffer, sent as memoryview slices, never copied. Replayable.
* ``FileBody``: a file object. A real file (has ``fileno()`` on a regular
  file) is read with pread: whole when small, else piece by piece into one
  reused buffer on plain TCP (transport._send_file_plain); anything else,
  and TLS, read in chunks into one reused buffer. Replayable when seekable.
* ``IterBody``: an iterable of buffers with a declared ``content_length``.
  The first item is fetched before the head is sent, so a bad first item
  costs no byte on the wire; later items are checked as they come, and the
  request is aborted (never completed) when the total is short or long.
  Replayable only until its second item has been taken.
"""
from __future__ import annotations

import fcntl
import io
import os
import stat

from .errors import InvalidRequestError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a cold start pays ~3 ms for it)
if TYPE_CHECKING:
    from typing import Any, Iterator, Optional

#: Chunk size for memory and file bodies: one digest call and one progress call per chunk.
CHUNK = 4 * 1024 * 1024


def as_buffer(data: Any) -> Optional[memoryview]:
    """A flat byte memoryview of ``data`` if it is a contiguous buffer, else None."""
    try:
        mv = memoryview(data)
    except TypeError:
        return None
    except ValueError as exc:  # a closed mmap, a released memoryview: bad input, not a crash
        raise InvalidRequestError(f"body: {exc}", field="body") from None
    if not mv.c_contiguous:
        raise TypeError(
            "body: a non-contiguous buffer cannot be sent without a copy; pass bytes(view) or a "
            "contiguous buffer"
        )
    if mv.ndim != 1 or mv.format != "B":
        mv = mv.cast("B")
    return mv


def chunk_view(piece: Any) -> memoryview:
    """A piece of a body of unknown length (sent chunked) as a flat byte view: a str as
    UTF-8, as requests sends it; TypeError for anything not bytes-like."""
    if isinstance(piece, str):
        return memoryview(piece.encode("utf-8"))
    mv = as_buffer(piece)
    if mv is None:
        raise TypeError(f"body: a body of unknown length yielded {type(piece).__name__}; it must "
                        "yield bytes-like objects (or str)")
    return mv


#: ``Body.crc`` of a body whose CRC-64 no one reads (the generic ``request()`` of both drivers,
#: the SDKs' chunked bodies): the send paths skip hashing it, and report this as its CRC.
UNHASHED = -1


class Body:
    """Base: ``length`` (int), ``replayable`` (bool), ``kind`` (str)."""

    kind = "body"
    length: int = 0
    replayable = True
    #: CRC-64/XZ of the whole body when already known (computed with Content-MD5), else None;
    #: UNHASHED when the sender does not want it (nothing then hashes the body)
    crc: Optional[int] = None

    def rewind(self) -> None:
        """Get ready to send again from the start (only when ``replayable``)."""

    def close(self) -> None:
        """Drop references taken for the send."""


class MemoryBody(Body):
    kind = "memory"

    def __init__(self, view: memoryview) -> None:
        self.view = view
        self.length = len(view)

    def close(self) -> None:
        # Release our export so a caller's bytearray can be resized again.
        self.view.release()


EMPTY = memoryview(b"")


class FileBody(Body):
    kind = "file"

    def __init__(self, fobj: Any, content_length: Optional[int]) -> None:
        self.fobj = fobj
        closed = getattr(fobj, "closed", False)
        if closed:
            raise InvalidRequestError("body: the file is closed", field="body")
        readable = getattr(fobj, "readable", None)
        try:
            ok = readable() if readable is not None else True
        except (OSError, ValueError):
            ok = False
        if not ok:
            raise InvalidRequestError("body: the file is not open for reading (open it with 'rb')",
                                      field="body")
        self.fd: Optional[int] = None
        write_only = False
        char_device = False
        self.start = 0
        size: Optional[int] = None
        try:
            fd = fobj.fileno()
            st = os.fstat(fd)
            # Any descriptor, not only a regular file's: the write end of a pipe opened 'rb'
            # says readable() but fails at the first read, after the head went out.
            write_only = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY
            # /dev/zero, /dev/urandom, a tty: seek() "works" and the end is 0; their bytes are
            # read as from a pipe (content_length says how many), and never replayed.
            char_device = stat.S_ISCHR(st.st_mode)
            if stat.S_ISREG(st.st_mode) and _reads_its_descriptor(fobj):
                self.fd = fd
                size = st.st_size
        except (AttributeError, OSError, io.UnsupportedOperation, ValueError):
            self.fd = None
        if write_only:
            raise InvalidRequestError("body: the file is not open for reading (open it with 'rb')",
                                      field="body")
        seekable = False
        try:
            seekable = not char_device and bool(fobj.seekable())
        except (AttributeError, OSError, ValueError):
            seekable = False
        if seekable:
            try:
                self.start = fobj.tell()
            except (OSError, ValueError) as exc:
                raise InvalidRequestError(f"body: cannot position the file ({exc})", field="body") from None
            if size is None:
                try:
                    size = fobj.seek(0, io.SEEK_END)
                except (OSError, ValueError):
                    size = None  # no seek from the end (a gzip file): content_length must say
                try:
                    fobj.seek(self.start)
                except (OSError, ValueError) as exc:
                    raise InvalidRequestError(f"body: cannot position the file ({exc})",
                                              field="body") from None
        if size is not None:
            available = max(0, size - self.start)
            if content_length is not None:
                if content_length > available:
                    raise InvalidRequestError(
                        f"content_length: {content_length} declared but the file has only "
                        f"{available} bytes from its current position", field="content_length")
                self.length = content_length
            else:
                self.length = available
        else:
            if content_length is None:
                raise InvalidRequestError(
                    "content_length: required for a file object that cannot seek (or whose size "
                    "cannot be found)", field="content_length")
            self.length = content_length
        self.replayable = seekable
        self.readinto = getattr(fobj, "readinto", None)

    def check_open(self) -> None:
        """InvalidRequestError when the file was closed since the body was made (prepare(),
        then the file closed, then send()): its descriptor may name another file by now."""
        if getattr(self.fobj, "closed", False):
            raise InvalidRequestError("body: the file was closed before the request was sent",
                                      field="body")

    def seek_past(self) -> None:
        """Leave the file positioned after the bytes sent (what a read would have done), when
        the body was sent by position (pread, sendfile) rather than by reading it."""
        try:
            self.fobj.seek(self.start + self.length)
        except (OSError, ValueError, AttributeError):
            pass

    def rewind(self) -> None:
        self.fobj.seek(self.start)

    def read_chunks(self, buf: bytearray) -> Iterator[memoryview]:
        """Yield views of ``buf`` filled from the file, ``length`` bytes in all, or raise."""
        remaining = self.length
        mv = memoryview(buf)
        try:
            while remaining > 0:
                want = min(remaining, len(buf))
                if self.readinto is not None:
                    n = self.readinto(mv[:want])
                    chunk = mv[:n] if n else None
                else:
                    data = self.fobj.read(want)
                    n = len(data)
                    chunk = memoryview(data) if n else None
                if not n or chunk is None:
                    raise InvalidRequestError(
                        f"body: the file ended {remaining} bytes before the declared length", field="body")
                remaining -= n
                yield chunk
        finally:
            mv.release()


def _reads_its_descriptor(fobj: Any) -> bool:
    """True when reading ``fobj`` gives its descriptor's bytes as they are, from ``fobj.tell()``
    on (``open(path, 'rb')``, buffered or not, or tempfile's wrapper of one), so the body may
    be sent by position (pread, sendfile). False for objects that only share a descriptor:
    a gzip, bz2 or lzma file's fileno() is the compressed file's."""
    if isinstance(fobj, io.FileIO):
        return True
    if isinstance(fobj, (io.BufferedReader, io.BufferedRandom)):
        return isinstance(fobj.raw, io.FileIO)
    if type(fobj).__name__ == "_TemporaryFileWrapper":  # tempfile.NamedTemporaryFile()
        inner = getattr(fobj, "file", None)
        return inner is not None and inner is not fobj and _reads_its_descriptor(inner)
    return False


class IterBody(Body):
    kind = "iterator"

    def __init__(self, iterable: Any, content_length: int) -> None:
        self.length = content_length
        self._it = iter(iterable)
        self._first: Optional[memoryview] = None
        self._first_taken = False
        self.taken = 0  # items taken beyond the first
        self.sent = 0  # bytes handed to the sender
        self.prefetch()

    def _next(self) -> Optional[memoryview]:
        try:
            item = next(self._it)
        except StopIteration:
            return None
        mv = as_buffer(item) if not isinstance(item, str) else None
        if mv is None:
            raise TypeError(
                f"body: the iterator yielded {type(item).__name__}; it must yield bytes-like objects"
                + (" (encode str first)" if isinstance(item, str) else ""))
        return mv

    def prefetch(self) -> None:
        try:
            self._first = self._next()
        except TypeError as exc:
            raise InvalidRequestError(str(exc), field="body") from None
        if self._first is None and self.length > 0:
            raise InvalidRequestError(
                f"body: the iterator is empty but content_length={self.length}", field="body")
        if self._first is not None and len(self._first) > self.length:
            raise InvalidRequestError(
                f"body: the iterator yielded more than content_length={self.length} bytes", field="body")

    @property
    def replayable(self) -> bool:  # type: ignore[override]
        # Only while no byte of it has left: an iterator cannot be sent twice.
        return self.sent == 0 and self.taken == 0

    def rewind(self) -> None:
        self._first_taken = False

    def chunks(self) -> Iterator[memoryview]:
        """Yield exactly ``length`` bytes, never the last of them if more would follow.

        Raises InvalidRequestError (short, long) or TypeError (non-buffer item)
        before the chunk that would complete the body is yielded.
        """
        sent = 0
        total = self.length
        self._first_taken = True
        pending = self._first
        while True:
            if pending is None:
                if sent != total:
                    raise InvalidRequestError(
                        f"body: the iterator ended after {sent} of content_length={total} bytes",
                        field="body")
                return
            n = len(pending)
            if sent + n > total:
                raise InvalidRequestError(
                    f"body: the iterator yielded more than content_length={total} bytes", field="body")
            if sent + n == total:
                # Look ahead: the completing chunk goes out only once the iterator is done.
                while True:
                    self.taken += 1
                    nxt = self._next()
                    if nxt is None or len(nxt):
                        break
                if nxt is not None:
                    raise InvalidRequestError(
                        f"body: the iterator yielded more than content_length={total} bytes",
                        field="body")
                if n:
                    self.sent += n
                    yield pending
                return
            if n:
                self.sent += n
                yield pending
            sent += n
            self.taken += 1
            pending = self._next()


def classify(body: Any, content_length: Optional[int]) -> Body:
    """Turn the caller's ``body`` into a Body, validating ``content_length`` against it."""
    if content_length is not None:
        if isinstance(content_length, bool) or not isinstance(content_length, int):
            raise InvalidRequestError(
                f"content_length: must be an int, not {type(content_length).__name__}", field="content_length")
        if content_length < 0 or content_length > 5 * 1024 ** 4 * 10:
            raise InvalidRequestError(f"content_length: {content_length} is out of range", field="content_length")
    if body is None:
        body = EMPTY
    if isinstance(body, str):
        raise TypeError("body: str is not accepted; encode it first, e.g. body.encode('utf-8')")
    mv = as_buffer(body)  # one view for any buffer (mmap too, though it has read())
    if mv is not None:
        if content_length is not None and content_length != len(mv):
            raise InvalidRequestError(
                f"content_length: {content_length} declared but the body has {len(mv)} bytes",
                field="content_length")
        return MemoryBody(mv)
    if hasattr(body, "read"):
        if isinstance(body, io.TextIOBase):
            raise TypeError("body: a text-mode file is not accepted; open it in binary mode ('rb')")
        return FileBody(body, content_length)
    if isinstance(body, (dict, set, int, float)) or not hasattr(body, "__iter__"):
        raise TypeError(
            f"body: expected bytes-like, a binary file or an iterable of bytes, not {type(body).__name__}")
    if content_length is None:
        raise InvalidRequestError(
            "content_length: required when the body is an iterator", field="content_length")
    return IterBody(body, content_length)
