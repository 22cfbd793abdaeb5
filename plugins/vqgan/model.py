"""VQGAN encoder / quantizer / decoder with the taming-transformers state-dict key names, so that our own small model
and a real taming `.ckpt` load through the same code (`load_state`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class VqganConfig:
    ch: int = 32
    ch_mult: tuple[int, ...] = (1, 1, 2, 2, 4)  # 5 levels: 4 downsamplings, f16
    num_res_blocks: int = 1
    attn_resolutions: tuple[int, ...] = ()
    resolution: int = 256
    z_channels: int = 64
    embed_dim: int = 64
    n_embed: int = 1024
    in_channels: int = 3
    out_ch: int = 3
    extra: dict = field(default_factory=dict)

    @property
    def factor(self) -> int:
        return 2 ** (len(self.ch_mult) - 1)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("extra")
        return d

    @classmethod
    def from_dict(cls, d: dict) -> VqganConfig:
        """The inverse of `to_dict` (JSON and torch.save give tuples back as lists)."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def _act(x: torch.Tensor) -> torch.Tensor:
    """SiLU; in place when no gradient is recorded (it always follows a norm's fresh output), which saves a
    full-resolution allocation per call when coding."""
    return F.silu(x, inplace=not torch.is_grad_enabled())


def _norm(c: int) -> nn.GroupNorm:
    return nn.GroupNorm(32 if c % 32 == 0 else 1, c, eps=1e-6, affine=True)


class ResnetBlock(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.norm1, self.conv1 = _norm(cin), nn.Conv2d(cin, cout, 3, 1, 1)
        self.norm2, self.conv2 = _norm(cout), nn.Conv2d(cout, cout, 3, 1, 1)
        self.nin_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x):
        h = self.conv1(_act(self.norm1(x)))
        h = self.conv2(_act(self.norm2(h)))
        return (self.nin_shortcut(x) if self.nin_shortcut is not None else x) + h


class AttnBlock(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.norm = _norm(c)
        self.q, self.k, self.v, self.proj_out = (nn.Conv2d(c, c, 1) for _ in range(4))

    def forward(self, x):
        b, c, h, w = x.shape
        n = self.norm(x)
        q = self.q(n).reshape(b, c, h * w).transpose(1, 2)
        k = self.k(n).reshape(b, c, h * w)
        v = self.v(n).reshape(b, c, h * w)
        attn = torch.softmax(torch.bmm(q, k) * c ** -0.5, dim=2)
        out = torch.bmm(v, attn.transpose(1, 2)).reshape(b, c, h, w)
        return x + self.proj_out(out)


class Downsample(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 2, 0)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1)))  # taming's asymmetric padding


