"""rcodec used as a library inside someone else's program changes nothing process-wide, and may be called from
several threads at once."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import rcodec
from golden_common import GOLDEN

# One golden file per learned codec family, plus lossless audio: every decoder a host program may call.
GOLDEN_NAMES = [
    "kodim23_crop.lossless.rans.rcz", "speech_libri1_3s.lossless.rans.rcz", "kodim23_crop.factorized.q1.rans.rcz",
    "kodim23_crop.hyperprior.q1.rans.rcz", "kodim23_crop.hyperprior-iscs.q1.rans.rcz",
    "kodim23_crop.alit.q4.rans.rcz", "kodim23_crop.vqgan.q1.rans.rcz", "mnist_test_0.pc-mnist.rans.rcz",
    "retired/vqgan-8k/kodim23_crop.vqgan.q1.rans.rcz", "inr/gradient_16x20.rcz",
    "inr/kodim23_crop_64x80.inr-vc.rcz",
]

# The host program: its own torch thread count, no torchvision imported, and a spy on every way ctypes could
# reach glibc's mallopt. It prints what it saw after `import rcodec; rcodec.decode(...)`.
HOST = r"""
import ctypes, json, sys

calls = []

class SpyCDLL(ctypes.CDLL):
    def __getattr__(self, name):
        if name == "mallopt":
            calls.append(name)
        return super().__getattr__(name)

    def __getitem__(self, name):
        if name == "mallopt":
            calls.append(name)
        return super().__getitem__(name)

ctypes.CDLL = SpyCDLL
ctypes.cdll = ctypes.LibraryLoader(SpyCDLL)

import torch

torch.set_num_threads(3)
before = {"threads": torch.get_num_threads(), "torchvision": repr(sys.modules.get("torchvision")),
          "grad": torch.is_grad_enabled()}

import rcodec

for path in sys.argv[1:]:
    rcodec.decode(open(path, "rb").read())

after = {"threads": torch.get_num_threads(), "torchvision": repr(sys.modules.get("torchvision")),
         "grad": torch.is_grad_enabled()}
print(json.dumps({"before": before, "after": after, "mallopt_calls": len(calls),
                  "compressai_loaded": "compressai" in sys.modules}))
"""


def test_library_calls_leave_the_process_as_they_found_it():
    paths = [str(GOLDEN / name) for name in GOLDEN_NAMES]
    run = subprocess.run([sys.executable, "-c", HOST, *paths], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert seen["compressai_loaded"]  # the hyperprior decoders ran, so compressai was imported
    assert seen["after"] == seen["before"]
    assert seen["before"]["threads"] == 3 and seen["before"]["torchvision"] == "None"
    assert seen["mallopt_calls"] == 0


def test_the_spy_sees_the_command_tune_malloc():
    """The check above can fail: the same spy counts the `rcodec` command's own allocator tuning."""
    spy = HOST.split("import torch")[0] + "from rcodec.torch_runtime import tune_allocator\ntune_allocator()\n" \
        "print(len(calls))\n"
    run = subprocess.run([sys.executable, "-c", spy], capture_output=True, text=True, timeout=120, check=True)
    assert (int(run.stdout.strip()) > 0) == sys.platform.startswith("linux")


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _work(image: np.ndarray) -> list[str]:
    """Encodes with learned codecs and decodes golden files; the digests of everything produced."""
    out = []
    for codec in ("factorized", "hyperprior", "alit", "vqgan"):
        data = rcodec.encode(image, codec=codec, quality=2)
        out += [_digest(data), _digest(rcodec.decode(data).tobytes())]
    for name in GOLDEN_NAMES:
        decoded = rcodec.decode((GOLDEN / name).read_bytes())
        out.append(_digest(decoded.tobytes() if isinstance(decoded, np.ndarray) else decoded.samples.tobytes()))
    return out


def test_four_threads_at_once_get_the_serial_results(small_image):
    import torch

    image = np.ascontiguousarray(np.tile(small_image, (2, 2, 1)))  # 48x64: every codec's smallest useful size
    threads = torch.get_num_threads()
    serial = _work(image)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(_work, [image] * 4))
    assert all(r == serial for r in results)
    assert torch.get_num_threads() == threads
