"""A torch Dataset over `.rcz` files, decoding in the DataLoader's workers.

    >>> from rcodec.torch import RczDataset
    >>> loader = torch.utils.data.DataLoader(RczDataset("digits.rcz"), batch_size=64, num_workers=4)

Each worker opens the file itself on its first item (nothing decoded is pickled, so fork and spawn both work) and
keeps its codec's model loaded for the rest of the epoch.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from .dataset import DatasetFile, open_file
from .errors import RcodecError
from .fileio import read_file
from .media import Audio


class RczDataset(Dataset):
    """Items of a dataset `.rcz` file, or of a directory of `.rcz` files (one item each, found recursively, in
    sorted order). An item is a tensor: uint8 (H, W[, C]) for images, float32 (frames, channels) for audio;
    `transform`, if given, is applied to it. `options` are decode options (e.g. `weights=PATH`)."""

    def __init__(self, path_or_dir: str | os.PathLike, transform: Callable[[torch.Tensor], Any] | None = None,
                 **options: Any) -> None:
        self.path = Path(path_or_dir)
        self.transform = transform
        self.options = options
        self._file: DatasetFile | None = None
        if self.path.is_dir():
            self.files: list[Path] | None = sorted(p for p in self.path.rglob("*.rcz") if p.is_file())
            self._length = len(self.files)
        else:
            self.files = None
            self._length = len(self._open())
            self._file = None  # opened again in each worker; the parent keeps no copy of the payload

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, i: int) -> Any:
        if not -self._length <= i < self._length:
            raise IndexError(f"item {i} of a dataset of {self._length}")
        if self.files is not None:
            from .pipeline import decode_bytes

            path = self.files[i]
            try:
                media, _ = decode_bytes(read_file(path))
            except RcodecError as exc:
                raise type(exc)(f"{path}: {exc}") from None
            item = media.data
        else:
            item = self._open()[i]
        tensor = torch.from_numpy(item.samples if isinstance(item, Audio) else np.asarray(item))
        return self.transform(tensor) if self.transform is not None else tensor

    def _open(self) -> DatasetFile:
        if self._file is None:
            self._file = open_file(self.path, **self.options)
        return self._file

    def __getstate__(self) -> dict[str, Any]:
        # Workers started by spawn receive the path, not the file's bytes or a decoded block.
        state = self.__dict__.copy()
        state["_file"] = None
        return state
