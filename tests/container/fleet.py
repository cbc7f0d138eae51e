#!/usr/bin/env python3
"""The container tests (`make test-container`): the project's Dockerfile built with Podman
from local stand-ins of its base images, then the image used as an orchestrator would.

1. The image: built from the top-level Dockerfile (build time reported); at most 100 MB;
   runs as 65532 (the process's uid seen from the host), ENTRYPOINT the binary, CMD `serve`.
   The `torch` target too, serving a TorchScript and an ONNX model.
2. SageMaker's contract: `run IMAGE serve` with a model mounted at /opt/ml/model answers
   /ping within 2 s and /invocations as real MLflow does.
3. A registry URI from the environment: `run IMAGE models serve -m
   models:/wine-quality@champion` with MLFLOW_TRACKING_URI naming the example registry,
   read-only root filesystem, the champion's answer (recorded from real MLflow).
4. `models build-docker -m models:/wine-quality@champion` end to end (with the binary the
   image ships): the engine it picked, the image it built, ready time from `run` to /ping,
   peak RSS in the container against the same binary on the host.
5. A model run in Python workers: `models build-docker` of a scikit-learn pipeline
   (tests/fixtures/models/py_sklearn_pickle) builds the `python` image (slim Debian Python,
   the model's requirements installed with uv at build time); it answers as real MLflow did
   (tests/golden/python), as non-root 65532, its worker a child of the server. With the
   full run, the top-level Dockerfile's `python` target serves the same model mounted.
6. The fleet: two replicas behind nginx (Debian's package; upstreams rewritten by a health
   checker polling /health every 100 ms, as an endpoints controller would; retries off),
   wrk at a steady rate the whole time; each replica restarted in turn the way an
   orchestrator does (SIGTERM, readiness 503, drain delay, exit, start, wait for ready).
   Requirement: 0 failed or reset requests. Then a replica SIGKILLed mid-load, with nginx
   retries off and with retries of connection errors (idempotent-safe) on: what clients
   saw is reported.

Needs root, podman, runc, debootstrap and nginx (the Makefile installs them) and wrk.
Prints a summary; exits 1 on any failure.

    python3 tests/container/fleet.py
"""
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORK = os.path.join(ROOT, ".local", "container")
WRK = os.path.join(ROOT, ".local", "wrk", "usr", "bin", "wrk")
WRK_LIB = os.path.join(ROOT, ".local", "wrk", "usr", "lib", "x86_64-linux-gnu")
IMAGE = "localhost/mlflow-serve:test"
TORCH_IMAGE = "localhost/mlflow-serve:torch-test"
TORCH_WINE_COLS = os.path.join(ROOT, "tests", "fixtures", "models", "torch_wine_cols")
BAKED = "localhost/wine-champion:test"
PY_BAKED = "localhost/py-sklearn:test"
PY_IMAGE = "localhost/mlflow-serve:python-test"
PY_MODEL = os.path.join(ROOT, "tests", "fixtures", "models", "py_sklearn_pickle")
STORE = os.path.join(ROOT, "examples", "wine-store")
WINE_COLS = os.path.join(ROOT, "tests", "fixtures", "models", "wine_cols")
# the README's quick-start request (tests/common/stores.rs QUICKSTART_BODY)
BODY = json.dumps({"dataframe_split": {
    "columns": ["fixed acidity", "volatile acidity", "citric acid", "residual sugar", "chlorides",
                "free sulfur dioxide", "total sulfur dioxide", "density", "pH", "sulphates", "alcohol"],
    "data": [[7, 0.27, 0.36, 20.7, 0.045, 45, 170, 1.001, 3, 0.45, 8.8]]}})
MAX_IMAGE_BYTES = 100 * 1000 * 1000
RATE_CONNECTIONS = 4
RATE_DELAY_MS = 10  # each wrk connection waits this long between requests: a steady rate
DRAIN_DELAY = 3
ROUNDS = 2  # each replica is restarted this many times

