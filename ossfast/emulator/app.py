"""The aiohttp application: client GETs, reads of the original object, WriteGetObjectResponse.

One handler sorts requests (``dispatch``); three serve them:
* a client GET/HEAD of an object opens an :class:`Exchange` (route, single-use token),
  invokes the FC handler on a thread of its own and waits for one of: a WriteGetObjectResponse
  that passes every check (relayed as it arrives), the handler's end without one (502), or
  the timeout (504);
* a GET/HEAD whose query names the emulator's origin credential reads the original object
  (the event's ``inputOssUrl``): checked, then streamed from disk with Range;
* ``POST /?x-oss-write-get-object-response`` is checked as OSS would (framing, signature,
  route and token, forwarded status and headers) and its body relayed to the waiting
  client with back-pressure: one chunk in flight, never the whole body.

Everything the event loop does is on one thread; the FC handler's thread reports back with
``call_soon_threadsafe``. Refusals are :class:`~.oss.Refusal`, answered as OSS XML in one place.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import hashlib
import logging
import re
import secrets
import sys
import threading
import time
import traceback
import uuid
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qsl, quote

from aiohttp import HttpVersion11, web
from aiohttp.http_exceptions import HttpProcessingError

from .auth import OriginSigner, verify_wgor
from .config import EmulatorConfig
from .context import FCContext, FCFunction, FCService, make_event, user_headers, user_url
from .objects import BEYOND, Digests, content_type, open_verified, parse_range, parse_target, range_number, resolve

from .oss import Refusal, common_headers, error_xml, http_date, request_id

log = logging.getLogger("ossfast.emulator")

WGOR_QUERY = "x-oss-write-get-object-response"
ALLOWED_STATUS = frozenset({200, 206, 301, 302, 303, 304, 400, 401, 403, 404, 405, 409, 411, 412, 416,
                            500, 503})
#: the forwarded headers of the API reference, spelled as it spells them
FORWARDED = {h.lower(): h for h in (
    "Accept-Ranges", "Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language",
    "Content-Range", "Content-Type", "ETag", "Expires", "Last-Modified")}
#: headers a function may not forward: they frame or route the reply, or are OSS's own
UNFORWARDABLE = frozenset((
    "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer",
    "proxy-connection", "host", "date", "server", "x-oss-request-id"))
FWD_PREFIX = b"x-oss-fwd-header-"
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VALUE_BAD = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_CONTENT_RANGE = re.compile(r"bytes ([0-9]+)-([0-9]+)/([0-9]+|\*)")
_UNSAT_RANGE = re.compile(r"bytes \*/[0-9]+")
_HOST_RE = re.compile(r"[A-Za-z0-9.\-:\[\]]{1,255}")
_DIGITS = "0123456789"
SPENT_MAX = 4096
#: header lines a request may have (the server is told the same)
MAX_HEADERS = 100
#: seconds between a function's end and the 502 of a client it left unanswered
ANSWER_GRACE = 0.1
RELAY_CHUNK = 1 << 18

WAITING, RELAYING, FINISHED = "waiting", "relaying", "finished"


def _token_id(token: str) -> bytes:
    # Tokens are looked up by digest, so no string comparison runs over a token's bytes.
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


class Exchange:
    """One client request waiting for (or being sent) the function's answer."""

    __slots__ = ("token", "token_id", "key", "method", "request", "rid", "fc_request_id", "state",
                 "done", "timer", "handler_ended", "sent", "reason", "input_url")

    def __init__(self, key: str, request: web.Request, rid: str) -> None:
        self.token = "OSSV1#" + secrets.token_urlsafe(32)
        self.token_id = _token_id(self.token)
        self.key = key
        self.method = request.method
        self.request = request
        self.rid = rid
        self.fc_request_id = str(uuid.uuid4())
        self.state = WAITING
        self.done: "asyncio.Future[Any]" = asyncio.get_running_loop().create_future()
        self.timer: Optional[asyncio.TimerHandle] = None
        self.handler_ended = False
        self.sent = 0
        self.reason = ""
        self.input_url = ""

    def __repr__(self) -> str:  # the token is a credential: never shown
        return f"<Exchange {self.method} {self.key!r} {self.state}>"


