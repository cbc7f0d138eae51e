# mlflow-serve: one entry point for set-up, run, test and bench.
# Needs only the Rust toolchain and Python 3 with pip (for the onnxruntime wheel).

PYTHON ?= python3
PORT ?= 5002
MODEL ?= models:/wine-quality/Staging
BIN := target/release/mlflow-serve
REF := .venv-ref/.ready-8
TORCH_REF := .venv-ref/.torch-ready-1
# Real MLServer 1.7.1 (KServe's MLflow runtime): only to record its answers and to load-test it
MLSERVER := .venv-mlserver/.ready-2
# The KServe Python SDK (a second V2 client in tests/oip_v2.rs), in its own environment
KSERVE := .venv-kserve/.ready-1
TREES := .venv-trees/.ready-1
XGB2 := .venv-xgb2/.ready-1
# podman, runc, debootstrap, nginx (Debian packages) and the containers.conf these machines need
CONTAINER_TOOLS := .local/container/.tools-1
# libtorch 2.13.0 (from the PyPI torch wheel) for the `torch` feature; see scripts/fetch_libtorch.py.
LIBTORCH_DIR := $(CURDIR)/.local/libtorch/torch
TORCH := .local/libtorch/torch/build-version
export LIBTORCH := $(LIBTORCH_DIR)

.PHONY: setup setup-torch build build-torch run test test-container image bench bench-predict bench-predict-large bench-trees load load-oip load-trees load-python lint fixtures goldens tree-fixtures tree-goldens predict-goldens sweep mlserver-goldens reference-env example-store clean fuzz fuzz-smoke

## Fetch libonnxruntime (PyPI wheel) into .local/ and build the release binary.
setup: .local/onnxruntime/lib/libonnxruntime.so build

.local/onnxruntime/lib/libonnxruntime.so:
	$(PYTHON) scripts/fetch_onnxruntime.py

build:
	cargo build --release

## The same with TorchScript support (`pytorch` flavor): fetches libtorch (~530 MB) first.
setup-torch: .local/onnxruntime/lib/libonnxruntime.so $(TORCH) build-torch

$(TORCH):
	$(PYTHON) scripts/fetch_libtorch.py

build-torch: $(TORCH)
	cargo build --release --features torch -p mlflow-serve -p mlflow-serve-torch

## Serve the bundled example registry's wine-quality model in Staging on port $(PORT),
## exactly as `mlflow models serve -m models:/wine-quality/Staging` would from that directory
## (the default tracking store is ./mlflow.db).
run: setup
	cd examples/wine-store && ../../$(BIN) models serve -m '$(MODEL)' --port $(PORT)

## Every test: what reviewers check first (rustfmt, the module graph and the README's map,
## clippy with every feature), then unit, golden replay against MLflow's recorded answers,
## robustness, and URI resolution against real stores (needs the reference environment:
## real MLflow, moto), the fuzz smoke run, the top-level Dockerfile's default image, and the
## container fleet.
## Built with the `torch` feature, so the TorchScript backend is tested too (its plugin,
## target/debug/libmlflow_serve_torch.so, is built first: `cargo test` does not make cdylibs).
test: .local/onnxruntime/lib/libonnxruntime.so $(TORCH) $(REF) $(KSERVE) .local/promtool/usr/bin/promtool $(CONTAINER_TOOLS) .local/wrk/usr/bin/wrk
	cargo fmt --all -- --check
	$(PYTHON) scripts/module_graph.py
	cargo clippy --all-targets --workspace --features torch -- -D warnings
	cargo build --features torch -p mlflow-serve -p mlflow-serve-torch
	.venv-ref/bin/python tests/deploy/check_manifests.py target/debug/mlflow-serve
	cargo test --all-targets --workspace --features torch
	$(MAKE) fuzz-smoke
	$(MAKE) image
	$(PYTHON) tests/container/fleet.py --quick target/debug/mlflow-serve

## Containers (needs root): podman, runc, debootstrap (stand-in base images, no registry
## needed) and nginx (the load balancer of the fleet test), from Debian's packages.
$(CONTAINER_TOOLS):
	command -v podman && command -v runc && command -v debootstrap && command -v nginx || \
	  (apt-get install -y -q podman runc debootstrap nginx-light || \
	   (apt-get update -q && apt-get install -y -q podman runc debootstrap nginx-light))
	mkdir -p .local/container
	printf '[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\n' > .local/container/containers.conf
	touch $@

