"""Shared test fixtures: the data folder beside the checkout and small media to code."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DATA = SHARED / "data"
KODAK = sorted((DATA / "kodak").glob("kodim*.png"))
WAVS = sorted((DATA / "audio" / "wav").glob("*.wav")) + sorted((DATA / "audio" / "alsa").glob("*.wav"))


def pytest_collection_modifyitems(config, items):
    if not KODAK:
        raise pytest.UsageError(f"test data not found: expected Kodak images under {DATA / 'kodak'}")


@pytest.fixture(scope="session")
def small_image() -> np.ndarray:
    """A 24x32 RGB crop of a Kodak image: real statistics, fast to code."""
    from PIL import Image

    with Image.open(KODAK[0]) as img:
        return np.asarray(img.convert("RGB"))[100:124, 200:232].copy()


@pytest.fixture(scope="session")
def small_audio():
    import soundfile

    import rcodec

    samples, rate = soundfile.read(WAVS[0], dtype="float32", always_2d=True, frames=3000)
    return rcodec.Audio(samples, rate)
