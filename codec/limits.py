"""Every size limit rcodec enforces, in one place: what a file may claim before anything is allocated.

Loaders check media against these before decoding pixels or samples; decoders check the header's claims against
them (and against the payload, `check_payload`) before allocating or looping.
"""

from __future__ import annotations

import math

from .errors import FormatError, MediaError

# Media the loaders accept.
MAX_IMAGE_PIXELS = 1 << 28  # per frame; Pillow's decompression-bomb guard is raised to this
MAX_IMAGE_SAMPLES = 1 << 30  # pixels x channels x frames of one image file
MAX_FRAMES = 4096  # frames of an animated image
MAX_AUDIO_CHANNELS = 256
MAX_AUDIO_SAMPLES = 1 << 31  # frames x channels
MAX_SAMPLE_RATE = 10_000_000
MAX_VIDEO_BYTES = 1 << 30  # RGB bytes of a whole clip; longer clips are refused before any work
MAX_VIDEO_FRAMES = 1 << 16
MAX_VIDEO_FRAME_PIXELS = 1 << 24
MAX_FRAME_RATE = 1000  # frames per second
MAX_FRAME_RATE_DENOMINATOR = 1 << 20

# What the codecs code: learned codecs run a network over the whole image.
MAX_LEARNED_PIXELS = 1 << 24  # 16.7 Mpx: the synthesis of a larger image needs more than ~10 GB of activations
MAX_INR_PIXELS = 1 << 22  # inr fits a network per image: beyond this the fit takes hours
MAX_INR_FRAMES = 1 << 24  # audio frames inr fits
MAX_DECODED_VALUES = 1 << 28  # values a lossless decoder may produce (about 2 GB of int64 working planes)

# Container and header.
MAX_HEADER_BYTES = 1 << 20
MAX_STREAMS = 1 << 12
MAX_CHUNKS = 256
MAX_DIMS = 4
MAX_PARAMS = 64
MAX_PARAM_BYTES = 1 << 16  # one parameter or layout value
MAX_LAYOUT_BYTES = 1 << 16  # the whole layout section (palette, frame durations)

# The least information one entropy-coded symbol can carry: a table of n symbols at precision p gives its most
# probable symbol at most 2**p - (n - 1) of 2**p, so a stream of B bytes holds at most this many symbols.
CODER_SLACK_BITS = 256  # coder state flushed at the end of a stream, and rounding


def min_bits_per_symbol(alphabet: int, precision: int = 16) -> float:
    """The cost, in bits, of the most probable symbol of any table with `alphabet` symbols at `precision` bits,
    less a 10% margin for coders that requantize tables (constriction's 24-bit models)."""
    if alphabet < 2:
        return 0.0
    total = 1 << precision
    return -0.9 * math.log2((total - (alphabet - 1)) / total)


def check_payload(symbols: int, bits_per_symbol: float, payload_bytes: int, what: str) -> None:
    """Refuse a header that claims more symbols than `payload_bytes` of entropy-coded data can hold."""
    need = symbols * bits_per_symbol
    if need > 8 * payload_bytes + CODER_SLACK_BITS:
        raise FormatError(f"{what} needs at least {math.ceil(need / 8)} bytes of coded data; the file holds "
                          f"{payload_bytes} (damaged or forged header)")


def check_count(value: int, limit: int, what: str, error: type[Exception] = MediaError) -> None:
    if value > limit:
        raise error(f"{what} ({value}) is more than rcodec allows ({limit})")

# Dataset files (rcodec.dataset): a stack of images with an item index.
MAX_ARRAY_BYTES = 1 << 32  # a .npy or idx array read at once
MAX_DATASET_ITEMS = 1 << 26
MAX_STREAMS_PER_BLOCK = 64
MAX_BLOCK_BYTES = 1 << 28  # decoded bytes of one block of items
MAX_STACK_BYTES = 1 << 32  # decoded bytes of a whole stack at once (items stay available one by one)