class State:
    """The emulator's state, kept on the app: identity of the access point, exchanges, counters."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.credentials = config.credentials
        self.region = config.region
        self.account_id = secrets.choice("123456789") + "".join(secrets.choice(_DIGITS) for _ in range(15))
        self.route = (f"fc-ap-01-{self.account_id}-opap.oss-{self.region}-internal"
                      ".oss-object-process.aliyuncs.com")
        self.alias = f"fc-ap-01-{secrets.token_hex(15)}-opapalias"
        self.origin = OriginSigner(self.region, config.url_lifetime)
        self.digests = Digests()
        self.base_url: Optional[str] = None
        self.pending: Dict[bytes, Exchange] = {}
        self.spent: "collections.OrderedDict[bytes, str]" = collections.OrderedDict()
        self.threads: List[threading.Thread] = []
        self.function = FCFunction(getattr(config.handler, "__name__", "handler"), config.handler_name,
                                   config.timeout)
        self.service = FCService("ossfast-emulator")
        self.stats: Dict[str, int] = dict.fromkeys((
            "requests", "invocations", "relayed", "bytes_relayed", "wgor_refused", "function_errors",
            "timeouts", "origin_reads", "refused"), 0)
        self._secrets = tuple(s for s in (self.credentials.access_key_secret,
                                          self.credentials.security_token) if s)

    # -------------------------------------------------------------- exchanges

    def open(self, key: str, request: web.Request, rid: str) -> Exchange:
        ex = Exchange(key, request, rid)
        self.pending[ex.token_id] = ex
        ex.timer = asyncio.get_running_loop().call_later(self.config.timeout, self.expire, ex)
        return ex

    def _spend(self, ex: Exchange, why: str) -> None:
        self.pending.pop(ex.token_id, None)
        if ex.timer is not None:
            ex.timer.cancel()
            ex.timer = None
        self.spent[ex.token_id] = why
        while len(self.spent) > SPENT_MAX:
            self.spent.popitem(last=False)

    def finish(self, ex: Exchange, outcome: Any, why: str = "used") -> None:
        """End ``ex``: its client gets ``outcome`` (a Refusal or the relayed response)."""
        if ex.state != RELAYING:
            self._spend(ex, why)
        ex.state = FINISHED
        if not ex.done.done():
            ex.done.set_result(outcome)

    def expire(self, ex: Exchange) -> None:
        if ex.state == WAITING:
            self.stats["timeouts"] += 1
            ex.reason = "function timed out"
            self.finish(ex, Refusal(504, "FunctionTimeout",
                                    f"The function did not answer within {self.config.timeout:g} s.",
                                    "function timed out"), "expired")

    def lookup(self, route: Optional[str], token: Optional[str]) -> Exchange:
        """The exchange a WriteGetObjectResponse names; Refusal AccessDenied if none waits."""
        if not route or not token:
            missing = "x-oss-request-route" if not route else "x-oss-request-token"
            raise Refusal(403, "AccessDenied", f"The {missing} header is missing.", f"{missing} missing")
        if route != self.route:
            raise Refusal(403, "AccessDenied", "The route in x-oss-request-route is not this access point's.",
                          "unknown route")
        tid = _token_id(token)
        ex = self.pending.get(tid)
        if ex is None:
            why = self.spent.get(tid)
            reason = {"used": "token already used", "expired": "token expired"}.get(why or "", "unknown token")
            raise Refusal(403, "AccessDenied", "The token in x-oss-request-token is invalid, used or expired.",
                          reason)
        return ex

    def claim(self, ex: Exchange) -> None:
        self._spend(ex, "used")
        ex.state = RELAYING

    def shutdown(self) -> None:
        for ex in list(self.pending.values()):
            ex.reason = "emulator stopping"
            self.finish(ex, Refusal(503, "ServiceUnavailable", "The emulator is stopping.",
                                    "emulator stopping"), "expired")

    # -------------------------------------------------------------- the FC handler

    def invoke(self, ex: Exchange, event: bytes) -> None:
        """Run the FC handler for ``ex`` on a thread of its own, as FC would run the function."""
        self.stats["invocations"] += 1
        context = FCContext(ex.fc_request_id, self.credentials, self.function, self.service,
                            self.region, self.account_id)
        loop = asyncio.get_running_loop()
        self.threads = [t for t in self.threads if t.is_alive()]
        thread = threading.Thread(target=self._run_handler, args=(loop, ex, event, context),
                                  name=f"ossfast-emulator-handler:{ex.fc_request_id[:8]}", daemon=True)
        self.threads.append(thread)
        thread.start()

    def _run_handler(self, loop: asyncio.AbstractEventLoop, ex: Exchange, event: bytes,
                     context: FCContext) -> None:
        error: Optional[Tuple[str, str]] = None
        try:
            self.config.handler(event, context)
        except BaseException as exc:  # noqa: B902 - the function's failure, whatever it is
            text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            error = (type(exc).__name__, self.redact(text, ex))
        try:
            loop.call_soon_threadsafe(self.handler_ended, ex, error)
        except RuntimeError:
            pass  # the loop is closed: the emulator stopped while the handler ran

    def handler_ended(self, ex: Exchange, error: Optional[Tuple[str, str]]) -> None:
        ex.handler_ended = True
        if error is not None:
            log.warning("function %s for %r raised %s:\n%s", self.function.name, ex.key, error[0], error[1])
        if ex.state == WAITING:
            # A request the function sent just before it ended may still be on its way over
            # loopback: give it a moment to arrive before answering the client.
            asyncio.get_running_loop().call_later(ANSWER_GRACE, self._settle, ex, error)

    def _settle(self, ex: Exchange, error: Optional[Tuple[str, str]]) -> None:
        if ex.state != WAITING:
            return  # answered already, or being answered: the relay ends the exchange
        self.stats["function_errors"] += 1
        if error is not None:
            ex.reason = f"function raised {error[0]}"
            refusal = Refusal(502, "FunctionFailed", f"The function failed: {error[0]}.", ex.reason)
        else:
            ex.reason = "function returned without a WriteGetObjectResponse"
            refusal = Refusal(502, "FunctionFailed",
                              "The function returned without sending a WriteGetObjectResponse.", ex.reason)
        self.finish(ex, refusal, "expired")

    def redact(self, text: str, ex: Optional[Exchange] = None) -> str:
        """``text`` with this run's secrets, the exchange's token and presigned query hidden."""
        hidden = list(self._secrets)
        if ex is not None:
            hidden.append(ex.token)
            if ex.input_url:
                hidden.append(ex.input_url.partition("?")[2])
        for value in hidden:
            if value:
                text = text.replace(value, "<hidden>")
        return text


STATE = web.AppKey("ossfast_emulator_state", State)


def _host_id(request: web.BaseRequest) -> str:
    host = request.headers.get("Host", "")
    return host if _HOST_RE.fullmatch(host) else "localhost"


def error_response(request: web.BaseRequest, refusal: Refusal, rid: str) -> web.Response:
    headers = common_headers(rid)
    headers["Content-Type"] = "application/xml"
    headers.update(refusal.headers)
    if refusal.status == 405:
        headers["Allow"] = "GET, HEAD" if request.method != "POST" else "GET, HEAD, POST"
    return web.Response(status=refusal.status, headers=headers,
                        body=error_xml(refusal, rid, _host_id(request)))


# ------------------------------------------------------------------ dispatch

async def dispatch(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    if len(request.raw_headers) > MAX_HEADERS:  # aiohttp before 3.10 does not count them itself
        rid = request_id()
        log.info("%s refused: more than %d header lines [%s]", request.method, MAX_HEADERS, rid)
        resp = error_response(request, Refusal(400, "InvalidArgument", "The request has too many headers.",
                                               "too many headers"), rid)
        resp.force_close()
        return resp
    try:
        return await _dispatch(request, state)
    except (asyncio.CancelledError, ConnectionError):
        raise
    except Exception as exc:  # noqa: B902 - a bug of the emulator's, answered as OSS would
        resp = internal_error(state, request, exc)
        if request.writer.output_size > 0:  # a reply is under way: all that can be done is drop it
            raise ConnectionError("the reply was under way") from None
        return resp


def internal_error(state: State, request: web.BaseRequest, exc: BaseException) -> web.Response:
    """An OSS 500 ``InternalError`` for an exception the emulator did not expect: the client
    gets the XML document only, the log the traceback with this run's secrets hidden."""
    rid = request_id()
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    for value in _request_secrets(state, request):
        text = text.replace(value, "<hidden>")
    log.error("%s %r: internal error %s [%s]\n%s", request.method, request.path, type(exc).__name__, rid,
              state.redact(text))
    resp = error_response(request, Refusal(500, "InternalError", "We encountered an internal error. "
                                           "Please try again.", "internal error"), rid)
    resp.force_close()
    return resp


