"""`rcodec train pc`: HCLT structure (Chow-Liu tree on binarised pixels) and mini-batch EM on MNIST train."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rcodec.torch_runtime import restores_threads

from .mnist import TRAIN_FILE, load_images

EXPORT_FORMAT = "rcodec-pc-hclt-2"  # log probabilities in float16
READABLE_FORMATS = ("rcodec-pc-hclt-1", EXPORT_FORMAT)  # 1: float32 probabilities


@dataclass
class TrainConfig:
    data: str
    hidden: int = 32
    epochs: int = 10
    batch: int = 500
    step_start: float = 0.2
    step_end: float = 0.02
    pseudocount: float = 0.01
    validation: int = 5000  # the last images of the training file, held out for the learning curve
    structure_images: int = 20000
    mi_bins: int = 2  # pixel values binned into this many equal ranges for the mutual information
    threads: int = 1
    seed: int = 0
    init: str | None = None  # continue EM from these exported weights (their tree and k) instead of a fresh model


def bits_per_dim(model, images: np.ndarray, batch: int = 1000) -> float:
    """Mean -log2 p(x) / D of uint8 images (N, D) under a torch HCLT."""
    import torch

    total = 0.0
    with torch.no_grad():
        for i in range(0, len(images), batch):
            x = torch.as_tensor(images[i : i + batch].astype(np.int64))
            total -= float(model.log_likelihood(x).double().sum())
    return total / math.log(2) / images.size


@restores_threads
def train(cfg: TrainConfig, log: Callable[[str], None]) -> tuple[dict, list[dict]]:
    """Learn the structure, run EM, return (export state, learning curve)."""
    import torch

    from rcodec.entropy.pc import HCLT, chow_liu_tree
    from rcodec.entropy.pc.circuit import compact_export

    torch.set_num_threads(cfg.threads)
    images = load_images(Path(cfg.data) / TRAIN_FILE).reshape(-1, 28 * 28)
    train_set, valid = images[: len(images) - cfg.validation], images[len(images) - cfg.validation :]
    if cfg.init:
        model = HCLT.from_export(torch.load(cfg.init, weights_only=True))
        tree = model.tree
        log(f"continuing from {cfg.init}: k = {model.hidden}, tree height {int(tree.depth().max())}")
    else:
        t0 = time.time()
        # Mutual information of binned pixel values (2 bins: ink or not).
        binned = (train_set[: cfg.structure_images].astype(np.int64) * cfg.mi_bins // 256).astype(np.uint8)
        tree = chow_liu_tree(binned, cfg.mi_bins)
        log(f"Chow-Liu tree: {tree.size} variables, height {int(tree.depth().max())} ({time.time() - t0:.1f}s)")
        model = HCLT(tree, cfg.hidden)
        hist = np.stack([np.bincount(train_set[:, v], minlength=256) for v in range(tree.size)]) + 0.1
        leaf_init = torch.as_tensor(hist / hist.sum(1, keepdims=True)).float()
        model.randomize(torch.Generator().manual_seed(cfg.seed), leaf_init)
    rng = np.random.default_rng(cfg.seed)
    batches = len(train_set) // cfg.batch
    total_steps, step_no = cfg.epochs * batches, 0
    curve = [{"epoch": 0, "valid_bpd": bits_per_dim(model, valid)}]
    log(f"epoch 0: valid {curve[-1]['valid_bpd']:.4f} bpd")
    for epoch in range(1, cfg.epochs + 1):
        perm = rng.permutation(len(train_set))
        train_bits, t0 = 0.0, time.time()
        for b in range(batches):
            # Cosine decay of the EM step size: large steps move fast early, small ones average out batch noise.
            frac = step_no / max(total_steps - 1, 1)
            step = cfg.step_end + 0.5 * (cfg.step_start - cfg.step_end) * (1 + math.cos(math.pi * frac))
            x = torch.as_tensor(train_set[perm[b * cfg.batch : (b + 1) * cfg.batch]].astype(np.int64))
            lp = model.log_likelihood(x).sum()
            lp.backward()
            model.em_update(step, cfg.pseudocount)
            train_bits -= float(lp.detach())
            step_no += 1
        row = {"epoch": epoch, "train_bpd": train_bits / math.log(2) / (batches * cfg.batch * tree.size),
               "valid_bpd": bits_per_dim(model, valid), "seconds": round(time.time() - t0, 1)}
        curve.append(row)
        log(f"epoch {epoch}: train {row['train_bpd']:.4f} valid {row['valid_bpd']:.4f} bpd ({row['seconds']}s)")
    # float16 log probabilities keep the shipped file small; coding converts to float64 and renormalises.
    state = compact_export(model.export())
    state |= {"format": EXPORT_FORMAT, "training": json.dumps({"config": asdict(cfg), "curve": curve})}
    return state, curve
