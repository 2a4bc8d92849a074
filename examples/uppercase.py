"""An Object FC Access Point transform that upper-cases text objects, streamed.

Deploy unchanged as an FC function (handler ``uppercase.handler``, Python 3.9+ runtime, with
ossfast in the code package); run it locally with

    python -m ossfast emulate --root DIR --handler examples/uppercase.py:handler

The body is produced 1 MiB at a time while the original is read, and its length is known in
advance (upper-casing keeps it), so the object streams through with bounded memory whatever
its size. The forwarded ETag is derived from the original's and ``version``: bump it when
the output changes, and clients and CDNs holding the old one fetch again.
"""
from __future__ import annotations

from typing import Iterator

import ossfast

CHUNK = 1024 * 1024


@ossfast.fc.handler(version="1")
def handler(obj: ossfast.fc.ObjectRequest) -> ossfast.fc.Response:
    length = int(obj.headers["Content-Length"])

    def upper() -> Iterator[bytes]:
        with obj.open() as original:
            for chunk in iter(lambda: original.read(CHUNK), b""):
                yield chunk.upper()

    return ossfast.fc.Response(200, upper(), content_length=length)
