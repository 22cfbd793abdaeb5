"""Print hashes of streams and files the installed rcodec writes, to compare two builds of the native layer.

    python tests/check_build_equivalence.py > editable.txt                   # the `pip install -e .` build
    PYTHONPATH=/path/to/site python tests/check_build_equivalence.py > wheel.txt   # a `pip install .` build
    diff editable.txt wheel.txt                                               # must print nothing
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

import rcodec
from rcodec.entropy import CdfTables
from rcodec.entropy.rans import RansCoder

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def main() -> None:
    rng = np.random.default_rng(7)
    print("module", Path(rcodec._native.__file__).name if hasattr(rcodec, "_native") else "")
    tables = CdfTables.from_pmfs(rng.random((64, 40)), offsets=rng.integers(-20, 0, 64), escape=True)
    for n in (0, 1, 1000, 20000, 300000):
        values = rng.integers(-40, 40, n).astype(np.int32)
        indexes = rng.integers(0, 64, n).astype(np.int32)
        encoder = RansCoder().encoder()
        encoder.encode(values, tables, indexes)
        data = encoder.finish()
        assert np.array_equal(RansCoder().decoder(data).decode(tables, indexes), values)
        print("rans", n, hashlib.sha256(data).hexdigest())
    for source in ("kodim23_crop.png", "speech_libri1_3s.wav"):
        print("lossless", source, hashlib.sha256(rcodec.encode(SAMPLES / source)).hexdigest())


if __name__ == "__main__":
    import rcodec._native  # noqa: F401  (so the module line names the build in use)

    main()
