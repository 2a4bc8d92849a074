"""_outcome's value classes, Retry and Timeout: immutable, compared and hashed by value, and
copied or pickled as the dataclasses they replaced were."""
from __future__ import annotations

import copy
import pickle

import pytest

import ossfast
from ossfast.transport import Timeout


@pytest.mark.parametrize("value", [ossfast.Retry(3, 0.5, 4.0, frozenset({503})), Timeout(1.5, 7.0)],
                         ids=["Retry", "Timeout"])
def test_value_classes_copy_pickle_compare_and_refuse_assignment(value):
    for other in (copy.copy(value), copy.deepcopy(value), pickle.loads(pickle.dumps(value))):
        assert other == value and hash(other) == hash(value) and other is not value
        assert repr(other) == repr(value)
    name = type(value).__slots__[0]
    with pytest.raises(AttributeError, match="immutable"):
        setattr(value, name, 1)
    with pytest.raises(AttributeError, match="immutable"):
        delattr(value, name)
    assert value != Timeout() and value != ossfast.Retry()


def test_retry_defaults_and_validation_survive_the_move():
    r = ossfast.Retry()
    assert (r.total, r.backoff, r.max_backoff) == (2, 0.05, 2.0) and 503 in r.statuses
    assert repr(r).startswith("Retry(total=2, backoff=0.05, max_backoff=2.0, statuses=")
    with pytest.raises(ossfast.InvalidRequestError):
        ossfast.Retry(backoff=5, max_backoff=1)
    assert Timeout.of((1, 2)) == Timeout(1.0, 2.0) and Timeout.of(None) == Timeout()