#: request headers whose values are credentials
_SECRET_HEADERS = frozenset((b"authorization", b"x-oss-security-token", b"x-oss-request-token"))


def _request_secrets(state: State, request: web.BaseRequest) -> List[str]:
    """What an error about ``request`` must not show: its query (a presigned URL's), its
    credential headers, and every waiting exchange's token."""
    found = [request.raw_path.partition("?")[2]]
    found += [v.decode("latin-1") for n, v in request.raw_headers if n.lower() in _SECRET_HEADERS]
    found += [ex.token for ex in state.pending.values()]
    return sorted((v for v in found if len(v) >= 4), key=len, reverse=True)


#: what aiohttp's parser refusals are called in a reply, by exception class; their messages
#: quote the offending bytes (a token, a signature) and are never repeated
_PARSE_ERRORS = {
    "LineTooLong": "a line is too long", "InvalidHeader": "a header is malformed",
    "BadHttpMethod": "the method is not valid", "BadStatusLine": "the request line is malformed",
    "InvalidURLError": "the request target is malformed", "ContentLengthError": "the body framing is malformed",
    "TransferEncodingError": "the body framing is malformed",
}
#: llhttp's refusal messages start with a fixed phrase ("Invalid header value char:"); one
#: made only of short words is shown, anything else is not
_PHRASE = re.compile(r"[A-Z][A-Za-z-]{0,19}(?: [A-Za-z-]{1,20}){0,9}")


