"""The retry decision (ossfast._policy) without sockets: one table of facts and outcomes."""
import pytest

from ossfast._policy import Attempt, retry_reason, retry_request

S = frozenset({500, 502, 503, 504})
CONNECT = Attempt(connected=False, detail="cannot connect to h:1: Connection refused")
CERT = Attempt(connected=False, certificate_rejected=True, detail="TLS certificate of h:1 rejected")
CLOSED = Attempt(connected=False, client_closed=True, detail="the client is closed")
STALE_NOTHING_SENT = Attempt(True, reused=True, request_sent=False, send_failed=True, detail="reset")
STALE_SENT = Attempt(True, reused=True, request_sent=True, send_failed=True, detail="reset")
FRESH_SENT = Attempt(True, reused=False, request_sent=True, send_failed=True, detail="reset")
EARLY_503 = Attempt(True, reused=False, request_sent=True, send_failed=True, status=503)
EARLY_403 = Attempt(True, reused=True, request_sent=True, send_failed=True, status=403)
REPLY_503 = Attempt(True, reused=False, request_sent=True, status=503)
REPLY_501 = Attempt(True, reused=True, request_sent=True, status=501)
REPLY_404 = Attempt(True, request_sent=True, status=404)

CASES = [
    # facts, replayable, retried? (and the reason)
    (CONNECT, True, "connect failed: cannot connect to h:1: Connection refused"),
    (CONNECT, False, "connect failed: cannot connect to h:1: Connection refused"),
    (CERT, True, None),
    (CLOSED, True, None),
    (STALE_NOTHING_SENT, False, "stale pooled connection: reset"),
    (STALE_SENT, True, "stale pooled connection: reset"),
    (STALE_SENT, False, None),
    (FRESH_SENT, True, None),
    (EARLY_503, True, "server answered 503 before reading the whole body"),
    (EARLY_503, False, None),
    (EARLY_403, True, None),
    (REPLY_503, True, "server answered 503"),
    (REPLY_503, False, None),
    (REPLY_501, True, None),
    (REPLY_404, True, None),
]


@pytest.mark.parametrize("facts,replayable,expected", CASES)
def test_retry_reason(facts, replayable, expected):
    assert retry_reason(facts, replayable=replayable, retries_made=0, total=2, statuses=S) == expected


@pytest.mark.parametrize("facts,replayable,expected", CASES)
def test_no_retry_once_the_retries_are_used(facts, replayable, expected):
    assert retry_reason(facts, replayable=replayable, retries_made=2, total=2, statuses=S) is None
    assert retry_reason(facts, replayable=replayable, retries_made=0, total=0, statuses=S) is None


def test_statuses_come_from_the_policy():
    assert retry_reason(REPLY_501, replayable=True, retries_made=0, total=1,
                        statuses=frozenset({501})) == "server answered 501"
    assert retry_reason(REPLY_503, replayable=True, retries_made=0, total=1, statuses=frozenset()) is None


@pytest.mark.parametrize("facts,replayable,expected", CASES)
def test_request_rule_is_one_retry_and_no_status(facts, replayable, expected):
    """request()'s rule: what retry_reason allows, once, and never for a status alone."""
    by_status = bool(facts.status)  # an answer, early or not: request() hands it to the caller
    assert retry_request(facts, replayable=replayable, retries_made=0) == (
        expected is not None and not by_status)
    assert retry_request(facts, replayable=replayable, retries_made=1) is False
