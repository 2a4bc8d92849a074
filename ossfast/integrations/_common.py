"""What both SDK integrations share; imports no SDK."""
from __future__ import annotations

import tempfile
import threading
from typing import Any, Iterable, Optional, Tuple

from ..credentials import Credentials
from ..request import FWD_HEADERS

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