def _parse_reason(exc: Optional[BaseException]) -> str:
    name = type(exc).__name__
    if name in _PARSE_ERRORS:
        return _PARSE_ERRORS[name]
    first = str(getattr(exc, "message", "") or "").split("\n", 1)[0].rstrip(":").replace("can't", "cannot")
    return first[0].lower() + first[1:] if _PHRASE.fullmatch(first) else "the request is malformed"


def protocol_error(state: State, request: web.BaseRequest, status: int,
                   exc: Optional[BaseException]) -> web.Response:
    """The reply to a request that aiohttp answers by itself: one its parser refused (400,
    InvalidRequest, one log line that names the flaw but quotes no byte of the request), or an
    exception that escaped the app (500, as :func:`internal_error`)."""
    if status >= 500 or exc is None or not isinstance(exc, HttpProcessingError):
        if exc is None:
            exc = RuntimeError(f"aiohttp answered {status} by itself")
        return internal_error(state, request, exc)
    rid = request_id()
    state.stats["refused"] += 1
    reason = _parse_reason(exc)
    log.info("request refused: unparsable request (%s) [%s]", reason, rid)
    resp = error_response(request, Refusal(400, "InvalidRequest", f"The request could not be parsed: {reason}.",
                                           "unparsable request"), rid)
    resp.force_close()
    return resp


async def _dispatch(request: web.Request, state: State) -> web.StreamResponse:
    path, _, query = request.raw_path.partition("?")
    if request.method == "POST" and path == "/" and WGOR_QUERY in _param_names(query):
        return await write_get_object_response(request, state, path, query)
    rid = request_id()
    started = time.monotonic()
    state.stats["requests"] += 1
    key: Optional[str] = None
    try:
        if request.method not in ("GET", "HEAD"):
            raise Refusal(405, "MethodNotAllowed", "The specified method is not allowed against this resource.",
                          f"method {request.method} not allowed")
        key, _alias = parse_target(path)
        params = dict(parse_qsl(query, keep_blank_values=True))
        if OriginSigner.is_origin(params):
            return await serve_original(request, state, key, params, rid, started)
        return await client_get(request, state, key, path, query, rid, started)
    except Refusal as refusal:
        state.stats["refused"] += 1
        resp = error_response(request, refusal, rid)
        _log_client(request.method, key if key is not None else path, refusal.status,
                    0, started, refusal.reason, rid)
        return resp


