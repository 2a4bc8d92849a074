#!/usr/bin/env bash
# A bounded fuzzing campaign (FUZZ_SECONDS, default 240) of the C core against the
# pure-Python twin. New interesting inputs are merged into tests/data/fuzz/, which the
# normal test suite replays.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
$PY -c "import atheris" 2>/dev/null || $PY -m pip install -q --disable-pip-version-check atheris
secs=${FUZZ_SECONDS:-240}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp tests/data/fuzz/* "$work"/ 2>/dev/null || true
OSSFAST_BACKEND=native $PY tools/fuzz_core.py "$work" tests/data/fuzz \
  -max_total_time="$secs" -max_len=4096 -timeout=20 -print_final_stats=1
# libFuzzer's corpus directory holds only inputs that added coverage (and it shrinks them
# as it goes): keep them all beside the seeds.
cp -n "$work"/* tests/data/fuzz/ 2>/dev/null || true
echo "corpus: $(ls tests/data/fuzz | wc -l) inputs in tests/data/fuzz"
