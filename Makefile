# cdn-manager: `make demo` and `make test` work on a fresh machine with only
# Python 3.11, pip and cargo; everything else is installed into .venv.
# `make` alone (or `make help`) lists the targets.
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

.DEFAULT_GOAL := help
.PHONY: help demo docs test test-shuffled test-garage test-versions test-fast test-rust test-python lint lint-python lint-rust build-dev build-prod sdist test-cluster bench bench-build bench-tools bench-quick bench-garage-quick bench-releases bench-startup test-asan soak soak-asan clean

help: ## this list
	@echo "make TARGET, where TARGET is one of:"
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-20s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# Runs a command with its output kept in a file, shown only if it fails:
# pip and maturin say nothing when all goes well.
QUIETLY := bash -c 'log=$$(mktemp); "$$@" >"$$log" 2>&1 || { cat "$$log"; rm -f "$$log"; exit 1; }; rm -f "$$log"' quietly
PIP := $(QUIETLY) $(PY) -m pip install --disable-pip-version-check -c constraints.txt

# Three install sets in one .venv, so that `source .venv/bin/activate` serves
# them all: the runtime and the embedded server (what `make demo` needs, with
# maturin to build the Rust core; moto's S3 and IAM only, the server extra),
# the development tools on top (tests and lint; moto with every service, for
# the tests' CloudFront), and the documentation tools (make docs).
$(VENV)/.runtime: pyproject.toml constraints.txt
	@echo "==> $(VENV): a Python environment with the runtime (boto3, PyYAML, shtab) and the embedded server (moto)"
	@$(PYTHON) -m venv $(VENV)
	@$(PIP) --upgrade pip
	@$(PIP) maturin boto3 PyYAML shtab "moto[s3]" flask flask-cors crc32c
	@touch $@

$(VENV)/.dev: $(VENV)/.runtime
	@echo "==> $(VENV): the development tools (pytest, ruff, mypy, awscli, dask, ziglang, uv, selenium, ...)"
	@$(PIP) "moto[server]" pytest pytest-xdist pytest-randomly ruff mypy "boto3-stubs[s3]" types-PyYAML typing_extensions \
		awscli brotli "dask[distributed]" ziglang auditwheel import-linter uv selenium
	@touch $@

$(VENV)/.docs: $(VENV)/.runtime
	@echo "==> $(VENV): the documentation tools (mkdocs, mkdocs-material, mkdocstrings-python, include-markdown)"
	@$(PIP) mkdocs mkdocs-material mkdocstrings-python mkdocs-include-markdown-plugin
	@touch $@

# The Rust core, built (release: the hashing is ~50x slower unoptimised) and
# installed into .venv only when its sources changed since the last build
# (a new .venv has no stamp, so it builds too).
RUST_SOURCES := $(shell find src -name '*.rs') Cargo.toml Cargo.lock
$(VENV)/.built: $(RUST_SOURCES) | $(VENV)/.runtime
	@echo "==> compiling the Rust core (release) and installing cdn-manager into $(VENV): minutes cold on 2 cores, seconds once built"
	@( while sleep 30; do echo "    still compiling ($$SECONDS s)"; done ) & ticker=$$!; \
		$(QUIETLY) $(VENV)/bin/maturin develop --release; status=$$?; \
		kill $$ticker; exit $$status
	@touch $@

$(S3S_FS):
	cargo install s3s-fs --version 0.14.1 --features binary --locked --root $(S3S_ROOT)

$(GARAGE):
	cargo install garage --version 2.5.0 --locked --root $(GARAGE_ROOT)

build-dev: $(VENV)/.dev $(VENV)/.built ## .venv with the development tools, and the Rust core built into it

# The release wheel: manylinux2014 (glibc 2.17) x86_64, abi3. zig (the
# ziglang package in .venv, found on PATH) links against glibc 2.17's symbol
# versions, so the wheel installs on Amazon Linux 2, RHEL 8, Debian 11 and
# newer without a manylinux container. DIST: where the wheel and sdist go.
DIST ?= dist
build-prod: $(VENV)/.dev ## the manylinux2014 abi3 wheel in dist/ (zig from .venv, no container)
	$(VENV)/bin/maturin build --release --zig --compatibility manylinux2014 --out $(DIST)

# The source distribution, for every other platform (needs cargo to install).
sdist: $(VENV)/.dev ## the source distribution in dist/
	$(VENV)/bin/maturin sdist --out $(DIST)

# The runtime and the embedded server only: no development tool.
demo: $(VENV)/.built ## try it: an embedded S3 server, both keys, the library, then the command line
	@$(PY) examples/demo.py
	@$(PY) examples/cli_demo.py
	@echo
	@echo "cdn-manager is installed in $(VENV). To use it in this shell:"
	@echo "    source $(VENV)/bin/activate"

