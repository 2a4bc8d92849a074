"""What both SDK integrations share; imports no SDK."""
from __future__ import annotations

import contextvars
import tempfile
import threading
import weakref
from typing import Any, Dict, Iterable, List, Optional, Tuple

from ..credentials import Credentials
from ..request import _MANAGED, FWD_HEADERS

#: lower-case names of the headers ossfast writes itself
MANAGED = _MANAGED

#: bodies of unknown length are spooled in memory up to this size, then to a temporary file
SPOOL_MEMORY = 8 * 1024 * 1024

#: lower-cased forwarded header name -> ossfast keyword ("x-oss-fwd-header-content-type" -> "content_type")
FWD_KEYWORDS = {name.lower(): kw for kw, name in FWD_HEADERS}


class CredentialsCache:
    """Turns (key id, secret, token) into ``ossfast.Credentials``, giving back the same
    object while the three are unchanged (ossfast caches its signers per object)."""

    __slots__ = ("_last", "_lock")

    def __init__(self) -> None:
        self._last: Tuple[Optional[Tuple[str, str, Optional[str]]], Optional[Credentials]] = (None, None)
        self._lock = threading.Lock()

    def get(self, access_key_id: str, access_key_secret: str, security_token: Optional[str]) -> Credentials:
        ident = (access_key_id, access_key_secret, security_token or None)
        last = self._last
        if last[0] == ident:
            return last[1]  # type: ignore[return-value]
        with self._lock:
            last = self._last
            if last[0] != ident:
                last = self._last = (ident, Credentials(*ident))
        return last[1]  # type: ignore[return-value]

    def __repr__(self) -> str:  # never the keys
        return "<CredentialsCache>"


def spool(iterable: Iterable[Any]) -> Tuple[Any, int]:
    """Copy an iterable of bytes (str items encoded as UTF-8, as urllib3's chunked
    writer does) into a temporary file, kept in memory up to ``SPOOL_MEMORY`` bytes;
    return the file, rewound, and its length. The caller closes the file."""
    f = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)
    n = 0
    try:
        for chunk in iterable:
            if isinstance(chunk, str):
                chunk = chunk.encode("utf-8")
            n += f.write(chunk)
        f.seek(0)
    except BaseException:
        f.close()
        raise
    return f, n


#: headers the SDK overwrites with its own signing headers: a caller's copy is dropped
SIGNING_HEADERS = frozenset({"date", "authorization"})
#: what the wire-level request fields become
ROUTE, TOKEN, STATUS = "x-oss-request-route", "x-oss-request-token", "x-oss-fwd-status"


class Unsupported(Exception):
    """The request needs something ossfast does not send (the caller falls back to the SDK)."""


def split_headers(headers: Any, managed: frozenset) -> Tuple[Dict[str, Any], List[Tuple[str, str]], Dict[str, str]]:
    """SDK-style WGOR headers as ossfast arguments: (keywords, extra headers, request fields).

    ``x-oss-fwd-header-<Name>`` of the ten forwarded headers become their keywords,
    Content-MD5 and Content-Length ``content_md5``/``content_length``; route, token and
    forwarded status are returned apart; Date and Authorization are dropped (the SDK
    overwrites them); headers whose value is None are dropped (requests does so). A header
    in ``managed`` (lower-case names ossfast writes itself) raises Unsupported; the rest are
    extra headers, values as str."""
    keywords: Dict[str, Any] = {}
    extra: List[Tuple[str, str]] = []
    fields: Dict[str, str] = {}
    if not headers:
        return keywords, extra, fields
    for name, value in headers.items():
        if value is None:
            continue
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        elif not isinstance(value, str):
            value = str(value)
        low = name.lower() if isinstance(name, str) else name
        kw = FWD_KEYWORDS.get(low)
        if kw is not None:
            keywords[kw] = value
        elif low in (ROUTE, TOKEN, STATUS):
            fields[low] = value
        elif low == "content-md5":
            keywords["content_md5"] = value
        elif low == "content-length":
            try:
                keywords["content_length"] = int(value)
            except ValueError:
                raise Unsupported(f"Content-Length {value!r}") from None
        elif low in SIGNING_HEADERS:
            continue
        elif low in managed:
            raise Unsupported(name)
        else:
            extra.append((name, value))
    return keywords, extra, fields


def has_length(data: Any) -> bool:
    """Does ossfast learn ``data``'s length by itself (a buffer, or a file it can measure)?"""
    try:
        memoryview(data).release()
        return True
    except TypeError:
        pass
    if hasattr(data, "read"):
        try:
            return bool(data.seekable())
        except Exception:
            return False
    return False


# ---------------------------------------------------------------- an SDK's CRC-64, cheap inside our calls
#
# Both SDKs check uploads and downloads with a CRC-64 object (``oss2.utils.Crc64``,
# ``alibabacloud_oss_v2.crc.Crc64``) whose constructor builds crcmod's 256-entry table in
# Python (200-300 us, more than a whole small request through ossfast), and which hashes
# with crcmod (about 0.4 GB/s). Neither SDK has a hook for it, so while an ossfast session
# (oss2 ``Session``, v2 ``HttpClient``) made with ``fast_crc`` exists, the SDK's class is
# replaced by a subclass (``ScopedCrc`` first in its bases) computing the same values. Each
# instance decides when it is first fed bytes (or asked for its crcmod object): inside one
# of those sessions' calls in this thread or asyncio task (``CrcScope.enter``, a context
# variable, so an async call's scope follows its task across awaits and never leaks into
# another task on the same thread; or the reply bytes just handed out, ``CrcScope.mark``)
# it starts from a shared copy of the table and hashes with
# ossfast's ``crc64``; anywhere else it becomes exactly the SDK's own object, built by the
# SDK's own ``__init__``, at the SDK's cost. The original class is put back when the last
# lease is released, unless something else replaced it meanwhile.

