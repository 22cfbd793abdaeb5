"""A model ready to code: float transforms for analysis and synthesis, integers for everything that chooses a table.

Built from the shipped weights (exported with integer tables and fixed-point hyper synthesis) or from a user's
CompressAI checkpoint (`--weights`), whose tables are then computed at load time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from rcodec import WeightsError
from rcodec.entropy import CdfTables
from rcodec.torch_runtime import side_thread
from rcodec.weights import sha256_file, verify

from . import fixed_point, tables
from .fast_synthesis import fast_synthesis
from .fixed_point import ACT_BITS, IntegerLayer

EXPORT_FORMAT = 1


@dataclass
class PreparedModel:
    arch: str  # "factorized" or "hyperprior"
    g_a: torch.nn.Module
    g_s: torch.nn.Module
    qualities: int
    y_gain: Tensor | None  # (Q, M) analysis gains, None for single-rate checkpoints
    y_inverse_gain: Tensor | None
    z_tables: CdfTables | None  # hyperprior: per-channel tables of z; factorized: per-channel tables of y
    sha256: bytes
    h_a: torch.nn.Module | None = None
    h_a_abs: bool = False  # Ballé's scale hyperprior analyses |y|
    z_gain: Tensor | None = None  # (Q, N) float, encoder only
    z_inverse_gain_fixed: Tensor | None = None  # (Q, N) integers, units of 2**-ACT_BITS
    hyper: list[IntegerLayer] | None = None
    has_means: bool = False
    y_tables: CdfTables | None = None
    thresholds: Tensor | None = None
    z_limit: int = fixed_point.Z_LIMIT  # |z_hat| bound: the fixed-point hyper synthesis is exact within it
    g_s_coding: torch.nn.Module | None = None  # g_s in its fast coding form; built from g_s when not given
    density_net: torch.nn.Module | None = None  # shipped hyperprior: the float network, for the z density (refine)

    def __post_init__(self) -> None:
        if self.g_s_coding is None:
            self.g_s_coding = fast_synthesis(self.g_s)

    def gain(self, y: Tensor, quality: int) -> Tensor:
        return y if self.y_gain is None else y * self.y_gain[quality].view(1, -1, 1, 1)

    def inverse_gain(self, y: Tensor, quality: int) -> Tensor:
        return y if self.y_inverse_gain is None else y * self.y_inverse_gain[quality].view(1, -1, 1, 1)

    def synthesis(self, y_hat: Tensor, quality: int) -> Tensor:
        """Decoded latents to the image in [0, 1]-ish floats, as every decoder computes it (`g_s_coding`)."""
        return self.g_s_coding(self.inverse_gain(y_hat, quality))

    def hyper_synthesis(self, z_hat: Tensor, quality: int) -> Tensor:
        """The fixed-point hyper synthesis output (scales, then means if any), in units of 2**-ACT_BITS. Under
        `codec_inference` (torch on one thread) the means are computed on the side thread meanwhile."""
        gain = None if self.z_inverse_gain_fixed is None else self.z_inverse_gain_fixed[quality]
        side = side_thread() if self.has_means and torch.get_num_threads() == 1 else None
        return fixed_point.run_synthesis(self.hyper, z_hat, gain, side)

    def entropy_parameters(self, z_hat: Tensor, quality: int) -> tuple[Tensor, Tensor | None]:
        """Integer table indexes for y and the means (exact dyadic floats), from integer z."""
        out = self.hyper_synthesis(z_hat, quality)
        if self.has_means:
            scales, means = out.chunk(2, 1)
            means = (means / (1 << ACT_BITS)).float()  # a dyadic value with few bits: exact in float32
        else:
            scales, means = out, None
        return tables.scale_indexes(scales, self.thresholds), means


def file_sha256(path: Path) -> bytes:
    return bytes.fromhex(sha256_file(path))


def _load_state(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsError(f"{path}: weights file not found") from None
    except Exception as exc:
        raise WeightsError(f"{path}: not a readable torch weights file ({exc})") from None


def _eval(module: torch.nn.Module) -> torch.nn.Module:
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def load_exported(path: Path, expected_sha256: str | None, arch: str) -> PreparedModel:
    """Shipped weights: verify the sha256, then rebuild the float transforms and read the integer parts."""
    sha = bytes.fromhex(verify(path, expected_sha256) if expected_sha256 is not None else sha256_file(path))
    state = _load_state(path)
    if state.get("format") != EXPORT_FORMAT or state.get("arch") != arch:
        raise WeightsError(f"{path}: not an rcodec {arch} export (format {state.get('format')})")
    from .model import ARCHITECTURES

    net = ARCHITECTURES[arch](int(state["n"]), int(state["m"]))
    missing, unexpected = net.load_state_dict(state["state_dict"], strict=False)
    if [k for k in missing if not k.startswith(("entropy_bottleneck", "gaussian_conditional", "h_s."))] or unexpected:
        raise WeightsError(f"{path}: weights do not fit the {arch} network ({missing[:3]} {unexpected[:3]})")
    gains = torch.exp(net.gain.log_gain.detach()), torch.exp(net.inverse_gain.log_gain.detach())
    model = PreparedModel(arch, _eval(net.g_a), _eval(net.g_s), gains[0].shape[0], gains[0], gains[1],
                          tables.tables_from_state(state["z_tables"]), sha)
    if arch == "hyperprior":
        model.h_a = _eval(net.h_a)
        model.z_gain = torch.exp(net.hyper_gain.log_gain.detach())
        model.z_inverse_gain_fixed = state["z_inverse_gain_fixed"].double()
        model.hyper = fixed_point.layers_from_state(state["hyper"])
        model.has_means = True
        model.y_tables = tables.tables_from_state(state["y_tables"])
        model.thresholds = state["scale_thresholds"].to(torch.int64)
        model.density_net = _eval(net)
    return model


def export(net, arch: str, path: Path, extra: dict) -> bytes:
    """Write a trained network as shipped weights: float transforms plus integer tables and hyper synthesis."""
    net.eval()
    # CompressAI's own coding buffers (float-derived tables) are left out: the integer tables below replace them.
    skip = ("_offset", "_quantized_cdf", "_cdf_length", "scale_table", "scale_bound", "likelihood_lower_bound")
    # The float hyper synthesis is left out too: decoding uses its fixed-point copy.
    state_dict = {k: v.detach().float().clone() for k, v in net.state_dict().items()
                  if k.rsplit(".", 1)[-1] not in skip and not k.startswith("h_s.")}
    out = {"format": EXPORT_FORMAT, "arch": arch, "n": net.n, "m": net.m, "state_dict": state_dict,
           "z_tables": tables.tables_to_state(tables.bottleneck_tables(net.entropy_bottleneck)), **extra}
    if arch == "hyperprior":
        inverse = torch.exp(net.hyper_inverse_gain.log_gain.detach().double())
        out["z_inverse_gain_fixed"] = torch.round(inverse * (1 << ACT_BITS)).to(torch.int64)
        out["hyper"] = fixed_point.layers_to_state(fixed_point.quantise_synthesis(net.h_s))
        out["y_tables"] = tables.tables_to_state(tables.gaussian_tables())
        out["scale_thresholds"] = torch.from_numpy(tables.scale_thresholds())
    tmp = path.with_suffix(".tmp")
    torch.save(out, tmp)
    tmp.replace(path)
    return file_sha256(path)
