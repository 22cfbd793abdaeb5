"""Training photos for the learned codecs' recipes: one place that finds and reads them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg")


def load_photos(folder: str | Path) -> list[np.ndarray]:
    """Every PNG/JPEG photo in `folder` (sorted by name) as a uint8 RGB array; FileNotFoundError if none."""
    from PIL import Image

    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no images in {folder}")
    return [np.asarray(Image.open(p).convert("RGB")) for p in files]
