"""The ``ossfast`` command (also ``python -m ossfast``).

    ossfast send --route R --token T [--status 200] [--header Name:Value ...] FILE|-
    ossfast emulate --root DIR --handler module:function [--port 9000] ...

Exit status: 0 success, 1 the request failed (OSS refused it, or the connection did),
2 bad input (nothing was sent).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from . import __version__
from .errors import InvalidRequestError, OssfastError, ServerError

log = logging.getLogger("ossfast.cli")

#: forwarded header name (lowercased, without the x-oss-fwd-header- prefix) -> keyword
_FORWARDED = {
    "accept-ranges": "accept_ranges", "cache-control": "cache_control",
    "content-disposition": "content_disposition", "content-encoding": "content_encoding",
    "content-language": "content_language", "content-range": "content_range",
    "content-type": "content_type", "etag": "etag", "expires": "expires",
    "last-modified": "last_modified",
}
_FWD_PREFIX = "x-oss-fwd-header-"

SEND_EPILOG = """\
credentials come from the environment: ALIBABA_CLOUD_ACCESS_KEY_ID,
ALIBABA_CLOUD_ACCESS_KEY_SECRET and ALIBABA_CLOUD_SECURITY_TOKEN (or oss2's OSS_ACCESS_KEY_ID,
OSS_ACCESS_KEY_SECRET, OSS_SESSION_TOKEN). Without --endpoint, OSSFAST_ENDPOINT is used if set
(the emulator sets it for its functions), else https://<route>.

--header takes the ten forwarded headers by their own names (Content-Type: text/plain) or as
x-oss-fwd-header-Content-Type: text/plain; any other x-oss-* header is sent as given.

examples:
  ossfast send --route "$ROUTE" --token "$TOKEN" --header 'Content-Type: image/webp' out.webp
  convert in.png webp:- | ossfast send --route "$ROUTE" --token "$TOKEN" -
  ossfast send --endpoint http://127.0.0.1:9000 --route "$ROUTE" --token "$TOKEN" --status 404 /dev/null
"""

EMULATE_EPILOG = """\
The emulator is a local Object FC Access Point: GET http://HOST:PORT/<key> and it invokes your
handler with an FC event for ROOT/<key>, exactly as OSS would; the handler's
WriteGetObjectResponse is checked as OSS checks it and relayed to the client. The clients'
own signatures are not checked. Needs aiohttp: pip install 'ossfast[emulator]'.

