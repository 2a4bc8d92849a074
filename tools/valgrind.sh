#!/usr/bin/env bash
# valgrind memcheck over the C core's tests. Valgrind's CPU has no AVX-512, so the
# PCLMUL and table paths run here (the VPCLMUL path is covered by the sanitizer run).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind; }
export PYTHONMALLOC=malloc
OSSFAST_BACKEND=native valgrind --tool=memcheck --error-exitcode=99 --errors-for-leak-kinds=none \
  --leak-check=no --track-origins=no --suppressions=tools/valgrind-python.supp \
  .venv/bin/python -m pytest -q -p no:cacheprovider -x \
  tests/test_crc64.py tests/test_hashes.py tests/test_digest.py tests/test_signing.py \
  -k "not thread and not hypothesis and not cpu_mask" "$@"
