"""cffi builder for the ossfast C core.

The cdef is cut out of the ``/* cffi:begin */ ... /* cffi:end */`` block of
``csrc/ossfast.h`` so the header stays the one source of truth.

Environment:
  OSSFAST_SANITIZE=1        build with -fsanitize=address,undefined
  OSSFAST_REQUIRE_NATIVE=1  a failed compile is fatal (default: fall back to pure Python)
  OSSFAST_CFLAGS            extra compiler flags
"""
import os
import re
import shlex
import sys

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
CSRC = os.path.join(os.path.dirname(HERE), "csrc")
SOURCES = ["cpu.c", "crc64.c", "md5.c", "sha.c", "hmac.c", "encode.c", "digest.c", "sign.c", "head.c"]


def read_cdef(header_path: str) -> str:
    with open(header_path, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"/\* cffi:begin \*/(.*?)/\* cffi:end \*/", text, re.S)
    if not m:
        raise RuntimeError("no cffi:begin/cffi:end block in " + header_path)
    return m.group(1)


def compile_args() -> "tuple[list[str], list[str]]":
    cflags = ["-std=c99", "-O3", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter"]
    ldflags: "list[str]" = []
    if os.environ.get("OSSFAST_SANITIZE") == "1":
        san = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
               "-fno-omit-frame-pointer", "-O1", "-g"]
        cflags += san
        ldflags += ["-fsanitize=address,undefined"]
    cflags += shlex.split(os.environ.get("OSSFAST_CFLAGS", ""))
    return cflags, ldflags


ffibuilder = FFI()
ffibuilder.cdef(read_cdef(os.path.join(CSRC, "ossfast.h")))
_cflags, _ldflags = compile_args()
# The cffi wrapper code itself is not -Werror clean on every compiler, so
# the strict flags apply to our sources; cffi compiles everything with the
# same flags, hence we relax only warnings cffi's generated code trips over.
ffibuilder.set_source(
    "ossfast._ossfast",
    '#include "ossfast.h"\n',
    sources=[os.path.relpath(os.path.join(CSRC, s)) for s in SOURCES],
    include_dirs=[os.path.relpath(CSRC)],
    extra_compile_args=_cflags + ["-Wno-unused-function", "-Wno-missing-field-initializers"],
    extra_link_args=_ldflags,
    optional=os.environ.get("OSSFAST_REQUIRE_NATIVE") != "1",
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
    sys.exit(0)