## The image from the top-level Dockerfile (base images stood in locally when they cannot be
## pulled), then the SageMaker contract, a registry URI, build-docker, and the fleet: a
## rolling restart of two replicas behind nginx under steady load (0 failed requests) and a
## SIGKILL mid-load (tests/container/fleet.py).
test-container: $(CONTAINER_TOOLS) .local/wrk/usr/bin/wrk
	$(PYTHON) tests/container/fleet.py

## The container image (ONNX models), built from the top-level Dockerfile.
image: $(CONTAINER_TOOLS)
	tests/container/base_images.sh
	CONTAINERS_CONF=$(CURDIR)/.local/container/containers.conf BUILDAH_ISOLATION=chroot \
	  podman build --pull=never -t mlflow-serve:latest .

## Coverage-guided fuzzing (cargo-fuzz + libFuzzer, on the stable toolchain through
## RUSTC_BOOTSTRAP=1) of every parser of untrusted bytes. `make fuzz` runs each target for
## FUZZ_SECONDS under AddressSanitizer; `make fuzz-smoke` (part of `make test`) runs each
## for 15 s without a sanitizer. New inputs go to fuzz/work/ (the committed seeds, built
## from the goldens by fuzz/make_corpus.py, stay as they are); crashes to fuzz/artifacts/.
FUZZ_TARGETS := json_request csv_request parquet_request mlmodel torch_archive v2_request xgboost_model lightgbm_model skops_model worker_reply
FUZZ_RUN ?= $(FUZZ_TARGETS)
FUZZ_SMOKE := $(FUZZ_TARGETS)
FUZZ_SECONDS ?= 600
FUZZ_SANITIZER ?= address
CARGO_FUZZ := .local/cargo-fuzz/bin/cargo-fuzz
FUZZ_FLAGS := -rss_limit_mb=2048 -max_len=65536 -timeout=10

$(CARGO_FUZZ):
	cargo install cargo-fuzz --locked --version 0.13.2 --root .local/cargo-fuzz

fuzz: $(CARGO_FUZZ)
	for t in $(FUZZ_RUN); do \
	  mkdir -p fuzz/work/corpus/$$t && \
	  (cd fuzz && PATH="$(CURDIR)/.local/cargo-fuzz/bin:$$PATH" RUSTC_BOOTSTRAP=1 cargo fuzz run -O -s $(FUZZ_SANITIZER) $$t work/corpus/$$t corpus/$$t -- $(FUZZ_FLAGS) -max_total_time=$(FUZZ_SECONDS)) || exit 1; \
	done

fuzz-smoke: $(CARGO_FUZZ)
	$(MAKE) fuzz FUZZ_SECONDS=15 FUZZ_SANITIZER=none FUZZ_RUN="$(FUZZ_SMOKE)"

## promtool (checks /metrics in a test), from Debian's prometheus package, unpacked without root.
.local/promtool/usr/bin/promtool:
	mkdir -p .local/promtool
	cd .local/promtool && (apt-get download prometheus || (apt-get update -q && apt-get download prometheus))
	cd .local/promtool && dpkg -x prometheus_*.deb . && rm -f prometheus_*.deb
	test -x $@

## wrk (load generator) and its luajit, from Debian's packages, unpacked without root.
.local/wrk/usr/bin/wrk:
	mkdir -p .local/wrk
	cd .local/wrk && (apt-get download wrk libluajit-5.1-2 || (apt-get update -q && apt-get download wrk libluajit-5.1-2))
	cd .local/wrk && for d in *.deb; do dpkg -x $$d .; done && rm -f *.deb
	test -x $@

## h2load (HTTP/2 load generator, drives gRPC in the OIP harness), from Debian's
## nghttp2-client package and the libraries it needs, unpacked without root.
.local/h2load/usr/bin/h2load:
	mkdir -p .local/h2load
	cd .local/h2load && (apt-get download nghttp2-client libnghttp2-14 libev4 libjansson4 libjemalloc2 || (apt-get update -q && apt-get download nghttp2-client libnghttp2-14 libev4 libjansson4 libjemalloc2))
	cd .local/h2load && for d in *.deb; do dpkg -x $$d .; done && rm -f *.deb
	test -x $@

