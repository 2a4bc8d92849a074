"""Ports that refuse connections or never accept them (no server thread behind either).

- ``ClosedPort``: connect() gets ECONNREFUSED for as long as the object is open.
- ``UnacceptedListener``: connect() succeeds, a few KiB of request fit in its buffer, and
  nothing ever answers.
"""

from __future__ import annotations

import socket

from srv_loopback import HOST


class ClosedPort:
    """A port nothing listens on: a socket bound but not listening holds it, so connect() gets
    ECONNREFUSED for as long as this object is open (no other process can take the port)."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind((HOST, 0))
        self.port: int = self._sock.getsockname()[1]
        self.url = "http://%s:%d" % (HOST, self.port)

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> "ClosedPort":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class UnacceptedListener(ClosedPort):
    """A listening socket that never accepts: connect() succeeds (the kernel queues up to
    `backlog` + 1 connections), a few KiB of request go into its buffer, and nothing answers."""

    def __init__(self, backlog: int = 1, rcvbuf: int = 4096) -> None:
        super().__init__()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self._sock.listen(backlog)
