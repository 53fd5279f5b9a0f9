#!/usr/bin/env bash
# `make soak-asan MINUTES=N`: the soak (tests/soak/soak.py) on the ASAN
# build that `make test-asan` installs into .venv-asan, the toolchain's ASAN
# runtime preloaded into every process it starts (service, batch workers,
# Dask workers, the orchestrator); each report any of them writes is a
# violation. Extra arguments go to the soak.
set -euo pipefail
cd "$(dirname "$0")/../.."
ASAN_DIR=$PWD/target/asan
RUNTIME=$ASAN_DIR/libasan-rt.so
[[ -f $RUNTIME ]] || RUNTIME=$(cc -print-file-name=libasan.so)
VENV=$PWD/.venv-asan
if ! grep -q __asan_report <<<"$(nm -D "$VENV"/lib/python3*/site-packages/cdn_manager/_core*.so 2>/dev/null)"; then
    echo "no ASAN build in $VENV: run make test-asan first"
    exit 2
fi
REPORTS=$ASAN_DIR/soak-reports-$(date +%Y%m%d-%H%M%S)
mkdir -p "$REPORTS"
# halt_on_error: a report ends its process, which the soak also sees as a
# death; detect_leaks=0: CPython keeps its objects until exit, by design.
exec env LD_PRELOAD="$RUNTIME" PYTHONMALLOC=malloc \
    ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:log_path=$REPORTS/asan" \
    "$VENV/bin/python" tests/soak/soak.py --asan-reports "$REPORTS" "$@"
