"""Fetch libonnxruntime from the PyPI `onnxruntime` wheel into .local/onnxruntime/lib.

No network at run time: this runs once during set-up (`make setup`). The wheel is the
official CPU build; only the shared libraries under onnxruntime/capi/ are extracted.
"""

import glob
import os
import subprocess
import sys
import zipfile
from pathlib import Path

VERSION = "1.31.1"
ROOT = Path(__file__).resolve().parent.parent
WHEELS = ROOT / ".local" / "wheels"
LIB = ROOT / ".local" / "onnxruntime" / "lib"


def main():
    if (LIB / "libonnxruntime.so").exists():
        print(f"onnxruntime {VERSION} already in {LIB}")
        return
    WHEELS.mkdir(parents=True, exist_ok=True)
    subprocess.check_call([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                           f"onnxruntime=={VERSION}", "-d", str(WHEELS)])
    wheel = sorted(glob.glob(str(WHEELS / f"onnxruntime-{VERSION}-*.whl")))[-1]
    LIB.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            base = os.path.basename(name)
            if name.startswith("onnxruntime/capi/") and ".so" in base and base.startswith("libonnxruntime"):
                (LIB / base).write_bytes(z.read(name))
    real = sorted(LIB.glob("libonnxruntime.so.*"))
    if not real:
        sys.exit("libonnxruntime.so.* not found in " + wheel)
    link = LIB / "libonnxruntime.so"
    if link.exists() or link.is_symlink():
        link.unlink()
    link.symlink_to(real[0].name)
    print(f"onnxruntime {VERSION} -> {LIB}")


if __name__ == "__main__":
    main()
