"""What every learned codec needs besides its transforms, entropy model and coder, written once.

- Images in: `rgb_image` takes RGB or grayscale (alpha where a codec accepts it), checks the size before anything
  is allocated, and says whether the input was gray; `check_image_shape` does the same for the shape a header
  announces; `to_gray` turns a decoded RGB image back into gray; `pad_to_multiple` pads to the transform's stride.
- Weights: `Weights` resolves a plugin's shipped file, or the retired file with the sha256 a compressed file's
  header records, or a user's file; every file is verified against its manifest entry before use.
- Models: `load_model` builds a model once per (loader, sha256): a file replaced at the same path is a new model,
  never a stale cached one. Hashing is memoised by the file's identity (device, inode, size, mtime), so a codec
  call does not re-read tens of MB to find its cached model.
- Torch settings, restored on exit and per calling thread: `inference` (decoding and the encoder's transforms: one
  thread, no autograd), `torch_threads` (an encoder's fit, a training run).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from .errors import MediaError, WeightsError
from .limits import MAX_LEARNED_PIXELS
from .media import Media
from .torch_runtime import codec_inference as inference
from .torch_runtime import side_thread, torch_threads
from .weights import locate_retired, sha256_file

MAX_PIXELS = MAX_LEARNED_PIXELS  # the largest image a learned codec codes (rcodec.limits)

T = TypeVar("T")

# --- images -------------------------------------------------------------------------------------------------------


def check_image_shape(shape: tuple[int, ...], codec: str, max_pixels: int = MAX_PIXELS,
                      channels: tuple[int, ...] = (3,)) -> None:
    """MediaError unless `shape` is (H, W) or (H, W, C) with C in `channels`, non-empty, at most `max_pixels`."""
    shape = tuple(shape)
    if len(shape) not in (2, 3) or (len(shape) == 3 and shape[2] not in channels) or 0 in shape \
            or shape[0] * shape[1] > max_pixels:
        raise MediaError(f"{codec} cannot code an image of shape {shape} (RGB or grayscale, 1 to {max_pixels} "
                         "pixels)")


def rgb_image(media: Media, codec: str, max_pixels: int = MAX_PIXELS, alpha: bool = False) -> tuple[np.ndarray, bool]:
    """The image as uint8 (H, W, 3) -- or (H, W, 4) when `alpha` and the input has it -- and whether it was gray
    (a gray image is coded as three equal channels and decoded back to one)."""
    if media.kind != "image":
        raise MediaError(f"{codec} takes images, not {media.kind}")
    image = media.data
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 3 and image.shape[2] == 4 and not alpha:
        raise MediaError(f"{codec} takes RGB or grayscale images (no alpha)")
    check_image_shape(image.shape, codec, max_pixels, (3, 4) if alpha else (3,))
    gray = image.ndim == 2
    if gray:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image), gray


def to_gray(pixels: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) -> (H, W): the rounded mean of the channels (exact: integers summed in float32)."""
    return np.round(pixels.astype(np.float32).mean(axis=2)).astype(np.uint8)


