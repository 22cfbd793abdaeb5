"""ISCS: rank a trained codec's latent channels by importance from its parameters alone.

The score of latent channel c at quality q (the exact formula; `channel_scores`):

    score_c = log ||W_a[c]||^2 + 2 log gain_q[c]

- W_a[c]: the analysis transform's last-layer weights that produce channel c. With roughly uncorrelated,
  equal-variance inputs to that layer, ||W_a[c]||^2 is proportional to the variance of channel c before the gain.
- gain_q[c]: the quality's gain, which scales channel c before rounding (1 for single-rate checkpoints).

So the score is the log of the channel's predicted variance in quantisation steps: how much information the
channel carries at this rate point, hence how much is lost when it is replaced by its mean. Measured against
ablation (`rcodec iscs analyze --ablation`; the figures are in plugins/iscs/README.md): terms from the synthesis
side (first-layer weight energy, inverse gain) and the prior's zero-input scale looked natural but ranked the
trained model's channels worse -- the transforms compensate, a channel with small synthesis weights carries
larger latents -- so they are not part of the score.

Channels are then grouped by the correlation of their synthesis weight vectors (channels that paint the same
structure land in one group), and the Core group is the smallest set of top channels holding `core_share` of the
total score energy.

Ground truth (`ablation_importance`): the PSNR drop on a folder of images when channel c of y_hat is replaced by
its mean over those images.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass
class ChannelAnalysis:
    scores: list[float]
    order: list[int]  # channels, most important first
    core: list[int]
    auxiliary: list[int]
    groups: list[list[int]] = field(default_factory=list)
    spearman_vs_ablation: float | None = None
    ablation: list[float] | None = None


def _first_conv(module: torch.nn.Module) -> torch.nn.Module:
    return next(m for m in module.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)))


def _last_conv(module: torch.nn.Module) -> torch.nn.Module:
    return [m for m in module.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))][-1]


def synthesis_weights(model) -> torch.Tensor:
    """(M, ...) flattened first-layer synthesis weights per latent channel."""
    first = _first_conv(model.g_s)
    w = first.weight.detach()
    w = w if isinstance(first, torch.nn.ConvTranspose2d) else w.transpose(0, 1)  # (in=M, out, k, k)
    return w.reshape(w.shape[0], -1).double()


def analysis_weights(model) -> torch.Tensor:
    w = _last_conv(model.g_a).weight.detach()  # Conv2d (out=M, in, k, k)
    return w.reshape(w.shape[0], -1).double()


def prior_scales(model, quality: int) -> torch.Tensor:
    """Typical latent scale per channel, from the entropy model's parameters alone."""
    if model.hyper is not None:
        zero = torch.zeros(1, model.z_tables.count, 5, 5, dtype=torch.float64)
        out = model.hyper_synthesis(zero, quality)
        channels = out.shape[1] // 2 if model.has_means else out.shape[1]
        centre = out[0, :channels, 8:12, 8:12].mean((1, 2)) / 4096.0  # away from the zero-padded borders
        return centre.double()
    tables = model.z_tables
    stds = []
    for t in range(tables.count):
        freq = tables.frequencies(t)[:-1].astype(np.float64) if tables.escape else tables.frequencies(t)
        values = np.arange(len(freq)) + tables.offsets[t]
        p = freq / freq.sum()
        mean = (p * values).sum()
        stds.append(np.sqrt((p * (values - mean) ** 2).sum()))
    return torch.tensor(stds, dtype=torch.float64)


def channel_scores(model, quality: int) -> np.ndarray:
    score = torch.log(analysis_weights(model).pow(2).sum(1).clamp_min(1e-30))
    if model.y_gain is not None:
        score = score + 2 * torch.log(model.y_gain[quality].double())
    return score.numpy()


def coding_scores(model, quality: int) -> np.ndarray:
    """Importance of a channel for a decoder that already knows the hyperprior's prediction of it: the log energy
    the channel's *residual* feeds into the synthesis,

        2 log max(sigma_c, 0.11) + 2 log inverse_gain_q[c] + log ||W_s[c]||^2

    with sigma_c the scale the fixed-point hyper synthesis predicts from an all-zero hyper latent (parameters only)
    and W_s[c] the synthesis transform's first-layer weights fed by channel c. `hyperprior-iscs` groups channels
    by this score: its Auxiliary channels are not removed but replaced by their predicted means, so what matters
    is how much is left to tell after the prediction, not how much the channel varies (`channel_scores`)."""
    synthesis = synthesis_weights(model).pow(2).sum(1)
    score = 2 * torch.log(prior_scales(model, quality).clamp_min(0.11)) + torch.log(synthesis)
    if model.y_inverse_gain is not None:
        score = score + 2 * torch.log(model.y_inverse_gain[quality].double())
    return score.numpy()


def correlation_groups(model, order: list[int], threshold: float = 0.5) -> list[list[int]]:
    """Greedy grouping in importance order: a channel joins the first group whose leader's synthesis weights
    correlate with its own by |r| >= threshold, else it leads a new group."""
    w = synthesis_weights(model)
    w = w - w.mean(1, keepdim=True)
    w = w / w.norm(dim=1, keepdim=True).clamp_min(1e-12)
    corr = (w @ w.T).abs().numpy()
    groups: list[list[int]] = []
    for c in order:
        home = next((g for g in groups if corr[g[0], c] >= threshold), None)
        if home is None:
            groups.append([c])
        else:
            home.append(c)
    return groups


def analyse(model, quality: int, core_share: float = 0.5, coding: bool = False) -> ChannelAnalysis:
    """Order, Core/Auxiliary split and groups by `channel_scores` (or by `coding_scores` when `coding`)."""
    scores = coding_scores(model, quality) if coding else channel_scores(model, quality)
    order = [int(c) for c in np.argsort(-scores, kind="stable")]
    energy = np.exp(scores - scores.max())[order]
    cumulative = np.cumsum(energy) / energy.sum()
    core_size = int(np.searchsorted(cumulative, core_share) + 1)
    return ChannelAnalysis([float(s) for s in scores], order, sorted(order[:core_size]), sorted(order[core_size:]),
                           correlation_groups(model, order))


def ablation_importance(model, quality: int, images: list[np.ndarray]) -> np.ndarray:
    """Mean PSNR drop over `images` when each latent channel is set to its mean (quantised latents, as decoded)."""
    drops = []
    with torch.no_grad():
        latents, references = [], []
        for image in images:
            x = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float() / 255.0
            y_hat = torch.round(model.gain(model.g_a(x), quality))
            latents.append(y_hat)
            references.append(x)
        means = torch.stack([y.mean(dim=(0, 2, 3)) for y in latents]).mean(0)
        channels = latents[0].shape[1]
        drops = np.zeros(channels)
        for y_hat, x in zip(latents, references):
            base = _psnr(model.g_s(model.inverse_gain(y_hat, quality)), x)
            for c in range(channels):
                ablated = y_hat.clone()
                ablated[:, c] = means[c]
                drops[c] += base - _psnr(model.g_s(model.inverse_gain(ablated, quality)), x)
    return drops / len(images)


def _psnr(x_hat: torch.Tensor, x: torch.Tensor) -> float:
    mse = torch.mean((x_hat.clamp(0, 1) - x) ** 2).item()
    return 10 * np.log10(1.0 / max(mse, 1e-12))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)