def _param_names(query: str) -> "set[str]":
    return {part.partition("=")[0] for part in query.split("&")}


def _log_client(method: str, key: str, status: int, sent: int, started: float, reason: str,
                rid: str, what: str = "client") -> None:
    log.info("%s %s %r -> %d, %d bytes, %.3f s%s [%s]", what, method, key, status, sent,
             time.monotonic() - started, f", {reason}" if reason else "", rid)


# ------------------------------------------------------------------ client GET

async def client_get(request: web.Request, state: State, key: str, path: str, query: str, rid: str,
                     started: float) -> web.StreamResponse:
    resolve(state.config.root, key)  # 404 NoSuchKey (and every refusal) before the function runs
    ex = state.open(key, request, rid)
    base = state.base_url or f"http://{_host_id(request)}"
    ex.input_url = (f"{base}/{state.alias}/{quote(key, safe='/')}?{state.origin.query(key)}")
    event = make_event(ex.input_url, state.route, ex.token, user_url(_host_id(request), path, query),
                       user_headers(request.raw_headers))
    state.invoke(ex, event)
    try:
        outcome = await ex.done
    except asyncio.CancelledError:
        state.finish(ex, None, "expired")
        raise
    if isinstance(outcome, Refusal):
        _log_client(request.method, key, outcome.status, 0, started, ex.reason or outcome.reason, rid)
        return error_response(request, outcome, rid)
    status = outcome.status if isinstance(outcome, web.StreamResponse) else 0
    _log_client(request.method, key, status, ex.sent, started, ex.reason, rid)
    return outcome  # type: ignore[no-any-return]


# ------------------------------------------------------------------ the original object

async def serve_original(request: web.Request, state: State, key: str, params: Dict[str, str], rid: str,
                         started: float) -> web.StreamResponse:
    state.origin.check(key, params)
    real, _ = resolve(state.config.root, key)
    f, st = open_verified(state.config.root, real)
    try:
        size = st.st_size
        span = parse_range(request.headers.get("Range"), size)
        etag, crc = await state.digests.get(real, st)
    except OSError:
        f.close()
        raise Refusal(404, "NoSuchKey", "The specified key does not exist.", "file vanished") from None
    except BaseException:
        f.close()
        raise
    headers = common_headers(rid)
    headers.update({
        "ETag": etag, "Last-Modified": http_date(st.st_mtime), "Content-Type": content_type(key),
        "Accept-Ranges": "bytes", "x-oss-hash-crc64ecma": str(crc), "x-oss-object-type": "Normal",
        "x-oss-storage-class": "Standard"})
    first, last = (0, size - 1) if span is None else span
    if span is not None:
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    resp = web.StreamResponse(status=200 if span is None else 206, headers=headers)
    length = last - first + 1
    resp.content_length = length
    state.stats["origin_reads"] += 1
    sent = 0
    loop = asyncio.get_running_loop()
    try:
        await resp.prepare(request)
        if request.method == "GET" and length:
            await loop.run_in_executor(None, f.seek, first)
            while sent < length:
                chunk = await loop.run_in_executor(None, f.read, min(RELAY_CHUNK, length - sent))
                if not chunk:
                    break  # the file shrank: the client sees a short body
                await resp.write(chunk)
                sent += len(chunk)
        if sent == length or request.method != "GET":
            await resp.write_eof()
        elif request.transport is not None:
            request.transport.close()
    except ConnectionError:
        pass  # the reader went away
    finally:
        f.close()
    _log_client(request.method, key, resp.status, sent, started, "", rid, what="origin")
    return resp


# ------------------------------------------------------------------ WriteGetObjectResponse

