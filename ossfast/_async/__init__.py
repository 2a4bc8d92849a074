"""The asyncio driver: ``AsyncClient`` over its own connection pool on the running loop."""
from .client import AsyncClient

__all__ = ["AsyncClient"]
