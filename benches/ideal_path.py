"""An experiment for ``ab_small.py --ideal``: how fast could a 1 KiB WGOR go in Python at all?

``install(client, route)`` replaces ``client.write_get_object_response`` (on that one object)
with the least Python a fast path could run for the benchmark's request: one frame, with the
same work the real fast path does on the wire and in C (the route's one-call head builder and
its signature, the ``poll(0)`` staleness check, one ``send``, one ``recv``, the connection's
reply reader, a ``Result``), and none of its bookkeeping: no credential-provider check, no
pool re-checks after ``close()``, no per-connection timeout update, no debug-log check, no
forwarded headers, one route, plain HTTP only. Anything else raises RuntimeError.

It is not a contender and not a design: it reaches into internals (the client's route table,
its pool's idle list) and breaks when they change. It answers one question with a number
measured in the same rounds as the real client: how much of the distance to a raw socket is
the Python of the fast path, and how much is the work any signed, checked request needs.
"""
from __future__ import annotations

import time
from typing import Any

from ossfast._outcome import Result

_perf_counter = time.perf_counter


def install(client: Any, route: str) -> None:
    """Send twice the regular way (which learns the route and opens the connection), then
    replace the client's write_get_object_response with the one-frame path."""
    for _ in range(2):  # the second send reuses the connection: its poller is made
        client.write_get_object_response(route, "warm-up-token", 200, b"x")
    head = client._keys.lanes[route][2]  # token, status, body, fwd, nfwd -> (head, crc)
    idle = client._pool._idle[client._endpoint]
    idle_timeout = client._pool.idle_timeout

    def ideal(route_: str, token: str, status: int = 200, body: bytes = b"", **kwargs: Any) -> Result:
        start = _perf_counter()
        if (not kwargs and route_ == route and type(body) is bytes and len(body) <= 65536
                and type(status) is int and type(token) is str and idle):
            made = head(token.encode("ascii"), status, body, b"", 0)
            conn = idle.pop()
            if start - conn.idle_since < idle_timeout and conn.plain and not conn._poller(0):
                sock = conn.sock
                data = made[0] + body
                if sock.send(data) == len(data):
                    reply = conn.reply_parser.first(sock.recv(16384))
                    if reply is not None and reply.keep_alive and 200 <= reply.status < 300:
                        end = _perf_counter()
                        conn.idle_since = end
                        idle.append(conn)
                        return Result(reply.status, None, reply, len(body), made[1], end - start, 1, True)
        raise RuntimeError("ideal_path: not the benchmark's request")

    # idle_since is compared with time.monotonic() by the pool; on Linux both clocks are
    # CLOCK_MONOTONIC, and this probe only runs there.
    client.write_get_object_response = ideal
