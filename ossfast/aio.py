"""``ossfast.AsyncClient``: the same sender for asyncio code (see ``ossfast._async``)."""
from ._async import AsyncClient

__all__ = ["AsyncClient"]
