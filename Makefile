# cdn-manager: `make demo` and `make test` work on a fresh machine with only
# Python 3.11, pip and cargo; everything else is installed into .venv.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export VIRTUAL_ENV := $(abspath $(VENV))
export PATH := $(VIRTUAL_ENV)/bin:$(PATH)
# s3s-fs (an independent S3 server) is cached outside the clone.
S3S_ROOT ?= $(HOME)/.cache/cdn-manager/s3s-fs
S3S_FS := $(S3S_ROOT)/bin/s3s-fs
export CDN_MANAGER_S3S_FS := $(S3S_FS)
# Garage (a distributed S3 store; the suite runs it as one node and as a
# 3-node cluster), cached likewise: ~10-14 min to build cold on 2 cores.
GARAGE_ROOT ?= $(HOME)/.cache/cdn-manager/garage
GARAGE := $(GARAGE_ROOT)/bin/garage
export CDN_MANAGER_GARAGE := $(GARAGE)

.PHONY: demo test test-garage test-fast test-rust test-python lint lint-python lint-rust build-dev build-prod sdist test-cluster test-asan soak soak-asan bench bench-build bench-tools bench-quick bench-garage-quick clean

$(VENV)/.deps: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt maturin "moto[server]" pytest pytest-xdist ruff mypy \
		"boto3-stubs[s3]" types-PyYAML typing_extensions boto3 PyYAML awscli brotli \
		"dask[distributed]" ziglang auditwheel
	touch $@

$(S3S_FS):
	cargo install s3s-fs --version 0.14.1 --features binary --locked --root $(S3S_ROOT)

$(GARAGE):
	cargo install garage --version 2.5.0 --locked --root $(GARAGE_ROOT)

# Release mode: the Rust hashing is ~50x slower unoptimised.
build-dev: $(VENV)/.deps
	$(VENV)/bin/maturin develop --release --quiet

# The release wheel: manylinux2014 (glibc 2.17) x86_64, abi3. zig (the
# ziglang package in .venv, found on PATH) links against glibc 2.17's symbol
# versions, so the wheel installs on Amazon Linux 2, RHEL 8, Debian 11 and
# newer without a manylinux container. DIST: where the wheel and sdist go.
DIST ?= dist
build-prod: $(VENV)/.deps
	$(VENV)/bin/maturin build --release --zig --compatibility manylinux2014 --out $(DIST)

# The source distribution, for every other platform (needs cargo to install).
sdist: $(VENV)/.deps
	$(VENV)/bin/maturin sdist --out $(DIST)

demo: build-dev
	$(PY) examples/demo.py
	$(PY) examples/cli_demo.py

test-rust: $(VENV)/.deps
	cargo test --quiet

# The whole suite twice: on "auto", what users get by default (native, with
# the suite failing any test that falls back to boto3 unasked), and with
# boto3 forced (the fallback), so neither can regress unseen; then the
# round-trip, fault and integrity tests once more with the Linux socket
# tuning off (the portable path). Two workers: most tests wait on loopback
# servers, so this halves the time even on 2 cores. PYTHONFAULTHANDLER: a
# process the tests start (a Dask worker, a CLI run) that dies of a signal
# prints every thread's Python stack into the test's output.
PYTEST := PYTHONFAULTHANDLER=1 $(PY) -m pytest -q -n 2
PORTABLE_TESTS := tests/test_roundtrip.py tests/test_faults.py tests/test_integrity.py
test-python: build-dev $(S3S_FS)
	CDN_MANAGER_DATA_PLANE=auto $(PYTEST) -m "not garage"
	CDN_MANAGER_DATA_PLANE=boto3 $(PYTEST) -m "not packaging and not garage"
	CDN_MANAGER_DATA_PLANE=native CDN_MANAGER_SOCKET_TUNING=off $(PYTEST) -m "not garage" $(PORTABLE_TESTS)

# Every test that runs on Garage (one node, and the 3-node cluster), both
# planes, as make test-python runs the rest: apart, so that each target stays
# short (Garage's cold build alone takes about 14 min). .ci/run runs both.
test-garage: build-dev $(GARAGE)
	CDN_MANAGER_DATA_PLANE=auto $(PYTEST) -m garage
	CDN_MANAGER_DATA_PLANE=boto3 $(PYTEST) -m "garage and not packaging"
	CDN_MANAGER_DATA_PLANE=native CDN_MANAGER_SOCKET_TUNING=off $(PYTEST) -m garage $(PORTABLE_TESTS)

