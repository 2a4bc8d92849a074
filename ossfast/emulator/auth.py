"""Checking a WriteGetObjectResponse's signature as OSS would, and the emulator's own URL signing.

Rules:
* the canonical strings are computed from the headers that arrived (names lowercased,
  values as received), not from what ossfast would have sent, so that oss2 and any other
  correct signer is accepted; the pure-Python twin (``ossfast._pure``) builds them;
* order of checks: the Authorization header's form, the AccessKey id, the STS token,
  the request time, then the signature; every secret comparison is ``hmac.compare_digest``;
* a missing STS token is ``InvalidAccessKeyId`` ("The Access Key ID does not exist", as
  OSS answers); a wrong one, or one sent with a permanent AccessKey, is
  ``SignatureDoesNotMatch``;
* messages name headers, never their values.

The ``inputOssUrl`` of an event is signed here too, with a per-run secret that only the
emulator knows (HMAC-SHA256 over the object key and the signing time, with an expiry).
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import re
import secrets
import time
from email.utils import parsedate_to_datetime
from typing import Dict, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import quote, unquote

from .. import _pure
from ..credentials import Credentials
from ..errors import InvalidRequestError
from .oss import Refusal

#: how far a request's Date / x-oss-date may be from the emulator's clock, as in OSS
MAX_SKEW = 15 * 60
V1_RESOURCE = b"/?x-oss-write-get-object-response"
V4_ALGORITHM = "OSS4-HMAC-SHA256"
_V1_SIGNED = frozenset(("content-md5", "content-type", "date"))
_V4_SIGNED = frozenset(("content-md5", "content-type"))
_V4_DATE = re.compile(r"[0-9]{8}T[0-9]{6}Z")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_UNRESERVED = "-_.~"

RawHeaders = Sequence[Tuple[bytes, bytes]]


def _denied_signature(reason: str) -> Refusal:
    return Refusal(403, "SignatureDoesNotMatch",
                   "The request signature we calculated does not match the signature you provided. "
                   "Check your key and signing method.", reason)


def _bad_auth(reason: str) -> Refusal:
    return Refusal(400, "InvalidArgument", f"Authorization header is invalid: {reason}.",
                   f"malformed Authorization header: {reason}")


def _values(raw: RawHeaders, name: bytes) -> List[bytes]:
    return [v for n, v in raw if n.lower() == name]


def _one(raw: RawHeaders, name: str) -> Optional[str]:
    vals = _values(raw, name.encode("ascii"))
    if not vals:
        return None
    if len(vals) > 1:
        raise Refusal(400, "InvalidArgument", f"Header {name} appears more than once.",
                      f"{name} repeated")
    return vals[0].decode("latin-1")


def _block(raw: RawHeaders, keep: "frozenset[str]") -> bytes:
    """The signed headers of ``raw`` as a 'name: value' block, for the twin's canonicalizer."""
    lines = []
    for name, value in raw:
        low = name.lower()
        text = low.decode("latin-1")
        if text.startswith("x-oss-") or text in keep:
            lines.append(low + b": " + value)
    return b"\r\n".join(lines)


def _check_credentials(raw: RawHeaders, key_id: str, creds: Credentials) -> None:
    if key_id != creds.access_key_id:
        raise Refusal(403, "InvalidAccessKeyId",
                      "The OSS Access Key Id you provided does not exist in our records.",
                      "unknown AccessKey id")
    token = _one(raw, "x-oss-security-token")
    if creds.security_token is not None:
        if token is None:
            raise Refusal(403, "InvalidAccessKeyId",
                          "The Access Key ID does not exist: temporary (STS) credentials need "
                          "their x-oss-security-token header.", "STS token missing")
        if not hmac.compare_digest(token.encode("latin-1"), creds.security_token.encode("ascii")):
            raise _denied_signature("wrong STS token")
    elif token is not None:
        raise _denied_signature("an STS token sent with a permanent AccessKey")


def _check_time(when: Optional[_dt.datetime], now: float, header: str) -> None:
    if when is None:
        raise Refusal(403, "AccessDenied", f"{header} header is missing or not a valid date.",
                      f"{header} missing or malformed")
    if abs(when.timestamp() - now) > MAX_SKEW:
        raise Refusal(403, "RequestTimeTooSkewed",
                      "The difference between the request time and the current time is too large.",
                      f"{header} more than {MAX_SKEW // 60} minutes off")


