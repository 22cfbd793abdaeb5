"""`rcodec train vqgan`: train the small VQGAN (resumable), then export the weights with the codebook ladder."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from rcodec.train_options import recipe_options


def register_train(group) -> None:
    @group.command(name="vqgan")
    @recipe_options(steps=100_000, batch=8, lr=1e-3)
    @click.option("--crop", type=int, default=64, show_default=True)
    @click.option("--ms-ssim-weight", type=float, default=0.0, show_default=True,
                  help="Weight of the (1 - MS-SSIM) loss term; needs --crop above 96.")
    @click.option("--lr-drop-at", type=int, default=0, show_default=True,
                  help="Step from which the learning rate is divided by 10 (0: never).")
    @click.option("--max-seconds", type=float, default=0.0, show_default=True,
                  help="Stop (and save) after this much wall time (0: no limit).")
    @click.option("--threads", type=int, default=1, show_default=True)
    @click.option("--device", default="cpu", show_default=True, help="torch device, e.g. cuda when one is at hand.")
    @click.option("--export/--no-export", default=False,
                  help="After training, build the codebook ladder and priors and write weights/vqgan.pt.")
    def train_vqgan(data, out, steps, batch, crop, lr, ms_ssim_weight, lr_drop_at, max_seconds, threads, device,
                    export) -> None:
        """Train the f16 VQGAN (reconstruction, MS-SSIM and codebook losses) and export the K-means codebook ladder."""
        from .training import train

        try:
            ckpt = train(data, out, steps, batch=batch, crop=crop, lr=lr, threads=threads, device=device,
                         ms_ssim_weight=ms_ssim_weight, lr_drop_at=lr_drop_at, max_seconds=max_seconds,
                         log=lambda line: click.echo(line, err=True))
        except ValueError as exc:
            raise click.UsageError(str(exc)) from exc
        if export:
            from .export import export as do_export

            command = "rcodec train vqgan " + " ".join(shlex.quote(a) for a in sys.argv[3:])
            entry = do_export(Path(ckpt), Path(data), command)
            click.echo(f"exported weights/vqgan.pt sha256 {entry['sha256'][:16]}... ladder {entry['ladder']}")

    @group.command(name="vqgan-prior")
    @click.option("--data", type=click.Path(exists=True, file_okay=False), required=True,
                  help="Folder of training photos (never the evaluation set).")
    @click.option("--steps", type=int, default=1500, show_default=True, help="Adam steps per ladder rung.")
    @click.option("--crops-per-image", type=int, default=12, show_default=True)
    @click.option("--crop", type=int, default=384, show_default=True, help="Crop side in pixels (a multiple of 16).")
    @click.option("--threads", type=int, default=1, show_default=True)
    def train_vqgan_prior(data, steps, crops_per_image, crop, threads) -> None:
        """Fit the masked context model (index prior and lost-index restorer) of every rung of the shipped
        weights, and add it to weights/vqgan.pt."""
        from .prior_training import train_priors

        if crop % 16:
            raise click.UsageError("--crop must be a multiple of 16")
        command = "rcodec train vqgan-prior " + " ".join(shlex.quote(a) for a in sys.argv[3:])
        entry = train_priors(Path(data), steps, crops_per_image, crop, command, threads=threads,
                             log=lambda line: click.echo(line, err=True))
        click.echo(f"wrote weights/vqgan.pt sha256 {entry['sha256'][:16]}...")

    @group.command(name="vqgan-decoder")
    @recipe_options(steps=20_000, batch=2, lr=1e-4)
    @click.option("--crop", type=int, default=256, show_default=True,
                  help="Crop side in pixels: a multiple of 16 above 160.")
    @click.option("--ms-ssim-weight", type=float, default=0.84, show_default=True,
                  help="Weight of (1 - MS-SSIM); the rest of the loss is L1.")
    @click.option("--max-seconds", type=float, default=0.0, show_default=True,
                  help="Stop (and save) after this much wall time (0: no limit).")
    @click.option("--threads", type=int, default=1, show_default=True)
    @click.option("--export/--no-export", default=False,
                  help="After tuning, write the decoder into weights/vqgan.pt (the previous file is kept for "
                       "decoding older files).")
    def train_vqgan_decoder(data, out, steps, batch, crop, lr, ms_ssim_weight, max_seconds, threads, export) -> None:
        """Fine-tune the shipped decoder for MS-SSIM with the encoder, codebooks and priors frozen: bitstreams are
        unchanged, the pixels they decode to improve."""
        from .decoder_tuning import export_tuned_decoder, tune_decoder

        try:
            run = tune_decoder(data, out, steps, batch=batch, crop=crop, lr=lr, ms_ssim_weight=ms_ssim_weight,
                               threads=threads, max_seconds=max_seconds,
                               log=lambda line: click.echo(line, err=True)).parent
            if export:
                command = "rcodec train vqgan-decoder " + " ".join(shlex.quote(a) for a in sys.argv[3:])
                entry = export_tuned_decoder(run, command)
                click.echo(f"wrote weights/vqgan.pt sha256 {entry['sha256'][:16]}...")
        except ValueError as exc:
            raise click.UsageError(str(exc)) from exc
