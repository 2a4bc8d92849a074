"""Object keys, the files under ``--root`` they name, Range, and the original object's digests.

Rules (a path is hostile until proven otherwise):
* the raw request target is percent-decoded once, then must be UTF-8 without control
  characters (NUL included); ``%2F`` is a '/' like any other, so encoded and plain forms
  are judged alike (``..%2f``, ``%2e%2e`` and ``..`` are the same key);
* a first segment in the access point alias form (``<name>-<hash>-opapalias``) is the
  path-style bucket, not part of the key;
* the key may not be empty, start with '/', hold a backslash, an empty segment, '.' or
  '..', or pass 1023 bytes: refused with 400 before the disk is touched;
* the file is then resolved with ``os.path.realpath`` (symlinks followed) and must lie
  inside the real root (403 otherwise) and be a regular file (404 ``NoSuchKey`` otherwise).
"""
from __future__ import annotations

import asyncio
import hashlib
import mimetypes
import os
import re
import stat
from typing import BinaryIO, Dict, Optional, Tuple
from urllib.parse import unquote_to_bytes

from ..checksum import crc64
from .oss import Refusal

MAX_KEY_BYTES = 1023
ALIAS_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,50}[a-z0-9])?-[a-z0-9]{1,40}-opapalias")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_RANGE_RE = re.compile(r"bytes=([0-9]*)-([0-9]*)")
READ_CHUNK = 1 << 20


def _bad_name(message: str, reason: str) -> Refusal:
    return Refusal(400, "InvalidObjectName", message, reason)


def parse_target(raw_path: str) -> Tuple[str, Optional[str]]:
    """(key, alias or None) of a raw request path (the target before '?'); Refusal if the
    path is not an acceptable object name."""
    if not raw_path.startswith("/"):
        raise Refusal(400, "InvalidURI", "The request target must be an absolute path.",
                      "target not an absolute path")
    try:
        decoded = unquote_to_bytes(raw_path).decode("utf-8")
    except UnicodeDecodeError:
        raise _bad_name("The object name is not valid UTF-8.", "key not UTF-8") from None
    if _CONTROL.search(decoded):
        raise _bad_name("The object name holds a control character.", "control character in key")
    rest = decoded[1:]
    alias = None
    first, slash, after = rest.partition("/")
    if slash and ALIAS_RE.fullmatch(first):
        alias, rest = first, after
    check_key(rest)
    return rest, alias


def check_key(key: str) -> None:
    """Refusal unless ``key`` is a plain relative name that cannot leave the root."""
    if not key:
        raise _bad_name("The object name is empty.", "empty key")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise _bad_name(f"The object name is longer than {MAX_KEY_BYTES} bytes.", "key too long")
    if key.startswith("/"):
        raise _bad_name("The object name must not start with '/'.", "absolute key")
    if "\\" in key:
        raise _bad_name("The object name must not hold a backslash.", "backslash in key")
    if _CONTROL.search(key):
        raise _bad_name("The object name holds a control character.", "control character in key")
    segments = key.split("/")
    if any(s in (".", "..") for s in segments):
        raise _bad_name("The object name must not hold '.' or '..' segments.", "dot segment in key")
    if any(not s for s in segments[:-1]):
        raise _bad_name("The object name must not hold an empty segment ('//').", "empty segment in key")


def resolve(root: str, key: str) -> Tuple[str, os.stat_result]:
    """The real path and stat of the regular file ``key`` names under the real path ``root``.

    ``key`` must have passed :func:`check_key`. 404 ``NoSuchKey`` when there is no such
    file (a directory, a "dir/" key, a device, a broken link); 403 when the name resolves
    outside the root (through a symlink).
    """
    candidate = os.path.join(root, *key.split("/"))
    real = os.path.realpath(candidate)
    if os.path.commonpath((root, real)) != root or real == root:
        raise Refusal(403, "AccessDenied", "The object resolves outside the emulator's root.",
                      "key resolves outside root")
    try:
        st = os.stat(real)
    except (OSError, ValueError):
        st = None
    if key.endswith("/") or st is None or not stat.S_ISREG(st.st_mode):
        raise Refusal(404, "NoSuchKey", "The specified key does not exist.", "no such key")
    return real, st


#: a position beyond any object: what a number of more digits than this stands for
BEYOND = 1 << 64


