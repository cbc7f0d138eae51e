"""Fetch libtorch 2.13.0 from the PyPI `torch` wheel into .local/libtorch (for `--features torch`).

No network at run time: this runs once during set-up (`make setup-torch`, `make test`).
tch 0.26 needs exactly libtorch 2.13.0. The PyPI wheel is a CUDA build, but a CPU-only
binary needs just four of its libraries (libtorch_cpu, libc10, libgomp and libtorch, which
`--as-needed` drops again) plus the two small CUDA runtime libraries libtorch_cpu.so itself
needs (libcudart.so.13, libcupti.so.13, from their own PyPI wheels). Everything is laid out
as in site-packages, so libtorch_cpu.so finds them through its own RPATH
($ORIGIN/../../nvidia/cu13/lib):

    .local/libtorch/torch/{include,lib,build-version}   <- LIBTORCH for torch-sys
    .local/libtorch/nvidia/cu13/lib/                    <- libcudart.so.13, libcupti.so.13

About 530 MB downloaded, 480 MB unpacked (the full wheel with its CUDA deps is 4.7 GB).
"""

import glob
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

VERSION = "2.13.0"
WHEELS_WANTED = [f"torch=={VERSION}", "nvidia-cuda-runtime==13.0.96.*", "nvidia-cuda-cupti==13.0.85.*"]
ROOT = Path(__file__).resolve().parent.parent
WHEELS = ROOT / ".local" / "wheels"
DEST = ROOT / ".local" / "libtorch"
STAMP = DEST / "torch" / "build-version"
TORCH_LIBS = {"libtorch_cpu.so", "libc10.so", "libtorch.so", "libgomp.so.1"}
CUDA_LIBS = {"libcudart.so.13", "libcupti.so.13"}


def wheel(pattern):
    found = sorted(glob.glob(str(WHEELS / pattern)))
    if not found:
        sys.exit(f"no wheel matching {pattern} in {WHEELS}")
    return found[-1]


def main():
    if STAMP.exists():
        print(f"libtorch {VERSION} already in {DEST}")
        return
    WHEELS.mkdir(parents=True, exist_ok=True)
    subprocess.check_call([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                           "--only-binary=:all:", *WHEELS_WANTED, "-d", str(WHEELS)])
    partial = DEST.with_name("libtorch.partial")
    shutil.rmtree(partial, ignore_errors=True)
    with zipfile.ZipFile(wheel(f"torch-{VERSION}-*.whl")) as z:
        for info in z.infolist():
            name = info.filename
            keep = name.startswith("torch/include/") or (
                name.startswith("torch/lib/") and Path(name).name in TORCH_LIBS)
            if keep and not name.endswith("/"):
                z.extract(info, partial)
    for pattern in ("nvidia_cuda_runtime-*.whl", "nvidia_cuda_cupti-*.whl"):
        with zipfile.ZipFile(wheel(pattern)) as z:
            for info in z.infolist():
                if Path(info.filename).name in CUDA_LIBS:
                    z.extract(info, partial)
    missing = [n for n in TORCH_LIBS if not (partial / "torch/lib" / n).exists()]
    missing += [n for n in CUDA_LIBS if not (partial / "nvidia/cu13/lib" / n).exists()]
    if missing:
        sys.exit(f"missing from the wheels: {missing}")
    (partial / "torch" / "build-version").write_text(VERSION + "\n")
    shutil.rmtree(DEST, ignore_errors=True)
    partial.rename(DEST)
    # The wheels are large and no longer needed.
    for pattern in (f"torch-{VERSION}-*.whl", "nvidia_cuda_runtime-*.whl", "nvidia_cuda_cupti-*.whl"):
        for w in glob.glob(str(WHEELS / pattern)):
            Path(w).unlink()
    print(f"libtorch {VERSION} -> {DEST}")


if __name__ == "__main__":
    main()
