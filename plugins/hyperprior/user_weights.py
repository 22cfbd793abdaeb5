"""User checkpoints (`--weights PATH`) in CompressAI's zoo state-dict format.

Supported: `bmshj2018-factorized` (FactorizedPrior) for the factorized codec, `bmshj2018-hyperprior`
(ScaleHyperprior) and `mbt2018-mean` (MeanScaleHyperprior) for the hyperprior codec. Channel widths are read from
the weights. Such a model codes at the single rate it was trained for. Its tables are computed when it loads, from
float densities; the shipped exports carry integer tables instead, which is what makes them safe across machines.
"""

from __future__ import annotations

from pathlib import Path

import torch

from rcodec import WeightsError
from rcodec._compat import compressai

from . import fixed_point, tables
from .prepared import PreparedModel, _eval, _load_state, file_sha256


def _detect(state: dict) -> str:
    if "h_s.0.weight" not in state:
        return "factorized"
    last = max(int(k.split(".")[1]) for k in state if k.startswith("h_s.") and k.endswith(".weight"))
    out_channels = state[f"h_s.{last}.weight"].shape[0]
    return "mean-scale" if out_channels == 2 * state["g_a.6.weight"].shape[0] else "scale"


def load_user_checkpoint(path: Path, arch: str) -> PreparedModel:
    state = _load_state(path)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or "g_a.0.weight" not in state:
        raise WeightsError(f"{path}: not a CompressAI state dict (no g_a.0.weight)")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    kind = _detect(state)
    if (arch == "factorized") != (kind == "factorized"):
        raise WeightsError(f"{path}: a {kind} checkpoint does not fit the {arch} codec")
    models = compressai().models
    cls = {"factorized": models.FactorizedPrior, "scale": models.ScaleHyperprior,
           "mean-scale": models.MeanScaleHyperprior}[kind]
    try:
        net = cls.from_state_dict(state)
    except Exception as exc:
        raise WeightsError(f"{path}: weights do not fit CompressAI's {cls.__name__} ({exc})") from None
    net.eval()
    sha = file_sha256(path)
    bottleneck = tables.bottleneck_tables(net.entropy_bottleneck)
    model = PreparedModel(arch, _eval(net.g_a), _eval(net.g_s), 1, None, None, bottleneck, sha)
    if kind != "factorized":
        model.h_a = _eval(net.h_a)
        model.h_a_abs = kind == "scale"
        model.hyper = fixed_point.quantise_synthesis(net.h_s)
        model.has_means = kind == "mean-scale"
        model.y_tables = tables.gaussian_tables()
        model.thresholds = torch.from_numpy(tables.scale_thresholds())
    return model