def _verify_v1(raw: RawHeaders, credential: str, creds: Credentials, now: float) -> None:
    key_id, colon, signature = credential.partition(":")
    if not colon or not key_id or not signature:
        raise _bad_auth("expected 'OSS <AccessKeyId>:<Signature>'")
    _check_credentials(raw, key_id, creds)
    date = _one(raw, "date")
    try:
        when = parsedate_to_datetime(date) if date else None
    except (TypeError, ValueError, IndexError):
        when = None
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    _check_time(when, now, "Date")
    try:
        expected = _pure.v1_sign(creds.access_key_secret.encode("ascii"), b"POST",
                                 _block(raw, _V1_SIGNED), V1_RESOURCE)
    except InvalidRequestError as exc:
        raise Refusal(400, "InvalidArgument", str(exc), "signed headers unusable") from None
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("latin-1")):
        raise _denied_signature("V1 signature mismatch")


def _v4_encode(text: str, keep_slash: bool) -> str:
    return quote(text, safe=_UNRESERVED + ("/" if keep_slash else ""))


def canonical_query(query: str) -> str:
    """The V4 canonical query of a raw query string: each name and value decoded, encoded
    again by V4's rule, sorted by name; 'name' alone when the value is empty."""
    pairs = []
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((_v4_encode(unquote(name), False), _v4_encode(unquote(value), False)))
    pairs.sort()
    return "&".join(f"{n}={v}" if v else n for n, v in pairs)


def _verify_v4(raw: RawHeaders, fields_text: str, path: str, query: str, creds: Credentials,
               region: str, now: float) -> Optional[str]:
    fields: Dict[str, str] = {}
    for part in fields_text.split(","):
        name, eq, value = part.strip().partition("=")
        if not eq or name in fields:
            raise _bad_auth("expected 'OSS4-HMAC-SHA256 Credential=...,Signature=...'")
        fields[name] = value.strip()
    unknown = set(fields) - {"Credential", "Signature", "AdditionalHeaders"}
    if unknown or "Credential" not in fields or "Signature" not in fields:
        raise _bad_auth("expected the fields Credential, Signature and optionally AdditionalHeaders")
    key_id, _, scope = fields["Credential"].partition("/")
    scope_parts = scope.split("/")
    if not key_id or len(scope_parts) != 4 or scope_parts[3] != "aliyun_v4_request":
        raise _bad_auth("Credential must be '<AccessKeyId>/<YYYYMMDD>/<region>/oss/aliyun_v4_request'")
    day, scope_region, product, _ = scope_parts
    _check_credentials(raw, key_id, creds)
    date = _one(raw, "x-oss-date")
    when = None
    if date is not None and _V4_DATE.fullmatch(date):
        try:
            when = _dt.datetime.strptime(date, "%Y%m%dT%H%M%SZ").replace(tzinfo=_dt.timezone.utc)
        except ValueError:
            when = None
    _check_time(when, now, "x-oss-date")
    assert date is not None
    if day != date[:8]:
        raise _denied_signature("the Credential's day is not x-oss-date's")
    if scope_region != region:
        raise Refusal(403, "SignatureDoesNotMatch",
                      f"The request is signed for region '{scope_region}', but this endpoint's "
                      f"region is '{region}'.", "V4 signed for another region")
    if product != "oss":
        raise _denied_signature("V4 scope's product is not 'oss'")
    payload = _one(raw, "x-oss-content-sha256")
    if payload is None:
        raise Refusal(400, "InvalidArgument", "V4 requests need the x-oss-content-sha256 header.",
                      "x-oss-content-sha256 missing")
    if payload != "UNSIGNED-PAYLOAD" and not _HEX64.fullmatch(payload):
        raise Refusal(400, "InvalidArgument",
                      "x-oss-content-sha256 must be UNSIGNED-PAYLOAD or a hex SHA-256.",
                      "x-oss-content-sha256 malformed")
    additional = fields.get("AdditionalHeaders", "")
    extra = frozenset(h.strip().lower() for h in additional.split(";") if h.strip())
    try:
        sts = _pure.v4_string_to_sign(
            b"POST", _v4_encode(unquote(path), True).encode("ascii"),
            canonical_query(query).encode("ascii"), _block(raw, _V4_SIGNED | extra),
            additional.encode("latin-1"), region.encode("ascii"), b"oss")
    except InvalidRequestError as exc:
        raise Refusal(400, "InvalidArgument", str(exc), "signed headers unusable") from None
    key = _pure.v4_signing_key(creds.access_key_secret.encode("ascii"), day.encode("ascii"),
                               region.encode("ascii"), b"oss")
    expected = _pure.hmac_sha256(key, sts).hex()
    if not hmac.compare_digest(expected.encode("ascii"), fields["Signature"].lower().encode("latin-1")):
        raise _denied_signature("V4 signature mismatch")
    return None if payload == "UNSIGNED-PAYLOAD" else payload.lower()


