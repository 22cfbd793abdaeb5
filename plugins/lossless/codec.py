"""The `lossless` codec: exact images (8/16-bit gray, gray+alpha, RGB, RGBA), PCM audio and RGB video.

Version 2 codes images with the context-mixing coder (image_cm); version 1 files (per-row prediction, image.py)
keep decoding. Audio is coded the same way in both versions. Video (version 2 only) codes each frame, or its
difference from the previous one, with the per-row prediction coder (`video.py`).
"""

from __future__ import annotations

import math

import numpy as np

from rcodec import Audio, Codec, EncodeResult, HeaderParam, MediaError, UnsupportedError, limits
from rcodec.media import Media

from . import audio, image, image_cm, video

MAX_DECODED_VALUES = limits.MAX_DECODED_VALUES


class LosslessCodec(Codec):
    id = "lossless"
    version = 2
    media = ("image", "audio", "video")
    lossless = True
    stackable = True
    description = ("exact: context-mixing image coder; mid-side, prediction and adaptive entropy coding for audio; "
                   "intra or temporal-difference frames for video")
    options = {}
    header_params = {"bits": HeaderParam(int, choices=(8, 16, 24)), "mid_side": HeaderParam(bool),
                     "stripe_bytes": HeaderParam(bytes, 0, 8 * image_cm.MAX_STRIPES),
                     "frame_rate": HeaderParam(str, 1, 32)}  # video: written by the pipeline, "num/den"
    image_dtypes = ("uint8", "uint16")

    def supports_version(self, version: int) -> bool:
        return version in (1, 2)

    def encode(self, media: Media, params, sink) -> EncodeResult:
        if media.kind == "image":
            return EncodeResult(params=image_cm.encode_image(media.data, sink))
        if media.kind == "video":
            video.encode_video(media.data, sink)
            return EncodeResult()
        samples = media.data.samples
        if np.any(np.signbit(samples) & (samples == 0)):
            raise MediaError("lossless audio needs PCM samples; these float samples include negative zeros, which "
                             "PCM cannot hold")
        ints, bits = audio.to_integers(samples)
        stereo = audio.choose_stereo(ints)
        if stereo:
            channels = list(audio.mid_side(ints[:, 0], ints[:, 1]))
        else:
            channels = [ints[:, c] for c in range(ints.shape[1])]
        audio.encode_channels(channels, sink)
        return EncodeResult(params={"bits": bits, "mid_side": stereo})

    def decode(self, source, header, options) -> Media:
        shape = header.shape
        if int(np.prod(shape, dtype=np.int64)) > MAX_DECODED_VALUES:
            raise UnsupportedError(f"refusing to decode {shape}: larger than this codec allows")
        if header.media == "image":
            if header.codec_version == 1:
                _require_image_payload(shape, source)
                return Media("image", image.decode_image(shape, source))
            return Media("image", image_cm.decode_image(shape, header.dtype, header.params, source))
        if header.media == "video":
            if header.codec_version == 1:
                raise UnsupportedError("lossless version 1 has no video")
            _require_image_payload((shape[0] * shape[1], *shape[2:]), source)  # the frames' rows, stacked
            return Media("video", video.decode_video(shape, source))
        bits, stereo = header.params.get("bits"), header.params.get("mid_side")
        if len(shape) != 2 or bits not in (8, 16, 24) or not isinstance(stereo, bool) or (stereo and shape[1] != 2):
            raise MediaError(f"invalid lossless audio header (shape {shape}, bits {bits}, mid_side {stereo})")
        # every sub-block of every channel sends its magnitude with a uniform table
        source.require(-(-shape[0] // audio.SUB_BLOCK) * shape[1], 0.9 * math.log2(audio.MAX_MAGNITUDE + 1),
                       f"audio of {shape[0]} frames x {shape[1]} channels")
        channels = audio.decode_channels(shape[0], shape[1], source)
        if stereo:
            channels = list(audio.left_right(*channels))
        ints = np.stack(channels, axis=1) if channels else np.zeros(shape, dtype=np.int64)
        return Media("audio", Audio(audio.from_integers(ints, bits), header.sample_rate))


def _require_image_payload(shape: tuple[int, ...], source) -> None:
    """Refuse a shape the payload cannot hold before allocating planes: each row of each plane sends its predictor
    with a uniform table, and each residual costs at least what the most probable of 256 symbols costs."""
    planes = 1 if len(shape) == 2 else shape[2]
    source.require(shape[0] * planes, 0.9 * math.log2(len(image.PREDICTORS)), f"an image of {shape[0]} rows")
    source.require(shape[0] * shape[1] * planes, limits.min_bits_per_symbol(256, 16), f"an image of shape {shape}")
