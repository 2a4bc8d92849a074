"""prepare()'s shortcuts agree with the general way: fwd_values with fwd_block on random
values (same bytes, or the same refusal naming the same field), and a PreparedRequest whose
MemoryBody is made when first asked for carries the same view, length and CRC-64."""
from __future__ import annotations

import random

import pytest

from ossfast import checksum, request
from ossfast.errors import InvalidRequestError

_ALPHABET = ["a", "Z", "0", " ", "\t", "\r", "\n", "\x00", "\x7f", "é", '"', ";", "=", "/", ",", "-"]


def _value(rnd: random.Random):
    kind = rnd.random()
    if kind < 0.05:
        return rnd.choice([b"bytes", 5, "", " ", "x" * (request.MAX_HEADER_VALUE + 1), "x" * request.MAX_HEADER_VALUE])
    if kind < 0.15:
        return rnd.choice(["Wed, 21 Oct 2015 07:28:00 GMT", "0", "-1", 'attachment; filename="a.txt"'])
    return "".join(rnd.choice(_ALPHABET) for _ in range(rnd.randint(1, 12)))


def _outcome(func, arg):
    try:
        return func(arg)
    except InvalidRequestError as exc:
        return ("refused", exc.field, str(exc))
    except (UnicodeEncodeError, TypeError) as exc:
        return ("error", type(exc).__name__)


def test_fwd_values_agrees_with_fwd_block_on_random_values():
    rnd = random.Random(1234)
    kws = [kw for kw, _ in request.FWD_HEADERS]
    refused = accepted = 0
    for _ in range(5000):
        values = tuple(_value(rnd) if rnd.random() < 0.3 else None for _ in kws)
        expected = _outcome(request.fwd_block, dict(zip(kws, values)))
        got = _outcome(request.fwd_values, values)
        assert got == expected, values
        if isinstance(got, bytes):
            accepted += 1
        else:
            refused += 1
    assert accepted > 100 and refused > 100  # both ways exercised


def test_fwd_values_writes_in_header_order():
    values = (None,) * 6 + ("text/plain", '"abc"', None, None)
    assert request.fwd_values(values) == (b'x-oss-fwd-header-Content-Type: text/plain\r\n'
                                          b'x-oss-fwd-header-ETag: "abc"\r\n')


@pytest.mark.parametrize("data", [b"", b"hello", bytes(range(256)) * 10])
def test_lazy_body_matches_eager(data):
    from ossfast import Client
    from ossfast.credentials import Credentials

    client = Client(Credentials("ak", "sk"), region="cn-qingdao", endpoint="http://127.0.0.1:9")
    route = "fc-x.oss-cn-qingdao.aliyuncs.com"
    prepared = client.prepare(route, "tok", 200, data, content_type="text/plain")
    body = prepared.body
    assert body.kind == "memory" and bytes(body.view) == data and body.length == len(data)
    assert body.crc == checksum.crc64(data)
    assert prepared.body is body  # made once
    assert prepared.content_length == len(data)
    eager = client.prepare(route, "tok", 200, data, content_type="text/plain", content_md5=True)
    assert eager.body.crc == body.crc
