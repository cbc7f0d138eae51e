# syntax=docker/dockerfile:1
#
# mlflow-serve container images. Two targets:
#
#   docker build -t mlflow-serve .                  ONNX models (the default, ~80 MB)
#   docker build -t mlflow-serve:torch --target torch .   + TorchScript (libtorch's CPU libraries)
#   docker build -t mlflow-serve:python --target python .   + any other MLflow model, run in
#       Python workers (slim Debian Python, MLflow and scikit-learn in /opt/model-env; a model
#       with other requirements: `mlflow-serve models build-docker` builds its own image)
#
#   docker run -p 8080:8080 -v $PWD/model:/opt/ml/model mlflow-serve           # serves /opt/ml/model
#   docker run -p 8080:8080 -e MLFLOW_TRACKING_URI=... mlflow-serve \
#       models serve -m models:/wine-quality@champion                          # any model URI
#
# The binary is the entrypoint and PID 1 (SIGTERM drains; no shell, no wrapper), runs as the
# distroless `nonroot` user (65532), binds 0.0.0.0:8080 (MLFLOW_HOST, MLFLOW_PORT), and keeps
# remote models in /var/cache/mlflow-serve (mount a volume there for a read-only root).
# Every setting is a flag or an environment variable (README, "Containers and Kubernetes").
#
# Caching: the onnxruntime/libtorch downloads are layers of their own; cargo's registry and
# target directory are BuildKit cache mounts, so a rebuild after a source change recompiles
# only this project's crates. tests/container/base_images.sh stands the two base images in
# on machines that cannot pull them (same names, same Dockerfile).

ARG RUST_IMAGE=docker.io/library/rust:1-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot
ARG PYTHON_IMAGE=docker.io/library/python:3.11-slim-bookworm

# ---- build: the toolchain, pip (for the onnxruntime and torch wheels) ----
FROM ${RUST_IMAGE} AS build-base
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3 python3-pip \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src

# libonnxruntime from the PyPI wheel, as `make setup` fetches it (its own cached layer)
FROM build-base AS onnxruntime
COPY scripts/fetch_onnxruntime.py scripts/
RUN python3 scripts/fetch_onnxruntime.py \
 && mkdir -p /out \
 && cp -a .local/onnxruntime/lib/libonnxruntime.so* /out/

# libtorch's CPU libraries from the PyPI wheel, as `make setup-torch` fetches them
FROM build-base AS libtorch
COPY scripts/fetch_libtorch.py scripts/
RUN python3 scripts/fetch_libtorch.py

# The sources, without tests, fixtures or fuzzing (see .dockerignore); build.rs compiles the
# gRPC service from its proto
FROM build-base AS sources
COPY Cargo.toml Cargo.lock build.rs ./
COPY schemas/grpc_predict_v2.proto schemas/
COPY src src
COPY runtimes runtimes
COPY benches benches

FROM sources AS build-onnx
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target,id=mlflow-serve-target \
    cargo build --profile dist --locked -p mlflow-serve \
 && mkdir -p /out /out-cache \
 && cp target/dist/mlflow-serve /out/

FROM sources AS build-torch
COPY --from=libtorch /src/.local/libtorch /src/.local/libtorch
ENV LIBTORCH=/src/.local/libtorch/torch
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target,id=mlflow-serve-target-torch \
    cargo build --profile dist --locked --features torch -p mlflow-serve -p mlflow-serve-torch \
 && mkdir -p /out /out-cache \
 && cp target/dist/mlflow-serve target/dist/libmlflow_serve_torch.so /out/ \
 && mkdir -p /out/libtorch/torch \
 && cp -a .local/libtorch/torch/lib /out/libtorch/torch/ \
 && cp -a .local/libtorch/nvidia /out/libtorch/

# ---- run: TorchScript too (libtorch next to the plugin, found through its rpath) ----
FROM ${RUNTIME_IMAGE} AS torch
COPY --from=onnxruntime /out/ /opt/mlflow-serve/
COPY --from=build-torch /out/ /opt/mlflow-serve/
COPY --from=build-torch --chown=65532:65532 /out-cache/ /var/cache/mlflow-serve/
# runtime conventions (the same lines as src/image/Dockerfile.template; a test compares them)
ENV MLFLOW_HOST=0.0.0.0 \
    MLFLOW_PORT=8080 \
    MLFLOW_SERVE_MODEL_CACHE=/var/cache/mlflow-serve
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/opt/mlflow-serve/mlflow-serve"]
CMD ["serve"]

# ---- run: models in Python workers (and ONNX models natively) ----
FROM ${PYTHON_IMAGE} AS python
ARG MLFLOW_VERSION=3.17.2
RUN pip install --no-cache-dir --disable-pip-version-check 'uv==0.13.9' \
 && uv venv --quiet --python "$(command -v python3)" /opt/model-env \
 && uv pip install --no-cache --python /opt/model-env/bin/python "mlflow==${MLFLOW_VERSION}" scikit-learn skops \
 && pip uninstall --yes --quiet uv \
 && useradd --uid 65532 --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin nonroot
COPY --from=onnxruntime /out/ /opt/mlflow-serve/
COPY --from=build-onnx /out/ /opt/mlflow-serve/
COPY --from=build-onnx --chown=65532:65532 /out-cache/ /var/cache/mlflow-serve/
# runtime conventions (the same lines as src/image/Dockerfile.template; a test compares them)
ENV MLFLOW_HOST=0.0.0.0 \
    MLFLOW_PORT=8080 \
    MLFLOW_SERVE_MODEL_CACHE=/var/cache/mlflow-serve
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/opt/mlflow-serve/mlflow-serve"]
CMD ["serve"]
# the workers' Python
ENV MLFLOW_SERVE_ENV_MANAGER=local \
    MLFLOW_SERVE_PYTHON=/opt/model-env/bin/python

# ---- run: ONNX only (the default target) ----
FROM ${RUNTIME_IMAGE} AS onnx
COPY --from=onnxruntime /out/ /opt/mlflow-serve/
COPY --from=build-onnx /out/ /opt/mlflow-serve/
COPY --from=build-onnx --chown=65532:65532 /out-cache/ /var/cache/mlflow-serve/
# runtime conventions (the same lines as src/image/Dockerfile.template; a test compares them)
ENV MLFLOW_HOST=0.0.0.0 \
    MLFLOW_PORT=8080 \
    MLFLOW_SERVE_MODEL_CACHE=/var/cache/mlflow-serve
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/opt/mlflow-serve/mlflow-serve"]
CMD ["serve"]