# The inner loop while developing: one plane, no slow or packaging tests.
test-fast: build-dev $(S3S_FS)
	CDN_MANAGER_DATA_PLANE=auto $(PYTEST) -m "not slow and not packaging and not garage"

test: test-rust test-python

# Only the Garage 3-node cluster tests (make test-garage runs them too): a node
# killed mid-batch, the client's own node killed, a node down from the start.
test-cluster: build-dev $(GARAGE)
	CDN_MANAGER_DATA_PLANE=auto $(PYTEST) tests/test_garage_cluster.py

# The Rust tests under AddressSanitizer (and ThreadSanitizer, where the
# standard library can be built with it), then the Python tests that drive
# the core hardest (round trips, memory, cancellation, Ctrl-C, 16 threads,
# Dask) on an ASAN build of the extension in .venv-asan, the runtime
# preloaded: zero reports from any process. See tests/asan/run.sh.
# SANITIZERS=asan leaves ThreadSanitizer out (.ci/run does, for time).
SANITIZERS ?= asan,tsan
test-asan: $(S3S_FS)
	PY=$(PYTHON) SANITIZERS=$(SANITIZERS) bash tests/asan/run.sh

# A soak of MINUTES minutes: many managers in threads, processes and Dask,
# both planes, on moto, s3s-fs and Garage, with random faults, cancels,
# SIGINT, SIGTERM and SIGKILL; every invariant checked after every cycle, a
# one-screen summary, exit 1 on any violation. SOAK_ARGS: more options
# (tests/soak/soak.py --help), e.g. SOAK_ARGS="--seed 7 --servers moto".
MINUTES ?= 3
soak: build-dev $(S3S_FS) $(GARAGE)
	$(PY) tests/soak/soak.py --minutes $(MINUTES) $(SOAK_ARGS)

# The same soak on the ASAN build of make test-asan: every process it starts
# has the sanitizer preloaded, and any report is a violation.
soak-asan: $(S3S_FS) $(GARAGE)
	bash tests/asan/soak.sh --minutes $(MINUTES) $(SOAK_ARGS)

# Benchmarks run in a virtualenv of their own: their packages (awscrt above
# all, which switches botocore to the CRT signer and checksums) must never
# change what the test suite exercises. The same package, built into it.
BENCH_VENV := .venv-bench
BENCH_PY := $(BENCH_VENV)/bin/python
$(BENCH_VENV)/.deps: pyproject.toml constraints.txt benchmarks/requirements.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_PY) -m pip install --quiet --upgrade pip
	$(BENCH_PY) -m pip install --quiet -c constraints.txt maturin boto3 PyYAML \
		-r benchmarks/requirements.txt
	touch $@

bench-build: $(BENCH_VENV)/.deps
	VIRTUAL_ENV=$(abspath $(BENCH_VENV)) $(BENCH_VENV)/bin/maturin develop --release --quiet

# rclone for the tree workloads (W5-W8) is a Debian package: installed with
# apt when missing; where that fails (not root, no apt) the bench reports
# rclone-sync as unavailable.
bench-tools:
	@command -v rclone >/dev/null || { apt-get update -qq && apt-get install -y -qq rclone; } \
		|| echo "note: rclone could not be installed; the bench skips rclone-sync"

# The full run (90 min on the 2-core machine for warm-up + 3 rounds of all
# clients and workloads, W5-W8 about 22 min a round) writes
# benchmarks/results/latest.*; pass
# options as BENCH_ARGS="--clients boto3,obstore --workloads W1 --rounds 3".
bench: bench-build bench-tools $(S3S_FS)
	$(BENCH_PY) benchmarks/bench.py $(BENCH_ARGS)

# A few minutes (210 s at load average 15-18, W5-W8 about half of it);
# writes benchmarks/results/quick.*, never latest.*.
bench-quick: bench-build bench-tools $(S3S_FS)
	$(BENCH_PY) benchmarks/bench.py --quick $(BENCH_ARGS)

# The quick run against one Garage node (started as the tests start it);
# writes benchmarks/results/garage-quick.*.
bench-garage-quick: bench-build bench-tools $(GARAGE)
	$(BENCH_PY) benchmarks/bench.py --quick --server garage $(BENCH_ARGS)

lint-python: build-dev
	$(VENV)/bin/ruff check python tests examples benchmarks
	$(VENV)/bin/ruff format --check python tests examples benchmarks
	$(VENV)/bin/mypy --strict python/cdn_manager
	$(PY) -m mypy.stubtest cdn_manager._core

lint-rust:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings

lint: lint-rust lint-python

clean:
	rm -rf $(VENV) $(BENCH_VENV) .venv-asan target dist
