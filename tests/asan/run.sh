#!/usr/bin/env bash
# `make test-asan`: the Rust core under the sanitizers.
#
#  1. cargo test under AddressSanitizer (LeakSanitizer on), profile `asan`,
#     target/asan: the normal build is never invalidated.
#  2. cargo test under ThreadSanitizer, where it can run: it needs a standard
#     library built with it (-Zbuild-std, the rust-src component); without
#     rust-src the step says so and is skipped (SANITIZERS=asan skips it too).
#  3. The extension built with ASAN into a wheel, installed into a venv of its
#     own (.venv-asan; never the editable .venv build), the ASAN runtime
#     preloaded into Python, and a subset of the Python suite run on it:
#     round trips, in-memory downloads and a buffer changed during an upload,
#     cancellation (async), Ctrl-C and SIGTERM, 16 threads of mixed
#     transfers, the Dask shards. Every process the tests start inherits the
#     preload (CLI runs, batch programs, Dask workers), and every report of
#     every process lands in target/asan/reports: any file there fails it.
#     PYTHONMALLOC=malloc puts Python's objects in ASAN's heap too, so a
#     use-after-free of a Python buffer by Rust code is caught; LeakSanitizer
#     is off for Python (CPython keeps its objects until exit, by design).
#  4. Before trusting "no report": a planted heap overflow, loaded into Python
#     the same way, must be reported.
#
# Environment: PY (python for the venvs, default python3), S3S_FS (s3s-fs),
# ASAN_PYTEST_ARGS (extra pytest arguments), SANITIZERS (asan,tsan).
set -euo pipefail
cd "$(dirname "$0")/../.."

PY=${PY:-python3}
SANITIZERS=${SANITIZERS:-asan,tsan}
TARGET=x86_64-unknown-linux-gnu
ASAN_DIR=$PWD/target/asan
REPORTS=$ASAN_DIR/reports
VENV=$PWD/.venv-asan
export RUSTC_BOOTSTRAP=1  # -Z flags on the stable toolchain

step() { printf '\n== %s (%s)\n' "$1" "$(date +%T)"; }
started=$SECONDS

step "cargo test under AddressSanitizer"
RUSTFLAGS="-Zsanitizer=address" cargo test --quiet --profile asan --target $TARGET \
    --target-dir "$ASAN_DIR"

if [[ $SANITIZERS == *tsan* ]]; then
    if grep -q '^rust-src' <<<"$(rustup component list --installed 2>/dev/null)"; then
        step "cargo test under ThreadSanitizer (standard library built with it)"
        # Unit tests that hold no Python: TSan would see CPython's own
        # uninstrumented locking in a process that runs the interpreter.
        # --lib: rustdoc would need the flag too, and there is no doctest.
        TSAN_OPTIONS="halt_on_error=1" RUSTFLAGS="-Zsanitizer=thread" cargo test --quiet --lib \
            --profile asan -Zbuild-std --target $TARGET --target-dir "$PWD/target/tsan"
    else
        step "ThreadSanitizer skipped"
        echo "TSan needs the standard library built with it (-Zbuild-std), and the"
        echo "rust-src component is not installed (rustup component add rust-src)"
    fi
fi

