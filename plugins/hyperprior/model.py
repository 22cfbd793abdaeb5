"""Variable-rate factorized-prior and mean-scale hyperprior networks (Ballé et al. 2018, Minnen et al. 2018).

One network serves every quality: a learned gain vector per quality scales the latent before rounding and a learned
inverse gain undoes it before synthesis (Cui et al. 2021, "Asymmetric Gained Deep Image Compression"), so the
quantisation step per channel, and with it the rate, changes with the quality index. The hyper latent has gains of
its own. Entropy coding and the integer entropy-parameter path live in `codec.py`; this module is pure torch.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from rcodec._compat import compressai

# Rate-distortion trade-offs, one per quality (MSE on 8-bit RGB scaled to [0, 1]); CompressAI's MSE ladder.
LAMBDAS = (0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483, 0.0932, 0.1800)
SCALE_MIN = 0.11  # smallest Gaussian scale a table is built for


def _layers():
    cai = compressai()
    return cai.layers.GDN, cai.models.utils.conv, cai.models.utils.deconv


def analysis(n: int, m: int) -> nn.Module:
    gdn, conv, _ = _layers()
    return nn.Sequential(conv(3, n), gdn(n), conv(n, n), gdn(n), conv(n, n), gdn(n), conv(n, m))


def synthesis(n: int, m: int) -> nn.Module:
    gdn, _, deconv = _layers()
    return nn.Sequential(
        deconv(m, n), gdn(n, inverse=True), deconv(n, n), gdn(n, inverse=True),
        deconv(n, n), gdn(n, inverse=True), deconv(n, 3),
    )


class GainUnit(nn.Module):
    """Per-quality, per-channel gains applied as log-parameters so that they stay positive."""

    def __init__(self, qualities: int, channels: int, init_log_gain: Tensor) -> None:
        super().__init__()
        self.log_gain = nn.Parameter(init_log_gain.view(qualities, 1).repeat(1, channels).clone())

    def forward(self, x: Tensor, quality: Tensor) -> Tensor:
        return x * torch.exp(self.log_gain[quality])[:, :, None, None]


def _init_log_gains() -> Tensor:
    # Uniform quantisation with step 1/g gives MSE ~ 1/(12 g^2); at the RD optimum MSE ~ 1/lambda, so g ~ sqrt(lambda).
    lambdas = torch.tensor(LAMBDAS)
    return 0.5 * torch.log(lambdas / lambdas[len(LAMBDAS) // 2])


class FactorizedPrior(nn.Module):
    """Ballé et al. 2018 factorized prior with quality gains."""

    def __init__(self, n: int = 64, m: int = 128) -> None:
        super().__init__()
        cai = compressai()
        self.n, self.m = n, m
        q = len(LAMBDAS)
        self.g_a, self.g_s = analysis(n, m), synthesis(n, m)
        self.gain = GainUnit(q, m, _init_log_gains())
        self.inverse_gain = GainUnit(q, m, -_init_log_gains())
        self.entropy_bottleneck = cai.entropy_models.EntropyBottleneck(m)

    def forward(self, x: Tensor, quality: Tensor, round_for_synthesis: bool = False) -> dict[str, Tensor]:
        if round_for_synthesis:
            raise ValueError("round_for_synthesis is implemented for the mean-scale hyperprior only")
        y = self.gain(self.g_a(x), quality)
        y_hat, y_likelihoods = self.entropy_bottleneck(y)
        x_hat = self.g_s(self.inverse_gain(y_hat, quality))
        return {"x_hat": x_hat, "likelihoods": [y_likelihoods]}


class MeanScaleHyperprior(nn.Module):
    """Minnen et al. 2018 mean-scale hyperprior (no autoregressive context) with quality gains.

    The hyper synthesis uses ReLU and plain convolutions so that it can be run exactly in fixed point at decode time.
    """

    def __init__(self, n: int = 64, m: int = 128) -> None:
        super().__init__()
        cai = compressai()
        _, conv, deconv = _layers()
        self.n, self.m = n, m
        q = len(LAMBDAS)
        self.g_a, self.g_s = analysis(n, m), synthesis(n, m)
        self.h_a = nn.Sequential(
            conv(m, n, kernel_size=3, stride=1), nn.ReLU(inplace=True),
            conv(n, n), nn.ReLU(inplace=True), conv(n, n),
        )
        self.h_s = nn.Sequential(
            deconv(n, m), nn.ReLU(inplace=True),
            deconv(m, m * 3 // 2), nn.ReLU(inplace=True),
            conv(m * 3 // 2, 2 * m, kernel_size=3, stride=1),
        )
        self.gain = GainUnit(q, m, _init_log_gains())
        self.inverse_gain = GainUnit(q, m, -_init_log_gains())
        self.hyper_gain = GainUnit(q, n, torch.zeros(q))
        self.hyper_inverse_gain = GainUnit(q, n, torch.zeros(q))
        self.entropy_bottleneck = cai.entropy_models.EntropyBottleneck(n)
        self.gaussian_conditional = cai.entropy_models.GaussianConditional(None, scale_bound=SCALE_MIN)

    def entropy_parameters(self, z_hat: Tensor, quality: Tensor) -> tuple[Tensor, Tensor]:
        params = self.h_s(self.hyper_inverse_gain(z_hat, quality))
        scales, means = params.chunk(2, 1)
        return scales, means

    def forward(self, x: Tensor, quality: Tensor, round_for_synthesis: bool = False) -> dict[str, Tensor]:
        """`round_for_synthesis`: in training, the synthesis gets the rounded latents the decoder will see
        (straight-through gradient) while the rate still sees additive noise ("mixed quantization",
        Minnen & Singh 2020); otherwise both see noise."""
        y = self.gain(self.g_a(x), quality)
        z = self.hyper_gain(self.h_a(y), quality)
        z_hat, z_likelihoods = self.entropy_bottleneck(z)
        scales, means = self.entropy_parameters(z_hat, quality)
        y_hat, y_likelihoods = self.gaussian_conditional(y, scales, means=means)
        if round_for_synthesis and self.training:
            y_hat = y + (torch.round(y - means) + means - y).detach()
        x_hat = self.g_s(self.inverse_gain(y_hat, quality))
        return {"x_hat": x_hat, "likelihoods": [y_likelihoods, z_likelihoods]}


ARCHITECTURES = {"factorized": FactorizedPrior, "hyperprior": MeanScaleHyperprior}


def rate_distortion_loss(out: dict[str, Tensor], x: Tensor, quality: Tensor) -> dict[str, Tensor]:
    """Per-sample lambda * 255^2 * MSE + bpp, averaged over the batch (each sample has its own quality)."""
    pixels = x.shape[2] * x.shape[3]
    bits = sum(torch.log(lk).flatten(1).sum(1) for lk in out["likelihoods"]) / -math.log(2)
    bpp = bits / pixels
    mse = (out["x_hat"] - x).pow(2).flatten(1).mean(1)
    lambdas = torch.tensor(LAMBDAS, device=x.device)[quality]
    loss = (lambdas * 255**2 * mse + bpp).mean()
    return {"loss": loss, "bpp": bpp, "mse": mse}
