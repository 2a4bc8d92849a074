"""Function Compute helpers: the Object FC Access Point event and credentials."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Union

from .errors import InvalidRequestError


@dataclass(frozen=True)
class ObjectContext:
    """The ``getObjectContext`` of an Object FC Access Point event."""

    input_oss_url: str
    output_route: str
    output_token: str = field(repr=False)  # single-use credential: kept out of repr
    event: Mapping[str, Any] = field(repr=False, default_factory=dict)

    @classmethod
    def from_event(cls, event: Union[bytes, bytearray, str, Mapping[str, Any]]) -> "ObjectContext":
        """Parse the FC event (JSON bytes/str, or an already decoded mapping)."""
        if isinstance(event, (bytes, bytearray)):
            try:
                event = event.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidRequestError("event: not UTF-8 JSON", field="event") from None
        if isinstance(event, str):
            try:
                event = json.loads(event)
            except ValueError as exc:
                raise InvalidRequestError(f"event: not valid JSON ({exc.args[0] if exc.args else exc})",
                                          field="event") from None
        if not isinstance(event, Mapping):
            raise InvalidRequestError(f"event: expected a JSON object, got {type(event).__name__}",
                                      field="event")
        ctx = event.get("getObjectContext")
        if not isinstance(ctx, Mapping):
            raise InvalidRequestError("event: no getObjectContext object; is this an Object FC Access "
                                      "Point event?", field="getObjectContext")
        values = {}
        for key in ("inputOssUrl", "outputRoute", "outputToken"):
            value = ctx.get(key)
            if not isinstance(value, str) or not value:
                raise InvalidRequestError(f"event: getObjectContext.{key} is missing or empty",
                                          field=f"getObjectContext.{key}")
            values[key] = value
        return cls(values["inputOssUrl"], values["outputRoute"], values["outputToken"], event)


def client_from_context(context: Any, **kwargs: Any) -> Any:
    """A Client signed with the FC context's credentials (or the environment's)."""
    from .client import Client
    from .credentials import Credentials

    return Client(Credentials.from_fc_context(context), **kwargs)
