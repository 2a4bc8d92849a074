# ossfast: every target creates .venv and builds what it needs first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PYTEST := $(PY) -m pytest
CSRC   := $(wildcard csrc/*.c csrc/*.h)
STAMP  := $(VENV)/.installed
export PYTHONDEVMODE := 1

.PHONY: all venv build demo wheel test test-native test-python test-asan valgrind bench bench-quick soak fuzz clean

all: build

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip setuptools wheel cffi
	$(PY) -m pip install -q --disable-pip-version-check --no-build-isolation -e '.[test,bench]'
	touch $@

venv: $(STAMP)

# Rebuild the extension in place whenever a C file or the builder changes.
# Built aside and moved in with one rename, under a lock, so that a process
# that has the old module loaded never sees a half-written file.
ossfast/.built: $(STAMP) $(CSRC) ossfast/_build.py
	flock $(VENV)/.buildlock sh -c 'OSSFAST_REQUIRE_NATIVE=1 $(PY) setup.py -q build_ext --force \
	  --build-lib build/stage --build-temp build/tmp && \
	  cp build/stage/ossfast/_ossfast*.so ossfast/.new.so && \
	  mv -f ossfast/.new.so ossfast/$$(basename build/stage/ossfast/_ossfast*.so)'
	touch $@

build: ossfast/.built

# The main job end to end: the example transforms behind the local Object FC Access Point
# (two `ossfast emulate` processes on free ports), objects fetched as a client would and
# checked against the same transforms run locally. DEMO_ARGS=--big-mib 50 for a smaller run.
demo: build
	PYTHONDEVMODE= $(PY) examples/demo.py $(DEMO_ARGS)

# One abi3 wheel (cffi builds against the limited API): the same file serves CPython 3.9+.
wheel: $(STAMP)
	rm -rf dist/ossfast-*.whl && mkdir -p dist
	OSSFAST_REQUIRE_NATIVE=1 $(PY) -m pip wheel -q --no-deps --no-build-isolation -w dist . \
		--config-settings=--build-option=--py-limited-api=cp39
	@ls -1 dist/ossfast-*-abi3-*.whl

# The whole suite, once per backend and once more on the sanitized core; each run
# asserts which backend (and build) it got.
test: build
	OSSFAST_BACKEND=native $(PYTEST) -q -W error -p no:cacheprovider tests
	OSSFAST_BACKEND=python $(PYTEST) -q -W error -p no:cacheprovider tests
	bash tools/asan.sh
	$(MAKE) --no-print-directory bench-quick

test-native: build
	OSSFAST_BACKEND=native $(PYTEST) -q -W error tests

test-python: build
	OSSFAST_BACKEND=python $(PYTEST) -q -W error tests

# The core built with AddressSanitizer + UBSan, the whole suite run against it.
test-asan: $(STAMP)
	bash tools/asan.sh

valgrind: build
	bash tools/valgrind.sh

# Every bench against its contenders (not in CI: about 15 minutes). nginx from Debian's packages
# is the matrix's sink (installed with apt-get when missing; benches/sink.py if that fails).
# Results in build/bench/, then BENCHMARKS.md and benchmarks/*.png from them (benches/report.py),
# also when a bench failed. Python's dev mode off: it slows every Python-level call.
BENCH_OUT := build/bench
BENCH_ARGS := -p no:cacheprovider -o python_files='bench_*.py' -o timeout=1800
bench: build
	PYTHONDEVMODE= $(PY) benches/nginx.py --ensure
	rm -rf $(BENCH_OUT) && mkdir -p $(BENCH_OUT)
	PYTHONDEVMODE= $(PY) benches/report.py --start --results $(BENCH_OUT)
	PYTHONDEVMODE= OSSFAST_BENCH_OUT=$(BENCH_OUT) $(PYTEST) -v $(BENCH_ARGS) benches \
		--benchmark-columns=min,median,mean,ops --benchmark-warmup=on --benchmark-warmup-iterations=2000 \
		--benchmark-json=$(BENCH_OUT)/pytest-benchmark.json; status=$$?; \
	PYTHONDEVMODE= $(PY) benches/report.py --finish --results $(BENCH_OUT) --out BENCHMARKS.md; exit $$status

# Each bench once, tiny bodies, one round (make test runs this): catches a broken bench, measures
# nothing. Never installs anything; without nginx the matrix uses benches/sink.py.
bench-quick: build
	rm -rf build/bench-quick
	PYTHONDEVMODE= OSSFAST_BENCH_QUICK=1 OSSFAST_BENCH_OUT=build/bench-quick $(PYTEST) -q $(BENCH_ARGS) benches \
		--benchmark-disable
	PYTHONDEVMODE= $(PY) benches/report.py --results build/bench-quick --out build/bench-quick/BENCHMARKS.md

# Ten minutes of mixed requests with random faults (not in CI).
soak: build
	PYTHONDEVMODE= $(PY) benches/soak.py

fuzz: build
	bash tools/fuzz.sh

clean:
	rm -rf build dist $(VENV) ossfast/_ossfast*.so ossfast/.built *.egg-info