def range_number(digits: str) -> int:
    """The value of a Range / Content-Range position (ASCII digits). One longer than any
    object's size is :data:`BEYOND`, so that ``int`` never meets a string past its digit
    limit (4300 digits raised ValueError: a 500 instead of a 416)."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= 19 else BEYOND


def open_verified(root: str, real: str) -> Tuple[BinaryIO, os.stat_result]:
    """Open the file :func:`resolve` found at ``real`` and check the file that was opened, not
    the path: between the check and the open, a directory on the path may have been replaced
    by a symlink pointing out of the root. The file opened must be a regular file (opened
    without blocking, so a FIFO put there is no hang) inside ``root`` (where the kernel says
    the descriptor points, /proc/self/fd; elsewhere: the path, still free of symlinks, still
    names the file opened). Refusal 403 or 404 otherwise."""
    try:
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0))
    except (OSError, ValueError):
        raise Refusal(404, "NoSuchKey", "The specified key does not exist.", "file vanished") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Refusal(404, "NoSuchKey", "The specified key does not exist.", "no such key")
        try:
            where: Optional[str] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            where = None
        if where is not None:
            inside = where.startswith("/") and os.path.commonpath((root, where)) == root
        else:  # pragma: no cover - no /proc
            now = os.stat(real)
            inside = os.path.realpath(real) == real and (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino)
        if not inside:
            raise Refusal(403, "AccessDenied", "The object resolves outside the emulator's root.",
                          "opened file outside root")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb"), st
    except BaseException:
        os.close(fd)
        raise


def parse_range(header: Optional[str], size: int) -> Optional[Tuple[int, int]]:
    """(first, last) of a single 'bytes=a-b' / 'a-' / '-n' range within ``size`` bytes.

    None when there is no Range or it is not one OSS honours (several ranges, another unit,
    malformed): the whole object is served, as OSS does. Refusal 416 when it cannot be
    satisfied.
    """
    if header is None:
        return None
    m = _RANGE_RE.fullmatch(header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        return None
    first_s, last_s = m.groups()
    if first_s:
        first = range_number(first_s)
        last = range_number(last_s) if last_s else size - 1
        if last_s and last < first:
            return None
        if first >= size:
            raise _unsatisfiable(size)
        return first, min(last, size - 1)
    suffix = range_number(last_s)
    if suffix == 0 or size == 0:
        raise _unsatisfiable(size)
    return max(0, size - suffix), size - 1


def _unsatisfiable(size: int) -> Refusal:
    return Refusal(416, "InvalidRange", "The requested range cannot be satisfied.",
                   "range not satisfiable", {"Content-Range": f"bytes */{size}"})


def content_type(key: str) -> str:
    guessed, _ = mimetypes.guess_type(key, strict=False)
    return guessed or "application/octet-stream"


class Digests:
    """MD5 (the ETag) and CRC-64 of files, computed streaming on a worker thread and kept per
    (path, inode, mtime, size); concurrent requests for one file share one computation."""

    MAX_ENTRIES = 256

    def __init__(self) -> None:
        self._done: Dict[Tuple[str, int, int, int], Tuple[str, int]] = {}
        self._running: Dict[Tuple[str, int, int, int], "asyncio.Future[Tuple[str, int]]"] = {}

    async def get(self, path: str, st: os.stat_result) -> Tuple[str, int]:
        """(ETag value with quotes, crc64) of the file at ``path`` as ``st`` describes it."""
        ident = (path, st.st_ino, st.st_mtime_ns, st.st_size)
        found = self._done.get(ident)
        if found is not None:
            return found
        running = self._running.get(ident)
        if running is None:
            loop = asyncio.get_running_loop()
            running = loop.run_in_executor(None, _digest_file, path, (st.st_dev, st.st_ino))
            self._running[ident] = running
            try:
                result = await running
            finally:
                del self._running[ident]
            if len(self._done) >= self.MAX_ENTRIES:
                del self._done[next(iter(self._done))]
            self._done[ident] = result
            return result
        return await asyncio.shield(running)


def _digest_file(path: str, ident: Tuple[int, int]) -> Tuple[str, int]:
    """The digests of the file at ``path``, which must still be the file ``ident`` (device,
    inode) names: OSError if it was replaced since it was checked and opened."""
    md5 = hashlib.md5()
    crc = 0
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        if (st.st_dev, st.st_ino) != ident:
            raise OSError(f"{os.path.basename(path)!r} was replaced while it was read")
        while True:
            chunk = f.read(READ_CHUNK)
            if not chunk:
                break
            md5.update(chunk)
            crc = crc64(chunk, crc)
    return f'"{md5.hexdigest().upper()}"', crc
