"""``ossfast.AsyncClient``: the same sender for asyncio code.

Each request runs the blocking client in a worker thread: the C core and
socket calls release the GIL, so the event loop stays free while bodies go
out. The constructor takes the same arguments as ``Client`` plus
``max_workers`` (concurrent requests in flight).
"""
from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .client import Client, Result
from .request import PreparedRequest


class AsyncClient:
    def __init__(self, credentials: Any = None, *, max_workers: int = 16, **kwargs: Any) -> None:
        self._client = Client(credentials, **kwargs)
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="ossfast-aio")

    @property
    def client(self) -> Client:
        """The underlying blocking client (shares the pool)."""
        return self._client

    def prepare(self, *args: Any, **kwargs: Any) -> PreparedRequest:
        return self._client.prepare(*args, **kwargs)

    async def write_get_object_response(self, route: str, token: str, status: Any = 200,
                                        body: Any = b"", **kwargs: Any) -> Result:
        if hasattr(body, "__aiter__"):
            raise TypeError("body: async iterators are not supported; pass bytes, a file or a "
                            "synchronous iterable of bytes")
        # Validate on the caller's task, so bad input fails before any thread or socket is involved.
        prepared = self._client.prepare(route, token, status, body, **kwargs)
        loop = asyncio.get_running_loop()
        call = functools.partial(self._client.send, prepared, kwargs.get("progress"))
        return await loop.run_in_executor(self._executor, call)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._executor.shutdown)
        self._client.close()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


__all__ = ["AsyncClient"]
