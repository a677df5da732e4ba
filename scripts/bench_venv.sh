#!/usr/bin/env bash
# Creates (idempotently) the Python virtual environment used by the benchmarks'
# Python baselines (bench/reference.py, bench/faces_reference.py, bench/plates_reference.py,
# bench/faiss_hnsw.py) and prints its python path.
#
#   scripts/bench_venv.sh            # -> /abs/path/.deps/pyvenv/bin/python
#   KUZET_PYVENV=/elsewhere scripts/bench_venv.sh
#
# Only PyPI is used (through pip). Versions are pinned so that the reference runs
# the same ONNX Runtime as the Rust side (setup.sh: ORT_VERSION) and so that timings
# are comparable between machines. Quiet when the venv is already complete; all
# chatter goes to stderr, the only stdout line is the python path.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${KUZET_PYVENV:-$root/.deps/pyvenv}"

ORT_VERSION="1.31.1"
OPENCV_VERSION="4.12.0.88"   # opencv-python-headless; cp37-abi3 manylinux x86_64 wheel
NUMPY_VERSION="2.2.6"        # satisfies opencv 4.12 (numpy>=2,<2.3) and onnxruntime
FAISS_VERSION="1.15.1"       # faiss-cpu, ANN baseline of crates/index/benches/ann.rs
pins=("onnxruntime==$ORT_VERSION" "opencv-python-headless==$OPENCV_VERSION" "numpy==$NUMPY_VERSION"
  "faiss-cpu==$FAISS_VERSION")
stamp="$venv/.kuzet-bench-pins"
want_stamp="$(printf '%s\n' "${pins[@]}")"

say() { echo "bench_venv: $*" >&2; }

# Fast path: venv present, same pins, imports work.
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want_stamp" ] &&
  "$venv/bin/python" -c 'import cv2, numpy, onnxruntime, faiss' >/dev/null 2>&1; then
  echo "$venv/bin/python"
  exit 0
fi

# Pick a python3 (>= 3.9) whose venv+ensurepip modules work. The one on PATH first
# (may be pyenv), then Debian's /usr/bin/python3.
pick_python() {
  local c
  for c in "${PYTHON:-}" python3 /usr/bin/python3 python3.11 python3.12 python3.13; do
    [ -n "$c" ] || continue
    command -v "$c" >/dev/null 2>&1 || continue
    "$c" -c 'import sys, venv, ensurepip; sys.exit(0 if sys.version_info >= (3, 9) else 1)' >/dev/null 2>&1 || continue
    echo "$c"
    return 0
  done
  return 1
}

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
  if ! py="$(pick_python)"; then
    say "no python3 with a working 'venv' module found."
    say "On Debian/Ubuntu install it with: sudo apt-get install python3-venv"
    exit 1
  fi
  say "creating venv at $venv with $("$py" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  if ! "$py" -m venv "$venv" >&2; then
    rm -rf "$venv"
    say "'$py -m venv' failed. On Debian/Ubuntu: sudo apt-get install python3-venv"
    exit 1
  fi
fi

say "installing ${pins[*]}"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --only-binary=:all: "${pins[@]}" >&2
"$venv/bin/python" -c 'import cv2, numpy, onnxruntime, faiss' >&2
printf '%s\n' "$want_stamp" >"$stamp"
echo "$venv/bin/python"
