"""MNIST in the idx format (gzip): the training and test images as uint8 arrays (N, 28, 28)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from rcodec import FormatError

SHAPE = (28, 28)
TRAIN_FILE = "train-images-idx3-ubyte.gz"
TEST_FILE = "t10k-images-idx3-ubyte.gz"


def default_folder() -> Path:
    """The data folder beside a source checkout: <repo>/../shared/data/mnist."""
    return Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"


def load_images(path: str | Path, limit: int | None = None) -> np.ndarray:
    """Images of an idx3-ubyte(.gz) file as uint8 (N, rows, cols)."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        head = fh.read(16)
        if len(head) != 16:
            raise FormatError(f"{path}: truncated idx header")
        magic, count, rows, cols = struct.unpack(">IIII", head)
        if magic != 0x803:
            raise FormatError(f"{path}: not an idx3-ubyte image file (magic {magic:#x})")
        count = count if limit is None else min(count, limit)
        data = fh.read(count * rows * cols)
    if len(data) != count * rows * cols:
        raise FormatError(f"{path}: truncated image data")
    return np.frombuffer(data, dtype=np.uint8).reshape(count, rows, cols)
