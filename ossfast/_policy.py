"""The retry decision: one pure function of what happened in an attempt.

The drivers only report facts (``Attempt``); ``retry_reason`` decides, so a rule is changed
in one place and tested without sockets (tests/test_policy.py). The rules:

* never once the client is closed, for a rejected TLS certificate, or when ``retry.total``
  retries were made already;
* connecting failed (TCP or TLS set-up): no request byte left, so always (even for a body
  that cannot be replayed);
* the server answered one of ``retry.statuses`` (500 502 503 504), after the body or early,
  before reading all of it: when the body can be replayed;
* writing the request failed on a pooled (keep-alive) connection, with no early error reply:
  the connection was stale. When no request byte left, always; else when the body can be
  replayed;
* anything else is not retried: a failure after the request went out on a fresh connection
  may mean the server took it, and the request token is single use.
"""
from __future__ import annotations

from collections import namedtuple

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a cold start pays ~3 ms for it)
if TYPE_CHECKING:
    from typing import Optional


class Attempt(namedtuple("Attempt", ("connected", "reused", "request_sent", "send_failed", "status",
                                     "certificate_rejected", "client_closed", "detail"),
                         defaults=(False, False, False, 0, False, False, ""))):
    """The facts of one attempt that did not succeed.

    ``connected``: a connection was had (False: the TCP connect or the TLS set-up failed);
    ``reused``: the connection came from the pool (it served an earlier request);
    ``request_sent``: a request byte may have left; ``send_failed``: writing the request
    failed (``status`` is then an early reply's, or 0); ``status``: the reply's status, 0 when
    there was no reply; ``certificate_rejected``: the TLS certificate was rejected;
    ``client_closed``: the client was closed; ``detail``: what went wrong, for the log line
    (the error's message).
    """

    __slots__ = ()


def retry_reason(attempt: Attempt, *, replayable: bool, retries_made: int, total: int,
                 statuses: frozenset) -> Optional[str]:
    """Why to retry after ``attempt`` (the INFO log line's reason), or None: do not retry.

    ``replayable``: the body can be sent again from its start now; ``retries_made``: retries
    already made for this call; ``total`` and ``statuses``: the Retry policy's.
    """
    if retries_made >= total or attempt.client_closed or attempt.certificate_rejected:
        return None
    if not attempt.connected:
        return f"connect failed: {attempt.detail}"
    status = attempt.status
    if status:
        if status in statuses and replayable:
            return f"server answered {status}" + (" before reading the whole body"
                                                  if attempt.send_failed else "")
        return None
    if attempt.send_failed and attempt.reused and (replayable or not attempt.request_sent):
        return f"stale pooled connection: {attempt.detail}"
    return None


_NO_STATUSES: frozenset = frozenset()


def retry_request(attempt: Attempt, *, replayable: bool, retries_made: int) -> bool:
    """The rule of ``request()`` (any HTTP request, both drivers): at most one retry, for a
    failure that :func:`retry_reason` allows; no status is retried (the caller judges it)."""
    return retry_reason(attempt, replayable=replayable, retries_made=retries_made, total=1,
                        statuses=_NO_STATUSES) is not None
