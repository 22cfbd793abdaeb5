"""`rcodec train inr`: meta-learn the shared base network of `inr-vc` and export its weights and prior."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click


def register_train(group) -> None:
    @group.command(name="inr")
    @click.option("--modality", type=click.Choice(["image", "audio"]), default="image", show_default=True,
                  help="Which base network: image patches or audio segments.")
    @click.option("--data", type=click.Path(exists=True, file_okay=False), required=True,
                  help="Folder of training photos, or of WAV/FLAC/OGG clips for audio (never the evaluation set).")
    @click.option("--out", type=click.Path(file_okay=False), required=True,
                  help="Run folder (state.pt), outside the installed package; an existing run resumes.")
    @click.option("--steps", type=int, default=10_000, show_default=True, help="Total meta-steps (resume continues).")
    @click.option("--batch", type=int, default=16, show_default=True, help="Patches per meta-step.")
    @click.option("--lr", type=float, default=5e-4, show_default=True)
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
