"""An Object FC Access Point handler that upper-cases text objects, sent back with ossfast.

Deploy as the FC function of an Object FC Access Point (Python runtime). The client is made
once per instance so that its keep-alive connections to OSS are reused between invocations.
"""
from __future__ import annotations

import logging
import urllib.request
from typing import Any, Optional

import ossfast
from ossfast.fc import ObjectContext, client_from_context

log = logging.getLogger(__name__)
_client: Optional[ossfast.Client] = None


def download(url: str, timeout: float = 30.0) -> bytes:
    """The original object: inputOssUrl is a presigned URL."""
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - an https URL from OSS
        return resp.read()


def transform(data: bytes) -> bytes:
    return data.upper()


def handler(event: Any, context: Any) -> dict:
    global _client
    ctx = ObjectContext.from_event(event)
    if _client is None:
        _client = client_from_context(context)
    try:
        body = transform(download(ctx.input_oss_url))
    except Exception as exc:  # tell the waiting client, instead of leaving it hanging
        log.error("transform failed: %s", exc)
        _client.write_get_object_response(ctx.output_route, ctx.output_token, 500, b"transform failed",
                                          content_type="text/plain")
        return {"statusCode": 500}
    result = _client.write_get_object_response(ctx.output_route, ctx.output_token, 200, body,
                                               content_type="text/plain")
    log.info("sent %d bytes, crc64 %016x, request id %s", result.bytes_sent, result.crc64,
             result.request_id)
    return {"statusCode": 200}
