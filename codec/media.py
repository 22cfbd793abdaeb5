"""The media kinds codecs consume and produce, and how they are read from and written to files.

- image: numpy uint8 (H, W) grayscale, (H, W, 3) RGB or (H, W, 4) RGBA. Files go through Pillow.
- audio: `Audio(samples float32 (frames, channels), sample_rate)`. Files go through soundfile.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field

import numpy as np

from .errors import MediaError

IMAGE_SUFFIXES = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP", ".tif": "TIFF",
                  ".tiff": "TIFF", ".ppm": "PPM", ".pgm": "PPM", ".gif": "GIF"}
AUDIO_SUFFIXES = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".aiff": "AIFF", ".aif": "AIFF", ".mp3": "MP3"}
FORMAT_SUFFIX = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "BMP": ".bmp", "TIFF": ".tif", "PPM": ".ppm",
                 "GIF": ".gif", "WAV": ".wav", "FLAC": ".flac", "OGG": ".ogg", "AIFF": ".aiff", "MP3": ".mp3"}
MAX_PIXELS = 1 << 28  # refuse absurd images before allocating them


@dataclass
class Audio:
    """Audio samples in [-1, 1): float32 of shape (frames, channels), and the sample rate in Hz."""

    samples: np.ndarray
    sample_rate: int

    def __post_init__(self) -> None:
        samples = np.asarray(self.samples, dtype=np.float32)
        if samples.ndim == 1:
            samples = samples[:, None]
        if samples.ndim != 2 or samples.shape[1] < 1:
            raise MediaError(f"audio samples must have shape (frames, channels), got {samples.shape}")
        if not np.all(np.isfinite(samples)):
            raise MediaError("audio samples contain NaN or infinity")
        if not 1 <= int(self.sample_rate) <= 10_000_000:
            raise MediaError(f"invalid sample rate {self.sample_rate}")
        self.samples, self.sample_rate = np.ascontiguousarray(samples), int(self.sample_rate)

    @property
    def frames(self) -> int:
        return self.samples.shape[0]

    @property
    def channels(self) -> int:
        return self.samples.shape[1]

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Audio) and self.sample_rate == other.sample_rate
                and np.array_equal(self.samples, other.samples))


@dataclass
class Media:
    """What a codec sees: `kind` is "image" or "audio"; `data` is the uint8 array or the Audio."""

    kind: str
    data: np.ndarray | Audio
    original_format: str = ""  # e.g. "PNG", "WAV:PCM_16": what decompress writes back by default
    original_size: int = 0  # bytes of the source file, when there was one
    extra: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.samples.shape) if isinstance(self.data, Audio) else tuple(self.data.shape)

    @property
    def dtype(self) -> str:
        return "float32" if isinstance(self.data, Audio) else str(self.data.dtype)

    @property
    def sample_rate(self) -> int:
        return self.data.sample_rate if isinstance(self.data, Audio) else 0

    def canonical_bytes(self) -> bytes:
        """The bytes the output hash is computed over."""
        array = self.data.samples if isinstance(self.data, Audio) else self.data
        return np.ascontiguousarray(array).tobytes()


def image_array(array: np.ndarray) -> np.ndarray:
    """Validate an image array: uint8, (H, W), (H, W, 3) or (H, W, 4)."""
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise MediaError(f"image arrays must be uint8, got {array.dtype}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
        raise MediaError(f"image arrays must have shape (H, W), (H, W, 3) or (H, W, 4), got {array.shape}")
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise MediaError(f"empty image of shape {array.shape}")
    return np.ascontiguousarray(array)


def _from_pil(img) -> np.ndarray:
    from PIL import Image

    if img.width * img.height > MAX_PIXELS:
        raise MediaError(f"image of {img.width}x{img.height} pixels is too large")
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        raise MediaError(f"{img.mode} images (more than 8 bits per sample) are not supported")
    if img.mode not in ("L", "RGB", "RGBA"):
        has_alpha = "A" in img.getbands() or (img.mode == "P" and "transparency" in img.info)
        img = img.convert("RGBA" if has_alpha else "RGB")
    assert isinstance(img, Image.Image)
    return image_array(np.asarray(img))


def _sniff_audio(data: bytes) -> bool:
    return data[:4] in (b"RIFF", b"fLaC", b"OggS", b"FORM", b"RF64") or data[:3] == b"ID3"


def load_bytes(data: bytes, name: str = "input") -> Media:
    """Decode an image or audio file held in memory; the format is sniffed from the content."""
    if _sniff_audio(data):
        return _load_audio(io.BytesIO(data), name, len(data))
    return _load_image(io.BytesIO(data), name, len(data))


def load_path(path: str | os.PathLike) -> Media:
    from .fileio import read_file

    return load_bytes(read_file(path, MediaError), str(path))


def _load_image(fh, name: str, size: int) -> Media:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(fh) as img:
            fmt = img.format or "PNG"
            img.load()
            array = _from_pil(img)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise MediaError(f"{name}: not a readable image or audio file ({exc})") from None
    return Media("image", array, fmt, size)


def _load_audio(fh, name: str, size: int) -> Media:
    import soundfile

    try:
        info = soundfile.info(fh)
        fh.seek(0)
        samples, rate = soundfile.read(fh, dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError, ValueError) as exc:
        raise MediaError(f"{name}: not a readable audio file ({exc})") from None
    fmt = f"{info.format}:{info.subtype}"
    return Media("audio", Audio(samples, rate), fmt, size)


def from_object(x: object) -> Media:
    """Media from anything `rcodec.encode` accepts: path, bytes, PIL image, uint8 array, Audio."""
    if isinstance(x, Audio):
        return Media("audio", x)
    if isinstance(x, Media):
        return x
    if isinstance(x, (str, os.PathLike)):
        return load_path(x)
    if isinstance(x, (bytes, bytearray, memoryview)):
        return load_bytes(bytes(x))
    if isinstance(x, np.ndarray):
        return Media("image", image_array(x))
    if type(x).__module__.startswith("PIL."):
        return Media("image", _from_pil(x), getattr(x, "format", None) or "")
    raise MediaError(f"cannot encode an object of type {type(x).__name__}: pass a path, bytes, a PIL image, "
                     "a uint8 array or rcodec.Audio")


def default_suffix(original_format: str, kind: str) -> str:
    base = original_format.split(":")[0].upper()
    return FORMAT_SUFFIX.get(base, ".png" if kind == "image" else ".wav")


def to_file_bytes(media: Media, suffix: str | None = None) -> bytes:
    """Serialize decoded media to a file format: by `suffix`, else the recorded original format."""
    suffix = (suffix or default_suffix(media.original_format, media.kind)).lower()
    buf = io.BytesIO()
    if media.kind == "image":
        from PIL import Image

        fmt = IMAGE_SUFFIXES.get(suffix)
        if fmt is None:
            raise MediaError(f"cannot write images as {suffix!r}; use one of {', '.join(sorted(IMAGE_SUFFIXES))}")
        array = media.data
        img = Image.fromarray(array)
        if fmt == "JPEG" and img.mode == "RGBA":
            img = img.convert("RGB")
        img.save(buf, format=fmt, **({"quality": 95} if fmt in ("JPEG", "WEBP") else {}))
        return buf.getvalue()
    import soundfile

    fmt = AUDIO_SUFFIXES.get(suffix)
    if fmt is None or fmt == "MP3" and not hasattr(soundfile, "_formats"):
        raise MediaError(f"cannot write audio as {suffix!r}; use one of .wav, .flac, .ogg, .aiff")
    recorded_fmt, _, subtype = media.original_format.partition(":")
    if recorded_fmt != fmt or not subtype or not soundfile.check_format(fmt, subtype):
        subtype = soundfile.default_subtype(fmt)
    audio = media.data
    assert isinstance(audio, Audio)
    soundfile.write(buf, audio.samples, audio.sample_rate, format=fmt, subtype=subtype)
    return buf.getvalue()
