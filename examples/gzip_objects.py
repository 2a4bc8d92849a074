"""An Object FC Access Point transform that serves objects gzip-compressed.

Deploy unchanged as an FC function (handler ``gzip_objects.handler``); run it locally with

    python -m ossfast emulate --root DIR --handler examples/gzip_objects.py:handler
    curl --compressed http://127.0.0.1:PORT/some/key

The original is read and compressed 1 MiB at a time. The compressed length is not known
until the end, and OSS requires a Content-Length, so ``fc.handler`` spools the stream (in
memory up to 8 MiB, then to a temporary file) and sends it with its length: memory stays
bounded whatever the object's size. ``Content-Encoding: gzip`` is forwarded, so clients
that ask for it (``curl --compressed``, browsers) decompress transparently.

The output is deterministic (zlib's gzip header carries no time stamp), so the derived ETag
stays valid between instances and runs.
"""
from __future__ import annotations

import zlib
from typing import Iterator

import ossfast

CHUNK = 1024 * 1024
LEVEL = 1  # fast: FC bills by the millisecond; raise it for smaller objects on the wire


@ossfast.fc.handler(version="1")
def handler(obj: ossfast.fc.ObjectRequest) -> ossfast.fc.Response:
    def compressed() -> Iterator[bytes]:
        gz = zlib.compressobj(LEVEL, zlib.DEFLATED, 31)  # wbits 31: a gzip member
        with obj.open() as original:
            for chunk in iter(lambda: original.read(CHUNK), b""):
                out = gz.compress(chunk)
                if out:
                    yield out
        yield gz.flush()

    return ossfast.fc.Response(200, compressed(), content_encoding="gzip")
