"""Ray Data end to end on a local Ray instance: 100 Kodak crops compressed and decompressed through map_batches
actors, lossless bit-exact and lossy shape-exact, and .rcz files read back. Skipped where the `ray` extra is
not installed."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import KODAK

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

import rcodec  # noqa: E402
import rcodec.ray  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def crops() -> list[np.ndarray]:
    """100 crops of 64x64 from the Kodak images (lossy codecs need sizes that are multiples of 64)."""
    out = []
    for i in range(100):
        with Image.open(KODAK[i % len(KODAK)]) as img:
            array = np.asarray(img.convert("RGB"))
        y, x = (i * 37) % (array.shape[0] - 64), (i * 53) % (array.shape[1] - 64)
        out.append(array[y : y + 64, x : x + 64].copy())
    return out


def _rows(crops):
    return [{"image": c, "id": i} for i, c in enumerate(crops)]


def test_lossless_round_trip_is_bit_exact(local_ray, crops):
    packed = rcodec.ray.compress(ray.data.from_items(_rows(crops)), codec="lossless")
    back = {row["id"]: row["image"] for row in rcodec.ray.decompress(packed).take_all()}
    assert len(back) == 100
    for i, crop in enumerate(crops):
        assert np.array_equal(back[i], crop)


def test_lossy_round_trip_keeps_shapes(local_ray, crops):
    packed = rcodec.ray.compress(ray.data.from_items(_rows(crops)), codec="hyperprior", quality=1)
    rows = rcodec.ray.decompress(packed).take_all()
    assert len(rows) == 100
    for row in rows:
        assert row["image"].shape == crops[row["id"]].shape and row["image"].dtype == np.uint8


def test_read_rcz_files(local_ray, crops, tmp_path):
    for i, crop in enumerate(crops[:5]):
        (tmp_path / f"{i}.rcz").write_bytes(rcodec.encode(crop))
    (tmp_path / "readme.txt").write_text("skipped")
    rows = rcodec.ray.read_rcz(str(tmp_path), concurrency=1).take_all()  # one CPU left for the file reads
    assert len(rows) == 5
    for row in rows:
        i = int(row["path"].rsplit("/", 1)[1].split(".")[0])
        assert np.array_equal(row["image"], crops[i])