## Open Inference Protocol harness: /invocations JSON vs V2 REST JSON vs V2 binary tensors vs
## gRPC on one server, and real MLServer 1.7.1 on the same V2 requests (benches/oip_load.py).
load-oip: .local/onnxruntime/lib/libonnxruntime.so .local/wrk/usr/bin/wrk .local/h2load/usr/bin/h2load $(REF) $(MLSERVER) build
	$(PYTHON) benches/oip_load.py --model tests/fixtures/models/wine_tensor

## Load harness: mlflow-serve vs `mlflow models serve` vs the in-process runtime (ONNX Runtime
## or, for the TorchScript twins, torch.jit: needs `$(TORCH_REF)` for mlflow's side).
load: .local/onnxruntime/lib/libonnxruntime.so .local/wrk/usr/bin/wrk $(REF) build-torch
	$(PYTHON) benches/load.py --model tests/fixtures/models/wine_cols
	$(PYTHON) benches/load.py --model tests/fixtures/models/cnn_mnist
	$(PYTHON) benches/load.py --model tests/fixtures/models/torch_wine_cols
	$(PYTHON) benches/load.py --model tests/fixtures/models/torch_cnn
	$(MAKE) load-oip

## Criterion benches of the hot path.
bench: .local/onnxruntime/lib/libonnxruntime.so build-torch
	cargo bench --bench hot_path --features torch

## In-process tree inference: runtimes/trees vs XGBoost's inplace_predict and LightGBM's
## predict on 100-tree depth-6 models, 1 and 10 000 rows, one thread and all.
bench-trees: $(TREES)
	$(PYTHON) benches/trees.py

## The load harness on the same XGBoost and LightGBM models: mlflow-serve vs real
## `mlflow models serve` (with XGBoost and LightGBM) vs the library in process.
load-trees: .local/wrk/usr/bin/wrk $(TREES) build
	$(PYTHON) benches/trees.py --seconds 0.2
	$(PYTHON) benches/load.py --ref-env .venv-trees --model target/bench-models/xgb_100x6
	$(PYTHON) benches/load.py --ref-env .venv-trees --model target/bench-models/lgb_100x6

## A scikit-learn Pipeline(StandardScaler, LogisticRegression) through Python workers
## against `mlflow models serve -w 1` in the same Python (issue 29).
load-python: .local/wrk/usr/bin/wrk $(REF) build
	$(PYTHON) benches/load.py --model tests/fixtures/models/py_sklearn_pickle

## `models predict` on a 100 000-row wine CSV against real `mlflow models predict`.
bench-predict: .local/onnxruntime/lib/libonnxruntime.so $(REF) build
	$(PYTHON) benches/predict_bench.py

## `models predict` on a generated Parquet file of 2 GB or more: rows/s and peak RSS.
bench-predict-large: .local/onnxruntime/lib/libonnxruntime.so $(REF) build
	$(PYTHON) benches/predict_large.py

lint: $(TORCH)
	$(PYTHON) scripts/module_graph.py
	cargo fmt --all -- --check
	cargo clippy --all-targets --workspace -- -D warnings
	cargo clippy --all-targets --workspace --features torch -- -D warnings

## The reference environment (real MLflow 3.17.2) used to make fixtures and goldens.
## Bump the stamp's number when this list changes, so existing environments update.
reference-env: $(REF)
$(REF):
	$(PYTHON) -m venv .venv-ref
	.venv-ref/bin/pip install -q 'mlflow[auth]==3.17.2' 'onnxruntime==1.31.1' skl2onnx scikit-learn onnx pandas pyarrow 'moto[server]==5.2.5' 'boto3==1.44.5' cryptography 'schemathesis==4.32.5' 'kubernetes-validate==1.37.0' 'tritonclient[http,grpc]==2.73.0' 'skops==0.16.0' 'uv==0.13.9'
	touch $@

## The KServe SDK pins its own fastapi/pydantic/protobuf: a separate environment.
$(KSERVE):
	$(PYTHON) -m venv .venv-kserve
	.venv-kserve/bin/pip install -q 'kserve==0.21.0'
	touch $@

## Rebuild the bundled example registry (examples/wine-store) with real MLflow.
example-store: $(REF)
	rm -rf examples/wine-store && mkdir -p examples/wine-store
	cd examples/wine-store && ../../.venv-ref/bin/python ../../tests/registry/make_stores.py registry "sqlite:///$$PWD/mlflow.db" expected.json --relocatable

