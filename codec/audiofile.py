"""Audio files in and out through soundfile, exactly or not at all.

Samples are held as float32 in [-1, 1). That is exact for every PCM depth up to 24 bits and for float32 files;
32-bit PCM and float64 files are accepted only when every sample fits float32 exactly, and refused with the
reason otherwise. Compressed formats (OGG Vorbis/Opus, MP3) decode to floats that no exact coder reproduces as the
original file: they are read (a lossy codec may take them) but `LOSSY_SUBTYPES` marks them, so that a lossless codec
refuses them and decompress writes WAV rather than re-encode.
"""

from __future__ import annotations

import io

import numpy as np

from . import limits
from .errors import MediaError, reason

AUDIO_SUFFIXES = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".aiff": "AIFF", ".aif": "AIFF", ".mp3": "MP3"}
FORMAT_SUFFIX = {"WAV": ".wav", "FLAC": ".flac", "OGG": ".ogg", "AIFF": ".aiff", "MP3": ".mp3"}
LOSSY_SUBTYPES = frozenset({"VORBIS", "OPUS", "MPEG_LAYER_I", "MPEG_LAYER_II", "MPEG_LAYER_III"})


def is_lossy(original_format: str) -> bool:
    return original_format.partition(":")[2] in LOSSY_SUBTYPES


def sniff(data: bytes) -> bool:
    """True for the audio containers soundfile reads (by content: RIFF is audio only when it says WAVE)."""
    if data[:4] in (b"RIFF", b"RF64", b"BW64"):
        return data[8:12] == b"WAVE"
    if data[:4] == b"FORM":
        return data[8:12] in (b"AIFF", b"AIFC")
    if data[:4] in (b"fLaC", b"OggS") or data[:3] == b"ID3":
        return True
    # MPEG audio frame sync without an ID3 tag
    return len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0


def load(data: bytes, name: str) -> tuple[np.ndarray, int, str]:
    """(float32 samples (frames, channels), sample rate, "FORMAT:SUBTYPE")."""
    import soundfile

    try:
        info = soundfile.info(io.BytesIO(data))
    except (RuntimeError, soundfile.LibsndfileError, ValueError) as exc:
        raise MediaError(f"{name}: not a readable audio file ({reason(exc)})") from None
    fmt = f"{info.format}:{info.subtype}"
    limits.check_count(info.channels, limits.MAX_AUDIO_CHANNELS, f"{name}: channel count")
    if not 1 <= info.samplerate <= limits.MAX_SAMPLE_RATE:
        raise MediaError(f"{name}: invalid sample rate {info.samplerate}")
    if info.frames * info.channels > limits.MAX_AUDIO_SAMPLES:
        raise MediaError(f"{name}: {info.frames} frames x {info.channels} channels is more audio than rcodec takes")
    wide = info.subtype in ("PCM_32", "DOUBLE")
    try:
        samples, rate = soundfile.read(io.BytesIO(data), dtype="float64" if wide else "float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError, ValueError) as exc:
        raise MediaError(f"{name}: not a readable audio file ({reason(exc)})") from None
    if wide:
        narrow = samples.astype(np.float32)
        if not np.array_equal(narrow.astype(np.float64), samples):
            what = "32-bit PCM samples with more than 24 significant bits" if info.subtype == "PCM_32" else \
                "float64 samples that float32 cannot hold"
            raise MediaError(f"{name}: {what} cannot be kept exactly (rcodec holds audio as float32, exact up to "
                             "24-bit PCM)")
        samples = narrow
    if not np.all(np.isfinite(samples)):
        raise MediaError(f"{name}: the audio holds NaN or infinite samples")
    return samples, rate, fmt


def write(samples: np.ndarray, sample_rate: int, original_format: str, fmt: str | None = None) -> tuple[bytes, str]:
    """(file bytes, format): `fmt` if given, else the original format when it is exact, else WAV at the original
    sample type (float for a compressed source)."""
    import soundfile

    recorded, _, subtype = original_format.partition(":")
    if fmt is None:
        fmt = recorded if recorded in FORMAT_SUFFIX and not is_lossy(original_format) else "WAV"
    if fmt == "MP3" and not soundfile.check_format("MP3"):
        raise MediaError("this soundfile cannot write MP3; use .wav, .flac, .ogg or .aiff")
    if subtype in LOSSY_SUBTYPES and fmt not in ("OGG", "MP3"):
        subtype = "FLOAT"
    if not subtype or not soundfile.check_format(fmt, subtype):
        subtype = soundfile.default_subtype(fmt)
    buf = io.BytesIO()
    try:
        soundfile.write(buf, samples, sample_rate, format=fmt, subtype=subtype)
    except (RuntimeError, soundfile.LibsndfileError, ValueError, TypeError) as exc:
        raise MediaError(f"cannot write audio as {fmt} ({reason(exc)})") from None
    return buf.getvalue(), fmt
