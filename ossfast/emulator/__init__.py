"""A local Object FC Access Point: run an FC transform on a laptop, with the clients you use.

::

    from ossfast.emulator import Emulator
    with Emulator("objects/", "my_transform:handler", timeout=10) as emu:
        urllib.request.urlopen(emu.url + "/photo.jpg").read()   # the transformed object

or ``python -m ossfast emulate --root objects/ --handler my_transform:handler``
(:func:`serve`). It needs aiohttp (``pip install ossfast[emulator]``).

What a client sees
    ``GET /<key>`` (or ``HEAD``) serves the object that ``<key>`` names under the root, as
    transformed by the handler. Path-style ``GET /<alias>/<key>``, where the first segment
    has the access point alias form ``<name>-<hash>-opapalias``, works too: that is how oss2
    (``Bucket(auth, emu.url, alias, is_cname=True)``) and alibabacloud-oss-v2
    (``use_cname=True``) address an IP endpoint. Any client works (curl, a browser, the SDKs):
    **the clients' own signatures are not checked**. An unknown key is 404 ``NoSuchKey``
    without invoking the handler; a path that could leave the root (``..``, ``%2e%2e``,
    ``..%2f``, a backslash, NUL, an absolute path, a symlink pointing out) is refused and
    never served; other methods are 405.

What the handler gets
    ``handler(event_json_bytes, context)`` on a thread of its own, as FC calls a function:
    ``context.credentials`` (``access_key_id``, ``access_key_secret``, ``security_token``),
    ``context.region``, ``context.request_id``, ``context.function.name``; and, while the
    emulator runs, ``ALIBABA_CLOUD_ACCESS_KEY_ID`` / ``_SECRET`` / ``ALIBABA_CLOUD_SECURITY_TOKEN``,
    ``FC_REGION`` and ``OSSFAST_ENDPOINT`` (the emulator's URL) in the environment. The
    credentials are a fresh random STS AccessKey pair and token per run unless given. The
    event (see :mod:`ossfast.emulator.context`) holds ``getObjectContext`` (``inputOssUrl``,
    ``outputRoute``, ``outputToken``), as OSS sends it, and ``userRequest`` (the client's
    ``url`` and ``headers``: Range, If-None-Match...), the emulator's addition shaped as S3
    Object Lambda's. ``inputOssUrl`` reads the original object as OSS serves it (ETag,
    Last-Modified, Content-Type, Content-Length, x-oss-hash-crc64ecma, Range), signed by the
    emulator with an expiry.

What the handler must do
    Answer with one WriteGetObjectResponse to ``outputRoute`` (ossfast.Client reads
    ``OSSFAST_ENDPOINT`` and sends there; any other sender may post to the emulator's URL
    with the route as Host or not). It is checked as OSS checks it: V1 or V4 signature and
    STS token (403 ``SignatureDoesNotMatch`` / ``InvalidAccessKeyId``), route and single-use
    token (403 ``AccessDenied``), ``x-oss-fwd-status`` and forwarded headers (400
    ``InvalidArgument``), Content-Length (411 ``MissingContentLength``). What passes is
    relayed to the client as it arrives. A handler that raises or returns without
    answering gets its client a 502 at once; no answer within ``timeout`` is a 504.

A request the HTTP parser cannot read gets a 400 ``InvalidRequest`` OSS XML error that
names the flaw without quoting any of its bytes; an error of the emulator's own is a 500
``InternalError`` (the traceback goes to the log, redacted). A connection that has not sent a
whole request head within 75 s of its start or its last reply is closed. The emulator listens
on loopback unless told otherwise, and warns when it is not: its clients are unauthenticated.

Logging goes to ``logging.getLogger("ossfast.emulator")``: one line per request and per
refused WriteGetObjectResponse; never a token, signature, secret or presigned query.
"""
from __future__ import annotations

try:
    import aiohttp  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError("ossfast.emulator needs aiohttp: pip install 'ossfast[emulator]'") from exc

from .app import STATE, make_app
from .config import EmulatorConfig, load_handler
from .context import FCContext
from .server import Emulator, serve

__all__ = ["Emulator", "EmulatorConfig", "FCContext", "STATE", "load_handler", "make_app", "serve"]
