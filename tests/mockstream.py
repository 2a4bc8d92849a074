"""A mock byte stream for the sans-IO parts: the same bytes cut every way a socket could cut them."""
from __future__ import annotations

import random
from typing import Iterator, List


class MockStream:
    """Bytes a peer sent, handed out as a socket's recv() would: in pieces of any size.

    ``cuts(data)`` yields the ways to cut it: whole, byte by byte, every two-piece split (for
    data up to ``exhaustive`` bytes), and ``random_cuts`` random splits.
    """

    def __init__(self, data: bytes, pieces: List[int]) -> None:
        self.data = data
        self.pieces = pieces
        self.pos = 0

    def recv(self, _bufsize: int = 65536) -> bytes:
        if not self.pieces:
            return b""
        n = self.pieces.pop(0)
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    @classmethod
    def cuts(cls, data: bytes, *, exhaustive: int = 400, random_cuts: int = 20,
             seed: int = 0) -> Iterator["MockStream"]:
        yield cls(data, [len(data)])
        yield cls(data, [1] * len(data))
        if len(data) <= exhaustive:
            for i in range(1, len(data)):
                yield cls(data, [i, len(data) - i])
        rng = random.Random(seed)
        for _ in range(random_cuts):
            pieces, left = [], len(data)
            while left:
                n = rng.randint(1, max(1, min(left, 64)))
                pieces.append(n)
                left -= n
            yield cls(data, pieces)
