"""MD5, SHA-1, SHA-256, HMAC and the encoders, on the live backend.

Published vectors come from tests/data/ (via vectors.load); everything else is
checked against hashlib / hmac / base64, and the two backends against each other.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import mmap
import os
import random
import subprocess
import sys
import threading
from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ossfast
from ossfast import _pure
from ossfast._backend import impl

import vectors

try:
    from ossfast import _native
except ImportError:  # the python-backend run may lack the compiled core
    _native = None

needs_native = pytest.mark.skipif(_native is None, reason="compiled core unavailable")

# Lengths around every place where padding changes: 55/56 (length fits in the
# last block or not), 63/64 (block edge), and the same one and two blocks on.
EDGE_LENGTHS = sorted({n + k * 64 for n in (0, 1, 55, 56, 57, 63) for k in range(4)} | {119, 120, 191, 192})


def test_backend_is_the_one_asked_for():
    wanted = os.environ.get("OSSFAST_BACKEND", "auto")
    if wanted in ("native", "python"):
        assert ossfast.backend == wanted
        assert impl.NAME == wanted


# ---- published vectors -------------------------------------------------------

@pytest.mark.parametrize("vec", vectors.load("md5_rfc1321.txt"), ids=lambda v: repr(v["message"][:16]))
def test_md5_rfc1321(vec):
    assert impl.md5(vec["message"]) == vec["digest"]
    h = impl.Md5()
    for i in range(len(vec["message"])):  # one byte at a time: every buffering path
        h.update(vec["message"][i:i + 1])
    assert h.digest() == vec["digest"]
    assert h.hexdigest() == vec["digest"].hex()


@pytest.mark.parametrize("vec", vectors.load("sha_fips180.json"),
                         ids=lambda v: f"{v['alg']}-{len(v['message'])}")
def test_sha_fips180(vec):
    func = {"sha1": impl.sha1, "sha256": impl.sha256}[vec["alg"]]
    assert func(vec["message"]) == vec["digest"]


@pytest.mark.parametrize("vec", vectors.load("hmac_rfc2202.json"), ids=lambda v: f"case{v['case']}")
def test_hmac_sha1_rfc2202(vec):
    # Case 5 is also published truncated to 96 bits: compare the prefix.
    assert impl.hmac_sha1(vec["key"], vec["message"])[:len(vec["digest"])] == vec["digest"]


@pytest.mark.parametrize("vec", vectors.load("hmac_rfc4231.json"), ids=lambda v: f"case{v['case']}")
def test_hmac_sha256_rfc4231(vec):
    # Case 5 publishes only the first 128 bits; cases 6 and 7 have 131-byte keys.
    out = impl.hmac_sha256(vec["key"], vec["message"])
    assert len(out) == 32
    assert out[:len(vec["digest"])] == vec["digest"]


# ---- differential against hashlib / hmac ---------------------------------------

def _random_inputs(seed, count, max_len):
    rng = random.Random(seed)
    for n in EDGE_LENGTHS:
        yield rng.randbytes(n)
    for _ in range(count):
        yield rng.randbytes(rng.randrange(max_len + 1))


def test_md5_sha_random_lengths():
    for data in _random_inputs(1, 2000, 5000):
        assert impl.md5(data) == hashlib.md5(data).digest(), len(data)
        assert impl.sha1(data) == hashlib.sha1(data).digest(), len(data)
        assert impl.sha256(data) == hashlib.sha256(data).digest(), len(data)


def test_every_length_up_to_300():
    data = random.Random(2).randbytes(300)
    for n in range(301):
        m = data[:n]
        assert impl.md5(m) == hashlib.md5(m).digest(), n
        assert impl.sha1(m) == hashlib.sha1(m).digest(), n
        assert impl.sha256(m) == hashlib.sha256(m).digest(), n


def test_hmac_random_keys_and_messages():
    rng = random.Random(3)
    keys = [rng.randbytes(n) for n in (0, 1, 20, 32, 63, 64, 65, 128, 200)]
    keys += [rng.randbytes(rng.randrange(201)) for _ in range(300)]
    for key in keys:
        msg = rng.randbytes(rng.choice((0, 1, 55, 56, 63, 64, 65, rng.randrange(5001))))
        assert impl.hmac_sha1(key, msg) == hmac.new(key, msg, hashlib.sha1).digest(), (len(key), len(msg))
        assert impl.hmac_sha256(key, msg) == hmac.new(key, msg, hashlib.sha256).digest(), (len(key), len(msg))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=5000), st.lists(st.integers(0, 300), max_size=40))
def test_md5_streaming_random_chunks(data, cuts):
    h = impl.Md5()
    ref = hashlib.md5()
    pos = 0
    for c in cuts:
        piece = data[pos:pos + c]
        h.update(piece)
        ref.update(piece)
        pos += len(piece)
        assert h.digest() == ref.digest()  # digest() must not end the stream
    h.update(data[pos:])
    assert h.digest() == hashlib.md5(data).digest()


def test_md5_copy_and_constructor():
    h = impl.Md5(b"hello ")
    c = h.copy()
    h.update(b"world")
    c.update(b"there")
    assert h.digest() == hashlib.md5(b"hello world").digest()
    assert c.digest() == hashlib.md5(b"hello there").digest()
    assert impl.Md5().digest() == hashlib.md5().digest()


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_encoders(data):
    assert impl.base64_encode(data) == base64.b64encode(data)
    assert impl.hex_encode(data) == data.hex().encode()


def test_encoders_short():
    for n in range(8):
        data = bytes(range(250, 250 + n)) if n < 6 else bytes(n)
        assert impl.base64_encode(data) == base64.b64encode(data)
        assert impl.hex_encode(data) == data.hex().encode()
    assert impl.base64_encode(b"\xff" * 3) == b"////"
    assert impl.base64_encode(b"\xfb\xef") == b"++8="


# ---- buffer types --------------------------------------------------------------

def _buffers_of(data):
    yield data
    yield bytearray(data)
    yield memoryview(data)
    yield memoryview(b"xx" + data + b"yy")[2:2 + len(data)]  # a slice: the pointer is offset


def test_buffer_types():
    data = random.Random(4).randbytes(1000)
    for buf in _buffers_of(data):
        assert impl.md5(buf) == hashlib.md5(data).digest()
        assert impl.sha1(buf) == hashlib.sha1(data).digest()
        assert impl.sha256(buf) == hashlib.sha256(data).digest()
        assert impl.hmac_sha1(buf, buf) == hmac.new(data, data, hashlib.sha1).digest()
        assert impl.hmac_sha256(buf, buf) == hmac.new(data, data, hashlib.sha256).digest()
        assert impl.base64_encode(buf) == base64.b64encode(data)
        assert impl.hex_encode(buf) == data.hex().encode()
        h = impl.Md5()
        h.update(buf)
        assert h.digest() == hashlib.md5(data).digest()
    words = array("I", range(100))
    assert impl.md5(words) == hashlib.md5(words.tobytes()).digest()


def test_mmap(tmp_path):
    data = random.Random(5).randbytes(100_000)
    path = tmp_path / "blob"
    path.write_bytes(data)
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        assert impl.md5(m) == hashlib.md5(data).digest()
        assert impl.sha256(m) == hashlib.sha256(data).digest()


@pytest.mark.parametrize("bad", ["text", 123, None, 1.5, [b"a"], memoryview(b"abcdef")[::2]],
                         ids=["str", "int", "None", "float", "list", "strided"])
def test_rejects_non_buffers(bad):
    for func in (impl.md5, impl.sha1, impl.sha256, impl.base64_encode, impl.hex_encode):
        with pytest.raises(TypeError):
            func(bad)
    for func in (impl.hmac_sha1, impl.hmac_sha256):
        with pytest.raises(TypeError):
            func(bad, b"msg")
        with pytest.raises(TypeError):
            func(b"key", bad)
    with pytest.raises(TypeError):
        impl.Md5().update(bad)


def test_public_md5_is_the_backends():
    assert ossfast.md5(b"abc") == hashlib.md5(b"abc").digest()
    assert ossfast.md5 is impl.md5


# ---- threads -------------------------------------------------------------------

def test_threads_hash_concurrently():
    """cffi releases the GIL during each C call: threads must not share state."""
    errors = []
    start = threading.Barrier(6)

    def work(seed):
        try:
            rng = random.Random(seed)
            start.wait()
            for _ in range(30):
                data = rng.randbytes(rng.randrange(1, 300_000))
                key = rng.randbytes(rng.randrange(201))
                assert impl.md5(data) == hashlib.md5(data).digest()
                assert impl.sha1(data) == hashlib.sha1(data).digest()
                assert impl.sha256(data) == hashlib.sha256(data).digest()
                assert impl.hmac_sha256(key, data) == hmac.new(key, data, hashlib.sha256).digest()
                h = impl.Md5()
                for i in range(0, len(data), 7919):
                    h.update(data[i:i + 7919])
                assert h.digest() == hashlib.md5(data).digest()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


# ---- the two backends agree, and both native code paths agree --------------------

@needs_native
def test_native_and_pure_agree():
    rng = random.Random(6)
    for _ in range(500):
        data = rng.randbytes(rng.randrange(3000))
        key = rng.randbytes(rng.randrange(201))
        for name in ("md5", "sha1", "sha256", "base64_encode", "hex_encode"):
            assert getattr(_native, name)(data) == getattr(_pure, name)(data), name
        for name in ("hmac_sha1", "hmac_sha256"):
            assert getattr(_native, name)(key, data) == getattr(_pure, name)(key, data), name
        n, p = _native.Md5(), _pure.Md5()
        n.update(data)
        p.update(data)
        assert n.digest() == p.digest()


_PORTABLE_CHECK = r"""
import hashlib, hmac, random
from ossfast import _native
rng = random.Random(7)
for n in list(range(300)) + [rng.randrange(5000) for _ in range(300)]:
    m = rng.randbytes(n)
    k = rng.randbytes(rng.randrange(201))
    assert _native.sha1(m) == hashlib.sha1(m).digest(), n
    assert _native.sha256(m) == hashlib.sha256(m).digest(), n
    assert _native.hmac_sha1(k, m) == hmac.new(k, m, hashlib.sha1).digest(), n
    assert _native.hmac_sha256(k, m) == hmac.new(k, m, hashlib.sha256).digest(), n
print("ok")
"""


@needs_native
def test_portable_sha_path():
    """The C SHA code without the SHA extensions (the CPU may take the SHA-NI path in-process)."""
    env = dict(os.environ, OSSFAST_NO_SHANI="1")
    res = subprocess.run([sys.executable, "-c", _PORTABLE_CHECK], env=env, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok"
