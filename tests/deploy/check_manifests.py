#!/usr/bin/env python3
"""Checks the Kubernetes manifests under deploy/kubernetes and the KServe runtime under
deploy/kserve (part of `make test`).

1. Every standard resource validates, strictly (unknown fields are errors), against the
   schemas of Kubernetes 1.33 and 1.37 with kubernetes-validate (PyPI).
2. The manifests agree with each other and with mlflow-serve itself:
   - selectors match the pod labels; the Service and ServiceMonitor name real ports;
   - probes ask paths the OpenAPI spec documents (/health readiness, /livez liveness);
   - preStop sleep equals the drain delay, and terminationGracePeriodSeconds covers
     preStop + drain delay + graceful timeout;
   - every MLFLOW_* variable set is one the binary reads (its `--help`, or the store
     variables the resolver reads), and the pod runs as the image's user (Dockerfile USER);
   - with a read-only root filesystem, the model cache and /tmp are volumes;
   - the HPA's metrics are the adapter rules' names, built from metrics the server exports.

3. predict-job.yaml (the Indexed Job of `models predict --shard`): Indexed, `--shard
   $(JOB_COMPLETION_INDEX)/N` with N == completions, the index declared from the Job's
   annotation so that args expand it, one output per index, flags and variables
   `models predict` reads, non-root like the image, /tmp and the cache as volumes.

4. deploy/kserve (KServe's CRDs are not in kubernetes-validate: checked structurally): the
   ClusterServingRuntime claims `modelFormat: mlflow` 3 with autoSelect above
   kserve-mlserver's priority, declares only protocols whose routes the OpenAPI spec has,
   runs `models serve -m /mnt/models --model-name {{.Name}}` on 8080 as `kserve-container`
   with probes on documented paths, variables the binary reads, non-root; the example
   InferenceService names that runtime, a format and a protocol it declares.

    python3 tests/deploy/check_manifests.py BINARY
"""
import glob
import os
import re
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(ROOT, "deploy", "kubernetes")
KUBERNETES_VERSIONS = ["1.33.0", "1.37.0"]
# kinds kubernetes-validate has no schema for (checked structurally below)
NOT_CORE = {"kustomization.yaml", "servicemonitor.yaml"}
# read by the resolver (MLflow's own variables), not flags of `models serve`
STORE_VARS = {"MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_TRACKING_TOKEN",
              "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"}

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)


def load(name):
    with open(os.path.join(DEPLOY, name)) as f:
        return yaml.safe_load(f)


def validate():
    files = sorted(f for f in glob.glob(os.path.join(DEPLOY, "*.yaml"))
                   if os.path.basename(f) not in NOT_CORE)
    tool = os.path.join(os.path.dirname(sys.executable), "kubernetes-validate")
    for version in KUBERNETES_VERSIONS:
        r = subprocess.run([tool, "--strict", "-k", version, *files], capture_output=True, text=True)
        out = r.stdout + r.stderr
        passed = out.count(" passed for resource ")
        check(r.returncode == 0 and "WARN" not in out and "ERROR" not in out,
              f"kubernetes-validate {version}:\n{out}")
        check(passed == len(files), f"{passed} of {len(files)} manifests passed against {version}")
        print(f"kubernetes-validate --strict -k {version}: {passed}/{len(files)} manifests pass")


def seconds(env, name):
    return float(next(e["value"] for e in env if e["name"] == name))


