"""`rcodec bench dataset`: what a dataset file costs against one file per item — bits per value, the container's
fixed bytes, the index and the coder's per-stream bytes — and how long item i takes to decode alone."""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import container
from ..dataset import DatasetFile
from ..media import load_bytes
from ..pipeline import encode, encode_media


def coder_fixed_bytes(stream: bytes) -> int:
    """Bytes of a rANS stream's head (lane count, word and escape counts, final lane states): its cost per stream
    beyond the coded words (csrc/rans.hpp)."""
    from rcodec import _native

    lanes = stream[0]
    _, end = _native.varint_decode_from(stream, 2 + lanes, 1)
    return end


def single_file_parts(data: bytes) -> dict[str, int]:
    """A one-image file split into the container's fixed parts and the coded stream."""
    c = container.read(data)
    _, _, payload_start = container.read_header(data)
    streams = sum(len(s) for s in c.streams)
    return {"file": len(data), "header": payload_start, "framing": 2 + 4 * len(c.streams) + 2,
            "footer": container.FOOTER_BYTES, "streams": streams,
            "coder_fixed": sum(coder_fixed_bytes(s) for s in c.streams) if c.header.coder == "rans" else 0}


def run(source: Path, codec: str, limit: int, blocks: list[int], singles: int, probes: int = 20,
        progress=None) -> dict[str, Any]:
    stack = load_bytes(source.read_bytes(), str(source)).data[:limit]
    n, values = len(stack), stack[0].size
    result: dict[str, Any] = {"source": str(source), "codec": codec, "items": n, "values_per_item": values,
                              "command": " ".join(["rcodec", "bench", "dataset", *sys.argv[3:]]), "blocks": []}
    rng = np.random.default_rng(0)
    for block in blocks:
        start = time.perf_counter()
        data = encode(stack, codec, block=block)
        encode_s = time.perf_counter() - start
        ds = DatasetFile(container.read(data))
        ds[0]  # load the model once, outside the timings
        times = []
        for i in rng.integers(0, n, probes):
            ds._cached = None  # time a cold block
            t = time.perf_counter()
            item = ds[int(i)]
            times.append(time.perf_counter() - t)
            assert np.array_equal(item, stack[i])
        index = next(d for tag, d in container.read(data).chunks if tag == b"ITEM")
        result["blocks"].append({
            "block": block, "bytes": len(data), "bpd": 8 * len(data) / (n * values), "index_bytes": len(index),
            "encode_s": encode_s, "item_decode_ms_median": 1000 * statistics.median(times),
        })
        if progress:
            progress(f"block {block}: {result['blocks'][-1]}")
    if singles:
        from ..media import Media

        parts = [single_file_parts(encode_media(Media("image", stack[i]), codec)) for i in range(min(singles, n))]
        mean = {k: statistics.fmean(p[k] for p in parts) for k in parts[0]}
        result["single_files"] = {"files": len(parts), "mean": mean, "bpd": 8 * mean["file"] / values,
                                  "bpd_streams_only": 8 * mean["streams"] / values}
    return result