def grid(height: int, width: int, multiple: int) -> tuple[int, int]:
    """How many blocks of `multiple` pixels cover the image: (ceil(H / multiple), ceil(W / multiple))."""
    return -(-height // multiple), -(-width // multiple)


def pad_to_multiple(image: np.ndarray, multiple: int) -> np.ndarray:
    """(H, W[, C]) padded at the bottom and right, replicating the edge, to whole multiples of `multiple`."""
    height, width = image.shape[:2]
    gh, gw = grid(height, width, multiple)
    pad = ((0, gh * multiple - height), (0, gw * multiple - width)) + ((0, 0),) * (image.ndim - 2)
    return np.pad(image, pad, mode="edge")


# --- weights --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeightsFile:
    """A weights file and its sha256 (hex), verified when the file came from a manifest."""

    path: Path
    sha256: str
    user: bool = False  # a caller's file, not shipped with the plugin

    @property
    def digest(self) -> bytes:
        """The sha256 as the 32 bytes a header records."""
        return bytes.fromhex(self.sha256)


_hash_lock = threading.Lock()
_hashes: dict[tuple, str] = {}


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file, memoised by its identity: hashed again when the file is replaced or rewritten."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise WeightsError(f"{path}: cannot read weights ({exc.strerror})") from None
    key = (os.fspath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    with _hash_lock:
        known = _hashes.get(key)
    if known is None:
        known = sha256_file(path)
        with _hash_lock:
            _hashes[key] = known
    return known


class Weights:
    """A plugin's weights file `name` in `folder`, listed in `folder/WEIGHTS.json`, with the retired files that
    once shipped under that name (`rcodec.weights.retire`) and that older compressed files still need."""

    def __init__(self, folder: Path, name: str, train_hint: str) -> None:
        self.folder, self.name, self.train_hint = Path(folder), name, train_hint

    @classmethod
    def of_plugin(cls, module_file: str, name: str, train_hint: str) -> Weights:
        """The weights `name` in the `weights/` folder beside a plugin's module (pass `__file__`)."""
        return cls(Path(module_file).parent / "weights", name, train_hint)

    def _manifest(self) -> dict[str, Any]:
        path = self.folder / "WEIGHTS.json"
        try:
            return json.loads(path.read_text()) if path.exists() else {}
        except (OSError, ValueError) as exc:
            raise WeightsError(f"{path}: unreadable manifest ({exc})") from None

    def _verified(self, file_name: str, expected: str, retired: bool = False) -> WeightsFile:
        path = locate_retired(self.folder, file_name, expected) if retired else self.folder / file_name
        if not path.exists():
            raise WeightsError(f"{path}: weights file not found; {self.train_hint}")
        actual = file_sha256(path)
        if actual != expected:
            raise WeightsError(f"{path}: sha256 {actual[:16]}... does not match the recorded {expected[:16]}...")
        return WeightsFile(path, actual)

    def current(self) -> WeightsFile:
        """The shipped file, verified."""
        entry = self._manifest().get(self.name)
        if entry is None:
            raise WeightsError(f"no shipped weights {self.name}; {self.train_hint}")
        return self._verified(self.name, entry["sha256"])

    def retired(self, sha256: str) -> WeightsFile | None:
        """The retired file that once shipped under this name with this sha256 (hex), verified; None if none."""
        for file_name, entry in self._manifest().items():
            if entry.get("retired") and entry.get("replaced_by_name") == self.name and entry.get("sha256") == sha256:
                return self._verified(file_name, sha256, retired=True)
        return None

    def for_encoding(self, user_path: str | os.PathLike | None = None) -> WeightsFile:
        """A user's file when given, else the shipped one."""
        return user_weights(user_path) if user_path is not None else self.current()

    def for_decoding(self, user_path: str | os.PathLike | None, header_sha256: bytes | None) -> WeightsFile:
        """The weights a file was compressed with: the user's file, the shipped one, or the retired one whose
        sha256 the header records (a file written before the shipped weights were last replaced). Whether they
        match the header is for `rcodec.weights.check_file_weights` to say."""
        if user_path is not None:
            return user_weights(user_path)
        shipped = self.current()
        if header_sha256 is not None and any(header_sha256) and header_sha256 != shipped.digest:
            retired = self.retired(header_sha256.hex())
            if retired is not None:
                return retired
        return shipped


def user_weights(path: str | os.PathLike) -> WeightsFile:
    """A caller's weights file (`--weights PATH`), hashed; nothing to verify it against."""
    return WeightsFile(Path(path), file_sha256(path), user=True)


# --- models ---------------------------------------------------------------------------------------------------------

_model_lock = threading.RLock()
_models: dict[tuple[Callable, str], Any] = {}


def load_model(weights: WeightsFile, loader: Callable[[WeightsFile], T]) -> T:
    """`loader(weights)`, once per process for each (loader, sha256). Models are only read after loading, so one
    instance serves every thread."""
    key = (loader, weights.sha256)
    with _model_lock:  # one load per key, even when several threads ask at once
        if key not in _models:
            _models[key] = loader(weights)
        return _models[key]


__all__ = [
    "MAX_PIXELS", "Weights", "WeightsFile", "check_image_shape", "file_sha256", "grid", "inference", "load_model",
    "pad_to_multiple", "rgb_image", "side_thread", "to_gray", "torch_threads", "user_weights",
]