def _forwarded(raw: Any, length: int) -> Tuple[int, List[Tuple[str, str]]]:
    """The status and headers a WriteGetObjectResponse forwards; Refusal InvalidArgument if
    OSS would not forward them."""
    statuses = [v for n, v in raw if n.lower() == b"x-oss-fwd-status"]
    if len(statuses) != 1:
        raise _invalid("x-oss-fwd-status is required, once.", "x-oss-fwd-status missing or repeated")
    text = statuses[0].decode("latin-1").strip()
    if not (text.isdigit() and text.isascii() and len(text) == 3 and int(text) in ALLOWED_STATUS):
        raise _invalid("x-oss-fwd-status must be one of "
                       + " ".join(str(s) for s in sorted(ALLOWED_STATUS)) + ".",
                       "x-oss-fwd-status not allowed")
    status = int(text)
    out: List[Tuple[str, str]] = []
    seen = set()
    for name_b, value_b in raw:
        if not name_b.lower().startswith(FWD_PREFIX):
            continue
        name = name_b[len(FWD_PREFIX):].decode("latin-1")
        low = name.lower()
        if not _TOKEN_RE.fullmatch(name):
            raise _invalid("A forwarded header name is not a valid header name.", "bad forwarded header name")
        if low in UNFORWARDABLE:
            raise _invalid(f"The header {name} cannot be forwarded.", f"{name} cannot be forwarded")
        if low in seen:
            raise _invalid(f"The forwarded header {name} appears more than once.", f"{name} repeated")
        seen.add(low)
        value = value_b.decode("latin-1")
        if _VALUE_BAD.search(value) or not value.strip():
            raise _invalid(f"The forwarded header {name} has an empty value or a control character.",
                           f"{name} value malformed")
        out.append((FORWARDED.get(low, name), value.strip()))
    values = {n.lower(): v for n, v in out}
    crange = values.get("content-range")
    if status == 206 and crange is None:
        raise _invalid("Status 206 needs x-oss-fwd-header-Content-Range.", "206 without Content-Range")
    if crange is not None:
        if status == 416:
            if not _UNSAT_RANGE.fullmatch(crange):
                raise _invalid("With status 416, Content-Range must be 'bytes */<size>'.",
                               "Content-Range malformed")
        elif status != 206:
            raise _invalid("Content-Range is forwarded only with status 206 or 416.",
                           "Content-Range with another status")
        else:
            m = _CONTENT_RANGE.fullmatch(crange)
            first, last = (range_number(m.group(1)), range_number(m.group(2))) if m else (0, -1)
            if (not m or last < first or last >= BEYOND
                    or (m.group(3) != "*" and last >= range_number(m.group(3)))
                    or last - first + 1 != length):
                raise _invalid("Content-Range does not parse, or does not match the body's length.",
                               "Content-Range malformed")
    modified = values.get("last-modified")
    if modified is not None and not _is_http_date(modified):
        raise _invalid("Last-Modified must be an HTTP date.", "Last-Modified malformed")
    return status, out


def _is_http_date(value: str) -> bool:
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(value) is not None
    except (TypeError, ValueError, IndexError):
        return False


def _content_md5(value: Optional[str]) -> Optional[bytes]:
    """The digest a Content-MD5 header announces; Refusal InvalidDigest if it is not one."""
    if value is None:
        return None
    try:
        digest = base64.b64decode(value.strip(), validate=True)
    except (ValueError, binascii.Error):
        digest = b""
    if len(digest) != 16:
        raise Refusal(400, "InvalidDigest", "The Content-MD5 you specified is not valid.", "Content-MD5 malformed")
    return digest


def _invalid(message: str, reason: str) -> Refusal:
    return Refusal(400, "InvalidArgument", message, reason)


def _content_length(request: web.Request) -> int:
    if "Transfer-Encoding" in request.headers or "Content-Length" not in request.headers:
        raise Refusal(411, "MissingContentLength", "You must provide the Content-Length HTTP header.",
                      "no Content-Length (chunked or none)")
    text = request.headers["Content-Length"].strip()
    if not text.isdigit():
        raise _invalid("Content-Length is not a number.", "Content-Length malformed")
    return int(text)


