# mlflow-serve: one entry point for set-up, run, test and bench.
# Needs only the Rust toolchain and Python 3 with pip (for the onnxruntime wheel).

PYTHON ?= python3
PORT ?= 5002
MODEL ?= tests/fixtures/models/wine_cols
BIN := target/release/mlflow-serve

.PHONY: setup build run test bench lint fixtures goldens reference-env clean

## Fetch libonnxruntime (PyPI wheel) into .local/ and build the release binary.
setup: .local/onnxruntime/lib/libonnxruntime.so build

.local/onnxruntime/lib/libonnxruntime.so:
	$(PYTHON) scripts/fetch_onnxruntime.py

build:
	cargo build --release

## Serve the bundled example model (wine-quality regressor, ONNX) on port $(PORT).
run: setup
	$(BIN) models serve -m $(MODEL) --port $(PORT)

## Every test: unit, golden replay against MLflow's recorded answers, robustness.
test: .local/onnxruntime/lib/libonnxruntime.so
	cargo test --all-targets --workspace

## Criterion benches of the hot path.
bench: .local/onnxruntime/lib/libonnxruntime.so
	cargo bench --bench hot_path

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets --workspace -- -D warnings

## The reference environment (real MLflow 3.17.2) used to make fixtures and goldens.
reference-env: .venv-ref/bin/mlflow
.venv-ref/bin/mlflow:
	$(PYTHON) -m venv .venv-ref
	.venv-ref/bin/pip install -q 'mlflow==3.17.2' 'onnxruntime==1.31.1' skl2onnx scikit-learn onnx pandas pyarrow

## Regenerate the committed test models with real MLflow.
fixtures: reference-env
	.venv-ref/bin/python tests/fixtures/generate_models.py

## Re-record the committed golden answers from real `mlflow models serve`.
goldens: reference-env
	.venv-ref/bin/python tests/golden/record.py

clean:
	cargo clean