def cross_check(binary):
    kustomization = load("kustomization.yaml")
    listed = set(kustomization["resources"])
    present = {os.path.basename(f) for f in glob.glob(os.path.join(DEPLOY, "*.yaml"))}
    check(listed == present - {"kustomization.yaml", "prometheus-adapter-rules.yaml", "predict-job.yaml"},
          f"kustomization resources {sorted(listed)} vs files {sorted(present)}")

    dep = load("deployment.yaml")
    svc = load("service.yaml")
    pdb = load("poddisruptionbudget.yaml")
    hpa = load("horizontalpodautoscaler.yaml")
    smon = load("servicemonitor.yaml")
    cm = load("configmap.yaml")
    rules = yaml.safe_load(load("prometheus-adapter-rules.yaml")["data"]["config.yaml"])["rules"]

    pod = dep["spec"]["template"]
    labels = pod["metadata"]["labels"]
    sub = lambda sel: all(labels.get(k) == v for k, v in sel.items())
    check(dep["spec"]["selector"]["matchLabels"] == labels, "Deployment selector == pod labels")
    check(sub(svc["spec"]["selector"]), "Service selects the pods")
    check(sub(pdb["spec"]["selector"]["matchLabels"]), "PDB selects the pods")
    check(all(svc["metadata"]["labels"].get(k) == v for k, v in smon["spec"]["selector"]["matchLabels"].items()),
          "ServiceMonitor selects the Service")
    check(smon["apiVersion"] == "monitoring.coreos.com/v1" and smon["kind"] == "ServiceMonitor", "ServiceMonitor kind")
    check(hpa["spec"]["scaleTargetRef"]["name"] == dep["metadata"]["name"], "HPA targets the Deployment")
    check(hpa["spec"]["minReplicas"] >= 2, "HPA keeps two replicas at least (one may be rolling)")

    spec = pod["spec"]
    (c,) = spec["containers"]
    env = c["env"]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    check(ports.get("http") == int(next(e["value"] for e in env if e["name"] == "MLFLOW_PORT")),
          "containerPort http == MLFLOW_PORT")
    check(svc["spec"]["ports"][0]["targetPort"] in ports, "Service targetPort is a container port")
    check(all(ep["port"] in {p["name"] for p in svc["spec"]["ports"]} for ep in smon["spec"]["endpoints"]),
          "ServiceMonitor endpoints name Service ports")
    check(pod["metadata"]["annotations"]["prometheus.io/port"] == str(ports["http"]), "scrape annotation port")

    with open(os.path.join(ROOT, "schemas", "openapi.yaml")) as f:
        paths = yaml.safe_load(f)["paths"]
    check(c["readinessProbe"]["httpGet"]["path"] == "/health" and "/health" in paths, "readiness on /health")
    check(c["startupProbe"]["httpGet"]["path"] in paths, "startup probe path documented")
    check(c["livenessProbe"]["httpGet"]["path"] == "/livez" and "/livez" in paths, "liveness on /livez")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        check(c[probe]["httpGet"]["port"] in ports, f"{probe} port is a container port")
    check(all(p in paths for p in (smon["spec"]["endpoints"][0]["path"], "/metrics")), "/metrics documented")

    drain = seconds(env, "MLFLOW_SERVE_DRAIN_DELAY")
    graceful = seconds(env, "MLFLOW_SERVE_GRACEFUL_TIMEOUT")
    pre_stop = c["lifecycle"]["preStop"]["sleep"]["seconds"]
    check(pre_stop == drain, f"preStop sleep {pre_stop} == drain delay {drain}")
    grace = spec["terminationGracePeriodSeconds"]
    check(grace >= pre_stop + drain + graceful, f"grace {grace} >= {pre_stop}+{drain}+{graceful}")

    threads = next(e for e in env if e["name"] == "MLFLOW_SERVE_INTRA_OP_THREADS")["valueFrom"]["resourceFieldRef"]
    check(threads["resource"] == "limits.cpu" and threads["containerName"] == c["name"],
          "intra-op threads follow the container's CPU limit")
    check("cpu" in c["resources"]["limits"] and "memory" in c["resources"]["limits"], "limits set")
    # Request memory fits the pod (the derivation is written beside the env vars).
    mem = c["resources"]["limits"]["memory"]
    units = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}
    limit = int(mem[:-2]) * units[mem[-2:]]
    body = int(next(e["value"] for e in env if e["name"] == "MLFLOW_SERVE_MAX_BODY_BYTES"))
    inflight = int(next(e["value"] for e in env if e["name"] == "MLFLOW_SERVE_MAX_INFLIGHT_BYTES"))
    worst = inflight + 32 * max(body, 1 << 20) + 2 * 32 * (1 << 20) + (256 << 20)
    check(worst <= limit, f"worst-case request memory {worst} fits the {mem} limit")

    helptext = subprocess.run([binary, "models", "serve", "--help"], capture_output=True, text=True).stdout
    flag_env = set(re.findall(r"\[env: ([A-Z0-9_]+)=", helptext))
    check("MLFLOW_SERVE_DRAIN_DELAY" in flag_env, f"--help lists env vars:\n{helptext[:500]}")
    named = [e["name"] for e in env] + list(cm["data"])
    for name in named:
        if name.startswith("MLFLOW_"):
            check(name in flag_env or name in STORE_VARS, f"{name} is read by mlflow-serve")
    check(c["args"][:3] == ["models", "serve", "-m"] and c["args"][3] == "$(MODEL_URI)" and "MODEL_URI" in cm["data"],
          "args serve the ConfigMap's MODEL_URI")

    sc = c["securityContext"]
    check(sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"], "read-only root, no escalation")
    check(spec["securityContext"]["runAsNonRoot"], "runAsNonRoot")
    with open(os.path.join(ROOT, "Dockerfile")) as f:
        users = set(re.findall(r"^USER (\d+)", f.read(), re.M))
    check(users == {str(spec["securityContext"]["runAsUser"])}, f"runAsUser == the image's USER {users}")
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    cache = next(e["value"] for e in env if e["name"] == "MLFLOW_SERVE_MODEL_CACHE")
    check(cache in mounts and "/tmp" in mounts, "model cache and /tmp are volumes")

    with open(os.path.join(ROOT, "src", "metrics.rs")) as f:
        exported = set(re.findall(r'"(mlflow_serve_[a-z_]+)"', f.read()))
    produced = {r["name"]["as"] for r in rules}
    for r in rules:
        series = re.match(r"([a-z_]+)\{", r["seriesQuery"]).group(1)
        check(series in exported, f"adapter rule reads {series}, which the server exports")
    for m in hpa["spec"]["metrics"]:
        check(m["type"] == "Pods" and m["pods"]["metric"]["name"] in produced,
              f"HPA metric {m} comes from an adapter rule")


def job_check(binary):
    job = load("predict-job.yaml")
    spec = job["spec"]
    check(job["kind"] == "Job" and spec["completionMode"] == "Indexed", "an Indexed Job")
    pod = spec["template"]["spec"]
    (c,) = pod["containers"]
    args = c["args"]
    check(args[:2] == ["models", "predict"], f"runs models predict: {args}")
    shard = args[args.index("--shard") + 1]
    k, n = shard.split("/")
    check(k == "$(JOB_COMPLETION_INDEX)" and int(n) == spec["completions"],
          f"--shard {shard}: the completion index of {spec['completions']} completions")
    out = args[args.index("-o") + 1]
    check("$(JOB_COMPLETION_INDEX)" in out, f"one output per index: {out}")
    env = {e["name"]: e for e in c["env"]}
    index = env.get("JOB_COMPLETION_INDEX", {}).get("valueFrom", {}).get("fieldRef", {})
    check(index.get("fieldPath") == "metadata.annotations['batch.kubernetes.io/job-completion-index']",
          "JOB_COMPLETION_INDEX declared from the Job's annotation (expanded in args)")
    helptext = subprocess.run([binary, "models", "predict", "--help"], capture_output=True, text=True).stdout
    flags = set(re.findall(r"\[env: ([A-Z0-9_]+)=", helptext))
    check("MLFLOW_SERVE_SHARD" in flags, f"predict --help lists env vars:\n{helptext[:300]}")
    for name in env:
        if name.startswith("MLFLOW_"):
            check(name in flags or name in STORE_VARS, f"{name} is read by models predict")
    for flag in [a for a in args if a.startswith("--")]:
        check(flag in helptext, f"{flag} is a flag of models predict")
    check(pod["restartPolicy"] == "Never" and pod["securityContext"]["runAsNonRoot"], "non-root, no restarts in place")
    with open(os.path.join(ROOT, "Dockerfile")) as f:
        users = set(re.findall(r"^USER (\d+)", f.read(), re.M))
    check(users == {str(pod["securityContext"]["runAsUser"])}, f"runAsUser == the image's USER {users}")
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    check(env["MLFLOW_SERVE_MODEL_CACHE"]["value"] in mounts and "/tmp" in mounts, "model cache and /tmp are volumes")
    check(all(p.startswith("/data/") for p in (out, args[args.index("-i") + 1])) and "/data" in mounts,
          "input and output on the shared volume")
    print("deploy/kubernetes/predict-job.yaml: every structural check holds")


# the routes a ServingRuntime's protocolVersions entry promises
PROTOCOL_ROUTES = {"v1": "/v1/models/{model_name}:predict", "v2": "/v2/models/{model_name}/infer",
                   "grpc-v2": "rpc ModelInfer"}
GRPC_PORT = 9000  # KServe's convention
MLSERVER_PRIORITY = 1  # kserve-mlserver's priority for modelFormat mlflow


def kserve_check(binary):
    kdir = os.path.join(ROOT, "deploy", "kserve")
    with open(os.path.join(kdir, "clusterservingruntime.yaml")) as f:
        rt = yaml.safe_load(f)
    isvcs = []
    for name in sorted(os.listdir(kdir)):
        if name.startswith("inferenceservice"):
            with open(os.path.join(kdir, name)) as f:
                isvcs.append(yaml.safe_load(f))
    check(len(isvcs) == 2, f"two example InferenceServices (v1, grpc-v2): {len(isvcs)}")
    with open(os.path.join(ROOT, "schemas", "openapi.yaml")) as f:
        paths = yaml.safe_load(f)["paths"]
    check(rt["apiVersion"] == "serving.kserve.io/v1alpha1" and rt["kind"] == "ClusterServingRuntime", "runtime kind")
    spec = rt["spec"]
    formats = {(m["name"], m["version"]): m for m in spec["supportedModelFormats"]}
    three = formats.get(("mlflow", "3"))
    check(three is not None and three.get("autoSelect") is True and three.get("priority", 0) > MLSERVER_PRIORITY,
          f"mlflow 3 auto-selected above kserve-mlserver: {three}")
    with open(os.path.join(ROOT, "schemas", "grpc_predict_v2.proto")) as f:
        proto_text = f.read()
    (c,) = spec["containers"]
    for proto in spec["protocolVersions"]:
        route = PROTOCOL_ROUTES.get(proto)
        if proto == "grpc-v2":
            check(route in proto_text and c["args"][c["args"].index("--grpc-port") + 1] == str(GRPC_PORT),
                  "grpc-v2 is served (ModelInfer in the proto, --grpc-port 9000)")
        else:
            check(route is not None and route in paths, f"protocol {proto} is served (its route is in the OpenAPI spec)")
    check(c["name"] == "kserve-container", "container named kserve-container")
    args = c["args"]
    check(args[:4] == ["models", "serve", "-m", "/mnt/models"], f"serves /mnt/models: {args}")
    check(args[args.index("--model-name") + 1] == "{{.Name}}", "--model-name {{.Name}}")
    port = int(args[args.index("-p") + 1])
    check(port == 8080 and c["ports"][0]["containerPort"] == port, "port 8080")
    check(args[args.index("-h") + 1] == "0.0.0.0", "listens on every interface")
    for probe in ("readinessProbe", "livenessProbe"):
        check(c[probe]["httpGet"]["path"] in paths and c[probe]["httpGet"]["port"] == port, f"{probe} documented")
    check(c["livenessProbe"]["httpGet"]["path"] == "/livez", "liveness on /livez")
    helptext = subprocess.run([binary, "models", "serve", "--help"], capture_output=True, text=True).stdout
    flags = set(re.findall(r"\[env: ([A-Z0-9_]+)=", helptext))
    for e in c.get("env", []):
        check(e["name"] in flags, f"{e['name']} is read by mlflow-serve")
    for flag in [a for a in args if a.startswith("--")]:
        check(flag in helptext, f"{flag} is a flag of models serve")
    sc = c["securityContext"]
    check(sc["runAsNonRoot"] and sc["runAsUser"] == 65532 and not sc["allowPrivilegeEscalation"], "non-root")
    check(spec["annotations"]["prometheus.kserve.io/port"] == str(port), "prometheus port")
    check(spec["annotations"]["prometheus.kserve.io/path"] in paths, "prometheus path documented")
    for isvc in isvcs:
        model = isvc["spec"]["predictor"]["model"]
        check(isvc["kind"] == "InferenceService" and model["runtime"] == rt["metadata"]["name"], "isvc names the runtime")
        check((model["modelFormat"]["name"], model["modelFormat"]["version"]) in formats, "isvc format supported")
        check(model["protocolVersion"] in spec["protocolVersions"], "isvc protocol declared by the runtime")
        if model["protocolVersion"] == "grpc-v2":
            ports = model.get("ports", [])
            check([p["containerPort"] for p in ports if p.get("name") == "h2c"] == [GRPC_PORT],
                  "a grpc-v2 isvc routes the runtime's gRPC port, named h2c")
    print("deploy/kserve: every structural check holds")


def main():
    binary = sys.argv[1]
    validate()
    cross_check(binary)
    job_check(binary)
    kserve_check(binary)
    if failures:
        print("manifest checks failed:\n- " + "\n- ".join(failures))
        sys.exit(1)
    print("deploy/kubernetes: every cross-check holds")


if __name__ == "__main__":
    main()