test-rust: $(VENV)/.dev ## cargo test (the Rust core's own tests)
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
test-python: build-dev $(S3S_FS) ## the pytest suite on each data plane (real S3 servers on 127.0.0.1), but Garage's
	CDN_MANAGER_DATA_PLANE=auto $(PYTEST) -m "not garage"
	CDN_MANAGER_DATA_PLANE=boto3 $(PYTEST) -m "not packaging and not garage"
	CDN_MANAGER_DATA_PLANE=native CDN_MANAGER_SOCKET_TUNING=off $(PYTEST) -m "not garage" $(PORTABLE_TESTS)

# Every test that runs on Garage (one node, and the 3-node cluster), both
# planes, as make test-python runs the rest: apart, so that each target stays
# short (Garage's cold build alone takes about 14 min). .ci/run runs both.
test-garage: build-dev $(GARAGE) ## every test that runs on Garage (one node, a 3-node cluster), each data plane
	CDN_MANAGER_DATA_PLANE=auto $(PYTEST) -m garage
	CDN_MANAGER_DATA_PLANE=boto3 $(PYTEST) -m "garage and not packaging"
	CDN_MANAGER_DATA_PLANE=native CDN_MANAGER_SOCKET_TUNING=off $(PYTEST) -m garage $(PORTABLE_TESTS)

# The interop, embedded-server, audit, round-trip and README tests again on
# the newest versions pyproject.toml's ranges allow and on the lowest, each
# in a fresh venv resolved by uv without constraints.txt (.ci/versions.py
# says how), from a wheel of this tree. .ci/run runs it.
VERSIONS_DIR := .versions
VERSIONS_TESTS := tests/test_interop_read.py tests/test_interop.py tests/test_local_server.py \
	tests/test_audit.py tests/test_roundtrip.py \
	'tests/test_docs.py::test_python_blocks_run[README.md]' \
	'tests/test_docs.py::test_console_blocks_run_and_print_what_they_show[README.md]'
