"""CRC-64/XZ (OSS "crc64ecma") and its combine, on the live backend and on each CPU path.

Published vectors come from tests/data/crc64_xz.json (via vectors.load); everything
else is checked against independent implementations: crcmod (C extension), oss2's
Crc64 (the OSS SDK's own), and the other backend.
"""
from __future__ import annotations

import mmap
import os
import random
import subprocess
import sys
import threading
from array import array

import crcmod
import oss2.utils
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import ossfast
from ossfast import _pure
from ossfast._backend import impl

import vectors

try:
    from ossfast import _native
except ImportError:  # the python-backend run may lack the compiled core
    _native = None

MASK = (1 << 64) - 1
VECTORS = vectors.load("crc64_xz.json")
CHECK = next(int(v["crc"], 16) for v in VECTORS if v["data"] == b"123456789")

# The oracle: crcmod's generic CRC engine with the CRC-64/XZ parameters
# (crcmod writes the polynomial with its x^64 term; init 0 here means "all ones
# in the register", as crcmod xors initCrc with xorOut).
crcmod_xz = crcmod.mkCrcFun(0x142F0E1EBA9EA3693, initCrc=0, rev=True, xorOut=MASK)


def oracle(data, crc=0):
    """CRC-64/XZ of data continuing from crc, by crcmod."""
    return crcmod_xz(bytes(data), crc)


on_native = pytest.mark.skipif(ossfast.backend != "native", reason="the CPU paths belong to the native backend")


def cpu_paths():
    """(name, function, available) for each path of the compiled core."""
    if _native is None:
        return []
    return [
        ("table", _native.crc64_table, True),
        ("pclmul", _native.crc64_pclmul, _native.HAS_PCLMUL),
        ("vpclmul", _native.crc64_vpclmul, _native.HAS_VPCLMUL),
    ]


PATHS = [pytest.param(name, id=name) for name in ("table", "pclmul", "vpclmul")]


@pytest.fixture(params=PATHS)
def path(request):
    """One CPU path of the native core; skipped on the python backend or on a CPU without it."""
    if ossfast.backend != "native":
        pytest.skip("the CPU paths belong to the native backend")
    for name, func, available in cpu_paths():
        if name == request.param:
            if not available:
                pytest.skip(f"this CPU lacks the instructions for the {name} path")
            return func
    raise AssertionError(request.param)


def test_backend_is_the_one_asked_for():
    wanted = os.environ.get("OSSFAST_BACKEND", "auto")
    if wanted in ("native", "python"):
        assert ossfast.backend == wanted
        assert impl.NAME == wanted
    assert ossfast.crc64 is impl.crc64 and ossfast.crc64_combine is impl.crc64_combine


# ---- published vectors -------------------------------------------------------

def test_oracles_have_the_right_parameters():
    assert crcmod_xz(b"123456789") == CHECK
    assert crcmod_xz(b"") == 0
    sdk = oss2.utils.Crc64()
    sdk.update(b"123456789")
    assert sdk.crc == CHECK


@pytest.mark.parametrize("vec", VECTORS, ids=lambda v: repr(v["data"][:20]))
def test_published_vectors(vec):
    want = int(vec["crc"], 16)
    data = vec["data"]
    assert impl.crc64(data) == want
    crc = 0
    for i in range(len(data)):  # one byte at a time: continuation from every prefix
        crc = impl.crc64(data[i:i + 1], crc)
    assert crc == want
    assert oracle(data) == want


@on_native
@pytest.mark.parametrize("vec", VECTORS, ids=lambda v: repr(v["data"][:20]))
def test_published_vectors_each_path(vec, path):
    assert path(vec["data"]) == int(vec["crc"], 16)


# ---- differential --------------------------------------------------------------

