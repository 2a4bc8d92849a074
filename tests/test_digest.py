"""digest(): CRC-64 (and MD5) over a list of buffers in one pass, on the live backend.

The CRC is checked against the backend's own crc64 of the concatenation (crc64
has its own vectors elsewhere), the MD5 against hashlib.
"""
from __future__ import annotations

import hashlib
import mmap
import os
import random
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ossfast
from ossfast import _pure
from ossfast._backend import impl

try:
    from ossfast import _native
except ImportError:
    _native = None

needs_native = pytest.mark.skipif(_native is None, reason="compiled core unavailable")
# Sizes around the 8 KiB blocks the native digest walks a buffer in, and the MD5 block.
BLOCK_EDGES = [0, 1, 63, 64, 65, 8191, 8192, 8193, 16383, 16384, 16385, 32768 + 7, 100_003]


def test_backend_is_the_one_asked_for():
    wanted = os.environ.get("OSSFAST_BACKEND", "auto")
    if wanted in ("native", "python"):
        assert ossfast.backend == wanted
        assert impl.NAME == wanted


def _check(bufs, crc=0, prefix=b""):
    joined = b"".join(bytes(b) for b in bufs)
    # without md5
    assert impl.digest(bufs, crc) == impl.crc64(joined, crc)
    # with md5, which may already hold some data
    h = impl.Md5(prefix)
    got = impl.digest(bufs, crc, h)
    assert got == impl.crc64(joined, crc)
    assert h.digest() == hashlib.md5(prefix + joined).digest()


buffers = st.lists(st.one_of(st.binary(max_size=4), st.binary(max_size=300), st.binary(max_size=3000)),
                   max_size=40)


@settings(max_examples=300, deadline=None)
@given(buffers, st.integers(0, 2**64 - 1), st.binary(max_size=130))
def test_digest_random_lists(bufs, crc, prefix):
    _check(bufs, crc, prefix)


def test_digest_many_tiny_and_empty():
    rng = random.Random(11)
    bufs = [rng.randbytes(rng.choice((0, 0, 1, 2, 3, 5))) for _ in range(5000)]
    _check(bufs)
    _check([b""] * 100)
    _check([])


def test_digest_block_edges():
    rng = random.Random(12)
    for n in BLOCK_EDGES:
        data = rng.randbytes(n)
        _check([data], prefix=rng.randbytes(rng.randrange(64)))
        _check([data[:n // 3], data[n // 3:], b"", data[:5]])


def test_digest_empty_list_returns_crc():
    assert impl.digest([], 0) == 0
    assert impl.digest([], 12345) == 12345
    h = impl.Md5(b"x")
    assert impl.digest([b""], 99, h) == 99
    assert h.digest() == hashlib.md5(b"x").digest()


def test_digest_buffer_types(tmp_path):
    rng = random.Random(13)
    data = rng.randbytes(50_000)
    path = tmp_path / "blob"
    path.write_bytes(data)
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        bufs = [data[:10], bytearray(data[10:20_000]), memoryview(data)[20_000:30_000], m]
        h = impl.Md5()
        crc = impl.digest(bufs, 0, h)
        whole = data[:30_000] + data
        assert crc == impl.crc64(whole)
        assert h.digest() == hashlib.md5(whole).digest()
        del bufs


def test_digest_accepts_a_tuple_and_a_generator():
    parts = (b"ab", b"cd", b"ef")
    assert impl.digest(parts) == impl.crc64(b"abcdef")
    assert impl.digest(p for p in parts) == impl.crc64(b"abcdef")


@pytest.mark.parametrize("bad", ["text", 1, None, memoryview(b"abcdef")[::2]],
                         ids=["str", "int", "None", "strided"])
def test_digest_rejects_non_buffers(bad):
    with pytest.raises(TypeError):
        impl.digest([b"ok", bad])
    h = impl.Md5()
    with pytest.raises(TypeError):
        impl.digest([b"ok", bad], 0, h)
    assert h.digest() == hashlib.md5().digest()  # nothing hashed before the error


def test_digest_rejects_bad_arguments():
    with pytest.raises(TypeError):
        impl.digest(b"abc")  # ints are not buffers: a bare bytes is a mistake
    with pytest.raises(TypeError):
        impl.digest([b"abc"], "0")
    with pytest.raises(ValueError):
        impl.digest([b"abc"], -1)
    with pytest.raises(ValueError):
        impl.digest([b"abc"], 1 << 64)
    with pytest.raises(TypeError):
        impl.digest([b"abc"], 0, hashlib.md5())


def test_digest_threads():
    """Each thread its own buffers and Md5; the C calls run without the GIL."""
    errors = []
    start = threading.Barrier(4)

    def work(seed):
        try:
            rng = random.Random(seed)
            bufs = [rng.randbytes(rng.randrange(200_000)) for _ in range(8)]
            joined = b"".join(bufs)
            want_crc = impl.crc64(joined)
            want_md5 = hashlib.md5(joined).digest()
            start.wait()
            for _ in range(5):
                h = impl.Md5()
                assert impl.digest(bufs, 0, h) == want_crc
                assert h.digest() == want_md5
        except BaseException as exc:
            errors.append(exc)

    if impl.NAME == "python":
        pytest.skip("the pure-Python digest holds the GIL; nothing to race")
    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


@needs_native
@settings(max_examples=100, deadline=None)
@given(buffers, st.integers(0, 2**64 - 1))
def test_native_and_pure_agree(bufs, crc):
    n, p = _native.Md5(), _pure.Md5()
    assert _native.digest(bufs, crc, n) == _pure.digest(bufs, crc, p)
    assert n.digest() == p.digest()
