"""Rate of the context model against the plain hyperprior on a few images, per quality.

    python -m rcodec.plugins.hyperprior.context_eval IMAGE... [--checkpoint training/hyperprior-context/checkpoint.pt]

For each image and quality: the real file size of `hyperprior` without the context model (the version-2 coding)
and with the shipped integer context model (version 3), and, with --checkpoint, the float model's estimate of the
y rate next to the plain hyperprior's estimate on the same latents. Prints one JSON line per (image, quality) and
the mean change per quality.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def _float_context(checkpoint: Path):
    from rcodec.entropy.latent import ChannelContext

    with tempfile.TemporaryDirectory() as tmp:  # the training run may be writing it
        copy = Path(tmp) / "checkpoint.pt"
        shutil.copyfile(checkpoint, copy)
        state = torch.load(copy, map_location="cpu", weights_only=False)
    order = state["context"]["order"].tolist()
    context = ChannelContext(len(order), order, state["config"]["groups"])
    context.load_state_dict(state["context"])
    return context.eval(), state["step"]


def _file(x: np.ndarray, quality: int, context: bool) -> tuple[int, float]:
    """(bits, best-of-two decode seconds) of the image's file, with or without the context model."""
    import time

    import rcodec

    from . import context as context_module

    shipped = context_module.shipped_context
    if not context:
        context_module.shipped_context = lambda model: None
    try:
        data = rcodec.encode(x, codec="hyperprior", quality=quality)
    finally:
        context_module.shipped_context = shipped
    times = []
    for _ in range(2):
        start = time.perf_counter()
        rcodec.decode(data)
        times.append(time.perf_counter() - start)
    return 8 * len(data), min(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("images", nargs="+", type=Path)
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--qualities", default="1,2,3,4,5,6,7,8")
    args = parser.parse_args(argv)
    import rcodec

    from .context_training import frozen_outputs, hyperprior_bits

    torch.set_num_threads(1)
    model = rcodec.get_registry().codec("hyperprior").model(None)
    float_context, step = _float_context(args.checkpoint) if args.checkpoint else (None, None)
    rows = []
    for path in args.images:
        x = np.asarray(Image.open(path).convert("RGB"))
        pixels = x.shape[0] * x.shape[1]
        xt = torch.from_numpy(x.copy()).permute(2, 0, 1)[None].float() / 255.0
        xt = F.pad(xt, (0, (-x.shape[1]) % 64, 0, (-x.shape[0]) % 64), mode="replicate")
        for q in [int(v) for v in args.qualities.split(",")]:
            (bits_v2, decode_v2), (bits_v3, decode_v3) = _file(x, q, False), _file(x, q, True)
            row = {"image": path.name, "quality": q, "bpp_v2": bits_v2 / pixels, "bpp_v3": bits_v3 / pixels,
                   "decode_s_v2": decode_v2, "decode_s_v3": decode_v3}
            if float_context is not None:
                y, hyper = frozen_outputs(model, xt, q - 1)
                with torch.no_grad():
                    row["y_bpp_float_context"] = float(float_context(y[None], hyper[None], noise=False)["bits"]) \
                        / pixels
                row["y_bpp_float_hyperprior"] = float(hyperprior_bits(y[None], hyper[None])) / pixels
                row["checkpoint_step"] = step
            rows.append(row)
            print(json.dumps(row), flush=True)
    for q in sorted({r["quality"] for r in rows}):
        sel = [r for r in rows if r["quality"] == q]
        change = np.mean([r["bpp_v3"] / r["bpp_v2"] - 1 for r in sel]) * 100
        line = f"quality {q}: file bpp v2 {np.mean([r['bpp_v2'] for r in sel]):.4f} -> v3 " \
               f"{np.mean([r['bpp_v3'] for r in sel]):.4f} ({change:+.2f}%)"
        if float_context is not None:
            fc = np.mean([r["y_bpp_float_context"] / r["y_bpp_float_hyperprior"] - 1 for r in sel]) * 100
            line += f"; float y-rate change {fc:+.2f}%"
        line += f"; decode {np.mean([r['decode_s_v2'] for r in sel]):.3f} s -> " \
                f"{np.mean([r['decode_s_v3'] for r in sel]):.3f} s"
        print(line, flush=True)


if __name__ == "__main__":
    main()
