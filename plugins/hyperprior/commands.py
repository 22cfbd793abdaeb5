"""`rcodec train hyperprior`: train (resumably) and export the shipped weights."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import click

from rcodec.train_options import recipe_options

WEIGHTS_DIR = Path(__file__).parent / "weights"


def export_checkpoint(checkpoint: Path, arch: str, command: str) -> dict:
    """Write weights/<arch>.pt from a training checkpoint and record it in weights/WEIGHTS.json."""
    import torch

    from rcodec.weights import retire

    from .model import ARCHITECTURES
    from .prepared import export

    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    cfg = state["config"]
    net = ARCHITECTURES[arch](cfg["n"], cfg["m"])
    net.load_state_dict(state["model"])
    WEIGHTS_DIR.mkdir(exist_ok=True)
    path = WEIGHTS_DIR / f"{arch}.pt"
    retire(WEIGHTS_DIR, path.name)  # files compressed with the previous weights must still decode
    sha = export(net, arch, path, {"training": {"steps": state["step"], "config": cfg}})
    manifest_path = WEIGHTS_DIR / "WEIGHTS.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    manifest[path.name] = {"sha256": sha.hex(), "bytes": path.stat().st_size, "steps": state["step"],
                           "config": cfg, "command": command}
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest[path.name]


def register_train(group) -> None:
    @group.command(name="hyperprior")
    @click.option("--arch", type=click.Choice(["hyperprior", "factorized"]), default="hyperprior", show_default=True)
    @recipe_options(steps=200_000, batch=8, lr=1e-3, state="checkpoint.pt, history.jsonl, config.json")
    @click.option("--crop", type=int, default=128, show_default=True, help="Square crop size in pixels.")
    @click.option("--lr-drop-at", type=int, default=0, help="Divide the learning rate by 10 from this step.")
    @click.option("--n", "n_channels", type=int, default=64, show_default=True, help="Transform channels N.")
    @click.option("--m", "m_channels", type=int, default=128, show_default=True, help="Latent channels M.")
    @click.option("--threads", type=int, default=2, show_default=True)
    @click.option("--checkpoint-every", type=int, default=500, show_default=True)
    @click.option("--init-from", type=click.Path(exists=True, dir_okay=False), default=None,
                  help="Start a new run from the matching weights of another run's checkpoint.")
    @click.option("--round-for-synthesis/--noise-for-synthesis", default=False, show_default=True,
                  help="Train the synthesis on rounded latents (straight-through gradient) instead of noisy ones; "
                       "the rate term keeps additive noise either way.")
    @click.option("--export/--no-export", default=False,
                  help="After training, write the shipped weights file and record this command.")
    def train_hyperprior(arch, data, out, steps, batch, crop, lr, lr_drop_at, n_channels, m_channels, threads,
                         checkpoint_every, init_from, round_for_synthesis, export) -> None:
        """Train the variable-rate factorized or mean-scale hyperprior network (one model, 8 qualities)."""
        from .training import TrainConfig, train

        cfg = TrainConfig(arch=arch, data=data, out=out, steps=steps, batch=batch, crop=crop, lr=lr,
                          lr_drop_at=lr_drop_at, n=n_channels, m=m_channels, threads=threads,
                          checkpoint_every=checkpoint_every, init_from=init_from or "",
                          round_for_synthesis=round_for_synthesis)
        checkpoint = train(cfg, log=lambda line: click.echo(line, err=True))
        if export:
            command = "rcodec " + " ".join(shlex.quote(a) for a in sys.argv[1:])
            entry = export_checkpoint(checkpoint, arch, command)
            click.echo(f"exported {arch}.pt sha256 {entry['sha256']}")


def register_train_context(group) -> None:
    @group.command(name="hyperprior-context")
    @recipe_options(steps=20_000, batch=8, lr=1e-3, data_required=False,
                    data_help="Folder of training photos (never the evaluation set); required unless --export.",
                    state="checkpoint.pt, history.jsonl, config.json")
    @click.option("--crop", type=int, default=256, show_default=True, help="Square crop size in pixels.")
    @click.option("--lr-drop-at", type=int, default=0, help="Divide the learning rate by 10 from this step.")
    @click.option("--order", type=click.Choice(["iscs", "natural"]), default="iscs", show_default=True,
                  help="Channel coding order of a new run: ISCS importance or natural (a resumed run keeps its own).")
    @click.option("--threads", type=int, default=1, show_default=True)
    @click.option("--checkpoint-every", type=int, default=200, show_default=True)
    @click.option("--pool", type=int, default=128, show_default=True, help="Crops whose frozen latents are cached.")
    @click.option("--refresh", type=int, default=1, show_default=True, help="Pool entries replaced per step.")
    @click.option("--export", is_flag=True,
                  help="Do not train: write weights/hyperprior-context.pt from the run's checkpoint (the previous "
                       "export is kept as retired weights) and record it in WEIGHTS.json.")
    @click.option("--replace", is_flag=True, help="With --export: overwrite the previous export instead of retiring "
                                                  "it (only when no released file was coded with it).")
    def train_hyperprior_context(data, out, steps, batch, crop, lr, lr_drop_at, order, threads, checkpoint_every,
                                 pool, refresh, export, replace) -> None:
        """Train the context entropy model of the shipped hyperprior (transforms frozen; loss: y bits per pixel)."""
        if export:
            from .context import export_context

            checkpoint = Path(out) / "checkpoint.pt"
            if not checkpoint.exists():
                raise click.ClickException(f"no checkpoint in {out}")
            command = "rcodec " + " ".join(shlex.quote(a) for a in sys.argv[1:])
            entry = export_context(checkpoint, command, replace=replace)
            click.echo(f"exported hyperprior-context.pt (step {entry['steps']}, {entry['bytes']} bytes) "
                       f"sha256 {entry['sha256']}")
            return
        if data is None:
            raise click.UsageError("--data is required for training")
        from .context_training import ContextTrainConfig, train_context

        cfg = ContextTrainConfig(data=data, out=out, steps=steps, batch=batch, crop=crop, lr=lr,
                                 lr_drop_at=lr_drop_at, order=order, threads=threads,
                                 checkpoint_every=checkpoint_every, pool=pool, refresh=refresh)
        train_context(cfg, log=lambda line: click.echo(line, err=True))
