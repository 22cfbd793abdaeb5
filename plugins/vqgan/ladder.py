"""The codebook ladder: K-means of the trained codebook into smaller codebooks, each refined on training latents with
the encoder/decoder frozen, plus the integer index frequencies (the learned categorical prior) of every rung."""

from __future__ import annotations

import numpy as np
import torch

from rcodec.entropy.tables import quantize_pmf

from .export import LADDER


def _nearest(x: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    d = (x ** 2).sum(1, keepdim=True) + (centres ** 2).sum(1)[None] - 2 * x @ centres.t()
    return torch.argmin(d, dim=1)


def kmeans(points: torch.Tensor, k: int, weights: torch.Tensor | None = None, iters: int = 25,
           init: torch.Tensor | None = None, seed: int = 0) -> torch.Tensor:
    """Weighted Lloyd K-means (float64, deterministic for a given seed)."""
    points = points.double()
    w = torch.ones(len(points), dtype=torch.float64) if weights is None else weights.double()
    if init is None:
        gen = torch.Generator().manual_seed(seed)
        pick = torch.multinomial(w + 1e-9, k, replacement=False, generator=gen)
        centres = points[pick].clone()
    else:
        centres = init.double().clone()
    for _ in range(iters):
        assign = _nearest(points, centres)
        sums = torch.zeros_like(centres).index_add_(0, assign, points * w[:, None])
        mass = torch.zeros(k, dtype=torch.float64).index_add_(0, assign, w)
        alive = mass > 0
        centres[alive] = sums[alive] / mass[alive, None]
    return centres.float()


def build_ladder(codebook: torch.Tensor, latents: torch.Tensor, ladder: tuple[int, ...] = LADDER
                 ) -> tuple[dict[int, torch.Tensor], dict[int, np.ndarray]]:
    """codebook (N, D), latents (M, D) from training crops -> ({K: codebook}, {K: int64 frequencies})."""
    usage = torch.bincount(_nearest(latents, codebook), minlength=len(codebook)).double()
    books, freqs = {}, {}
    for k in ladder:
        if k >= len(codebook):
            book = codebook.clone()
        else:
            # cluster the codewords (weighted by use), then refine on the latents themselves (encoder frozen)
            book = kmeans(codebook, k, usage + 1e-3, seed=k)
            book = kmeans(latents, k, init=book, iters=10)
        counts = torch.bincount(_nearest(latents, book), minlength=k).double().numpy()
        books[k] = book
        freqs[k] = quantize_pmf(counts + 0.5)  # integer tables from integer-exact counts
    return books, freqs