def _random_lengths(rng, count):
    """Mostly short, some around the 16/64/128/256/512-byte fold widths, some long."""
    out = []
    for _ in range(count):
        r = rng.random()
        if r < 0.5:
            out.append(rng.randrange(0, 300))
        elif r < 0.8:
            out.append(rng.choice((16, 64, 128, 256, 512, 1024)) * rng.randrange(1, 5) + rng.randrange(-17, 18))
        else:
            out.append(rng.randrange(0, 20000))
    return [max(0, n) for n in out]


def test_random_inputs_against_crcmod():
    rng = random.Random(0x5EED)
    blob = os.urandom(24000)
    for n in _random_lengths(rng, 3000):
        off = rng.randrange(0, 64)
        data = blob[off:off + n]
        crc = rng.choice((0, rng.getrandbits(64), MASK))
        assert impl.crc64(data, crc) == oracle(data, crc), (n, off, crc)


def test_random_inputs_against_oss2():
    rng = random.Random(2)
    for n in _random_lengths(rng, 300):
        data = os.urandom(n)
        sdk = oss2.utils.Crc64()
        sdk.update(data)
        assert impl.crc64(data) == sdk.crc, n


def test_native_and_pure_agree():
    if _native is None:
        pytest.skip("compiled core unavailable")
    rng = random.Random(3)
    for n in _random_lengths(rng, 1000):
        data = os.urandom(n)
        crc = rng.getrandbits(64)
        assert _native.crc64(data, crc) == _pure.crc64(data, crc), n
        len2 = rng.getrandbits(rng.choice((8, 20, 40, 64)))
        c1, c2 = rng.getrandbits(64), rng.getrandbits(64)
        assert _native.crc64_combine(c1, c2, len2) == _pure.crc64_combine(c1, c2, len2), len2


# ---- chunk boundaries and combine --------------------------------------------------

@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=1500), st.data())
@example(b"", None)
@example(b"x", None)
@example(b"123456789", None)
def test_any_split(data, draw):
    cut = draw.draw(st.integers(0, len(data)), label="cut") if draw is not None else len(data) // 2
    a, b = data[:cut], data[cut:]
    whole = impl.crc64(data)
    ca, cb = impl.crc64(a), impl.crc64(b)
    assert impl.crc64(b, ca) == whole
    assert impl.crc64_combine(ca, cb, len(b)) == whole
    assert whole == oracle(data)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=8))
def test_many_pieces(pieces):
    """Pieces of every size, empty and one-byte ones included, chained and combined."""
    want = oracle(b"".join(pieces))
    crc = comb = 0
    for piece in pieces:
        crc = impl.crc64(piece, crc)
        comb = impl.crc64_combine(comb, impl.crc64(piece), len(piece))
    assert crc == want
    assert comb == want


@pytest.mark.parametrize("n", [0, 1, 2, 15, 16, 17, 100, 4096])
def test_combine_small_and_empty(n):
    data = os.urandom(n)
    for head in (b"", b"a", os.urandom(77)):
        assert impl.crc64_combine(impl.crc64(head), impl.crc64(data), n) == oracle(head + data)
    assert impl.crc64_combine(impl.crc64(data), 0, 0) == impl.crc64(data)


def test_combine_against_oss2():
    rng = random.Random(4)
    sdk = oss2.utils.Crc64()
    for _ in range(12):  # oss2's combine squares 64x64 bit matrices in Python: slow
        c1, c2 = rng.getrandbits(64), rng.getrandbits(64)
        len2 = rng.getrandbits(rng.choice((4, 16, 32, 48)))
        if len2 == 0:
            continue  # oss2 returns crc1 there and ignores crc2; we xor crc2 in
        assert impl.crc64_combine(c1, c2, len2) == sdk.combine(c1, c2, len2), len2


HUGE = [2**32, 2**40, 2**40 + 1, 2**61 - 1, 2**61, 2**62 + 3, 2**63, MASK - 1, MASK]


@pytest.mark.parametrize("len2", HUGE, ids=hex)
def test_combine_huge_against_pure(len2):
    rng = random.Random(len2)
    for _ in range(5):
        c1, c2 = rng.getrandbits(64), rng.getrandbits(64)
        assert impl.crc64_combine(c1, c2, len2) == _pure.crc64_combine(c1, c2, len2)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, MASK), st.integers(0, MASK), st.integers(0, MASK), st.integers(0, MASK))
