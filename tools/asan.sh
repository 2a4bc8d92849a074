#!/usr/bin/env bash
# Build the C core with AddressSanitizer + UndefinedBehaviorSanitizer and run the whole
# test suite against it. The sanitized module goes into a copy of the package under
# build/asan, so the normal in-tree build is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
PY=$root/.venv/bin/python
out=$root/build/asan
rm -rf "$out"
mkdir -p "$out/pkg"
OSSFAST_SANITIZE=1 OSSFAST_REQUIRE_NATIVE=1 $PY setup.py -q build_ext --force \
  --build-lib "$out/lib" --build-temp "$out/tmp"
cp -r ossfast "$out/pkg/"
rm -f "$out"/pkg/ossfast/_ossfast*.so
cp "$out"/lib/ossfast/_ossfast*.so "$out/pkg/ossfast/"
export LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
# CPython's own allocations look like leaks to LSan; memory errors abort the run.
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export PYTHONMALLOC=malloc
# pycryptodome (pulled in by oss2) dlopens with RTLD_DEEPBIND, which ASan cannot run.
export PYCRYPTODOME_DISABLE_DEEPBIND=1
cd "$out/pkg"
OSSFAST_BACKEND=native OSSFAST_EXPECT_SANITIZED=1 $PY -m pytest -q -W error -p no:cacheprovider \
  --rootdir "$root" -c "$root/pyproject.toml" "$root/tests" "$@"
