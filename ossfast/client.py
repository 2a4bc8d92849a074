"""``ossfast.Client`` and what goes with it, under the names they have always had.

The blocking driver lives in ``ossfast._sync``; what both drivers share (``Retry``, ``Result``,
``judge_reply``...) in ``ossfast._outcome``. This module only re-exports them.
"""
from ._outcome import (MAX_BACKOFF, RETRY_STATUSES, AttemptFailed, Result, Retry, _AttemptFailed,
                       judge_reply, parse_error)
from ._sync.client import (_FAST_BODY, _FAST_STATUS, Client, _KeySet, default_client,
                           write_get_object_response)
from .signing import SignerV1, SignerV4, region_from_route

__all__ = ["Client", "Result", "Retry", "write_get_object_response", "default_client", "parse_error",
           "judge_reply", "RETRY_STATUSES", "MAX_BACKOFF"]
