"""Peak-RSS growth of one contender sending one file body, in a fresh interpreter.

    python benches/rss_contenders.py --contender NAME --url URL --path FILE

As benches/rss_file_body.py does for ossfast alone: import the library and make its client, warm
up (one small request, so the connection and code paths exist), reset the peak
(``echo 5 > /proc/self/clear_refs`` resets VmHWM), send the whole file as an open file object,
read VmHWM again. Prints one ``RSS-JSON`` line. Contenders: see ``SENDERS``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Callable, Dict

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from benchkit import AK, REGION, ROUTE, SK, TOKEN  # noqa: E402
from rss_file_body import _peak_kib, _reset_peak, _status_kib  # noqa: E402


def _ossfast(url: str) -> Callable[[Any], None]:
    import ossfast

    client = ossfast.Client(ossfast.Credentials(AK, SK), endpoint=url)

    def send(body: Any) -> None:
        assert client.write_get_object_response(ROUTE, TOKEN, 200, body).status == 200
    return send


def _ossfast_async(url: str) -> Callable[[Any], None]:
    import asyncio

    import ossfast

    loop = asyncio.new_event_loop()

    async def make() -> Any:
        return ossfast.AsyncClient(ossfast.Credentials(AK, SK), endpoint=url)
    client = loop.run_until_complete(make())

    def send(body: Any) -> None:
        r = loop.run_until_complete(client.write_get_object_response(ROUTE, TOKEN, 200, body))
        assert r.status == 200
    return send


def _oss2(url: str, patched: bool = False) -> Callable[[Any], None]:
    import oss2

    svc = oss2.Service(oss2.AuthV4(AK, SK), url, session=oss2.Session(), region=REGION)
    if patched:
        from ossfast.integrations import oss2 as fast_oss2

        fast_oss2.patch()

    def send(body: Any) -> None:
        assert svc.write_get_object_response(ROUTE, TOKEN, "200", body).status == 200
    return send


def _v2(url: str, fast: bool = False) -> Callable[[Any], None]:
    import alibabacloud_oss_v2 as oss

    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(AK, SK)
    cfg.region, cfg.endpoint = REGION, url
    client = oss.Client(cfg)
    if fast:
        from ossfast.integrations import oss_v2 as fast_v2

        def send_fast(body: Any) -> None:
            assert fast_v2.write_get_object_response(client, ROUTE, TOKEN, 200, body).status_code == 200
        return send_fast

    def send(body: Any) -> None:
        out = client.invoke_operation(oss.OperationInput(
            op_name="WriteGetObjectResponse", method="POST",
            headers={"x-oss-request-route": ROUTE, "x-oss-request-token": TOKEN, "x-oss-fwd-status": "200"},
            parameters={"x-oss-write-get-object-response": ""}, body=body,
            op_metadata={"sub-resource": ["x-oss-write-get-object-response"]}))
        assert out.status_code == 200
    return send


def _boto(url: str) -> Callable[[Any], None]:
    import botocore.session
    from botocore.config import Config

    client = botocore.session.get_session().create_client(
        "s3", region_name="us-east-1", endpoint_url=url, aws_access_key_id="AKIDBENCH",
        aws_secret_access_key="bench-secret", config=Config(inject_host_prefix=False, retries={"max_attempts": 1}))

    def send(body: Any) -> None:
        r = client.write_get_object_response(RequestRoute=ROUTE, RequestToken=TOKEN, StatusCode=200, Body=body)
        assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    return send


SENDERS: Dict[str, Callable[[str], Callable[[Any], None]]] = {
    "ossfast": _ossfast,
    "ossfast AsyncClient": _ossfast_async,
    "oss2": _oss2,
    "oss2 patch()": lambda url: _oss2(url, patched=True),
    "v2 invoke_operation": _v2,
    "v2 + ossfast WGOR": lambda url: _v2(url, fast=True),
    "botocore": _boto,
}


def main(argv: Any = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contender", required=True, choices=sorted(SENDERS))
    ap.add_argument("--url", required=True)
    ap.add_argument("--path", required=True)
    args = ap.parse_args(argv)
    size = os.path.getsize(args.path)
    start = _status_kib("VmRSS")
    send = SENDERS[args.contender](args.url)
    send(b"warm-up")
    reset = _reset_peak()
    before = _peak_kib()
    t0 = time.perf_counter()
    with open(args.path, "rb") as f:
        send(f)
    elapsed = time.perf_counter() - t0
    after = _peak_kib()
    report = {"contender": args.contender, "size": size, "start_mib": start / 1024, "before_mib": before / 1024,
              "after_mib": after / 1024, "growth_mib": (after - before) / 1024, "reset": reset,
              "seconds": elapsed, "gbps": size / elapsed / 1e9}
    print("RSS-JSON " + json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
