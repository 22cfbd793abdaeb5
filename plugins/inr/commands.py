"""`rcodec train inr`: meta-learn the shared base network of `inr-vc` and export its weights and prior."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from rcodec.train_options import recipe_options


def register_train(group) -> None:
    @group.command(name="inr")
    @click.option("--modality", type=click.Choice(["image", "audio"]), default="image", show_default=True,
                  help="Which base network: image patches or audio segments.")
    @recipe_options(steps=10_000, batch=16, lr=5e-4, batch_help="Patches (or segments) per meta-step.",
                    data_help="Folder of training photos, or of WAV/FLAC/OGG clips for audio (never the evaluation "
                              "set).")
    @click.option("--inner-steps", type=int, default=3, show_default=True)
    @click.option("--max-seconds", type=float, default=0.0, help="Stop (and save) after this much wall time.")
    @click.option("--export/--no-export", default=False,
                  help="After training, fit the prior on training data and write weights/inr_vc.pt "
                       "(inr_vc_audio.pt for audio).")
    def train_inr(modality, data, out, steps, batch, lr, inner_steps, max_seconds, export) -> None:
        """Meta-learn (one thread) the shared SIREN, latent map and inner step sizes of the `inr-vc` codec."""
        from .vc_train import train

        log = lambda line: click.echo(line, err=True)  # noqa: E731
        ckpt = train(data, out, steps, batch=batch, lr=lr, inner_steps=inner_steps,
                     max_seconds=max_seconds, log=log, modality=modality)
        if export:
            from .vc_export import export as do_export

            command = "rcodec train inr " + " ".join(shlex.quote(a) for a in sys.argv[3:])
            entry = do_export(Path(ckpt), Path(data), command, log=log)
            click.echo(f"exported {entry['file']} sha256 {entry['sha256'][:16]}... steps {entry['steps']}")