CRC64_MASK = (1 << 64) - 1


def _native_crc64() -> Any:
    """ossfast's crc64 where it is native code, else None (then crcmod's C update is used)."""
    from .._backend import impl

    return impl.crc64 if impl.NAME == "native" else None


class CrcScope:
    """One SDK's CRC-64 class (``getattr(module, name)``) and where its scoped subclass
    hashes fast. ``crc_attr``: the attribute in which the SDK's object keeps its
    ``crcmod.Crc``. ``scoped`` (the subclass) is set by the integration."""

    def __init__(self, module: Any, name: str, crc_attr: str) -> None:
        self.module = module
        self.name = name
        self.crc_attr = crc_attr
        self.original: Any = getattr(module, name)  # the SDK's class, as it was at import
        self.scoped: Any = None
        # per thread and per asyncio task (a task runs in its own copy of the context):
        # our calls in progress, and the reply bytes just handed out as (piece, id(owner))
        self._depth: contextvars.ContextVar[int] = contextvars.ContextVar(f"ossfast_crc_depth_{name}", default=0)
        self._piece: contextvars.ContextVar[Optional[Tuple[Any, int]]] = contextvars.ContextVar(
            f"ossfast_crc_piece_{name}", default=None)
        self.users = 0
        self.template: Any = None  # a crcmod.Crc with the SDK's parameters, built once
        self.update = _native_crc64()
        self._lock = threading.Lock()

    def enter(self, n: int) -> None:
        """A call of ours starts in this thread or task (``n`` 0: one made without fast_crc).
        An async call enters and exits in its own task, around its awaits."""
        if n:
            self._depth.set(self._depth.get() + n)

    def exit(self, n: int) -> None:
        if n:
            self._depth.set(self._depth.get() - n)

    def mark(self, piece: Any, owner: Any) -> None:
        """``piece`` (reply bytes) was just handed out by ``owner``: a CRC fed it next is ours."""
        self._piece.set((piece, id(owner)))

    def unmark(self, owner: Any) -> None:
        marked = self._piece.get()
        if marked is not None and marked[1] == id(owner):
            self._piece.set(None)

    def in_scope(self, data: Any) -> bool:
        """Is a CRC fed ``data`` (None: no data yet) part of one of our calls in this thread or task?"""
        if self._depth.get() > 0:
            return True
        marked = self._piece.get()
        if marked is None or data is None:
            return False
        self._piece.set(None)  # asked once: the reference is not kept
        return marked[0] is data

    def crcmod_copy(self, init_crc: int) -> Any:
        """A crcmod.Crc as the SDK's ``__init__(init_crc)`` makes it, on the shared table."""
        template = self.template
        if template is None:
            template = self.template = getattr(self.original(0), self.crc_attr)
        c = template.new()
        c.initCrc = c.crcValue = init_crc & CRC64_MASK
        return c

    def lease(self, owner: Any) -> Any:
        """The scoped class is in place until the returned finalizer is called (once) or
        ``owner`` is collected."""
        with self._lock:
            self.users += 1
            if self.users == 1 and getattr(self.module, self.name) is self.original:
                setattr(self.module, self.name, self.scoped)
        return weakref.finalize(owner, self._release)

    def _release(self) -> None:
        with self._lock:
            self.users -= 1
            if self.users == 0 and getattr(self.module, self.name) is self.scoped:
                setattr(self.module, self.name, self.original)


class ScopedCrc:
    """Mixin put first in the bases of an SDK's CRC-64 subclass (see ``CrcScope``); the
    subclass sets ``_SCOPE`` and ``_LAZY`` (the attributes of the SDK's object that start it
    when asked for before any data) and may extend ``_start_fast``."""

    _SCOPE: CrcScope
    _LAZY: Tuple[str, ...] = ()

    def __init__(self, init_crc: int = 0) -> None:  # noqa: D107 - the SDKs' signature
        self._init_crc = init_crc
        self._fast: Optional[bool] = None  # decided at the first use

    def _start(self, fast: bool) -> None:
        scope = self._SCOPE
        if not fast:
            scope.original.__init__(self, self._init_crc)  # the SDK's own object, at its cost
            self._fast = False
            return
        setattr(self, scope.crc_attr, scope.crcmod_copy(self._init_crc))
        self._start_fast()
        self._fast = True

    def _start_fast(self) -> None:
        """What else the SDK's ``__init__`` sets, cheaply (the crcmod object is in place)."""

    def __getattr__(self, name: str) -> Any:  # the SDK's attributes asked for before any data
        if name in self._LAZY and self.__dict__.get("_fast", True) is None:
            self._start(self._SCOPE.in_scope(None))
            return self.__dict__[name]
        raise AttributeError(name)

    def update(self, data: Any) -> None:
        fast = self._fast
        if fast is None:
            self._start(self._SCOPE.in_scope(data))
            fast = self._fast
        c = getattr(self, self._SCOPE.crc_attr)
        update = self._SCOPE.update
        if fast and update is not None:
            try:
                c.crcValue = update(data, c.crcValue)
                return
            except TypeError:  # not a buffer (a str): crcmod's update says what it says
                pass
        c.update(data)

    def _value(self) -> int:
        if self._fast is None:  # nothing hashed yet: crcmod's value for no data
            return self._init_crc & CRC64_MASK
        return getattr(self, self._SCOPE.crc_attr).crcValue