def test_combine_composes(c, c2, a, b):
    """Appending a bytes then b bytes is appending a + b bytes; no table may wrap at large lengths."""
    if a + b > MASK:
        a, b = a >> 1, b >> 1
    step = impl.crc64_combine(impl.crc64_combine(c, 0, a), c2, b)
    assert step == impl.crc64_combine(c, 0, a + b) ^ c2


def test_combine_matches_zero_padding():
    """combine(c, 0, n) is the CRC continued over n zero bytes (after undoing the zeros' own CRC)."""
    for n in (1, 7, 64, 1000, 65537):
        zeros = bytes(n)
        c = impl.crc64(b"prefix")
        assert impl.crc64_combine(c, impl.crc64(zeros), n) == impl.crc64(zeros, c)


# ---- each CPU path --------------------------------------------------------------

BIG = bytearray(os.urandom((1 << 20) + 4096))
BRANCH_LENGTHS = sorted({max(0, base + d) for base in (256, 512, 768, 1024, 1536, 4096)
                         for d in (-65, -64, -63, -17, -16, -15, -1, 0, 1, 15, 16, 17, 63, 64, 65)})


@on_native
@pytest.mark.parametrize("offset", [0, 1, 3, 7, 8, 15, 33, 63])
def test_path_every_length_and_offset(path, offset):
    view = memoryview(BIG)
    crc = 0x0123456789ABCDEF
    for n in list(range(301)) + BRANCH_LENGTHS:
        piece = view[offset:offset + n]
        assert path(piece) == oracle(piece), (n, offset)
        assert path(piece, crc) == oracle(piece, crc), (n, offset)


@on_native
@pytest.mark.parametrize("n", [1 << 20, (1 << 20) + 1, (1 << 20) + 15, (1 << 20) + 63, (1 << 20) + 255,
                               (1 << 20) + 511, (1 << 20) + 4095])
def test_path_large(path, n):
    view = memoryview(BIG)
    want = oracle(view[1:1 + n])
    assert path(view[1:1 + n]) == want
    assert ossfast.crc64(view[1:1 + n]) == want


@on_native
def test_paths_continue_each_other(path):
    """A CRC started on one path continues correctly on another (same register convention)."""
    data = bytes(BIG[:10000])
    for cut in (0, 1, 100, 4097, 9999):
        assert ossfast.crc64(data[cut:], path(data[:cut])) == oracle(data)
        assert path(data[cut:], ossfast.crc64(data[:cut])) == oracle(data)


# ---- input types and errors -----------------------------------------------------

def test_buffer_types(tmp_path):
    data = os.urandom(1000)
    want = oracle(data)
    assert impl.crc64(data) == want
    assert impl.crc64(bytearray(data)) == want
    assert impl.crc64(memoryview(data)) == want
    assert impl.crc64(memoryview(data)[10:900]) == oracle(data[10:900])
    words = array("I", range(250))
    assert impl.crc64(words) == oracle(words.tobytes())
    assert impl.crc64(memoryview(words.tobytes()).cast("I")) == oracle(words.tobytes())
    assert impl.crc64(memoryview(bytearray(data)).cast("B", (10, 100))) == want  # 2-D, C-contiguous
    path = tmp_path / "blob"
    path.write_bytes(data)
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        assert impl.crc64(m) == want
        assert impl.crc64(memoryview(m)[500:]) == oracle(data[500:])


@pytest.mark.parametrize("bad", ["123456789", 12, None, [1, 2], memoryview(bytearray(100))[::2]],
                         ids=["str", "int", "None", "list", "non-contiguous"])
def test_rejects_non_buffers(bad):
    with pytest.raises(TypeError, match="contiguous bytes-like"):
        impl.crc64(bad)
    for _, func, available in cpu_paths():
        if available and ossfast.backend == "native":
            with pytest.raises(TypeError, match="contiguous bytes-like"):
                func(bad)