def _refuse_wgor(request: web.Request, state: State, refusal: Refusal, rid: str,
                 key: Optional[str] = None) -> web.Response:
    state.stats["wgor_refused"] += 1
    log.info("WriteGetObjectResponse%s refused: %d %s, %s [%s]",
             f" for {key!r}" if key is not None else "", refusal.status, refusal.code, refusal.reason, rid)
    return error_response(request, refusal, rid)


if sys.version_info >= (3, 11):
    async def _read(content: Any, timeout: float) -> bytes:
        async with asyncio.timeout(timeout):
            return await content.readany()  # type: ignore[no-any-return]
else:  # pragma: no cover - older Pythons
    async def _read(content: Any, timeout: float) -> bytes:
        return await asyncio.wait_for(content.readany(), timeout)  # type: ignore[no-any-return]


async def write_get_object_response(request: web.Request, state: State, path: str,
                                    query: str) -> web.StreamResponse:
    rid = request_id()
    started = time.monotonic()
    raw = request.raw_headers
    try:
        length = _content_length(request)
        announced = verify_wgor(raw, path, query, state.credentials, state.region)
        md5 = _content_md5(request.headers.get("Content-MD5"))
        ex = state.lookup(request.headers.get("x-oss-request-route"),
                          request.headers.get("x-oss-request-token"))
        status, forwarded = _forwarded(raw, length)
    except Refusal as refusal:
        return _refuse_wgor(request, state, refusal, rid)
    state.claim(ex)
    resp = web.StreamResponse(status=status, headers=common_headers(ex.rid))
    try:
        return await _relay(request, state, ex, resp, rid, started, status, forwarded, length, announced, md5)
    except BaseException:
        # Whatever went wrong, the claimed exchange ends now: its timer is gone, and its
        # client would otherwise wait for ever.
        if ex.state != FINISHED:
            ex.reason = "internal error while relaying"
            if resp.prepared:
                if ex.request.transport is not None:
                    ex.request.transport.close()
                state.finish(ex, resp)
            else:
                state.finish(ex, Refusal(500, "InternalError", "We encountered an internal error. "
                                         "Please try again.", ex.reason))
        raise


async def _relay(request: web.Request, state: State, ex: Exchange, resp: web.StreamResponse, rid: str,
                 started: float, status: int, forwarded: List[Tuple[str, str]], length: int,
                 announced: Optional[str], md5: Optional[bytes]) -> web.StreamResponse:
    """Relay a claimed WriteGetObjectResponse to its client through ``resp``."""
    client = ex.request
    if client.transport is None or client.transport.is_closing():
        return _client_gone(request, state, ex, rid)
    if (request.version == HttpVersion11
            and request.headers.get("Expect", "").strip().lower() == "100-continue"):
        # Only now, every check passed, is the sender asked for its body (see _defer_continue).
        try:
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        except ConnectionError:
            ex.reason = "function's request broke off"
            state.finish(ex, Refusal(502, "FunctionFailed", "The function's WriteGetObjectResponse broke off.",
                                     ex.reason))
            raise
        request.writer.output_size = 0  # as aiohttp's own: the reply proper has not started
    for name, value in forwarded:
        resp.headers[name] = value
    if status != 304:
        resp.content_length = length
    digests = []
    if announced:
        digests.append((hashlib.sha256(), bytes.fromhex(announced)))
    if md5 is not None:
        digests.append((hashlib.md5(), md5))
    try:
        await resp.prepare(client)
        failure = await _pump(request, ex, resp, length, digests, state.config.timeout,
                              with_body=ex.method == "GET" and status != 304)
        if failure is None:
            await resp.write_eof()
    except ConnectionError:
        return _client_gone(request, state, ex, rid, resp)
    if failure is not None:
        return await _relay_failed(request, state, ex, resp, failure, rid)

    state.stats["relayed"] += 1
    state.stats["bytes_relayed"] += ex.sent
    state.finish(ex, resp)
    log.info("WriteGetObjectResponse for %r: status %d, %d bytes relayed, %.3f s [%s]",
             ex.key, status, length, time.monotonic() - started, rid)
    return web.Response(status=200, headers=common_headers(rid))


