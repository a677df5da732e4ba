#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build, test and run kuzet.
# Only package registries are used: Debian apt, PyPI (for ONNX Runtime's shared
# library, taken from the official `onnxruntime` wheel) and crates.io (by cargo).
# Idempotent and quiet when everything is present.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
deps="$root/.deps"
ORT_VERSION="1.31.1"
MIN_RUST="1.94"  # sqlx 0.9 (kuzet-store-pg) needs 1.94

need_pkgs=(clang libclang-dev pkg-config ffmpeg
  libavcodec-dev libavformat-dev libavutil-dev libavfilter-dev libavdevice-dev libswscale-dev libswresample-dev
  python3 python3-pip python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-tools unzip curl ca-certificates
  chromium chromium-driver postgresql wrk nats-server openssl)
missing=()
for p in "${need_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Rust toolchain: stable, at least MIN_RUST.
if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found. Install a stable Rust toolchain >= $MIN_RUST (https://rustup.rs: 'curl https://sh.rustup.rs -sSf | sh')." >&2
  exit 1
fi
have_rust="$(rustc --version | awk '{print $2}')"
if [ "$(printf '%s\n%s\n' "$MIN_RUST" "$have_rust" | sort -V | head -n1)" != "$MIN_RUST" ]; then
  echo "setup: rustc $have_rust is older than the minimum $MIN_RUST: run 'rustup update stable'." >&2
  exit 1
fi

for tool in clippy fmt; do
  if ! cargo "$tool" --version >/dev/null 2>&1; then
    echo "setup: 'cargo $tool' is missing: run 'rustup component add clippy rustfmt'." >&2
    exit 1
  fi
done

# ONNX Runtime shared library from PyPI's wheel (ort is built with load-dynamic).
lib="$deps/onnxruntime/libonnxruntime.so.$ORT_VERSION"
if [ ! -f "$lib" ]; then
  echo "setup: fetching libonnxruntime $ORT_VERSION from PyPI's onnxruntime wheel"
  mkdir -p "$deps/onnxruntime" "$deps/wheel"
  py=python3
  command -v "$py" >/dev/null || py=/usr/bin/python3
  "$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 \
    --platform manylinux_2_28_x86_64 -d "$deps/wheel" "onnxruntime==$ORT_VERSION"
  unzip -q -o -j "$deps"/wheel/onnxruntime-"$ORT_VERSION"-*.whl "onnxruntime/capi/libonnxruntime.so.$ORT_VERSION" -d "$deps/onnxruntime"
  rm -rf "$deps/wheel"
fi
ln -sf "libonnxruntime.so.$ORT_VERSION" "$deps/onnxruntime/libonnxruntime.so"

# S3 API for the object-storage evidence test (crates/objstore/tests/s3_moto.rs):
# PyPI's moto server. Debian's pip refuses system-wide installs without
# --break-system-packages (PEP 668); a pyenv/venv python accepts the plain form.
if ! python3 -c 'import moto.server, flask, flask_cors' >/dev/null 2>&1; then
  echo "setup: installing moto[server] from PyPI (S3 API for tests)"
  python3 -m pip install -q 'moto[server]' 2>/dev/null ||
    python3 -m pip install -q --break-system-packages 'moto[server]'
fi
