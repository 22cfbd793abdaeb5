"""The hyperprior's context entropy model as shipped: export from a training checkpoint, load for coding.

`weights/hyperprior-context.pt` holds only the integer context networks (`IntegerChannelContext.to_state()`) and
the sha256 of the transforms (`hyperprior.pt`) they were trained on; the Gaussian tables and scale thresholds are
the transforms' own shipped integers. A file coded with the context model records the context weights' sha256 in
its header, and is decoded with those weights (shipped, or retired after an update).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from functools import cache
from pathlib import Path

import torch

from rcodec import WeightsError
from rcodec.weights import retire, retired_weights, sha256_file, verify

WEIGHTS_DIR = Path(__file__).parent / "weights"
NAME = "hyperprior-context.pt"
FORMAT = 1


def _manifest() -> dict:
    path = WEIGHTS_DIR / "WEIGHTS.json"
    return json.loads(path.read_text()) if path.exists() else {}


@cache
def _load(path: Path, sha256_hex: str):
    """(IntegerChannelContext-building state, transforms sha256 hex) of a verified context weights file."""
    verify(path, sha256_hex)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(f"{path}: not a readable torch weights file ({exc})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise WeightsError(f"{path}: not an rcodec hyperprior context export")
    return state


def _twin(state: dict, model, path: Path):
    from rcodec.entropy.latent import IntegerChannelContext

    try:
        return IntegerChannelContext.from_state(state["context"], model.y_tables, model.thresholds)
    except ValueError as exc:
        raise WeightsError(f"{path}: {exc}") from None


@cache
def _shipped_for(model_sha256: bytes):
    entry = _manifest().get(NAME)
    if entry is None or entry.get("transforms_sha256") != model_sha256.hex():
        return None
    return WEIGHTS_DIR / NAME, entry["sha256"]


def shipped_context(model) -> tuple[object, bytes] | None:
    """(IntegerChannelContext, its weights sha256) for these transforms, or None when none was trained for them
    (a user's checkpoint, retired transforms, or no context weights shipped)."""
    if model.y_tables is None or not model.has_means:
        return None
    found = _shipped_for(model.sha256)
    if found is None:
        return None
    path, sha = found
    return _twin_cached(path, sha, model), bytes.fromhex(sha)


_TWINS: dict = {}


def _twin_cached(path: Path, sha: str, model):
    key = (path, sha, model.sha256)
    if key not in _TWINS:
        _TWINS[key] = _twin(_load(path, sha), model, path)
    return _TWINS[key]


def context_for_file(model, context_sha256: bytes):
    """The context model a file was coded with (shipped or retired), checked against the file's transforms."""
    if not isinstance(context_sha256, bytes) or len(context_sha256) != 32:
        raise WeightsError("the header's context weights id is malformed")
    sha = context_sha256.hex()
    entry = _manifest().get(NAME)
    path = WEIGHTS_DIR / NAME if entry is not None and entry["sha256"] == sha else \
        retired_weights(WEIGHTS_DIR, NAME, sha)
    if path is None:
        raise WeightsError(f"this file was coded with context weights {sha[:12]} that this rcodec does not have")
    state = _load(path, sha)
    if state.get("transforms_sha256") != model.sha256.hex():
        raise WeightsError("the file's context weights were trained for other transforms than the file's")
    return _twin_cached(path, sha, model)


def export_context(checkpoint: Path, command: str, replace: bool = False, folder: Path = WEIGHTS_DIR) -> dict:
    """Write `folder`/hyperprior-context.pt from a training checkpoint (copied first: the run may be writing it)
    and record it in `folder`/WEIGHTS.json. The previous export is kept as retired weights unless `replace`."""
    from rcodec.entropy.latent import ChannelContext, IntegerChannelContext

    from .context_training import shipped_model

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "checkpoint.pt"
        shutil.copyfile(checkpoint, copy)
        state = torch.load(copy, map_location="cpu", weights_only=False)
    model = shipped_model()
    if state["transforms_sha256"] != model.sha256.hex():
        raise WeightsError(f"{checkpoint} was trained on other hyperprior weights than the shipped ones")
    cfg = state["config"]
    context = ChannelContext(len(state["context"]["order"]), state["context"]["order"].tolist(), cfg["groups"])
    context.load_state_dict(state["context"])
    twin = IntegerChannelContext.from_float(context, model.y_tables, model.thresholds)
    out = {"format": FORMAT, "context": twin.to_state(), "transforms_sha256": model.sha256.hex(),
           "training": {"steps": state["step"], "config": cfg}}
    path = folder / NAME
    if replace and path.exists():
        path.unlink()
    else:
        retire(folder, NAME)
    tmp_path = path.with_suffix(".tmp")
    torch.save(out, tmp_path)
    tmp_path.replace(path)
    manifest_path = folder / "WEIGHTS.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    manifest[NAME] = {"sha256": sha256_file(path), "bytes": path.stat().st_size, "steps": state["step"],
                      "transforms_sha256": model.sha256.hex(), "config": cfg, "command": command,
                      "recipe": [_training_command(cfg, state["step"])]}
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    _shipped_for.cache_clear()
    return manifest[NAME]


def _training_command(cfg: dict, steps: int) -> str:
    """The command that trains (or resumes) this run up to `steps`."""
    line = (f"rcodec train hyperprior-context --data {cfg['data']} --out {cfg['out']} --threads {cfg['threads']} "
            f"--steps {steps} --batch {cfg['batch']} --crop {cfg['crop']} --lr {cfg['lr']} --order {cfg['order']}")
    return line + (f" --lr-drop-at {cfg['lr_drop_at']}" if cfg.get("lr_drop_at") else "")
