"""Dataset files: a stack of images in one .rcz with an item index; rcodec.open gives len, iteration and [i]."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from click.testing import CliRunner

import rcodec
from conftest import DATA
from rcodec import container
from rcodec.cli import _load_plugin_commands, cli
from rcodec.dataset import INDEX_TAG, Index

_load_plugin_commands()
MNIST = DATA / "mnist" / "t10k-images-idx3-ubyte.gz"


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    with gzip.open(MNIST, "rb") as fh:
        fh.read(16)
        return np.frombuffer(fh.read(9 * 784), dtype=np.uint8).reshape(9, 28, 28).copy()


@pytest.fixture(scope="module")
def rgb_stack(small_image) -> np.ndarray:
    return np.stack([np.roll(small_image, i, axis=1) for i in range(5)])


@pytest.mark.parametrize("block", [1, 4])
def test_pc_mnist_items_decode_alone_and_in_order(tmp_path, digits, block):
    data = rcodec.encode(digits, codec="pc-mnist", block=block)
    path = tmp_path / "digits.rcz"
    path.write_bytes(data)
    ds = rcodec.open(path)
    assert len(ds) == 9 and ds.item_shape == (28, 28)
    for i in (7, 0, 8, -1):
        assert np.array_equal(ds[i], digits[i])
    assert np.array_equal(np.stack(list(ds)), digits)
    assert np.array_equal(rcodec.decode(data), digits)
    with pytest.raises(IndexError):
        ds[9]


def test_lossless_rgb_stack_and_info(rgb_stack):
    data = rcodec.encode(rgb_stack, codec="lossless", block=2)
    assert np.array_equal(rcodec.decode(data), rgb_stack)
    facts = rcodec.info(data)
    assert facts["items"] == 5 and facts["shape"] == list(rgb_stack.shape)
    assert facts["bpp"] == pytest.approx(8 * len(data) / (5 * 24 * 32))
    ds = rcodec.DatasetFile(container.read(data))
    assert np.array_equal(ds[3], rgb_stack[3])


def test_an_rgb_image_is_not_taken_for_a_stack(small_image):
    assert "items" not in rcodec.info(rcodec.encode(small_image))


def test_a_single_image_file_opens_as_one_item(tmp_path, small_image):
    path = tmp_path / "one.rcz"
    path.write_bytes(rcodec.encode(small_image))
    ds = rcodec.open(path)
    assert len(ds) == 1 and np.array_equal(ds[0], small_image) and len(list(ds)) == 1


def test_codecs_that_do_not_stack_are_refused(digits):
    with pytest.raises(rcodec.UnsupportedError, match="dataset files"):
        rcodec.encode(digits, codec="hyperprior")


def test_cli_compresses_mnist_idx_and_npy_and_restores_them(tmp_path, digits):
    raw = bytes([0, 0, 8, 3]) + struct.pack(">3I", *digits.shape) + digits.tobytes()
    (tmp_path / "d.gz").write_bytes(gzip.compress(raw))
    (tmp_path / "d.idx").write_bytes(raw)
    np.save(tmp_path / "d.npy", digits)
    names = [str(tmp_path / n) for n in ("d.gz", "d.idx", "d.npy")]
    result = CliRunner().invoke(cli, ["compress", "--codec", "pc-mnist", "-p", "block=2", *names])
    assert result.exit_code == 0, result.output
    for name in names:
        ds = rcodec.open(name + ".rcz")
        assert len(ds) == 9 and Index(container.read(Path(name + ".rcz").read_bytes())).block == 2
    result = CliRunner().invoke(cli, ["compress", "-f", "-p", "block=0", names[0]])
    assert result.exit_code == 1 and "block must be" in result.output
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["decompress", "-o", str(out), *(n + ".rcz" for n in names)])
    assert result.exit_code == 0, result.output
    assert (out / "d.idx").read_bytes() == raw and gzip.decompress((out / "d.gz").read_bytes()) == raw
    assert np.array_equal(np.load(out / "d.npy"), digits)


# --- hostile and damaged files ------------------------------------------------------------------------------------

def _with_index(data: bytes, index: bytes | None = None, stream: bytes | None = None, shape=None) -> bytes:
    """The file rewritten with another index, stream or shape; the payload CRC recomputed and the stored hashes
    kept (still valid where the header is unchanged), so only the index checks and the hashes stand between the
    damage and the decoder."""
    c = container.read(data)
    if shape is not None:
        c.header.shape = shape
    if stream is not None:
        c.streams = [stream]
    if index is not None:
        c.chunks = [(INDEX_TAG, index)]
    with mock.patch.object(container, "_bind", lambda what, header_bytes, plain: plain):
        return container.write(c)  # the hashes as stored, not bound a second time


@pytest.fixture(scope="module")
def stack_file(digits) -> bytes:
    return rcodec.encode(digits[:4], codec="lossless", block=2)


@pytest.mark.parametrize("index, message", [
    (b"", "index version"),
    (b"\x09\x01\x01", "index version"),
    (b"\x01\x02", "item index"),  # truncated varints
    (b"\x01\x02\x01\x05", "do not fit"),  # two blocks announced, one length present
    (b"\x01\x00\x01\x05\x05", "out of range"),  # zero items per block
    (b"\x01\x02\xff\x01\x05\x05", "out of range"),  # 255 streams per block
    (b"\x01\x02\x01\xff\xff\xff\xff\x0f\x05", "longer than"),
    (b"\x01\x02\x01\x05\x05", "the stream holds"),  # lengths that do not add up
    (b"\x01\x02\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x05", "longer than"),  # a 2**64-1 length
])
def test_hostile_indexes_are_clear_errors(stack_file, index, message):
    data = _with_index(stack_file, index=index)
    with pytest.raises(rcodec.RcodecError, match=message):
        rcodec.decode(data)
    with pytest.raises(rcodec.RcodecError):
        rcodec.DatasetFile(container.read(data))


def test_huge_announced_items_are_refused_before_allocating(stack_file):
    from rcodec import _native

    stream = container.read(stack_file).streams[0]
    index = bytes([1]) + _native.varint_encode(np.array([1 << 28, 1, len(stream)], dtype=np.uint64))
    data = _with_index(stack_file, index=index, shape=(4, 28 * 500, 28 * 500))
    with pytest.raises(rcodec.UnsupportedError, match="too large"):
        rcodec.decode(data)


def test_a_block_swapped_for_another_is_caught_by_the_hashes(stack_file):
    c = container.read(stack_file)
    lengths = c.chunks[0][1]
    # Both blocks are coded alike (same shape), so swapping their bytes keeps every length valid.
    from rcodec import _native

    (block, per_block), pos = _native.varint_decode_from(lengths, 2, 1)
    sizes, _ = _native.varint_decode_from(lengths, 2, pos)
    a, b = int(sizes[0]), int(sizes[1])
    stream = c.streams[0]
    swapped = stream[a:] + stream[:a]
    # The blocks' own parameters (the lossless coder's stripe sizes) swap with them.
    first, second = Index(c).block_params
    prefix = bytes([1]) + _native.varint_encode(np.array([block, per_block, a, b], dtype=np.uint64))
    names = lengths[len(prefix) : len(lengths) - len(first) - len(second)]
    index = (bytes([1]) + _native.varint_encode(np.array([block, per_block, b, a], dtype=np.uint64)) + names
             + second + first)
    assert rcodec.DatasetFile(container.read(_with_index(stack_file, index=index, stream=swapped)))[0].shape == (28, 28)
    with pytest.raises(rcodec.ChecksumError):
        rcodec.decode(_with_index(stack_file, index=index, stream=swapped))


def test_an_unchanged_rewrite_still_decodes(stack_file, digits):
    assert np.array_equal(rcodec.decode(_with_index(stack_file, index=container.read(stack_file).chunks[0][1])),
                          digits[:4])


def test_hostile_npy_and_idx_inputs_are_media_errors():
    from rcodec.media import load_bytes

    huge_npy = b"\x93NUMPY\x01\x00" + b"{'descr': '|u1', 'fortran_order': False, 'shape': (100000, 100000, 100), }"
    huge_npy = huge_npy[:8] + struct.pack("<H", 118) + huge_npy[8:].ljust(117) + b"\n"
    huge_idx = bytes([0, 0, 8, 3]) + struct.pack(">3I", 100000, 100000, 100) + b"\0" * 10
    bomb = gzip.compress(bytes([0, 0, 8, 3]) + struct.pack(">3I", 1 << 20, 1 << 10, 1 << 10))
    for data in (huge_npy, huge_idx, bomb, huge_idx[:10], b"\x93NUMPY\x01\x00\x05\x00{'de"):
        with pytest.raises(rcodec.MediaError):
            load_bytes(data, "x")


def test_bench_accounts_for_every_byte(tmp_path, digits):
    from rcodec.bench.dataset import run, single_file_parts

    parts = single_file_parts(rcodec.encode(digits[0], codec="lossless"))
    assert parts["header"] + parts["framing"] + parts["footer"] + parts["streams"] == parts["file"]
    assert 0 < parts["coder_fixed"] < parts["streams"]
    np.save(tmp_path / "d.npy", digits)
    result = run(tmp_path / "d.npy", "lossless", 6, [1, 4], singles=2, probes=3)
    one, four = result["blocks"]
    assert one["bytes"] > four["bytes"] and result["single_files"]["files"] == 2


@pytest.mark.parametrize("forge", [
    lambda raw: raw.replace(b"stripe_bytes\x04", b"stripe_bytes\x01"),  # another type
    lambda raw: raw.replace(b"stripe_bytes", b"stripe_bytez"),  # a name the codec does not declare
    lambda raw: raw[:-1],  # a value cut short
    lambda raw: raw + b"\x00",  # bytes after the last value
])
def test_forged_block_parameters_are_clear_errors(stack_file, forge):
    raw = container.read(stack_file).chunks[0][1]
    assert b"stripe_bytes\x04" in raw  # the lossless coder's stripe sizes differ between blocks: kept per block
    with pytest.raises(rcodec.RcodecError):
        rcodec.decode(_with_index(stack_file, index=forge(raw)))
