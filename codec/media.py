"""The media kinds codecs consume and produce, and how they are read from and written to files.

- image: numpy uint8 or uint16 (H, W), (H, W, 3) or (H, W, 4), plus a layout (mode, palette, frames) that says
  what kind of image file the array stands for (`imagefile`).
- audio: `Audio(samples float32 (frames, channels), sample_rate)` (`audiofile`).
- jpeg: a JPEG file kept as its exact bytes (uint8 array), for exact recompression (`jpegfile`).
- video: uint8 (T, H, W, 3) RGB frames, the frame rate in `extra["frame_rate"]` (`videofile`, through PyAV).

Files are recognised by their content, never by a name. What a file holds comes back exactly, or the load is
refused with the reason before any coding starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from . import audiofile, imagefile, limits
from .audiofile import AUDIO_SUFFIXES
from .errors import MediaError
from .imagefile import IMAGE_SUFFIXES

FORMAT_SUFFIX = {**imagefile.FORMAT_SUFFIX, **audiofile.FORMAT_SUFFIX, "NPY": ".npy", "IDX": ".idx"}
STACK_SUFFIXES = {".npy": "NPY", ".idx": "IDX", ".gz": "IDX"}  # stacks of images (dataset files); .gz: gzip'd idx
IMAGE_DTYPES = ("uint8", "uint16")


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
        limits.check_count(samples.shape[1], limits.MAX_AUDIO_CHANNELS, "audio channel count")
        if not np.all(np.isfinite(samples)):
            raise MediaError("audio samples contain NaN or infinity")
        if not 1 <= int(self.sample_rate) <= limits.MAX_SAMPLE_RATE:
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
    """What a codec sees: `kind` is "image", "audio", "jpeg" or "video"; `data` is the image array (its coding
    view), the Audio, the JPEG file's bytes or the video frames.

    `layout` (images): how the array maps back to the original kind of image (`imagefile`); stored in the header.
    """

    kind: str
    data: np.ndarray | Audio
    original_format: str = ""  # e.g. "PNG", "WAV:PCM_16": what decompress writes back when that is exact
    original_size: int = 0  # bytes of the source file, when there was one
    extra: dict = field(default_factory=dict)
    layout: dict = field(default_factory=dict)
    stack: bool = False  # image data is a stack of images (N, H, W[, C]), coded as a dataset file

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
        return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()  # same on every machine


def image_array(array: np.ndarray) -> np.ndarray:
    """Validate an image array: uint8 or uint16, (H, W), (H, W, 3) or (H, W, 4)."""
    array = np.asarray(array)
    if str(array.dtype) not in IMAGE_DTYPES:
        raise MediaError(f"image arrays must be uint8 or uint16, got {array.dtype}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
        raise MediaError(f"image arrays must have shape (H, W), (H, W, 3) or (H, W, 4), got {array.shape}")
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise MediaError(f"empty image of shape {array.shape}")
    if array.shape[0] * array.shape[1] > limits.MAX_IMAGE_PIXELS * limits.MAX_FRAMES:
        raise MediaError(f"image of shape {array.shape} is too large")
    array = np.ascontiguousarray(array)
    return array


def load_bytes(data: bytes, name: str = "input") -> Media:
    """Decode an image, audio or video file held in memory; the format is recognised from the content. A `.npy`
    array or an MNIST idx file (optionally gzip'd) of several images gives a stack."""
    from . import arrays, videofile

    if arrays.is_npy(data) or arrays.is_idx(data):
        array, fmt = arrays.load(data, name)
        return Media("image", array, fmt, len(data), stack=arrays.is_stack(array))
    if videofile.sniff(data):
        return videofile.load(data, name)
    if audiofile.sniff(data):
        samples, rate, fmt = audiofile.load(data, name)
        return Media("audio", Audio(samples, rate), fmt, len(data))
    array, layout, fmt = imagefile.load(data, name)
    media = Media("image", array, fmt, len(data), layout=layout)
    if fmt.split(":")[0] == "JPEG":
        from .jpegfile import FILE_BYTES

        media.extra[FILE_BYTES] = data  # the default codec recompresses the file itself (jpegfile.route)
    return media


def load_path(path: str | os.PathLike) -> Media:
    from .fileio import read_file

    return load_bytes(read_file(path, MediaError), str(path))


def from_object(x: object) -> Media:
    """Media from anything `rcodec.encode` accepts: path, bytes, PIL image, uint8/uint16 array, Audio."""
    if isinstance(x, Audio):
        return Media("audio", x)
    if isinstance(x, Media):
        return x
    if isinstance(x, (str, os.PathLike)):
        return load_path(x)
    if isinstance(x, (bytes, bytearray, memoryview)):
        return load_bytes(bytes(x))
    if isinstance(x, np.ndarray):
        array = image_array(x)
        return Media("image", array, layout=imagefile.layout_of_array(array))
    if type(x).__module__.startswith("PIL."):
        array, layout = imagefile.from_pil(x)
        return Media("image", array, getattr(x, "format", None) or "", layout=layout)
    raise MediaError(f"cannot encode an object of type {type(x).__name__}: pass a path, bytes, a PIL image, "
                     "a uint8 or uint16 array or rcodec.Audio")


def for_codec(media: Media, lossless: bool, image_dtypes: tuple[str, ...], codec_id: str, name: str = "input"
              ) -> Media:
    """The media a codec may take, or a refusal before any work: a lossless codec gets the exact array (refused if
    it cannot code its sample type); a lossy one gets an 8-bit L/RGB/RGBA view. Video frames are the reference
    as decoded, whatever their source."""
    if media.kind == "video":
        return media
    if media.kind == "image":
        if lossless:
            if media.dtype not in image_dtypes:
                bits = 8 * np.dtype(media.dtype).itemsize
                raise MediaError(f"{name}: {bits}-bit image; codec {codec_id!r} codes "
                                 f"{' and '.join(image_dtypes)} samples only and would not restore it exactly")
            if media.layout:
                # A mode no file format here holds exactly would decode but could not be written back: refuse now.
                try:
                    imagefile.write(media.data, media.layout, media.original_format.split(":")[0])
                except MediaError as exc:
                    raise MediaError(f"{name}: {exc}") from None
            return media
        array = imagefile.plain(media.data, media.layout, name)
        if array is media.data and not media.layout:
            return media
        fmt = media.original_format if media.original_format in ("PNG", "JPEG", "WEBP", "BMP", "TIFF") else "PNG"
        return Media("image", image_array(array), fmt, media.original_size)
    if lossless and audiofile.is_lossy(media.original_format):
        fmt = media.original_format.replace(":", " ")
        raise MediaError(f"{name}: {fmt} is a lossy format: its decoded samples do not lie on a PCM grid, so "
                         f"codec {codec_id!r} cannot restore them exactly (decode it to WAV or FLAC first, or "
                         "choose a lossy codec)")
    return media


def default_suffix(original_format: str, kind: str, layout: dict | None = None) -> str:
    """The suffix decompress gives an output by default: the original format's when it can be exact."""
    base = original_format.split(":")[0].upper()
    if kind == "jpeg":
        return ".jpg"  # the original file itself
    if base in ("NPY", "IDX"):
        return FORMAT_SUFFIX[base]
    if kind == "video":
        return ".mkv"  # exact (FFV1); the original container would mean a lossy re-encode
    if kind == "audio":
        return audiofile.FORMAT_SUFFIX.get(base, ".wav") if not audiofile.is_lossy(original_format) else ".wav"
    layout = layout or {}
    if "frames" in layout or base in imagefile.LOSSY_SOURCE_FORMATS or base not in imagefile.FORMAT_SUFFIX:
        return ".tif" if layout.get("mode") == "CMYK" else ".png"
    if layout.get("mode", "").endswith(";16") and layout.get("mode") != "I;16" and base != "PNG":
        return ".png"
    return imagefile.FORMAT_SUFFIX[base]


def writable_suffixes(kind: str, stack: bool = False) -> set[str]:
    """The file suffixes `to_file` writes such media as: a stack as .npy, .idx or gzip'd idx (.gz); one image also
    as .npy."""
    if stack:
        return set(STACK_SUFFIXES)
    if kind == "video":
        from .videofile import VIDEO_SUFFIXES

        return set(VIDEO_SUFFIXES)
    return set(AUDIO_SUFFIXES) if kind == "audio" else set(IMAGE_SUFFIXES) | {".npy"}


def to_file(media: Media, suffix: str | None = None) -> tuple[bytes, str, bool]:
    """(file bytes, suffix, exact): by `suffix`, else the original format where it holds the media exactly, else
    an exact one (PNG, TIFF; WAV). `exact` is False only for a format asked for by `suffix` that approximates."""
    if media.kind == "jpeg":  # a JPEG file recompressed exactly: the original bytes, or its pixels converted
        data = media.data.tobytes()
        if suffix is None or suffix.lower() in (".jpg", ".jpeg"):
            return data, suffix or ".jpg", True
        return to_file(load_bytes(data), suffix)
    if media.stack or (suffix is not None and suffix.lower() == ".npy"):
        from . import arrays

        suffix = (suffix or default_suffix(media.original_format, media.kind)).lower()
        return arrays.save(media, suffix), suffix, True
    if media.kind == "video":
        from . import videofile

        suffix = suffix or ".mkv"
        data = videofile.to_bytes(media.data, media.extra[videofile.FRAME_RATE_KEY], suffix)
        return data, suffix, videofile.VIDEO_SUFFIXES.get(suffix.lower()) == videofile.LOSSLESS_OUTPUT
    if media.kind == "image":
        fmt = None
        if suffix is not None:
            fmt = IMAGE_SUFFIXES.get(suffix.lower())
            if fmt is None:
                raise MediaError(f"cannot write images as {suffix!r}; use one of {', '.join(sorted(IMAGE_SUFFIXES))}")
        data, fmt, exact = imagefile.write(media.data, media.layout, media.original_format.split(":")[0], fmt)
        return data, suffix or imagefile.FORMAT_SUFFIX[fmt], exact
    audio = media.data
    assert isinstance(audio, Audio)
    fmt = None
    if suffix is not None:
        fmt = AUDIO_SUFFIXES.get(suffix.lower())
        if fmt is None:
            raise MediaError(f"cannot write audio as {suffix!r}; use one of .wav, .flac, .ogg, .aiff")
    data, fmt = audiofile.write(audio.samples, audio.sample_rate, media.original_format, fmt)
    return data, suffix or audiofile.FORMAT_SUFFIX[fmt], fmt not in ("OGG", "MP3")


def to_file_bytes(media: Media, suffix: str | None = None) -> bytes:
    """Serialize decoded media to a file format: by `suffix`, else the original format where exact."""
    return to_file(media, suffix)[0]
