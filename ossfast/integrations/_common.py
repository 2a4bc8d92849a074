"""What both SDK integrations share; imports no SDK."""
from __future__ import annotations

import tempfile
import threading
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