## PyTorch in the reference environment (torch 2.13.0 with its CUDA wheels, about 4.7 GB):
## only to regenerate the PyTorch fixtures and goldens, never needed by `make test`.
$(TORCH_REF): $(REF)
	.venv-ref/bin/pip install -q 'torch==2.13.0'
	touch $@

## Regenerate the committed test models with real MLflow (generate_torch.py after
## generate_cnn.py: torch_cnn takes cnn_mnist's weights).
fixtures: reference-env $(TORCH_REF)
	.venv-ref/bin/python tests/fixtures/generate_models.py
	.venv-ref/bin/python tests/fixtures/generate_cnn.py
	.venv-ref/bin/python tests/fixtures/generate_torch.py
	.venv-ref/bin/python tests/fixtures/generate_runtime_conformance.py

## XGBoost 3.2 (the newest xgboost-cpu for Python 3.11), LightGBM 4.7 and skops with MLflow
## 3.17.2: makes the tree fixtures and records their goldens; never needed by `make test`.
$(TREES):
	$(PYTHON) -m venv .venv-trees
	.venv-trees/bin/pip install -q 'mlflow==3.17.2' 'xgboost-cpu==3.2.0' 'lightgbm==4.7.0' 'skops==0.16.0' scikit-learn pandas pyarrow
	touch $@

## XGBoost 2.0.3 (the last to write the legacy binary format; 2.1 already writes UBJSON into
## model.xgb) with MLflow 3.17.2, for the legacy-binary fixtures and their goldens.
$(XGB2):
	$(PYTHON) -m venv .venv-xgb2
	.venv-xgb2/bin/pip install -q 'mlflow==3.17.2' 'xgboost==2.0.3' 'scikit-learn<1.6' pandas
	touch $@

## Regenerate the XGBoost and LightGBM fixtures, then re-record what the libraries answer
## (tests/golden/trees/library*.json) and what `mlflow models serve` answers (trees/serve/).
tree-fixtures: $(TREES) $(XGB2)
	.venv-trees/bin/python tests/fixtures/generate_trees.py
	.venv-xgb2/bin/python tests/fixtures/generate_trees_legacy.py

tree-goldens: $(TREES) $(XGB2)
	.venv-trees/bin/python tests/golden/record_tree_library.py
	.venv-xgb2/bin/python tests/golden/record_tree_library.py --legacy
	.venv-trees/bin/python tests/golden/record_trees.py
	.venv-xgb2/bin/python tests/golden/record_trees.py --legacy

## Real MLServer 1.7.1 with mlserver-mlflow (KServe's runtime for `modelFormat: mlflow`), only
## to re-record its V2 answers (tests/oip/mlserver_metadata.json); never needed by `make test`.
$(MLSERVER):
	$(PYTHON) -m venv .venv-mlserver
	# uvloop 0.22+ breaks MLServer 1.7.1's parallel inference workers (its default: they die
	# with "There is no current event loop"); 0.21.0 is the last release it works with.
	.venv-mlserver/bin/pip install -q 'mlserver==1.7.1' 'mlserver-mlflow==1.7.1' 'onnxruntime==1.31.1' 'uvloop==0.21.0'
	touch $@

mlserver-goldens: $(MLSERVER)
	.venv-mlserver/bin/python tests/oip/record_mlserver.py

## Re-record the committed golden answers from real `mlflow models serve`.
goldens: reference-env $(TORCH_REF)
	.venv-ref/bin/python tests/golden/record.py
	.venv-ref/bin/python tests/golden/sweep.py --record

## Compare mlflow-serve with real `mlflow models serve` over the sweep's requests (pandas'
## constructor and read_csv edges) and list every difference (-v in SWEEP_ARGS for both answers).
sweep: reference-env build
	.venv-ref/bin/python tests/golden/sweep.py --bin target/release/mlflow-serve $(SWEEP_ARGS)

## Re-record what real `mlflow models predict` answers for the same inputs (after `goldens`).
predict-goldens: reference-env $(TORCH_REF)
	PYTHONHASHSEED=0 .venv-ref/bin/python tests/golden/record_predict.py

clean:
	cargo clean
