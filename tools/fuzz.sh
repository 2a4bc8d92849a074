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
# Keep the corpus small: merge into a minimal set.
mkdir -p "$work/min"
OSSFAST_BACKEND=native $PY tools/fuzz_core.py -merge=1 "$work/min" "$work" tests/data/fuzz >/dev/null 2>&1 || true
if [ -n "$(ls -A "$work/min")" ]; then
  rm -f tests/data/fuzz/*
  cp "$work"/min/* tests/data/fuzz/
fi
echo "corpus: $(ls tests/data/fuzz | wc -l) inputs in tests/data/fuzz"
