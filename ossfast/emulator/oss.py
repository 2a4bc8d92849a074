"""What the emulator says the way OSS says it: XML error documents, request ids, HTTP dates.

A refusal is raised as :class:`Refusal` anywhere in the emulator and turned into
an OSS error reply in one place. Its ``message`` goes to the client in the XML
document; its ``reason`` goes to the log. Neither ever holds a token, a
signature, a secret or a presigned query.
"""
from __future__ import annotations

import secrets
import time
from email.utils import formatdate
from typing import Dict, Optional
from xml.sax.saxutils import escape

SERVER = "AliyunOSS"

#: EC (error condition) of the codes for which OSS documents one. Other codes carry
#: UNKNOWN_EC: an <EC> element is always there, and no made-up code passes for a real one.
EC = {
    "SignatureDoesNotMatch": "0002-00000040",
    "NoSuchKey": "0026-00000001",
}
UNKNOWN_EC = "0000-00000000"


class Refusal(Exception):
    """An OSS error reply: HTTP ``status``, OSS ``code``, a ``message`` for the client and a
    short ``reason`` for the log line (defaults to the message); ``headers`` join the reply's."""

    def __init__(self, status: int, code: str, message: str, reason: Optional[str] = None,
                 headers: Optional[Dict[str, str]] = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.reason = reason or message
        self.headers = headers or {}


def request_id() -> str:
    """A new request id in OSS's form: 24 upper-case hex digits."""
    return secrets.token_hex(12).upper()


def http_date(when: Optional[float] = None) -> str:
    """``when`` (default now) as an IMF-fixdate: 'Tue, 31 Oct 2023 03:17:58 GMT'."""
    return formatdate(time.time() if when is None else when, usegmt=True)


def error_xml(refusal: Refusal, rid: str, host_id: str) -> bytes:
    """The OSS XML error document of ``refusal``."""
    ec = EC.get(refusal.code, UNKNOWN_EC)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n'
        f"  <Code>{escape(refusal.code)}</Code>\n"
        f"  <Message>{escape(refusal.message)}</Message>\n"
        f"  <RequestId>{escape(rid)}</RequestId>\n"
        f"  <HostId>{escape(host_id)}</HostId>\n"
        f"  <EC>{ec}</EC>\n"
        "</Error>\n"
    ).encode("utf-8")


def common_headers(rid: str) -> "dict[str, str]":
    """Headers every OSS reply carries."""
    return {"Server": SERVER, "Date": http_date(), "x-oss-request-id": rid}
