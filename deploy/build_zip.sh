#!/usr/bin/env bash
# Build the HTTP API's Lambda zip for the managed python3.12 runtime (x86_64) from manylinux
# wheels: the project wheel, numpy, onnxruntime, botocore and the runtime client (pinned in
# deploy/api-requirements.txt). No Kedro, pandas, scikit-learn or scipy: the routes run ONNX
# graphs with numpy. Prints the zipped and unzipped sizes against Lambda's limits.
#   deploy/build_zip.sh [project-wheel] [out.zip]
#   defaults: dist/yield_runway-*.whl (from `kedro package`), dist/api-lambda.zip
# Needs PyPI, or pip's cache (PIP_CACHE_DIR) from an earlier run; PYTHON (python3) runs pip.
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
WHEELS=(dist/yield_runway-*.whl)  # the pattern itself when there is none
WHEEL="${1:-${WHEELS[0]}}"
OUT="$(realpath -m -- "${2:-dist/api-lambda.zip}")"
if [ ! -f "$WHEEL" ]; then
    echo "No project wheel: run \`kedro package\` (or deploy/build.sh) first" >&2
    exit 2
fi

# python3.12 runs on Amazon Linux 2023 (glibc 2.34), where manylinux_2_28 wheels load;
# python3.11's Amazon Linux 2 (glibc 2.26) cannot load numpy 2.4's or onnxruntime's.
PLATFORM=(--only-binary=:all: --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64
          --python-version 3.12 --implementation cp)
STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT

# --no-deps: api-requirements.txt is the whole closure; --no-compile: pip's Python is not
# Lambda's 3.12 (a 3.12 compiles the bytecode below).
if ! "$PYTHON" -m pip install --quiet --disable-pip-version-check --no-deps --no-compile \
        --target "$STAGE" "${PLATFORM[@]}" "$WHEEL" -r deploy/api-requirements.txt; then
    echo "Cannot install the python3.12 manylinux wheels (is PyPI reachable?)" >&2
    exit 3
fi

cd "$STAGE"
# Model conversion, quantization and profiling code: an InferenceSession imports none of it.
rm -rf onnxruntime/transformers onnxruntime/quantization onnxruntime/tools
# onnxruntime's C API library, for C/C++ callers: the Python binding has the runtime linked in
# and never loads it (tests/deploy/test_zip.py scores without it).
rm -f onnxruntime/capi/libonnxruntime.so.*
# numpy's test suites, Fortran wrapper generator, PyInstaller hook, C headers and static
# library: for testing and building against numpy; `import numpy` loads none of them.
find numpy -type d -name tests -prune -exec rm -rf {} +
rm -rf numpy/f2py numpy/distutils numpy/_pyinstaller numpy/_core/include numpy/_core/lib
# Type stubs are read by type checkers only.
find . -name '*.pyi' -delete
# botocore's API models: the API creates an S3 client only, which reads data/s3 and the shared
# top-level files (endpoints, partitions, retry and default configuration).
find botocore/data -mindepth 1 -maxdepth 1 -type d ! -name s3 -exec rm -rf {} +
# Console scripts, with this machine's interpreter in their #! line: Lambda runs none.
rm -rf bin

# Lambda's /var/task is read-only: without bytecode every cold start compiles the sources
# (1.35 s against 0.54 s here). Compiled by a Python 3.12, as Lambda runs; unchecked-hash
# because unzipping changes the sources' modification times, which a timestamp check compares.
if [ -z "${LAMBDA_PYTHON:-}" ]; then
    for candidate in python3.12 /root/.pyenv/versions/3.12*/bin/python3.12; do
        if "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
            LAMBDA_PYTHON="$candidate"
            break
        fi
    done
fi
if [ -n "${LAMBDA_PYTHON:-}" ]; then
    "$LAMBDA_PYTHON" -m compileall -q -j 0 --invalidation-mode unchecked-hash . >/dev/null
else
    echo "No Python 3.12 here (set LAMBDA_PYTHON): the zip has no bytecode, so each cold" \
        "start compiles its sources" >&2
fi

# Lambda reads the code as another user than the one who built it: everything world-readable.
chmod -R a+rX .
rm -f "$OUT"
mkdir -p "$(dirname "$OUT")"
zip --quiet --recurse-paths -X "$OUT" .

# Sizes in MB of 10^6 bytes, stricter than Lambda's limits (in MiB).
mb() { awk '{ s += $1 } END { printf "%.1f", s / 1e6 }'; }
UNZIPPED="$(find . -type f -printf '%s\n' | mb)"
ZIPPED="$(stat --format '%s' "$OUT" | mb)"
echo "Built $OUT: $ZIPPED MB zipped (Lambda: 50 MB for a direct upload), $UNZIPPED MB unzipped" \
    "(Lambda: 250 MB with layers). Largest parts, unzipped:"
for part in $(du --summarize --bytes -- * | sort -rn | head -n 6 | cut -f2); do
    echo "  $part $(find "$part" -type f -printf '%s\n' | mb) MB"
done
