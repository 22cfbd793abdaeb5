"""`rcodec train vqgan`: train the small VQGAN (resumable), then export the weights with the codebook ladder."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click


def register_train(group) -> None:
    @group.command(name="vqgan")
    @click.option("--data", type=click.Path(exists=True, file_okay=False), required=True,
                  help="Folder of training photos (never the evaluation set).")
    @click.option("--out", type=click.Path(file_okay=False), default="plugins/vqgan/training_state/vqgan",
                  show_default=True, help="Run folder (state.pt); an existing run resumes.")
    @click.option("--steps", type=int, default=100_000, show_default=True, help="Total steps (resume continues).")
    @click.option("--batch", type=int, default=8, show_default=True)
    @click.option("--crop", type=int, default=64, show_default=True)
    @click.option("--lr", type=float, default=1e-3, show_default=True)
    @click.option("--threads", type=int, default=1, show_default=True)
    @click.option("--device", default="cpu", show_default=True, help="torch device, e.g. cuda when one is at hand.")
    @click.option("--export/--no-export", default=False,
                  help="After training, build the codebook ladder and priors and write weights/vqgan.pt.")
    def train_vqgan(data, out, steps, batch, crop, lr, threads, device, export) -> None:
        """Train the f16 VQGAN (reconstruction + codebook losses) and export the K-means codebook ladder."""
        from .training import train

        ckpt = train(data, out, steps, batch=batch, crop=crop, lr=lr, threads=threads, device=device,
                     log=lambda line: click.echo(line, err=True))
        if export:
            from .export import export as do_export

            command = "rcodec train vqgan " + " ".join(shlex.quote(a) for a in sys.argv[3:])
            entry = do_export(Path(ckpt), Path(data), command)
            click.echo(f"exported weights/vqgan.pt sha256 {entry['sha256'][:16]}... ladder {entry['ladder']}")
