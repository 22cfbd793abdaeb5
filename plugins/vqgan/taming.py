"""Loading a taming-transformers VQGAN checkpoint (`--weights PATH`): a `.ckpt` whose `state_dict` holds
`encoder.*`, `decoder.*`, `quant_conv.*`, `post_quant_conv.*`, `quantize.embedding.weight` (and `loss.*`, the
discriminator, which is ignored). The config is inferred from tensor shapes, or read from a `.json` beside it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from rcodec import WeightsError
from rcodec.entropy.tables import quantize_pmf
from rcodec.weights import sha256_file


def load_taming_checkpoint(path: Path):
    import torch

    from .codec import Prepared
    from .model import VqganConfig, infer_config, load_state

    if not path.is_file():
        raise WeightsError(f"{path}: no such checkpoint")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # a corrupt or foreign file: one clear message
        raise WeightsError(f"{path}: not a torch checkpoint ({exc.__class__.__name__})") from None
    state = raw.get("state_dict", raw) if isinstance(raw, dict) else None
    if not isinstance(state, dict) or "quantize.embedding.weight" not in state:
        raise WeightsError(f"{path}: not a taming VQGAN checkpoint (no quantize.embedding.weight)")
    side = path.with_suffix(".json")
    cfg = None
    if side.is_file():
        given = json.loads(side.read_text())
        cfg = VqganConfig.from_dict(given)
    try:
        model = load_state({k: v.float() for k, v in state.items() if torch.is_tensor(v)}, cfg or infer_config(state))
    except (RuntimeError, KeyError, ValueError) as exc:
        raise WeightsError(f"{path}: state dict does not fit the taming VQGAN layout ({exc})") from None
    book = model.quantize.embedding.weight.detach()
    k = book.shape[0]
    # no index statistics come with such a checkpoint: the categorical prior is uniform
    freqs = {k: quantize_pmf(np.ones(k))}
    # taming models are trained on 256-pixel crops
    return Prepared(model, {k: book}, freqs, bytes.fromhex(sha256_file(path)), tile=256 // model.cfg.factor)