test-versions: build-dev $(S3S_FS) ## the interop and round-trip tests on the newest and lowest dependency versions
	rm -rf $(VERSIONS_DIR)/dist
	$(VENV)/bin/maturin build --release --quiet --out $(VERSIONS_DIR)/dist
	$(PY) .ci/versions.py newest $(VERSIONS_DIR)/dist/*.whl $(VERSIONS_DIR) $(VERSIONS_TESTS)
	$(PY) .ci/versions.py lowest $(VERSIONS_DIR)/dist/*.whl $(VERSIONS_DIR) $(VERSIONS_TESTS)

# The inner loop while developing (marker `inner`, set by tests/conftest.py):
# one case of each test function, on s3s-fs and the sync face where it runs
# on several, one plane, without the tests that explore one capability in
# depth (conftest.py's DEPTH), slow, packaging or Garage tests. make test
# runs all of them.
test-fast: build-dev $(S3S_FS) ## the inner loop: each capability once, one plane (about 90 s)
	CDN_MANAGER_DATA_PLANE=auto $(PYTEST) -m inner

# The flake hunt: the suite of make test-python RUNS times in a row, each in
# a new random order (pytest-randomly; each run prints its seed, and
# `-p randomly --randomly-seed=N` repeats that order), on the auto and boto3
# planes. Order dependence and failures by chance show up here before CI.
RUNS ?= 5
test-shuffled: build-dev $(S3S_FS) ## the suite RUNS=5 times in random orders on two planes: the flake hunt
	@for run in $$(seq $(RUNS)); do \
		seed=$$(od -An -N4 -tu4 /dev/urandom | tr -d ' '); \
		echo "==> shuffled run $$run of $(RUNS): -p randomly --randomly-seed=$$seed"; \
		CDN_MANAGER_DATA_PLANE=auto $(PYTEST) -p randomly --randomly-seed=$$seed -m "not garage" && \
		CDN_MANAGER_DATA_PLANE=boto3 $(PYTEST) -p randomly --randomly-seed=$$seed -m "not packaging and not garage" || exit 1; \
	done

test: test-rust test-python ## cargo test, then the pytest suite on each data plane

# Only the Garage 3-node cluster tests (make test-garage runs them too): a node
# killed mid-batch, the client's own node killed, a node down from the start.
test-cluster: build-dev $(GARAGE) ## only the Garage 3-node cluster tests
	CDN_MANAGER_DATA_PLANE=auto $(PYTEST) tests/test_garage_cluster.py

# The Rust tests under AddressSanitizer (and ThreadSanitizer, where the
# standard library can be built with it), then the Python tests that drive
# the core hardest (round trips, memory, cancellation, Ctrl-C, 16 threads,
# Dask) on an ASAN build of the extension in .venv-asan, the runtime
# preloaded: zero reports from any process. See tests/asan/run.sh.
# SANITIZERS=asan leaves ThreadSanitizer out (.ci/run does, for time). pyo3
# finds Python through $VIRTUAL_ENV (exported above), so .venv must exist.
SANITIZERS ?= asan,tsan
test-asan: $(S3S_FS) $(VENV)/.runtime ## the Rust tests under ASan (and TSan, with rust-src); Python tests on an ASAN build
	PY=$(PYTHON) SANITIZERS=$(SANITIZERS) bash tests/asan/run.sh

# A soak of MINUTES minutes: many managers in threads, processes and Dask,
# both planes, on moto, s3s-fs and Garage, with random faults, cancels,
# SIGINT, SIGTERM and SIGKILL; every invariant checked after every cycle, a
# one-screen summary, exit 1 on any violation. SOAK_ARGS: more options
# (tests/soak/soak.py --help), e.g. SOAK_ARGS="--seed 7 --servers moto".
MINUTES ?= 3
soak: build-dev $(S3S_FS) $(GARAGE) ## MINUTES=N of managers in threads, processes and Dask, with faults, cancels and kills
	$(PY) tests/soak/soak.py --minutes $(MINUTES) $(SOAK_ARGS)

# The same soak on the ASAN build of make test-asan: every process it starts
# has the sanitizer preloaded, and any report is a violation.
soak-asan: $(S3S_FS) $(GARAGE) ## the same soak on the ASAN build (after make test-asan)
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
bench: bench-build bench-tools $(S3S_FS) ## the benchmark against the peers (90 min); BENCH_ARGS to narrow it
	$(BENCH_PY) benchmarks/bench.py $(BENCH_ARGS)

# A few minutes (210 s at load average 15-18, W5-W8 about half of it);
# writes benchmarks/results/quick.*, never latest.*.
bench-quick: bench-build bench-tools $(S3S_FS) ## a few minutes of the benchmark (results/quick.*)
	$(BENCH_PY) benchmarks/bench.py --quick $(BENCH_ARGS)

# The quick run against one Garage node (started as the tests start it);
# writes benchmarks/results/garage-quick.*.
bench-garage-quick: bench-build bench-tools $(GARAGE) ## the quick benchmark against one Garage node
	$(BENCH_PY) benchmarks/bench.py --quick --server garage $(BENCH_ARGS)

# Rollback of a 10,000-file site whose releases differ in their pages, on
# moto (requests counted from its access log), one Garage node and s3s-fs,
# with the client's and the server's CPU-seconds: a few minutes, most of it
# the first deploys; writes benchmarks/results/releases.*. It runs in the
# tests' venv (moto is there).
bench-releases: build-dev $(S3S_FS) $(GARAGE) ## rollback of a 10,000-file site on moto, Garage and s3s-fs
	$(PY) benchmarks/releases.py $(BENCH_ARGS)

# Start-up (issue 31): `cdn-manager --version` and `ls` of a small prefix on
# the embedded server, 20 runs each after 2 warm-ups, median wall and CPU ms
# with the load average; under a minute. Prints only (BENCH_ARGS="--out
# FILE" writes JSON). It runs in the tests' venv (the server is moto).
bench-startup: build-dev ## start-up of --version and ls: median wall and CPU ms of 20 runs
	$(PY) benchmarks/startup.py $(BENCH_ARGS)

lint-python: build-dev ## ruff, mypy --strict, stubtest, import-linter
	$(VENV)/bin/ruff check python tests examples benchmarks tools
	$(VENV)/bin/ruff format --check python tests examples benchmarks tools
	$(VENV)/bin/mypy --strict python/cdn_manager
	$(PY) -m mypy.stubtest cdn_manager._core
	# The layers and the absence of import circles (.importlinter).
	$(VENV)/bin/lint-imports --no-cache

# The crate's modules must not use each other in a circle (issue 26):
# tools/module_cycles.py names each circle and the lines behind it.
lint-rust: ## cargo fmt --check, cargo clippy
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	$(PYTHON) tools/module_cycles.py src

lint: lint-rust lint-python ## every linter (CI runs it)

# The documentation site (mkdocs.yml: the README as its home, docs/, and an
# API reference read from the docstrings without importing the package),
# into build/site; --strict fails on any warning (a broken link, an API name
# that does not resolve). The Material theme's banner about MkDocs 2 is off.
docs: $(VENV)/.docs ## the documentation site in build/site (mkdocs build --strict)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

clean: ## remove .venv, the benchmark and ASAN venvs, the versions venvs, the Rust build, dist/ and build/
	rm -rf $(VENV) $(BENCH_VENV) .venv-asan $(VERSIONS_DIR) target dist build