failures = []
report = {}


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def env():
    e = dict(os.environ)
    e["CONTAINERS_CONF"] = os.path.join(WORK, "containers.conf")
    e["BUILDAH_ISOLATION"] = "chroot"
    return e


def podman(*args, check_rc=True, capture=True, timeout=1800):
    r = subprocess.run(["podman", *args], env=env(), capture_output=capture, text=True, timeout=timeout)
    if check_rc and r.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(port, path, body=None, timeout=2.0):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body.encode() if body else None,
                                 headers={"Content-Type": "application/json"} if body else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return None, b""


def wait_ready(port, limit):
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if http(port, "/ping", timeout=0.5)[0] == 200:
            return time.monotonic() - start
        time.sleep(0.01)
    return None


def champion_prediction():
    with open(os.path.join(STORE, "expected.json")) as f:
        return json.load(f)["cases"]["models:/wine-quality@champion"]["prediction"]


def predicted(raw):
    return json.loads(raw)["predictions"][0]["variable"]


def host_pid(name):
    return int(podman("inspect", "-f", "{{.State.Pid}}", name).stdout.strip())


def status_field(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return line.split()[1:]
    return []


def run(name, image, *args, port=None, extra=()):
    podman("rm", "-f", name, check_rc=False)
    cmd = ["run", "-d", "--name", name, "--network=host"]
    if port:
        cmd += ["-e", f"SAGEMAKER_BIND_TO_PORT={port}", "-e", f"MLFLOW_PORT={port}"]
    podman(*cmd, *extra, image, *args)


# ---------------------------------------------------------------- 1. the image
def build_image():
    subprocess.run([os.path.join(ROOT, "tests", "container", "base_images.sh")], check=True, env=env())
    start = time.monotonic()
    podman("build", "--pull=never", "-t", IMAGE, ROOT, capture=False, timeout=3600)
    report["image build (s)"] = round(time.monotonic() - start, 1)
    info = json.loads(podman("image", "inspect", IMAGE).stdout)[0]
    size = info["Size"]
    report["image size (MB)"] = round(size / 1e6, 1)
    check(size <= MAX_IMAGE_BYTES, f"image is {size / 1e6:.1f} MB (at most 100 MB)")
    cfg = info["Config"]
    check(cfg.get("User") == "65532:65532", f"image user {cfg.get('User')} is non-root 65532")
    check(cfg.get("Entrypoint") == ["/opt/mlflow-serve/mlflow-serve"], f"entrypoint {cfg.get('Entrypoint')}")
    check(cfg.get("Cmd") == ["serve"], f"cmd {cfg.get('Cmd')}")
    check(any(e.startswith("MLFLOW_PORT=8080") for e in cfg.get("Env", [])), "port 8080 by default")


def torch_target():
    """The `torch` target serves a TorchScript model (plugin and libtorch found through
    their rpaths inside the image) and an ONNX one."""
    start = time.monotonic()
    podman("build", "--pull=never", "--target", "torch", "-t", TORCH_IMAGE, ROOT, capture=False, timeout=3600)
    report["torch image build (s)"] = round(time.monotonic() - start, 1)
    report["torch image size (MB)"] = round(json.loads(podman("image", "inspect", TORCH_IMAGE).stdout)[0]["Size"] / 1e6, 1)
    for model in (TORCH_WINE_COLS, WINE_COLS):
        port = free_port()
        run("ms-torch", TORCH_IMAGE, "serve", port=port, extra=["-v", f"{model}:/opt/ml/model:ro"])
        try:
            ready = wait_ready(port, 30)
            with open(os.path.join(model, "serving_input_example.json")) as f:
                status, raw = http(port, "/invocations", f.read())
            check(ready is not None and status == 200 and "predictions" in json.loads(raw or b"{}"),
                  f"torch image serves {os.path.basename(model)}: ready after {ready} s, {status}")
        finally:
            podman("rm", "-f", "ms-torch", check_rc=False)


def extract_binary(dest):
    """The image's /opt/mlflow-serve, to run the very same binary on the host."""
    podman("rm", "-f", "ms-extract", check_rc=False)
    podman("create", "--name", "ms-extract", IMAGE)
    try:
        shutil.rmtree(dest, ignore_errors=True)
        podman("cp", "ms-extract:/opt/mlflow-serve", dest)
    finally:
        podman("rm", "-f", "ms-extract", check_rc=False)
    return os.path.join(dest, "mlflow-serve")


# ---------------------------------------------------------------- 2. SageMaker
def sagemaker_contract(image):
    port = free_port()
    run("ms-sagemaker", image, "serve", port=port, extra=["-v", f"{WINE_COLS}:/opt/ml/model:ro"])
    try:
        ready = wait_ready(port, 10)
        check(ready is not None and ready <= 2.0, f"SageMaker `serve`: /ping 200 after {ready} s (within 2 s)")
        with open(os.path.join(WINE_COLS, "serving_input_example.json")) as f:
            example = f.read()
        status, raw = http(port, "/invocations", example)
        check(status == 200 and "predictions" in json.loads(raw or b"{}"), f"SageMaker /invocations: {status}")
        uid = status_field(host_pid("ms-sagemaker"), "Uid")
        check(uid[:1] == ["65532"], f"the server runs as uid {uid[:1]} (non-root)")
    finally:
        podman("rm", "-f", "ms-sagemaker", check_rc=False)


# ---------------------------------------------------------------- 3. registry from the env
def registry_from_env(image):
    port = free_port()
    run("ms-registry", image, "models", "serve", "-m", "models:/wine-quality@champion", "-p", str(port),
        extra=["-v", f"{STORE}:/store:ro", "-e", "MLFLOW_TRACKING_URI=sqlite:////store/mlflow.db",
               "-w", "/store", "--read-only", "--tmpfs", "/var/cache/mlflow-serve:rw,mode=1777",
               "-e", "DISABLE_NGINX=true"])
    try:
        ready = wait_ready(port, 20)
        status, raw = http(port, "/invocations", BODY)
        got = predicted(raw) if status == 200 else None
        check(ready is not None and got is not None and abs(got - champion_prediction()) < 1e-4,
              f"models:/wine-quality@champion from MLFLOW_TRACKING_URI on a read-only root: {status} {got}")
        logs = podman("logs", "ms-registry").stderr
        check("DISABLE_NGINX" in logs and "ignored" in logs, "DISABLE_NGINX is accepted and named as ignored")
    finally:
        podman("rm", "-f", "ms-registry", check_rc=False)


# ---------------------------------------------------------------- 5. Python workers
def python_golden():
    with open(os.path.join(ROOT, "tests", "golden", "python", "py_sklearn_pickle.json")) as f:
        case = json.load(f)["cases"][0]
    return case["body"], case["response"]


def check_python_container(name, image, what, extra=()):
    port = free_port()
    run(name, image, "serve", port=port, extra=extra)
    try:
        ready = wait_ready(port, 120)
        body, expected = python_golden()
        status, raw = http(port, "/invocations", body, timeout=30)
        check(status == 200 and raw.decode() == expected,
              f"{what}: ready after {ready} s, answers as real MLflow: {status} {raw[:200]!r}")
        pid = host_pid(name)
        uid = status_field(pid, "Uid")
        check(uid[:1] == ["65532"], f"{what}: the server runs as uid {uid[:1]} (non-root)")
        kids = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        check(len(kids) == 1, f"{what}: one Python worker, a child of the server: {kids}")
        if ready is not None:
            report[f"{what}: ready after run (s)"] = round(ready, 2)
    finally:
        podman("rm", "-f", name, check_rc=False)


def python_build_docker(binary):
    start = time.monotonic()
    r = subprocess.run([binary, "models", "build-docker", "-m", PY_MODEL, "-n", PY_BAKED],
                       cwd=ROOT, env=env(), capture_output=True, text=True, timeout=1800)
    check(r.returncode == 0, f"build-docker (python) exit {r.returncode}: {r.stderr[-2000:]}")
    report["build-docker python image build (s)"] = round(time.monotonic() - start, 1)
    info = json.loads(podman("image", "inspect", PY_BAKED).stdout)[0]
    report["build-docker python image (MB)"] = round(info["Size"] / 1e6, 1)
    check(info["Config"].get("User") == "65532:65532", f"python image user {info['Config'].get('User')}")
    check_python_container("ms-py-baked", PY_BAKED, "build-docker python image")


def python_target():
    start = time.monotonic()
    podman("build", "--pull=never", "--target", "python", "-t", PY_IMAGE, ROOT, capture=False, timeout=3600)
    report["python target build (s)"] = round(time.monotonic() - start, 1)
    report["python target size (MB)"] = round(json.loads(podman("image", "inspect", PY_IMAGE).stdout)[0]["Size"] / 1e6, 1)
    check_python_container("ms-py-target", PY_IMAGE, "Dockerfile python target",
                           extra=["-v", f"{PY_MODEL}:/opt/ml/model:ro"])


# ---------------------------------------------------------------- 4. build-docker
def build_docker(binary):
    r = subprocess.run([binary, "models", "build-docker", "-m", "models:/wine-quality@champion", "-n", BAKED],
                       cwd=STORE, env=env(), capture_output=True, text=True, timeout=600)
    check(r.returncode == 0, f"build-docker exit {r.returncode}: {r.stderr[-2000:]}")
    check("with podman" in r.stderr, "build-docker says which engine it used (podman; docker has no daemon here)")
    check("version 3" in r.stderr, "build-docker resolved the champion (version 3)")
    size = json.loads(podman("image", "inspect", BAKED).stdout)[0]["Size"]
    report["build-docker image (MB)"] = round(size / 1e6, 1)

    # ready time from `run` to /ping 200, the model baked in
    times = []
    for i in range(5):
        port = free_port()
        start = time.monotonic()
        run("ms-baked", BAKED, port=port)
        ready = wait_ready(port, 10)
        times.append(None if ready is None else time.monotonic() - start)
        if i == 0:
            status, raw = http(port, "/invocations", BODY)
            got = predicted(raw) if status == 200 else None
            check(got is not None and abs(got - champion_prediction()) < 1e-4,
                  f"the baked image answers as real MLflow's champion: {got}")
        podman("rm", "-f", "ms-baked", check_rc=False)
    ok = [t for t in times if t is not None]
    check(len(ok) == len(times), f"baked image ready every time: {times}")
    if ok:
        report["ready after run (s, median of 5)"] = round(sorted(ok)[len(ok) // 2], 3)

    # peak RSS: the same binary, model and requests in the container and on the host
    port = free_port()
    run("ms-rss", BAKED, port=port)
    wait_ready(port, 10)
    for _ in range(200):
        http(port, "/invocations", BODY)
    in_container = int(status_field(host_pid("ms-rss"), "VmHWM")[0])
    podman("rm", "-f", "ms-rss", check_rc=False)
    with tempfile.TemporaryDirectory() as model:
        podman("create", "--name", "ms-model", BAKED)
        podman("cp", "ms-model:/opt/ml/model/.", model)
        podman("rm", "-f", "ms-model", check_rc=False)
        port = free_port()
        p = subprocess.Popen([binary, "models", "serve", "-m", model, "-p", str(port)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_ready(port, 10)
            for _ in range(200):
                http(port, "/invocations", BODY)
            on_host = int(status_field(p.pid, "VmHWM")[0])
        finally:
            p.terminate()
            p.wait()
    report["peak RSS container/host (MB)"] = f"{in_container / 1024:.1f} / {on_host / 1024:.1f}"
    check(abs(in_container - on_host) <= 0.2 * on_host, f"peak RSS in the container {in_container} kB ~ host {on_host} kB")


# ---------------------------------------------------------------- 5. the fleet
class Fleet:
    """Two replicas, nginx in front, and a health checker that keeps nginx's upstream list
    equal to the replicas answering /health 200 (what an endpoints controller does)."""

    def __init__(self, tmp, retries):
        self.tmp = tmp
        self.retries = retries
        self.ports = {"ms-a": free_port(), "ms-b": free_port()}
        self.front = free_port()
        self.in_lb = set()
        self.events = []
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def start_replica(self, name):
        run(name, BAKED, port=self.ports[name], extra=["-e", f"MLFLOW_SERVE_DRAIN_DELAY={DRAIN_DELAY}",
                                                      "-e", "MLFLOW_SERVE_GRACEFUL_TIMEOUT=20"])
        if wait_ready(self.ports[name], 20) is None:
            raise RuntimeError(f"{name} never became ready")

    def write_conf(self, members):
        servers = "\n".join(f"        server 127.0.0.1:{self.ports[n]};" for n in sorted(members))
        next_upstream = "error timeout" if self.retries else "off"
        conf = f"""
worker_processes 1;
pid {self.tmp}/nginx.pid;
error_log {self.tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {self.tmp}/body;
    proxy_temp_path {self.tmp}/proxy;
    fastcgi_temp_path {self.tmp}/fastcgi;
    uwsgi_temp_path {self.tmp}/uwsgi;
    scgi_temp_path {self.tmp}/scgi;
    upstream replicas {{
{servers}
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{self.front};
        keepalive_timeout 0;
        location / {{
            proxy_pass http://replicas;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_next_upstream {next_upstream};
            proxy_read_timeout 30s;
        }}
    }}
}}
"""
        path = os.path.join(self.tmp, "nginx.conf")
        with open(path + ".new", "w") as f:
            f.write(conf)
        os.replace(path + ".new", path)
        return path

    def start_nginx(self):
        path = self.write_conf(self.ports)
        self.in_lb = set(self.ports)
        subprocess.run(["nginx", "-c", path, "-p", self.tmp], check=True, capture_output=True)

    def reload(self, members):
        self.write_conf(members)
        subprocess.run(["nginx", "-c", os.path.join(self.tmp, "nginx.conf"), "-p", self.tmp, "-s", "reload"],
                       check=True, capture_output=True)

    def checker(self):
        while not self.stop.is_set():
            ready = {n for n, p in self.ports.items() if http(p, "/health", timeout=0.5)[0] == 200}
            with self.lock:
                if ready and ready != self.in_lb:
                    self.reload(ready)
                    self.events.append((time.monotonic(), f"upstreams -> {sorted(ready)}"))
                    self.in_lb = ready
            time.sleep(0.1)

    def wait_in_lb(self, name, present, limit=10):
        start = time.monotonic()
        while time.monotonic() - start < limit:
            with self.lock:
                if (name in self.in_lb) == present:
                    return True
            time.sleep(0.05)
        return False

    def shutdown(self):
        self.stop.set()
        subprocess.run(["nginx", "-c", os.path.join(self.tmp, "nginx.conf"), "-p", self.tmp, "-s", "stop"],
                       check=False, capture_output=True)
        for name in self.ports:
            podman("rm", "-f", name, check_rc=False)


def start_wrk(tmp, port, seconds):
    script = os.path.join(tmp, "load.lua")
    with open(script, "w") as f:
        f.write(f"""
wrk.method = "POST"
wrk.body = {json.dumps(BODY)}
wrk.headers["Content-Type"] = "application/json"
function delay() return {RATE_DELAY_MS} end
""")
    return subprocess.Popen([WRK, "-t", "1", "-c", str(RATE_CONNECTIONS), "-d", f"{seconds}s", "--timeout", "10s",
                             "-s", script, f"http://127.0.0.1:{port}/invocations"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, LD_LIBRARY_PATH=WRK_LIB))


def wrk_result(proc):
    proc.send_signal(signal.SIGINT)
    out = proc.communicate(timeout=30)[0]
    m = re.search(r"(\d+) requests in", out)
    if not m:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    total = int(m.group(1))
    non2xx = int((re.search(r"Non-2xx or 3xx responses: (\d+)", out) or [0, 0])[1])
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    socket_errors = sum(int(x) for x in sock.groups()) if sock else 0
    return total, non2xx, socket_errors, out


@contextlib.contextmanager
def fleet_under_load(retries):
    """Two ready replicas behind nginx with the health checker running and wrk at a steady
    rate for 3 s already: yields the fleet and the load; shuts everything down after."""
    with tempfile.TemporaryDirectory() as tmp:
        fleet = Fleet(tmp, retries=retries)
        try:
            for name in fleet.ports:
                fleet.start_replica(name)
            fleet.start_nginx()
            threading.Thread(target=fleet.checker, daemon=True).start()
            load = start_wrk(tmp, fleet.front, 600)
            time.sleep(3)
            yield fleet, load
        finally:
            fleet.shutdown()


def rolling_restart():
    with fleet_under_load(retries=False) as (fleet, load):
        began = time.monotonic()
        for name in list(fleet.ports) * ROUNDS:
            # the orchestrator: SIGTERM, then wait for the exit (drain delay + in-flight)
            podman("stop", "-t", "30", name)
            check(not fleet.in_lb or name not in fleet.in_lb, f"{name} left the load balancer before exiting")
            podman("rm", "-f", name, check_rc=False)
            fleet.start_replica(name)
            check(fleet.wait_in_lb(name, True), f"{name} back in the load balancer")
            time.sleep(2)
        elapsed = time.monotonic() - began
        total, non2xx, sock, out = wrk_result(load)
        report["rolling restart: requests / failed"] = f"{total} / {non2xx + sock} over {elapsed:.0f} s"
        check(total > 1000, f"the load ran at a steady rate: {total} requests")
        check(non2xx == 0 and sock == 0,
              f"rolling restart of both replicas: {non2xx} non-2xx and {sock} socket errors of {total}\n{out}")


def sigkill(retries):
    with fleet_under_load(retries) as (fleet, load):
        podman("kill", "-s", "KILL", "ms-a")
        fleet.wait_in_lb("ms-a", False)
        time.sleep(3)
        total, non2xx, sock, out = wrk_result(load)
        what = "connection-error retries on" if retries else "retries off"
        with open(os.path.join(fleet.tmp, "error.log")) as f:
            causes = sorted({m for m in re.findall(r"\] \d+#\d+: \*\d+ ([a-z() ]+?)(?: \(|while)", f.read())})
        report[f"SIGKILL ({what}): requests / failed"] = (
            f"{total} / {non2xx + sock} ({non2xx} answered 502 by nginx, {sock} socket errors; nginx: {causes})")
        check(total > 500 and non2xx + sock < 0.05 * total,
              f"SIGKILL with {what}: {non2xx + sock} of {total} failed (bounded)")


def main():
    """`fleet.py` builds the top-level Dockerfile (make test-container); `fleet.py --quick
    BINARY` (make test) skips that build and tests the image `build-docker` makes with BINARY."""
    if not os.path.exists(WRK):
        sys.exit(f"{WRK} missing: run `make .local/wrk/usr/bin/wrk`")
    quick = sys.argv[1:2] == ["--quick"]
    with tempfile.TemporaryDirectory() as tmp:
        if quick:
            binary = os.path.abspath(sys.argv[2])
            subprocess.run([os.path.join(ROOT, "tests", "container", "base_images.sh"), "--runtime-only"],
                           check=True, env=env())
            image = BAKED
        else:
            build_image()
            torch_target()
            binary = extract_binary(os.path.join(tmp, "opt"))
            image = IMAGE
        build_docker(binary)
        sagemaker_contract(image)
        registry_from_env(image)
        python_build_docker(binary)
        if not quick:
            python_target()
    rolling_restart()
    sigkill(retries=False)
    sigkill(retries=True)
    print("\n== summary")
    for k, v in report.items():
        print(f"{k}: {v}")
    if failures:
        print(f"\n{len(failures)} check(s) failed")
        sys.exit(1)


if __name__ == "__main__":
    main()
