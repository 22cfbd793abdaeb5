"""Video files through PyAV: reading MP4 / MKV / WebM / Y4M / AVI into RGB frames, writing them back.

A video is `Media("video", frames)` with frames uint8 (T, H, W, 3) RGB as the source decoder and FFmpeg's colour
conversion give them, and `extra["frame_rate"]` an exact `Fraction`. These frames are the reference: a lossless
codec restores them bit for bit, and the default output (FFV1 in Matroska, 8-bit RGB) holds them exactly.
`.mp4` and `.webm` outputs re-encode (H.264 / VP9 at high quality) and are therefore not exact.

Sizes are checked from the stream's metadata before decoding and again while frames arrive, so a hostile file
cannot make the reader allocate more than `limits.MAX_VIDEO_BYTES`.
"""

from __future__ import annotations

import io
from fractions import Fraction

import numpy as np

from . import limits
from .errors import MediaError

FRAME_RATE_KEY = "frame_rate"  # the header parameter holding the rate, "num/den"

# container name -> (suffix, FFmpeg muxer, codec, pixel format, codec options)
WRITERS = {
    "MKV": (".mkv", "matroska", "ffv1", "bgr0", {}),
    "MP4": (".mp4", "mp4", "libx264", "yuv420p", {"crf": "12", "preset": "medium"}),
    "WEBM": (".webm", "webm", "libvpx-vp9", "yuv420p", {"crf": "15", "b": "0"}),
    "Y4M": (".y4m", "yuv4mpegpipe", "rawvideo", "yuv444p", {}),
}
VIDEO_SUFFIXES = {suffix: name for name, (suffix, *_rest) in WRITERS.items()} | {".mov": "MP4", ".m4v": "MP4"}
LOSSLESS_OUTPUT = "MKV"
_FORMAT_NAMES = {"mov": "MP4", "mp4": "MP4", "matroska": "MKV", "webm": "WEBM", "yuv4mpegpipe": "Y4M", "avi": "AVI"}


def sniff(data: bytes) -> bool:
    """True for the containers this module reads: ISO BMFF (MP4/MOV), Matroska/WebM, Y4M, AVI."""
    return (data[4:8] == b"ftyp" or data[:4] == b"\x1a\x45\xdf\xa3" or data[:9] == b"YUV4MPEG2"
            or (data[:4] == b"RIFF" and data[8:12] == b"AVI "))


def parse_frame_rate(value: object, error: type[Exception] = MediaError) -> Fraction:
    """A frame rate from a header value ("30000/1001") or a number; `error` when it is not a sane rate."""
    text = str(value)
    if len(text) > 32:
        raise error(f"invalid frame rate {text[:32]!r}...")
    try:
        rate = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise error(f"invalid frame rate {value!r}") from None
    if not 0 < rate <= limits.MAX_FRAME_RATE or rate.denominator > limits.MAX_FRAME_RATE_DENOMINATOR:
        raise error(f"invalid frame rate {value!r}")
    return rate


def video_array(frames: np.ndarray) -> np.ndarray:
    """Validate frames: uint8 (T, H, W, 3) within the size limits."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[3] != 3:
        raise MediaError(f"video frames must be uint8 of shape (T, H, W, 3), got {frames.dtype} {frames.shape}")
    if 0 in frames.shape[:3]:
        raise MediaError(f"empty video of shape {frames.shape}")
    check_size(frames.shape[0], frames.shape[2], frames.shape[1])
    return np.ascontiguousarray(frames)


def check_size(count: int, width: int, height: int, error: type[Exception] = MediaError) -> None:
    """Refuse a clip larger than `limits` allows (loaders and decoders call this before allocating)."""
    if width * height > limits.MAX_VIDEO_FRAME_PIXELS:
        raise error(f"video frames of {width}x{height} pixels are too large")
    if count > limits.MAX_VIDEO_FRAMES or count * width * height * 3 > limits.MAX_VIDEO_BYTES:
        raise error(f"video of {count} frames at {width}x{height} is longer than the "
                    f"{limits.MAX_VIDEO_BYTES >> 20} MiB this version holds in memory; cut it into shorter clips")


def load(data: bytes, name: str = "input"):
    """Decode the first video stream of a file held in memory into `Media("video", frames)`."""
    import av

    from .media import Media

    try:
        container = av.open(io.BytesIO(data), mode="r")
    except (av.FFmpegError, ValueError) as exc:
        raise MediaError(f"{name}: not a readable video file ({exc})") from None
    with container:
        if not container.streams.video:
            raise MediaError(f"{name}: the file holds no video stream")
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        rate = stream.average_rate or stream.guessed_rate
        if rate is None or not width or not height:
            raise MediaError(f"{name}: the video stream has no frame size or frame rate")
        frame_rate = parse_frame_rate(Fraction(rate.numerator, rate.denominator))
        expected = stream.frames or int((stream.duration or 0) * (stream.time_base or 0) * frame_rate)
        check_size(expected, width, height)
        frames: list[np.ndarray] = []
        try:
            for frame in container.decode(stream):
                if (frame.width, frame.height) != (width, height):
                    raise MediaError(f"{name}: the frame size changes mid-stream ({width}x{height} to "
                                     f"{frame.width}x{frame.height}), which rcodec does not handle")
                check_size(len(frames) + 1, width, height)
                frames.append(frame.to_ndarray(format="rgb24"))
        except (av.FFmpegError, ValueError) as exc:
            raise MediaError(f"{name}: the video stream does not decode ({exc})") from None
        muxer = container.format.name.split(",")[0]
        fmt = "WEBM" if muxer == "matroska" and b"webm" in data[:64] else _FORMAT_NAMES.get(muxer, muxer.upper())
    if not frames:
        raise MediaError(f"{name}: the video stream holds no frames")
    media = Media("video", video_array(np.stack(frames)), fmt, len(data))
    media.extra[FRAME_RATE_KEY] = frame_rate
    return media


def to_bytes(frames: np.ndarray, frame_rate: Fraction, suffix: str) -> bytes:
    """Encode frames to a video file: `.mkv` is FFV1 (exact), `.y4m` 4:4:4 raw (colour-converted), `.mp4` and
    `.webm` re-encode at high quality (H.264 CRF 12 / VP9 CRF 15: close to, not equal to, the frames)."""
    import av

    name = VIDEO_SUFFIXES.get(suffix.lower())
    if name is None or name not in WRITERS:
        raise MediaError(f"cannot write video as {suffix!r}; use one of {', '.join(sorted(VIDEO_SUFFIXES))}")
    _, muxer, codec, pix_fmt, options = WRITERS[name]
    frames = video_array(frames)
    height, width = frames.shape[1:3]
    if pix_fmt == "yuv420p" and (width % 2 or height % 2):
        raise MediaError(f"{suffix} output needs even frame sizes, got {width}x{height}; write .mkv instead")
    buf = io.BytesIO()
    try:
        with av.open(buf, mode="w", format=muxer) as out:
            stream = out.add_stream(codec, rate=frame_rate, options=dict(options))
            stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
            if codec == "libx264":
                stream.codec_context.options = {**options, "threads": "1"}  # deterministic bytes
            for pixels in frames:
                frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
    except (av.FFmpegError, ValueError) as exc:
        raise MediaError(f"cannot write {suffix} video ({exc})") from None
    return buf.getvalue()