class Upsample(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class _Level(nn.Module):
    pass


class _Mid(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.block_1, self.attn_1, self.block_2 = ResnetBlock(c, c), AttnBlock(c), ResnetBlock(c, c)

    def forward(self, x):
        return self.block_2(self.attn_1(self.block_1(x)))


class Encoder(nn.Module):
    def __init__(self, cfg: VqganConfig) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(cfg.in_channels, cfg.ch, 3, 1, 1)
        in_mult = (1,) + tuple(cfg.ch_mult)
        res = cfg.resolution
        self.down = nn.ModuleList()
        for i, mult in enumerate(cfg.ch_mult):
            level = _Level()
            cin, cout = cfg.ch * in_mult[i], cfg.ch * mult
            level.block = nn.ModuleList([ResnetBlock(cin if j == 0 else cout, cout) for j in range(cfg.num_res_blocks)])
            level.attn = nn.ModuleList([AttnBlock(cout) for _ in range(cfg.num_res_blocks)]
                                       if res in cfg.attn_resolutions else [])
            if i != len(cfg.ch_mult) - 1:
                level.downsample = Downsample(cout)
                res //= 2
            self.down.append(level)
        c = cfg.ch * cfg.ch_mult[-1]
        self.mid = _Mid(c)
        self.norm_out = _norm(c)
        self.conv_out = nn.Conv2d(c, cfg.z_channels, 3, 1, 1)

    def forward(self, x):
        h = self.conv_in(x)
        for level in self.down:
            for j, block in enumerate(level.block):
                h = block(h)
                if len(level.attn):
                    h = level.attn[j](h)
            if hasattr(level, "downsample"):
                h = level.downsample(h)
        return self.conv_out(_act(self.norm_out(self.mid(h))))


class Decoder(nn.Module):
    def __init__(self, cfg: VqganConfig) -> None:
        super().__init__()
        c = cfg.ch * cfg.ch_mult[-1]
        res = cfg.resolution // cfg.factor
        self.conv_in = nn.Conv2d(cfg.z_channels, c, 3, 1, 1)
        self.mid = _Mid(c)
        levels = []
        for i in reversed(range(len(cfg.ch_mult))):
            level = _Level()
            cout = cfg.ch * cfg.ch_mult[i]
            level.block = nn.ModuleList([ResnetBlock(c if j == 0 else cout, cout)
                                         for j in range(cfg.num_res_blocks + 1)])
            level.attn = nn.ModuleList([AttnBlock(cout) for _ in range(cfg.num_res_blocks + 1)]
                                       if res in cfg.attn_resolutions else [])
            if i != 0:
                level.upsample = Upsample(cout)
                res *= 2
            c = cout
            levels.insert(0, level)
        self.up = nn.ModuleList(levels)
        self.norm_out = _norm(c)
        self.conv_out = nn.Conv2d(c, cfg.out_ch, 3, 1, 1)

    def forward(self, z):
        h = self.mid(self.conv_in(z))
        for level in reversed(self.up):
            for j, block in enumerate(level.block):
                h = block(h)
                if len(level.attn):
                    h = level.attn[j](h)
            if hasattr(level, "upsample"):
                h = level.upsample(h)
        return self.conv_out(_act(self.norm_out(h)))


class VectorQuantizer(nn.Module):
    def __init__(self, n_embed: int, embed_dim: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(n_embed, embed_dim)
        self.embedding.weight.data.uniform_(-1.0 / n_embed, 1.0 / n_embed)

    def indices(self, z: torch.Tensor, codebook: torch.Tensor | None = None) -> torch.Tensor:
        """Nearest codeword of each position of z (B, C, h, w) -> (B, h, w) int64."""
        e = self.embedding.weight if codebook is None else codebook
        flat = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
        d = (flat ** 2).sum(1, keepdim=True) + (e ** 2).sum(1)[None] - 2 * flat @ e.t()
        return torch.argmin(d, dim=1).view(z.shape[0], z.shape[2], z.shape[3])

    def lookup(self, idx: torch.Tensor, codebook: torch.Tensor | None = None) -> torch.Tensor:
        e = self.embedding.weight if codebook is None else codebook
        return e[idx].permute(0, 3, 1, 2).contiguous()


class VQModel(nn.Module):
    def __init__(self, cfg: VqganConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder, self.decoder = Encoder(cfg), Decoder(cfg)
        self.quant_conv = nn.Conv2d(cfg.z_channels, cfg.embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(cfg.embed_dim, cfg.z_channels, 1)
        self.quantize = VectorQuantizer(cfg.n_embed, cfg.embed_dim)

    def encode_latent(self, x: torch.Tensor) -> torch.Tensor:
        """x in [0, 1] -> pre-quantization latent (taming models take [-1, 1])."""
        return self.quant_conv(self.encoder(x * 2 - 1))

    def decode_latent(self, zq: torch.Tensor) -> torch.Tensor:
        return (self.decoder(self.post_quant_conv(zq)) + 1) / 2


def infer_config(state: dict[str, torch.Tensor]) -> VqganConfig:
    """Rebuild the taming config from tensor shapes (a `.ckpt` does not carry its yaml)."""
    n_embed, embed_dim = state["quantize.embedding.weight"].shape
    ch = state["encoder.conv_in.weight"].shape[0]
    levels = sorted({int(k.split(".")[2]) for k in state if k.startswith("encoder.down.")})
    ch_mult = tuple(state[f"encoder.down.{i}.block.0.conv1.weight"].shape[0] // ch for i in levels)
    num_res = len({int(k.split(".")[4]) for k in state if k.startswith("encoder.down.0.block.")})
    factor = 2 ** (len(ch_mult) - 1)
    attn_levels = {int(k.split(".")[2]) for k in state if k.startswith("encoder.down.") and ".attn." in k}
    resolution = 256
    attn = tuple(resolution // 2 ** i for i in sorted(attn_levels))
    if any(k.startswith("decoder.up.") and ".attn." in k for k in state) and not attn:
        attn = (resolution // factor,)
    return VqganConfig(ch=ch, ch_mult=ch_mult, num_res_blocks=num_res, attn_resolutions=attn, resolution=resolution,
                       z_channels=state["encoder.conv_out.weight"].shape[0], embed_dim=embed_dim, n_embed=n_embed,
                       in_channels=state["encoder.conv_in.weight"].shape[1],
                       out_ch=state["decoder.conv_out.weight"].shape[0])


MODEL_PREFIXES = ("encoder.", "decoder.", "quant_conv.", "post_quant_conv.", "quantize.")


def load_state(state: dict[str, torch.Tensor], cfg: VqganConfig | None = None) -> VQModel:
    """A VQModel from a taming-layout state dict; discriminator / loss keys (`loss.*`) are ignored."""
    state = {k: v for k, v in state.items() if k.startswith(MODEL_PREFIXES)}
    cfg = cfg or infer_config(state)
    model = VQModel(cfg)
    model.load_state_dict(state, strict=True)
    return model.eval()


def _spans(n: int, tile: int) -> list[tuple[int, int]]:
    """Split n grid positions into ceil(n / tile) near-equal runs (each at least 2 long when n >= 2)."""
    parts = max(1, -(-n // tile))
    edges = [i * n // parts for i in range(parts + 1)]
    return list(zip(edges[:-1], edges[1:]))


def encode_tiled(model: VQModel, x: torch.Tensor, tile: int) -> torch.Tensor:
    """Latent (1, D, h, w) of an image already padded to the grid, computed tile by tile: a tile is at most
    `tile` x `tile` grid positions, the size of the crops the model was trained on. Its mid-block attention and
    group norms see a whole image otherwise, and drift away from their training statistics on large images."""
    f = model.cfg.factor
    h, w = x.shape[2] // f, x.shape[3] // f
    rows = []
    for r0, r1 in _spans(h, tile):
        rows.append(torch.cat([model.encode_latent(x[:, :, r0 * f:r1 * f, c0 * f:c1 * f])
                               for c0, c1 in _spans(w, tile)], dim=3))
    return torch.cat(rows, dim=2)


def decode_tiled(model: VQModel, zq: torch.Tensor, tile: int) -> torch.Tensor:
    """Pixels (1, 3, h * f, w * f) from a quantized latent, tile by tile (the tiles `encode_tiled` used)."""
    h, w = zq.shape[2], zq.shape[3]
    rows = []
    for r0, r1 in _spans(h, tile):
        rows.append(torch.cat([model.decode_latent(zq[:, :, r0:r1, c0:c1]) for c0, c1 in _spans(w, tile)], dim=3))
    return torch.cat(rows, dim=2)
