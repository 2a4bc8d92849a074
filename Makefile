# ossfast: every target creates .venv and builds what it needs first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PYTEST := $(PY) -m pytest
CSRC   := $(wildcard csrc/*.c csrc/*.h)
STAMP  := $(VENV)/.installed
export PYTHONDEVMODE := 1

.PHONY: all venv build demo wheel test test-native test-python test-asan valgrind bench soak fuzz clean

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

test-native: build
	OSSFAST_BACKEND=native $(PYTEST) -q -W error tests

test-python: build
	OSSFAST_BACKEND=python $(PYTEST) -q -W error tests

# The core built with AddressSanitizer + UBSan, the whole suite run against it.
test-asan: $(STAMP)
	bash tools/asan.sh

valgrind: build
	bash tools/valgrind.sh

bench: build
	PYTHONDEVMODE= $(PYTEST) -q -o python_files='bench_*.py' benches --benchmark-columns=min,median,mean,ops \
		--benchmark-warmup=on --benchmark-warmup-iterations=2000

# Ten minutes of mixed requests with random faults (not in CI).
soak: build
	PYTHONDEVMODE= $(PY) benches/soak.py

fuzz: build
	bash tools/fuzz.sh

clean:
	rm -rf build dist $(VENV) ossfast/_ossfast*.so ossfast/.built *.egg-info