def verify_wgor(raw: RawHeaders, path: str, query: str, creds: Credentials, region: str,
                now: Optional[float] = None) -> Optional[str]:
    """Check a WriteGetObjectResponse's Authorization (V1 or V4) against ``creds``.

    ``raw`` are the request's headers as received, ``path`` and ``query`` its raw target's
    parts. Returns the body's announced SHA-256 (hex) when a V4 request signed one, else
    None. Raises :class:`Refusal` as OSS would answer.
    """
    now = time.time() if now is None else now
    auth = _one(raw, "authorization")
    if auth is None:
        raise Refusal(403, "AccessDenied", "Anonymous access is forbidden for this operation.",
                      "no Authorization header")
    if auth.startswith("OSS "):
        _verify_v1(raw, auth[4:].strip(), creds, now)
        return None
    if auth.startswith(V4_ALGORITHM + " "):
        return _verify_v4(raw, auth[len(V4_ALGORITHM) + 1:], path, query, creds, region, now)
    raise _bad_auth("unknown signature algorithm (expected 'OSS' or 'OSS4-HMAC-SHA256')")


class OriginSigner:
    """Signs and checks the emulator's ``inputOssUrl`` query: the URL names the object, the
    signing time and a lifetime, and carries HMAC-SHA256(run secret, key, time, lifetime).

    The query looks like an OSS V4 presigned URL's; ``x-oss-credential`` starts with
    :attr:`KEY_ID`, which is how a read of the original object is told from a client GET.
    """

    KEY_ID = "ossfast-emulator-origin"
    PARAMS = ("x-oss-signature-version", "x-oss-credential", "x-oss-date", "x-oss-expires",
              "x-oss-signature")

    def __init__(self, region: str, lifetime: int, secret: Optional[bytes] = None) -> None:
        self.region = region
        self.lifetime = lifetime
        self._secret = secrets.token_bytes(32) if secret is None else secret

    def __repr__(self) -> str:
        return f"<OriginSigner region={self.region!r} lifetime={self.lifetime}>"

    def _mac(self, key: str, date: str, expires: str) -> str:
        msg = "\n".join(("GET", key, date, expires)).encode("utf-8")
        return hmac.new(self._secret, msg, hashlib.sha256).hexdigest()

    def query(self, key: str, now: Optional[float] = None) -> str:
        """The signed query string (no '?') for reading ``key``."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
        expires = str(self.lifetime)
        credential = f"{self.KEY_ID}/{stamp[:8]}/{self.region}/oss/aliyun_v4_request"
        values = (V4_ALGORITHM, credential, stamp, expires, self._mac(key, stamp, expires))
        return "&".join(f"{n}={quote(v, safe='')}" for n, v in zip(self.PARAMS, values))

    @classmethod
    def is_origin(cls, params: Mapping[str, str]) -> bool:
        """True when a request's query names the emulator's origin credential."""
        return params.get("x-oss-credential", "").startswith(cls.KEY_ID + "/")

    def check(self, key: str, params: Mapping[str, str], now: Optional[float] = None) -> None:
        """Raise :class:`Refusal` unless ``params`` sign a read of ``key`` that has not expired."""
        now = time.time() if now is None else now
        date = params.get("x-oss-date", "")
        expires = params.get("x-oss-expires", "")
        signature = params.get("x-oss-signature", "")
        if not (_V4_DATE.fullmatch(date) and expires.isdigit() and signature):
            raise Refusal(403, "AccessDenied", "The presigned URL is incomplete.",
                          "origin URL incomplete")
        if not hmac.compare_digest(self._mac(key, date, expires).encode("ascii"),
                                   signature.encode("utf-8", "replace")):
            raise Refusal(403, "SignatureDoesNotMatch",
                          "The request signature we calculated does not match the signature you "
                          "provided.", "origin URL signature mismatch")
        signed = _dt.datetime.strptime(date, "%Y%m%dT%H%M%SZ").replace(tzinfo=_dt.timezone.utc)
        if now > signed.timestamp() + int(expires):
            raise Refusal(403, "AccessDenied", "Request has expired.", "origin URL expired")
