"""Scripted OSS replies, shared by the loopback servers (test infrastructure, not ossfast).

- ``Reply``: one HTTP reply (status, headers, body, close, delay, request id); missing
  x-oss-request-id and Content-Length are added when sent. ``Reply.to_bytes()`` gives the
  whole reply for raw sockets; ``RecordingServer`` sends it through h11.
- ``oss_error`` / ``oss_error_xml``: a Reply (or just the body) carrying an OSS XML error.
- ``new_request_id``: a fresh OSS-style request id.
"""

from __future__ import annotations

import dataclasses
import http
import secrets
from typing import List, Optional, Sequence, Tuple, Union


def new_request_id() -> str:
    """A fresh OSS-style request id: 24 upper-case hex digits."""
    return secrets.token_hex(12).upper()


@dataclasses.dataclass
class Reply:
    """A scripted HTTP reply. Missing x-oss-request-id and Content-Length are added when sent."""

    status: int = 200
    headers: Sequence[Tuple[Union[str, bytes], Union[str, bytes]]] = ()
    body: bytes = b""
    reason: Optional[str] = None
    close: bool = False  # send "Connection: close" and close after the reply
    delay: float = 0.0  # seconds to wait before replying (stop-aware)
    request_id: Optional[str] = None  # default: a random one per reply

    def wire_headers(self, rid: str) -> List[Tuple[bytes, bytes]]:
        out = [(_b(k), _b(v)) for k, v in self.headers]
        names = {k.lower() for k, _ in out}
        if b"x-oss-request-id" not in names:
            out.append((b"x-oss-request-id", rid.encode()))
        if b"content-length" not in names and b"transfer-encoding" not in names:
            out.append((b"Content-Length", str(len(self.body)).encode()))
        if self.close and b"connection" not in names:
            out.append((b"Connection", b"close"))
        return out

    def phrase(self) -> bytes:
        if self.reason is not None:
            return self.reason.encode()
        try:
            return http.HTTPStatus(self.status).phrase.encode()
        except ValueError:
            return b""

    def to_bytes(self, rid: Optional[str] = None) -> bytes:
        """The whole reply as bytes, for the raw FaultServer."""
        rid = rid or self.request_id or new_request_id()
        lines = [b"HTTP/1.1 %d %s" % (self.status, self.phrase())]
        lines += [k + b": " + v for k, v in self.wire_headers(rid)]
        return b"\r\n".join(lines) + b"\r\n\r\n" + self.body


def oss_error_xml(
    code: str,
    message: str,
    request_id: str,
    host_id: str = "fc-ap.oss-cn-hangzhou-internal.oss-object-process.aliyuncs.com",
    ec: str = "0003-00000001",
) -> bytes:
    """The XML error document OSS sends with a 4xx/5xx status."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n'
        f"  <Code>{code}</Code>\n  <Message>{message}</Message>\n"
        f"  <RequestId>{request_id}</RequestId>\n  <HostId>{host_id}</HostId>\n"
        f"  <EC>{ec}</EC>\n</Error>\n"
    ).encode()


def oss_error(
    status: int = 403,
    code: str = "AccessDenied",
    message: str = "You have no right to access this object.",
    *,
    ec: str = "0003-00000001",
    request_id: Optional[str] = None,
    host_id: str = "fc-ap.oss-cn-hangzhou-internal.oss-object-process.aliyuncs.com",
    close: bool = False,
    delay: float = 0.0,
) -> Reply:
    """A Reply carrying an OSS XML error (with x-oss-request-id and x-oss-ec headers)."""
    rid = request_id or new_request_id()
    body = oss_error_xml(code, message, rid, host_id, ec)
    headers = [
        ("Content-Type", "application/xml"),
        ("x-oss-request-id", rid),
        ("x-oss-ec", ec),
    ]
    return Reply(status, headers, body, close=close, delay=delay, request_id=rid)


def _b(x: Union[str, bytes]) -> bytes:
    return x if isinstance(x, bytes) else str(x).encode("latin-1")
