"""Facade kept for old imports: re-exports the loopback test servers' names from their modules.

New code imports from the module of its concern:

- ``refcrc``: ``crc64`` / ``CRC64_IMPL``, the reference CRC-64/XZ.
- ``srv_replies``: ``Reply``, ``oss_error``, ``oss_error_xml``, ``new_request_id``.
- ``srv_loopback``: ``LoopbackServer`` and ``Link`` (what every server shares), the leak checks
  ``live_servers`` / ``server_threads`` / ``open_fds``, and ``HOST``, ``POLL``, ...
- ``srv_recording``: ``RecordingServer`` (strict HTTP/1.1, records every request).
- ``srv_faults``: ``FaultServer``, ``Behaviour`` and the fault behaviours (``reply``,
  ``reset_mid_body``, ... listed in ``BEHAVIOURS``).
- ``srv_ports``: ``ClosedPort``, ``UnacceptedListener``.
- ``srv_tls``: ``TLSMaterial``.
"""

from refcrc import CRC64_IMPL, crc64
from srv_faults import (
    BEHAVIOURS,
    Behaviour,
    BehaviourSpec,
    FaultConnection,
    FaultContext,
    FaultExchange,
    FaultServer,
    accept_never_read,
    as_behaviour,
    chunked_reply,
    close_after_head,
    close_immediately,
    early_reply,
    hold_after_body,
    idle_close,
    malformed_header,
    malformed_status_line,
    oversized_headers,
    raw,
    read_body_then_close,
    reply,
    reset_mid_body,
    slow_reply,
    stall_tls_handshake,
    wrong_content_length,
)
from srv_loopback import HOST, POLL, RECV_SIZE, THREAD_PREFIX, live_servers, open_fds, server_threads
from srv_ports import ClosedPort, UnacceptedListener
from srv_recording import RecordedConnection, RecordedRequest, RecordingServer, Responder
from srv_replies import Reply, new_request_id, oss_error, oss_error_xml
from srv_tls import TLSMaterial

__all__ = [
    "BEHAVIOURS", "CRC64_IMPL", "HOST", "POLL", "RECV_SIZE", "THREAD_PREFIX", "Behaviour",
    "BehaviourSpec", "ClosedPort", "FaultConnection", "FaultContext", "FaultExchange", "FaultServer",
    "RecordedConnection", "RecordedRequest", "RecordingServer", "Reply", "Responder", "TLSMaterial",
    "UnacceptedListener", "accept_never_read", "as_behaviour", "chunked_reply", "close_after_head",
    "close_immediately", "crc64", "early_reply", "hold_after_body", "idle_close", "live_servers",
    "malformed_header", "malformed_status_line", "new_request_id", "open_fds", "oss_error",
    "oss_error_xml", "oversized_headers", "raw", "read_body_then_close", "reply", "reset_mid_body",
    "server_threads", "slow_reply", "stall_tls_handshake", "wrong_content_length",
]
