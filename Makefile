# kuzet — top-level commands. `make demo` and `make test` work on a fresh Debian 12
# machine with a stable Rust toolchain (>= 1.94): each installs what is missing first.

ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
export KUZET_MODELS ?= $(abspath $(ROOT)/../shared/models)
export KUZET_DATA ?= $(abspath $(ROOT)/../shared/data)
export ORT_DYLIB_PATH ?= $(ROOT)/.deps/onnxruntime/libonnxruntime.so
CARGO ?= cargo
DEMO_DATA ?= $(ROOT)/data/demo
LISTEN ?= 127.0.0.1:8080

.PHONY: setup build demo test lint bench bench-full bench-plates bench-ann clean

setup:
	@$(ROOT)/scripts/setup.sh

build: setup
	$(CARGO) build --release -p kuzet

# Analyses the sample videos in $KUZET_DATA/videos, then serves the API.
demo: build
	$(ROOT)/target/release/kuzet models check
	$(ROOT)/target/release/kuzet serve --config $(ROOT)/config/demo.toml --data-dir $(DEMO_DATA) --listen $(LISTEN)

# Release profile for tests too: the suite runs real models on real video, and
# sharing the release build with `make demo` halves the compile time.
test: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) build --release -p kuzet
	$(CARGO) test --workspace --release --all-targets -- --test-threads=2
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings

# Small, CI-sized run of every benchmark (keeps them working); `make bench-full` by hand.
bench: build
	$(ROOT)/target/release/kuzet bench $(KUZET_DATA)/videos/vtest_pedestrians.mp4 --frames 120 --python
	$(ROOT)/target/release/kuzet bench plates --every 20

bench-full: build
	$(ROOT)/target/release/kuzet bench $(KUZET_DATA)/videos/vtest_pedestrians.mp4 --python --static $(KUZET_DATA)/videos/car_parking_lot_overhead.mp4
	$(ROOT)/target/release/kuzet bench faces --data-root $(KUZET_DATA)
	$(ROOT)/target/release/kuzet bench plates

# Plates/s of localisation + OCR against the Python reference on all 217 labelled
# photos (the venv comes from scripts/bench_venv.sh, as for the other baselines).
bench-plates: build
	@$(ROOT)/scripts/bench_venv.sh >/dev/null
	$(ROOT)/target/release/kuzet bench plates

# 1:N search on 1M synthetic 512-d vectors against FAISS HNSW (about an hour
# on 2 cores; KUZET_ANN_N=100000 for a quicker run).
bench-ann:
	$(CARGO) bench -p kuzet-index --bench ann

clean:
	$(CARGO) clean