examples:
  ossfast emulate --root ./objects --handler examples/uppercase.py:handler     # on port 9000
  curl -i http://127.0.0.1:9000/hello.txt
  curl -i -H 'Range: bytes=0-9' http://127.0.0.1:9000/hello.txt
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ossfast", description="Send Alibaba Cloud OSS WriteGetObjectResponse requests fast, "
        "and run Object FC Access Point functions locally.")
    parser.add_argument("--version", action="version", version=f"ossfast {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log more (-v: INFO, -vv: DEBUG) to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    send = sub.add_parser("send", help="send one WriteGetObjectResponse from a file or stdin",
                          description="Send one WriteGetObjectResponse: the body comes from FILE, or "
                          "standard input for '-'.", epilog=SEND_EPILOG,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    send.add_argument("file", metavar="FILE|-", help="the body: a file, or - for standard input")
    send.add_argument("--route", required=True, help="outputRoute from the FC event (a host name)")
    send.add_argument("--token", required=True, help="outputToken from the FC event (single use)")
    send.add_argument("--status", type=int, default=200, help="status forwarded to the client (200)")
    send.add_argument("--header", "-H", action="append", default=[], metavar="NAME:VALUE",
                      help="a forwarded header (repeatable), e.g. 'Content-Type: text/plain'")
    send.add_argument("--endpoint", help="where to connect, e.g. http://127.0.0.1:9000 (Host stays the "
                      "route)")
    send.add_argument("--signature-version", choices=("v1", "v4"), default="v4")
    send.add_argument("--region", help="V4 region (default: read from the route, else FC_REGION)")
    send.add_argument("--content-md5", action="store_true", help="add Content-MD5")
    send.add_argument("--timeout", type=float, default=60.0, help="read timeout, seconds (60)")
    send.add_argument("--insecure", action="store_true", help="do not verify the TLS certificate")
    send.add_argument("--json", action="store_true", help="print the result as JSON")
    send.add_argument("--progress", choices=("auto", "always", "never"), default="auto",
                      help="a progress bar on stderr (auto: when stderr is a terminal)")
    send.set_defaults(run=_send)

    emu = sub.add_parser("emulate", help="run a local Object FC Access Point around a handler",
                         description="Run a local Object FC Access Point that invokes HANDLER for "
                         "every GET of an object under ROOT.", epilog=EMULATE_EPILOG,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    emu.add_argument("--root", required=True, help="directory whose files are the objects")
    emu.add_argument("--handler", required=True, metavar="MODULE:FUNCTION",
                     help="the FC handler: package.module:function or path/to/file.py:function")
    emu.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    emu.add_argument("--port", type=int, default=9000, help="port (9000; 0: a free port, printed)")
    emu.add_argument("--region", default="cn-hangzhou", help="region of the routes (cn-hangzhou)")
    emu.add_argument("--timeout", type=float, default=60.0,
                     help="seconds a client waits for the function's answer before a 504 (60)")
    emu.set_defaults(run=_emulate)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if args.verbose or args.command != "emulate":  # the emulator logs its requests itself
        level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
        logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        return int(args.run(args))
    except InvalidRequestError as exc:
        print(f"ossfast: error: {exc}", file=sys.stderr)
        return 2
    except ServerError as exc:
        print(f"ossfast: OSS refused the request: {exc}", file=sys.stderr)
        return 1
    except OssfastError as exc:
        print(f"ossfast: the request failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ossfast: interrupted", file=sys.stderr)
        return 130


# ---------------------------------------------------------------------------- send


def split_headers(values: List[str]) -> Tuple[Dict[str, str], List[Tuple[str, str]]]:
    """``--header`` values -> (forwarded keywords, other headers)."""
    forwarded: Dict[str, str] = {}
    extra: List[Tuple[str, str]] = []
    for item in values:
        name, sep, value = item.partition(":")
        name, value = name.strip(), value.strip()
        if not sep or not name:
            raise InvalidRequestError(f"--header {item!r}: expected NAME:VALUE", field="header")
        key = name.lower()
        if key.startswith(_FWD_PREFIX):
            key = key[len(_FWD_PREFIX):]
            if key not in _FORWARDED:
                raise InvalidRequestError(
                    f"--header {name}: OSS forwards only {', '.join(sorted(_FORWARDED))}", field="header")
        if key in _FORWARDED:
            if _FORWARDED[key] in forwarded:
                raise InvalidRequestError(f"--header {name}: given twice", field="header")
            forwarded[_FORWARDED[key]] = value
        elif key.startswith("x-oss-"):
            extra.append((name, value))
        else:
            raise InvalidRequestError(
                f"--header {name}: not a forwarded header ({', '.join(sorted(_FORWARDED))}) nor an "
                "x-oss-* header", field="header")
    return forwarded, extra


class _ProgressBar:
    """A one-line progress bar on stderr: percent, bytes, MB/s."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.start = time.perf_counter()
        self.last = 0.0

    def __call__(self, sent: int, total: int) -> None:
        now = time.perf_counter()
        if sent < total and now - self.last < 0.1:
            return
        self.last = now
        rate = sent / max(now - self.start, 1e-9) / 1e6
        frac = sent / total if total else 1.0
        bar = "#" * int(frac * 30)
        self.stream.write(f"\r[{bar:<30}] {frac:6.1%} {sent:,}/{total:,} bytes {rate:8.1f} MB/s")
        if sent >= total:
            self.stream.write("\n")
        self.stream.flush()


def _open_body(path: str) -> Tuple[Any, Optional[int], Any]:
    """(body, content_length, file to close) for FILE or '-'. What cannot seek (a pipe, a
    FIFO, ``<(command)``) is spooled first, for the Content-Length OSS requires."""
    if path == "-":
        stdin = sys.stdin
        if stdin is None:  # started with fd 0 closed (some CI jobs, cron, daemons)
            raise InvalidRequestError("-: there is no standard input (it is closed); give a FILE",
                                      field="file")
        if stdin.isatty():  # nobody types a body: refuse rather than wait for one
            raise InvalidRequestError("-: standard input is a terminal; pipe the body in, or give a FILE",
                                      field="file")
        f = stdin.buffer
    else:
        try:
            f = open(path, "rb")
        except OSError as exc:
            raise InvalidRequestError(f"{path}: {exc.strerror or exc}", field="file") from None
    try:
        seekable = f.seekable()
    except (OSError, ValueError):
        seekable = False
    if seekable:
        return f, None, (f if path != "-" else None)
    from .fc import _file_chunks, _spool

    try:
        body, length = _spool(_file_chunks(f))
    finally:
        if path != "-":
            f.close()
    return body, length, (body if hasattr(body, "close") else None)


def _send(args: argparse.Namespace) -> int:
    from .client import Client

    forwarded, extra = split_headers(args.header)
    body, length, to_close = _open_body(args.file)
    show = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
    try:
        with Client(signature_version=args.signature_version, region=args.region,
                    endpoint=args.endpoint, timeout=(10.0, args.timeout),
                    verify=not args.insecure) as client:
            result = client.write_get_object_response(
                args.route, args.token, args.status, body, headers=extra or None,
                content_length=length, content_md5=args.content_md5,
                progress=_ProgressBar(sys.stderr) if show else None, **forwarded)
    finally:
        if to_close is not None:
            to_close.close()
    rate = result.bytes_sent / max(result.elapsed, 1e-9) / 1e6
    if args.json:
        line = json.dumps({"status": result.status, "request_id": result.request_id,
                           "bytes_sent": result.bytes_sent, "crc64": str(result.crc64),
                           "elapsed": round(result.elapsed, 6)})
    else:
        line = (f"sent {result.bytes_sent:,} bytes in {result.elapsed * 1000:.1f} ms ({rate:.1f} MB/s): "
                f"HTTP {result.status}, request id {result.request_id}, crc64 {result.crc64}")
    _print_result(line, result.request_id)
    return 0


def _print_result(line: str, request_id: str) -> None:
    """Print the result of a request that succeeded. A closed or broken standard output
    (``| head -c0``) does not turn it into a failure: the token is spent, and exit status 1
    would invite a resend."""
    try:
        print(line, flush=True)
    except BrokenPipeError:
        # the interpreter flushes stdout again at exit: point it at nothing first
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        print(f"ossfast: sent (request id {request_id}), but standard output is closed; "
              "the result was not printed", file=sys.stderr)


# ---------------------------------------------------------------------------- emulate


def _emulate(args: argparse.Namespace) -> int:
    try:
        from . import emulator
    except ImportError as exc:
        raise InvalidRequestError(
            f"the emulator needs aiohttp ({exc}); install it with: pip install 'ossfast[emulator]'",
            field="emulator") from None
    if not os.path.isdir(args.root):
        raise InvalidRequestError(f"--root {args.root}: not a directory", field="root")
    # serve() prints "ossfast emulator listening on URL ..." once it listens
    emulator.serve(args.root, args.handler, host=args.host, port=args.port, region=args.region,
                   timeout=args.timeout)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