async def _pump(request: web.Request, ex: Exchange, resp: web.StreamResponse, length: int,
                digests: List[Tuple[Any, bytes]], timeout: float, with_body: bool) -> Optional[str]:
    """Copy ``length`` body bytes from the sender to the client, one chunk at a time (each
    write waits for the client to drain). Returns None, or the failure's name (_FAILURES).

    With digests to check (Content-MD5, a signed payload hash), the last chunk is held back
    until they match: a body that does not match never reaches the client whole.
    """
    held = b""
    received = 0
    while received < length:
        try:
            chunk = await _read(request.content, timeout)
        except asyncio.TimeoutError:
            return "stalled"
        except Exception:  # the sender went away; aiohttp's payload errors vary by version
            return "short"
        if not chunk:
            return "short"
        received += len(chunk)
        if digests:
            for digest, _ in digests:
                digest.update(chunk)
            chunk, held = held, chunk
        if with_body and chunk:
            await resp.write(chunk)
            ex.sent += len(chunk)
    if any(digest.digest() != want for digest, want in digests):
        return "digest"
    if with_body and held:
        await resp.write(held)
        ex.sent += len(held)
    return None


#: what the sender of a relay that failed is answered (and the reason logged)
_FAILURES = {
    "stalled": Refusal(400, "RequestTimeout", "Your socket connection to the server was not read from or "
                       "written to within the timeout period.", "function's body stalled"),
    "short": Refusal(400, "IncompleteBody", "The body did not arrive in full.", "function's body stopped short"),
    "digest": Refusal(400, "InvalidDigest", "The body does not match its Content-MD5 or x-oss-content-sha256.",
                      "body does not match its Content-MD5 or x-oss-content-sha256"),
}


async def _relay_failed(request: web.Request, state: State, ex: Exchange, resp: web.StreamResponse,
                        failure: str, rid: str) -> web.Response:
    """The client has a head and part of a body: all that can be done is drop it. The sender
    gets the error; a sender whose body stalled or stopped short loses its connection too."""
    client = ex.request
    if client.transport is not None:
        client.transport.close()
    refusal = _FAILURES[failure]
    ex.reason = refusal.reason
    state.finish(ex, resp)
    reply = _refuse_wgor(request, state, refusal, rid, ex.key)
    if failure == "digest":  # the whole body was read: the connection is in a clean state
        reply.force_close()
        return reply
    return await _reply_and_close(request, reply)


def _client_gone(request: web.Request, state: State, ex: Exchange, rid: str,
                 resp: Optional[web.StreamResponse] = None) -> web.Response:
    """The waiting client disconnected: the WriteGetObjectResponse fails. The rest of its body
    is read and dropped (aiohttp's lingering read, bounded in time) so that the sender gets
    the error, then its connection is closed."""
    ex.reason = "client disconnected"
    state.finish(ex, resp if resp is not None else Refusal(400, "ClientDisconnected", "gone"))
    reply = _refuse_wgor(request, state, Refusal(
        400, "ClientDisconnected", "The client disconnected before the response was delivered.",
        "client disconnected"), rid, ex.key)
    reply.force_close()
    return reply


async def _reply_and_close(request: web.Request, reply: web.Response) -> web.Response:
    """Write ``reply`` now, then close the connection without reading the rest of the body."""
    try:
        await reply.prepare(request)
        await reply.write_eof()
    except ConnectionError:
        pass
    request.protocol.force_close()
    return reply


async def _defer_continue(request: web.Request) -> None:
    """The route's Expect handler: sends nothing. aiohttp's sends ``100 Continue`` before the
    handler runs, so a sender whose WriteGetObjectResponse is then refused (signature, token)
    had already been told to upload its whole body. A WriteGetObjectResponse that passes its
    checks is sent its ``100 Continue`` by :func:`_relay`; any other request gets its final
    reply at once, which RFC 9110 allows in place of the interim one."""
    return None


def make_app(config: EmulatorConfig) -> web.Application:
    """The emulator as an aiohttp application; its state is ``app[STATE]``."""
    app = web.Application()
    state = State(config)
    app[STATE] = state

    async def on_shutdown(_app: web.Application) -> None:
        state.shutdown()

    app.on_shutdown.append(on_shutdown)
    app.router.add_route("*", "/{tail:.*}", dispatch, expect_handler=_defer_continue)
    return app
