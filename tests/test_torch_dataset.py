"""rcodec.torch.RczDataset: items of a dataset file or a directory of .rcz files, decoded in DataLoader workers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import rcodec
from rcodec.torch import RczDataset


@pytest.fixture(scope="module")
def stack(small_image) -> np.ndarray:
    return np.stack([np.roll(small_image[:, :, 0], 3 * i, axis=1)[:12] for i in range(6)])


@pytest.fixture(scope="module")
def stack_file(tmp_path_factory, stack):
    path = tmp_path_factory.mktemp("ds") / "stack.rcz"
    path.write_bytes(rcodec.encode(stack, codec="lossless", block=2))
    return path


def _double(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.int32) * 2


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_dataloader_workers_decode_a_dataset_file(stack_file, stack, start_method):
    ds = RczDataset(stack_file, transform=_double)
    assert len(ds) == 6
    loader = DataLoader(ds, batch_size=2, num_workers=2, multiprocessing_context=start_method)
    batches = list(loader)
    assert len(batches) == 3
    assert torch.equal(torch.cat(batches), torch.from_numpy(stack).to(torch.int32) * 2)


def test_a_directory_of_files(tmp_path, stack, small_image):
    (tmp_path / "sub").mkdir()
    for i in range(3):
        (tmp_path / "sub" / f"{i}.rcz").write_bytes(rcodec.encode(stack[i]))
    (tmp_path / "notes.txt").write_text("not a compressed file")
    ds = RczDataset(tmp_path)
    assert len(ds) == 3
    items = list(DataLoader(ds, batch_size=None, num_workers=2, multiprocessing_context="spawn"))
    for i, item in enumerate(items):
        assert item.dtype == torch.uint8 and torch.equal(item, torch.from_numpy(stack[i]))
    with pytest.raises(IndexError):
        ds[3]


def test_a_damaged_file_names_itself(tmp_path, stack):
    (tmp_path / "a.rcz").write_bytes(rcodec.encode(stack[0])[:-10])
    with pytest.raises(rcodec.FormatError, match="a.rcz"):
        RczDataset(tmp_path)[0]