@pytest.mark.parametrize("crc", [-1, 1 << 64, -(1 << 70)])
def test_crc_out_of_range(crc):
    for data in (b"abc", bytearray(b"abc")):
        with pytest.raises(ValueError, match="crc"):
            impl.crc64(data, crc)
    with pytest.raises(ValueError):
        impl.crc64_combine(crc, 0, 1)
    with pytest.raises(ValueError):
        impl.crc64_combine(0, crc, 1)
    for _, func, available in cpu_paths():
        if available and ossfast.backend == "native":
            with pytest.raises(ValueError, match="crc"):
                func(b"abc", crc)


def test_bad_argument_types():
    with pytest.raises(TypeError, match="int"):
        impl.crc64(b"abc", 1.0)
    with pytest.raises(TypeError):
        impl.crc64_combine(0, 0, 1.5)
    with pytest.raises(ValueError):
        impl.crc64_combine(0, 0, -1)
    with pytest.raises(ValueError):
        impl.crc64_combine(0, 0, 1 << 64)


def test_bounds_are_accepted():
    assert impl.crc64(b"abc", MASK) == oracle(b"abc", MASK)
    assert impl.crc64_combine(MASK, MASK, MASK) == _pure.crc64_combine(MASK, MASK, MASK)


# ---- dispatch, masks and threads --------------------------------------------------

_MASKED_CHECK = r"""
import json, os, sys
import ossfast
from ossfast import _native
sizes = [0, 1, 15, 16, 17, 63, 64, 255, 256, 511, 512, 4096, 100003]
data = os.urandom(max(sizes))
refused = {}
for name in ("crc64_pclmul", "crc64_vpclmul"):
    try:
        getattr(_native, name)(data[:100])
        refused[name] = False
    except RuntimeError as exc:
        refused[name] = name in str(exc)
print(json.dumps({"backend": ossfast.backend, "features": _native.CPU_FEATURES, "refused": refused,
                  "pclmul": _native.HAS_PCLMUL, "vpclmul": _native.HAS_VPCLMUL,
                  "data": data.hex(),
                  "crcs": [ossfast.crc64(data[:n]) for n in sizes],
                  "combine": ossfast.crc64_combine(12345, 678, 2**63 + 5)}))
"""


def _masked_run(mask):
    import json

    env = dict(os.environ, OSSFAST_BACKEND="native", OSSFAST_CPU_MASK=mask)
    res = subprocess.run([sys.executable, "-c", _MASKED_CHECK], env=env, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


@on_native
@pytest.mark.parametrize("mask", ["0", "1", "3"])
def test_cpu_mask(mask):
    out = _masked_run(mask)
    assert out["backend"] == "native"
    assert out["features"] == _native.CPU_FEATURES & int(mask)
    assert out["pclmul"] == bool(out["features"] & 1)
    assert out["vpclmul"] == bool(out["features"] & 2)
    # A path the (masked) CPU lacks refuses to run, naming itself, instead of crashing.
    assert out["refused"] == {"crc64_pclmul": not out["pclmul"], "crc64_vpclmul": not out["vpclmul"]}
    data = bytes.fromhex(out["data"])
    sizes = [0, 1, 15, 16, 17, 63, 64, 255, 256, 511, 512, 4096, 100003]
    assert out["crcs"] == [oracle(data[:n]) for n in sizes]
    assert out["combine"] == _pure.crc64_combine(12345, 678, 2**63 + 5)


def test_threads_hash_concurrently():
    big = 1 << 20 if ossfast.backend == "native" else 20000
    blobs = [os.urandom(n) for n in (100, 5000, big)]
    want = [oracle(b) for b in blobs]
    errors = []

    def work():
        try:
            for _ in range(20):
                for b, w in zip(blobs, want):
                    if impl.crc64(b) != w:
                        errors.append(len(b))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
