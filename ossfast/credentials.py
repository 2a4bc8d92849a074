"""Access keys for signing: an AccessKey pair, with an STS security token when temporary.

Credentials are checked when made (so a bad key fails before any request is
built) and never show their secret or token: not in ``repr``, ``str`` or an
error message.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping

from .errors import InvalidRequestError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a cold start pays ~3 ms for it)
if TYPE_CHECKING:
    from typing import Any, Optional

# Environment variable families, in the order they are tried: the one FC and
# the Alibaba Cloud SDKs use, then the one oss2's and alibabacloud-oss-v2's
# EnvironmentVariableCredentialsProvider read.
ENV_FAMILIES = (
    ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_SECURITY_TOKEN"),
    ("OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET", "OSS_SESSION_TOKEN"),
)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _check(value: Any, field: str, *, secret: bool, ascii_only: bool = False) -> str:
    """``value`` if it is a usable credential string; an error naming ``field`` (never the value) if not."""
    if not isinstance(value, str):
        raise InvalidRequestError(f"{field} must be a str, not {type(value).__name__}", field)
    if not value:
        raise InvalidRequestError(f"{field} must not be empty", field)
    if _CONTROL.search(value):
        raise InvalidRequestError(f"{field} must not contain control characters", field)
    if value != value.strip(" \t"):
        raise InvalidRequestError(f"{field} must not begin or end with blanks", field)
    if not secret and ("," in value or "/" in value):
        # the key id stands in "Credential=<id>/<scope>," of a V4 Authorization header
        raise InvalidRequestError(f"{field} must not contain ',' or '/'", field)
    if ascii_only or secret:
        try:
            value.encode("ascii")
        except UnicodeEncodeError:
            raise InvalidRequestError(f"{field} must be ASCII", field) from None
    return value


class Credentials:
    """An AccessKey ID and secret, plus a security token for STS credentials.

    Immutable. ``repr`` shows the key id only.
    """

    __slots__ = ("access_key_id", "access_key_secret", "security_token")

    access_key_id: str
    access_key_secret: str
    security_token: Optional[str]

    def __init__(self, access_key_id: str, access_key_secret: str,
                 security_token: Optional[str] = None) -> None:
        set_ = object.__setattr__
        set_(self, "access_key_id", _check(access_key_id, "access_key_id", secret=False, ascii_only=True))
        set_(self, "access_key_secret", _check(access_key_secret, "access_key_secret", secret=True))
        if security_token is None or security_token == "":
            set_(self, "security_token", None)
        else:
            set_(self, "security_token", _check(security_token, "security_token", secret=True))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Credentials are immutable; cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Credentials are immutable; cannot delete {name!r}")

    def __repr__(self) -> str:
        token = "<hidden>" if self.security_token is not None else "None"
        return (f"Credentials(access_key_id={self.access_key_id!r}, access_key_secret=<hidden>, "
                f"security_token={token})")

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Credentials):
            return NotImplemented
        return (self.access_key_id, self.access_key_secret, self.security_token) == (
            other.access_key_id, other.access_key_secret, other.security_token)

    def __hash__(self) -> int:
        return hash((self.access_key_id, self.access_key_secret, self.security_token))

    def __reduce__(self) -> Any:
        return (Credentials, (self.access_key_id, self.access_key_secret, self.security_token))

    @property
    def is_sts(self) -> bool:
        """True for temporary (STS) credentials, which carry a security token."""
        return self.security_token is not None

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None) -> "Credentials":
        """Credentials from ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET / ALIBABA_CLOUD_SECURITY_TOKEN,
        else from OSS_ACCESS_KEY_ID / OSS_ACCESS_KEY_SECRET / OSS_SESSION_TOKEN (oss2's names).

        The token comes from the same family as the key. Blanks around values are dropped.
        """
        env = os.environ if environ is None else environ
        partial = None
        for id_var, secret_var, token_var in ENV_FAMILIES:
            key_id = (env.get(id_var) or "").strip()
            secret = (env.get(secret_var) or "").strip()
            if key_id and secret:
                token = (env.get(token_var) or "").strip() or None
                try:
                    creds = cls(key_id, secret, token)
                except InvalidRequestError as exc:
                    var = {"access_key_id": id_var, "access_key_secret": secret_var,
                           "security_token": token_var}.get(exc.field or "", id_var)
                    raise InvalidRequestError(
                        f"environment variable {var}: {exc}", var) from None
                if _sts_without_token(creds):
                    raise InvalidRequestError(
                        f"environment variable {token_var} is not set, but {id_var} is an STS key "
                        f"(STS.*): {_STS_HINT}", token_var)
                return creds
            if partial is None and (key_id or secret):
                partial = secret_var if key_id else id_var
        if partial is not None:
            raise InvalidRequestError(f"environment variable {partial} is not set", partial)
        first, second = ENV_FAMILIES
        raise InvalidRequestError(
            f"no credentials in the environment: environment variable {first[0]} is not set "
            f"(set {first[0]} and {first[1]}, or {second[0]} and {second[1]})", first[0])

    @classmethod
    def from_fc_context(cls, context: Any) -> "Credentials":
        """Credentials from a Function Compute handler's ``context.credentials``
        (access_key_id / access_key_secret / security_token); on runtimes that
        pass them in the environment instead, from :meth:`from_env`.
        """
        creds = getattr(context, "credentials", None)
        if creds is not None:
            key_id = _fc_attr(creds, "access_key_id", "accessKeyId")
            secret = _fc_attr(creds, "access_key_secret", "accessKeySecret")
            token = _fc_attr(creds, "security_token", "securityToken")
            if key_id or secret:
                try:
                    creds = cls(key_id, secret, token or None)
                except InvalidRequestError as exc:
                    field = f"context.credentials.{exc.field}"
                    raise InvalidRequestError(f"context.credentials.{exc}", field) from None
                if _sts_without_token(creds):
                    raise InvalidRequestError(
                        f"context.credentials.security_token is missing, but access_key_id is an STS key "
                        f"(STS.*): {_STS_HINT}", "context.credentials.security_token")
                return creds
        return cls.from_env()


_STS_HINT = "OSS refuses temporary keys without their security token (\"The Access Key ID does not exist\")"


def _sts_without_token(creds: Credentials) -> bool:
    """An STS AccessKey ID (they all begin with ``STS.``) with no security token: a key read
    without its token, which OSS would refuse only after the request (and its body) went out."""
    return creds.security_token is None and creds.access_key_id.startswith("STS.")


def _fc_attr(obj: Any, *names: str) -> Any:
    for name in names:
        value = getattr(obj, name, None)
        if value is None and isinstance(obj, Mapping):
            value = obj.get(name)
        if value is not None:
            return value
    return None


__all__ = ["Credentials", "ENV_FAMILIES"]
