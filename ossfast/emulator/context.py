"""What a handler receives: the FC event (JSON bytes) and an FC-like ``context``.

The event::

    {"getObjectContext": {"inputOssUrl": "http://127.0.0.1:PORT/<alias>/<key>?x-oss-...",
                          "outputRoute": "fc-ap-01-<account>-opap.oss-<region>-internal.oss-object-process.aliyuncs.com",
                          "outputToken": "OSSV1#..."},
     "userRequest": {"url": "http://<Host>/<path>?<query>",
                     "headers": {"Range": "bytes=0-99", ...}}}

``getObjectContext`` is what OSS documents. ``userRequest`` is the emulator's addition,
shaped as S3 Object Lambda's: the client's URL and request headers (names as the client
spelled them, repeated headers joined with ", "), without what authenticates the client
(Authorization, x-oss-security-token, and presigned-URL query parameters).
"""
from __future__ import annotations

import json
from typing import Any, Iterable, Optional, Tuple
from urllib.parse import unquote

from ..credentials import Credentials

#: request headers left out of ``userRequest.headers``
HIDDEN_HEADERS = frozenset(("authorization", "proxy-authorization", "x-oss-security-token"))
#: query parameters (of a presigned client URL) left out of ``userRequest.url``
HIDDEN_PARAMS = frozenset((
    "ossaccesskeyid", "signature", "expires", "security-token", "x-oss-security-token",
    "x-oss-signature", "x-oss-signature-version", "x-oss-credential", "x-oss-date",
    "x-oss-expires", "x-oss-additional-headers", "x-oss-access-key-id",
))


class FCCredentials:
    """``context.credentials`` as the FC Python runtime gives it. ``repr`` hides the secrets."""

    __slots__ = ("access_key_id", "access_key_secret", "security_token")

    def __init__(self, creds: Credentials) -> None:
        self.access_key_id = creds.access_key_id
        self.access_key_secret = creds.access_key_secret
        self.security_token = creds.security_token

    def __repr__(self) -> str:
        return f"FCCredentials(access_key_id={self.access_key_id!r}, access_key_secret=<hidden>, " \
               f"security_token={'<hidden>' if self.security_token else None})"


class FCFunction:
    """``context.function``: the function's name, handler, memory (MB) and timeout (s)."""

    __slots__ = ("name", "handler", "memory", "timeout", "initializer")

    def __init__(self, name: str, handler: str, timeout: float) -> None:
        self.name = name
        self.handler = handler
        self.memory = 512
        self.timeout = int(timeout + 0.999)
        self.initializer = None

    def __repr__(self) -> str:
        return f"FCFunction(name={self.name!r}, handler={self.handler!r})"


class FCService:
    """``context.service``: the service the function belongs to."""

    __slots__ = ("name", "log_project", "log_store", "qualifier", "version_id")

    def __init__(self, name: str) -> None:
        self.name = name
        self.log_project = ""
        self.log_store = ""
        self.qualifier = "LATEST"
        self.version_id = ""

    def __repr__(self) -> str:
        return f"FCService(name={self.name!r})"


class FCContext:
    """The ``context`` a handler gets: ``request_id``, ``credentials``, ``function``,
    ``service``, ``region``, ``account_id``, as in the FC Python runtime."""

    __slots__ = ("request_id", "credentials", "function", "service", "region", "account_id")

    def __init__(self, request_id: str, credentials: Credentials, function: FCFunction,
                 service: FCService, region: str, account_id: str) -> None:
        self.request_id = request_id
        self.credentials = FCCredentials(credentials)
        self.function = function
        self.service = service
        self.region = region
        self.account_id = account_id

    def __repr__(self) -> str:
        return f"FCContext(request_id={self.request_id!r}, function={self.function.name!r}, " \
               f"region={self.region!r})"


def user_headers(raw: Iterable[Tuple[bytes, bytes]]) -> "dict[str, str]":
    """The client's request headers for ``userRequest.headers``."""
    out: "dict[str, str]" = {}
    lower: "dict[str, str]" = {}
    for name_b, value_b in raw:
        name = name_b.decode("latin-1")
        low = name.lower()
        if low in HIDDEN_HEADERS:
            continue
        value = value_b.decode("latin-1")
        if low in lower:
            first = lower[low]
            out[first] = out[first] + ", " + value
        else:
            lower[low] = name
            out[name] = value
    return out


def user_url(host: str, path: str, query: str) -> str:
    """The client's URL for ``userRequest.url``, without presigned-URL parameters."""
    if query:
        query = "&".join(part for part in query.split("&")
                         if part and unquote(part.partition("=")[0]).lower() not in HIDDEN_PARAMS)
    return f"http://{host}{path}" + (f"?{query}" if query else "")


def make_event(input_oss_url: str, route: str, token: str, url: str,
               headers: "dict[str, str]", extra: Optional[dict] = None) -> bytes:
    """The event as FC hands it to the handler: UTF-8 JSON bytes."""
    event: "dict[str, Any]" = {
        "getObjectContext": {"inputOssUrl": input_oss_url, "outputRoute": route, "outputToken": token},
        "userRequest": {"url": url, "headers": headers},
    }
    if extra:
        event.update(extra)
    return json.dumps(event).encode("utf-8")