step "the ASAN runtime, as a library Python can preload"
# rustc links its ASAN runtime into executables only; a Python extension
# needs it preloaded. The toolchain's own runtime matches its instrumentation
# exactly: its static archive, minus the preinit object an executable needs,
# linked as a shared library. gcc's libasan is the fallback.
RUNTIME=$ASAN_DIR/libasan-rt.so
if [[ ! -f $RUNTIME ]]; then
    archive=$(rustc --print sysroot)/lib/rustlib/$TARGET/lib/librustc-stable_rt.asan.a
    objects=$(mktemp -d)
    if (cd "$objects" && ar x "$archive" && rm -f asan_preinit*.o \
        && cc -shared -o "$RUNTIME" ./*.o -lpthread -ldl -lm -lrt -lstdc++) 2>/dev/null; then
        echo "built from $archive"
    else
        RUNTIME=$(cc -print-file-name=libasan.so)
        echo "using gcc's $RUNTIME"
    fi
    rm -rf "$objects"
fi

run_python() {
    # halt_on_error: the first report ends the process (a crashed test);
    # log_path: every process's report in its own file, whatever its stderr.
    env LD_PRELOAD="$RUNTIME" PYTHONMALLOC=malloc \
        ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:log_path=$REPORTS/asan" "$@"
}

step "the harness sees a planted heap overflow"
rm -rf "$REPORTS" && mkdir -p "$REPORTS"
rustc -Zsanitizer=address --target $TARGET --crate-type cdylib -g \
    -o "$ASAN_DIR/libplanted.so" tests/asan/planted.rs
run_python "$PY" -c "import ctypes, sys; ctypes.CDLL(sys.argv[1]).read_past_the_end(40)" \
    "$ASAN_DIR/libplanted.so" && { echo "the planted overflow was not stopped"; exit 1; }
if ! grep -qs "heap-buffer-overflow" "$REPORTS"/asan.*; then
    echo "AddressSanitizer did not report the planted overflow: the harness is blind"
    exit 1
fi
echo "reported: $(grep -h -m1 'ERROR: AddressSanitizer' "$REPORTS"/asan.*)"
rm -rf "$REPORTS" && mkdir -p "$REPORTS"

step "the extension under AddressSanitizer, in $VENV"
if [[ ! -f $VENV/.deps || constraints.txt -nt $VENV/.deps ]]; then
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -c constraints.txt maturin "moto[server]" \
        pytest pytest-xdist boto3 PyYAML shtab crc32c brotli "dask[distributed]" typing_extensions
    touch "$VENV/.deps"
fi
rm -rf "$ASAN_DIR/wheels"
RUSTFLAGS="-Zsanitizer=address" "$VENV/bin/maturin" build --quiet --profile asan \
    --target $TARGET --target-dir "$ASAN_DIR" --out "$ASAN_DIR/wheels"
"$VENV/bin/python" -m pip install --quiet --force-reinstall --no-deps "$ASAN_DIR"/wheels/*.whl
# (Read whole first: with pipefail, `nm | grep -q` fails when grep stops
# early and nm dies of SIGPIPE.)
symbols=$(nm -D "$VENV"/lib/python3*/site-packages/cdn_manager/_core*.so)
grep -q __asan_report <<<"$symbols" \
    || { echo "the installed extension is not instrumented"; exit 1; }

step "Python tests on the ASAN build"
# Round trips (file, bytes, in memory), a buffer changed by another thread
# during an upload and a Ctrl-C during a download's clean-up, task
# cancellation, SIGINT and SIGTERM of batches and of the command line, 16
# threads of mixed transfers, and the Dask shards (4 worker processes).
status=0
cd tests  # not the checkout: the tests import the installed (ASAN) package
run_python "$VENV/bin/python" -c "import cdn_manager._core as m; print('testing', m.__file__)"
# The load test runs on s3s-fs only: on moto it took 277 s of the 538 here,
# moto copying each object per request, with nothing more for ASAN to see.
CDN_MANAGER_DATA_PLANE=auto run_python "$VENV/bin/python" -m pytest -q -n 2 \
    -p no:cacheprovider -m "not garage" \
    test_roundtrip.py test_memory_safety.py test_async.py test_interrupts.py test_load.py \
    test_dask.py --deselect "tests/test_load.py::test_sixteen_threads_share_one_manager_for_500_mixed_transfers[moto]" \
    ${ASAN_PYTEST_ARGS:-} || status=$?
cd ..

reports=$(find "$REPORTS" -type f | sort)
if [[ -n $reports ]]; then
    for report in $reports; do
        printf '\n---- %s ----\n' "$report"
        head -80 "$report"
    done
    echo "AddressSanitizer reported $(echo "$reports" | wc -l) error(s)"
    exit 1
fi
echo "AddressSanitizer: no report from any process"
echo "make test-asan took $((SECONDS - started)) s"
exit $status
