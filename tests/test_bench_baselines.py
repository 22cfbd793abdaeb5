"""The avif-down baseline and the convex hull that turns its settings into one curve."""

from __future__ import annotations

import numpy as np
import pytest

from rcodec.bench import baselines


def _p(bpp: float, psnr: float) -> dict:
    return {"bpp": bpp, "psnr": psnr}


def test_upper_hull_keeps_only_the_best_trade_offs():
    points = [_p(0.1, 20), _p(0.2, 24), _p(0.25, 23), _p(0.3, 25), _p(0.4, 28), _p(0.8, 29), _p(0.5, 27)]
    hull = baselines.upper_hull(points, "psnr")
    assert [(p["bpp"], p["psnr"]) for p in hull] == [(0.1, 20), (0.2, 24), (0.4, 28), (0.8, 29)]
    # (0.3, 25) lies under the chord from (0.2, 24) to (0.4, 28); (0.25, 23) and (0.5, 27) are dominated


def test_upper_hull_is_concave_and_increasing():
    rng = np.random.default_rng(3)
    points = [_p(float(b), float(q)) for b, q in zip(rng.uniform(0.01, 2, 60), rng.uniform(15, 40, 60))]
    hull = baselines.upper_hull(points, "psnr")
    bpp, psnr = np.array([p["bpp"] for p in hull]), np.array([p["psnr"] for p in hull])
    assert np.all(np.diff(bpp) > 0) and np.all(np.diff(psnr) > 0)
    slopes = np.diff(psnr) / np.diff(bpp)
    assert np.all(np.diff(slopes) <= 1e-9)
    for p in points:  # nothing lies above the hull
        assert p["psnr"] <= np.interp(p["bpp"], bpp, psnr) + 1e-9 or p["bpp"] > bpp[-1] or p["bpp"] < bpp[0]


def test_avif_down_gives_back_an_image_of_the_original_size_with_fewer_bytes_when_smaller():
    pytest.importorskip("PIL.AvifImagePlugin")
    rng = np.random.default_rng(0)
    image = (np.add.outer(np.arange(96), np.arange(128))[..., None] + rng.integers(0, 20, (96, 128, 3))).astype(
        np.uint8)
    full, decoded_full = baselines.avif_down_round_trip(image, "1x@40")
    small, decoded_small = baselines.avif_down_round_trip(image, "3x@40")
    assert decoded_full.shape == decoded_small.shape == image.shape
    assert small < full


def test_ms_ssim_db_is_monotone():
    values = [baselines.ms_ssim_db(v) for v in (0.5, 0.8, 0.9, 0.99)]
    assert values == sorted(values)


def test_bench_image_reports_the_avif_down_hull_and_ms_ssim_bd_rates(tmp_path):
    import json

    from click.testing import CliRunner
    from PIL import Image

    from rcodec.cli import _load_plugin_commands, cli

    _load_plugin_commands()
    pytest.importorskip("PIL.AvifImagePlugin")
    folder = tmp_path / "images"
    folder.mkdir()
    ramp = np.add.outer(np.arange(64), np.arange(64)).astype(np.uint8)
    Image.fromarray(np.stack([ramp, ramp.T, 255 - ramp], axis=2)).save(folder / "a.png")
    out = tmp_path / "rd.json"
    result = CliRunner().invoke(cli, ["bench", "image", "--codec", "factorized", "--dataset", str(folder),
                                      "--baseline", "avif-down", "--quality", "2", "--quality", "6",
                                      "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    raw, hull = data["baseline_points"]["avif-down"], data["baselines"]["avif-down"]
    assert len(raw) == len(baselines.avif_down_settings()) and 2 <= len(hull) <= len(raw)
    assert all(p in raw for p in hull)
    assert set(data["bd_rate"]["factorized"]) == set(data["bd_rate_ms_ssim"]["factorized"]) == {"avif-down"}
