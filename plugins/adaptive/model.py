"""The adaptive-length tokenizer: a small transformer that turns a 32x32 tile into up to 32 ordered 1D tokens (FSQ),
and a decoder that rebuilds the tile from any prefix of them; plus the single-pass quality head (KARL)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

LADDER = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)  # allowed token counts per tile; the stream stores an index into it


@dataclass
class AdaptiveConfig:
    tile: int = 32
    patch: int = 4
    dim: int = 64
    heads: int = 4
    enc_layers: int = 2
    dec_layers: int = 3
    max_tokens: int = 32
    levels: tuple[int, ...] = field(default_factory=lambda: (7, 7, 7, 5, 5, 5))  # FSQ levels per token dimension
    ladder: tuple[int, ...] = LADDER
    linear_path: bool = True  # a linear pixels<->tokens path beside the transformers (learns fast, PCA-like)
    # KARL's head also reads the tile's simple statistics (`tile_statistics`), its inputs normalised; off in the
    # first exports, whose head read the pooled encoder state only
    karl_stats: bool = True

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> AdaptiveConfig:
        d = {"karl_stats": False, **d}  # configs written before the option had the pooled-state head
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})

    @property
    def patches(self) -> int:
        return (self.tile // self.patch) ** 2


class FSQ(nn.Module):
    """Finite scalar quantization (odd levels): bounded by tanh, rounded with a straight-through gradient."""

    def __init__(self, levels: tuple[int, ...]) -> None:
        super().__init__()
        self.register_buffer("halfw", torch.tensor([(lv - 1) / 2 for lv in levels]), persistent=False)

    def indices(self, z: torch.Tensor) -> torch.Tensor:
        """Integer symbols 0..L-1 per dimension."""
        return torch.round(torch.tanh(z) * self.halfw).long() + self.halfw.long()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        bounded = torch.tanh(z) * self.halfw
        q = bounded + (torch.round(bounded) - bounded).detach()
        return q / self.halfw

    def dequantize(self, idx: torch.Tensor) -> torch.Tensor:
        return (idx.float() - self.halfw) / self.halfw


STATISTICS = 7


def tile_statistics(x: torch.Tensor) -> torch.Tensor:
    """(B, STATISTICS) for tiles (B, 3, h, w) in [0, 1]: log mean absolute horizontal and vertical differences, log
    mean squared Laplacian, log standard deviation of each colour, mean value. How hard a tile is to rebuild
    shows in these; KARL's head reads them beside the encoder's state."""
    gx = (x[..., :, 1:] - x[..., :, :-1]).abs().mean((1, 2, 3))
    gy = (x[..., 1:, :] - x[..., :-1, :]).abs().mean((1, 2, 3))
    inner = x[..., 1:-1, 1:-1]
    laplacian = 4 * inner - x[..., :-2, 1:-1] - x[..., 2:, 1:-1] - x[..., 1:-1, :-2] - x[..., 1:-1, 2:]
    colour_std = x.flatten(2).std(2)
    return torch.stack([torch.log(gx + 1e-3), torch.log(gy + 1e-3), torch.log(laplacian.pow(2).mean((1, 2, 3)) + 1e-6),
                        *torch.log(colour_std + 1e-3).T, x.mean((1, 2, 3))], dim=1)


def _blocks(cfg: AdaptiveConfig, layers: int) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(cfg.dim, cfg.heads, 2 * cfg.dim, dropout=0.0, batch_first=True,
                                       norm_first=True, activation="gelu")
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


class AdaptiveTokenizer(nn.Module):
    def __init__(self, cfg: AdaptiveConfig) -> None:
        super().__init__()
        self.cfg = cfg
        pdim = 3 * cfg.patch * cfg.patch
        n, t, d = cfg.patches, cfg.max_tokens, cfg.dim
        self.patch_in = nn.Linear(pdim, d)
        self.enc_pos = nn.Parameter(torch.randn(1, n, d) * 0.02)
        self.queries = nn.Parameter(torch.randn(1, t, d) * 0.02)
        self.encoder = _blocks(cfg, cfg.enc_layers)
        self.enc_norm = nn.LayerNorm(d)
        self.to_code = nn.Linear(d, len(cfg.levels))
        self.fsq = FSQ(cfg.levels)
        self.from_code = nn.Linear(len(cfg.levels), d)
        self.tok_pos = nn.Parameter(torch.randn(1, t, d) * 0.02)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, d))
        self.dec_queries = nn.Parameter(torch.randn(1, n, d) * 0.02)
        self.decoder = _blocks(cfg, cfg.dec_layers)
        self.dec_norm = nn.LayerNorm(d)
        self.patch_out = nn.Linear(d, pdim)
        # KARL head: from the encoder's pooled state, the PSNR each ladder length would reach (monotone by build)
        if cfg.linear_path:
            pix, codes = 3 * cfg.tile * cfg.tile, cfg.max_tokens * len(cfg.levels)
            self.enc_lin = nn.Linear(pix, codes)
            self.dec_lin = nn.Linear(codes, pix)
        features = 2 * d + 1 + (STATISTICS if cfg.karl_stats else 0)
        # inputs are normalised as (f - karl_mean) / karl_scale, both fitted at export (identity before that)
        self.register_buffer("karl_mean", torch.zeros(features))
        self.register_buffer("karl_scale", torch.ones(features))
        self.karl = nn.Sequential(nn.Linear(features, 128), nn.GELU(), nn.Linear(128, len(cfg.ladder)))

    def load_weights(self, state: dict[str, torch.Tensor], karl: bool = True) -> None:
        """Load a state dict. Weights from before the head normalisation have no karl_mean / karl_scale: the
        identity. With karl=False the head is left as initialised (an export about to fit it anew)."""
        state = dict(state)
        for name in ("karl_mean", "karl_scale"):
            state.setdefault(name, getattr(self, name))
        if not karl:
            state = {k: v for k, v in state.items() if not k.startswith("karl")}
            state.update({k: v for k, v in self.state_dict().items() if k.startswith("karl")})
        self.load_state_dict(state)

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        p = self.cfg.patch
        x = x.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5)
        return x.reshape(b, (h // p) * (w // p), c * p * p)

    def unpatchify(self, t: torch.Tensor) -> torch.Tensor:
        b = t.shape[0]
        p, g = self.cfg.patch, self.cfg.tile // self.cfg.patch
        x = t.reshape(b, g, g, 3, p, p).permute(0, 3, 1, 4, 2, 5)
        return x.reshape(b, 3, g * p, g * p)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Tiles (B, 3, 32, 32) in [0, 1] -> pre-quantization codes (B, T, C) and pooled features (B, 2D+1)."""
        n = self.cfg.patches
        h = self.patch_in(self.patchify(x - 0.5)) + self.enc_pos
        h = torch.cat([h, self.queries.expand(x.shape[0], -1, -1)], dim=1)
        h = self.enc_norm(self.encoder(h))
        std = x.flatten(1).std(dim=1, keepdim=True)
        parts = [h[:, :n].mean(1), h[:, n:].mean(1), torch.log(std + 1e-3)]
        if self.cfg.karl_stats:
            parts.append(tile_statistics(x))
        pooled = torch.cat(parts, dim=1)
        codes = self.to_code(h[:, n:])
        if self.cfg.linear_path:
            codes = codes + self.enc_lin((x - 0.5).flatten(1)).view_as(codes)
        return codes, pooled

    def decode(self, q: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        """Dequantized codes (B, T, C) and per-tile token counts (B,) -> tiles (B, 3, 32, 32); tokens at positions
        >= count are replaced by the mask token, so a tile is rebuilt from its prefix only."""
        b, t = q.shape[:2]
        keep = (torch.arange(t, device=q.device)[None, :] < counts[:, None]).unsqueeze(-1)
        tok = torch.where(keep, self.from_code(q), self.mask_token.expand(b, t, -1)) + self.tok_pos
        h = torch.cat([self.dec_queries.expand(b, -1, -1), tok], dim=1)
        h = self.dec_norm(self.decoder(h))
        out = self.unpatchify(self.patch_out(h[:, :self.cfg.patches])) + 0.5
        if self.cfg.linear_path:
            out = out + self.dec_lin((q * keep).flatten(1)).view_as(out)
        return out

    def quality_curve(self, pooled: torch.Tensor) -> torch.Tensor:
        """Predicted PSNR (dB) of each ladder length, non-decreasing along the ladder."""
        out = self.karl((pooled - self.karl_mean) / self.karl_scale)
        base = 20.0 + out[:, :1]
        return torch.cat([base, base + torch.cumsum(F.softplus(out[:, 1:]), dim=1)], dim=1)
