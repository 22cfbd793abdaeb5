"""`rcodec train adaptive` (resumable training, optional export) and `rcodec bench adaptive` (the figures)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from rcodec.train_options import recipe_options


def register_train(group) -> None:
    @group.command(name="adaptive")
    @recipe_options(steps=20_000, batch=32, lr=1e-3)
    @click.option("--threads", type=int, default=1, show_default=True)
    @click.option("--max-seconds", type=float, default=0.0, help="Stop (and save) after this much wall time.")
    @click.option("--export/--no-export", default=False,
                  help="After training, calibrate the KARL head, count the priors and write weights/adaptive.pt.")
    def train_adaptive(data, out, steps, batch, lr, threads, max_seconds, export) -> None:
        """Train the adaptive-length tokenizer (ALIT/KARL) on 32x32 tiles and export its weights and priors."""
        from .training import train

        ckpt = train(data, out, steps, batch=batch, lr=lr, threads=threads, max_seconds=max_seconds,
                     log=lambda line: click.echo(line, err=True))
        if export:
            from .export import export as do_export

            command = "rcodec train adaptive " + " ".join(shlex.quote(a) for a in sys.argv[3:])
            entry = do_export(Path(ckpt), Path(data), command, log=lambda line: click.echo(line, err=True))
            click.echo(f"exported weights/adaptive.pt sha256 {entry['sha256'][:16]}... steps {entry['steps']}")


def register_bench(group) -> None:
    @group.command(name="adaptive")
    @click.option("--dataset", type=click.Path(exists=True, file_okay=False), required=True,
                  help="Folder of evaluation images, e.g. ../shared/data/kodak.")
    @click.option("--target-psnr", type=float, default=26.0, show_default=True,
                  help="Target of the complexity report (tokens per image vs complexity).")
    @click.option("--targets", default="20,22,24,26", show_default=True, help="Targets of the rate-distortion run.")
    @click.option("--fixed", default="1,2,3,4,6,8,12,16,24,32", show_default=True,
                  help="Token counts of the fixed-length control.")
    @click.option("--slopes", default="", show_default=True,
                  help="Also code with allocation=slope at these slopes (squared error per bit), e.g. 800,3200.")
    @click.option("--rd-only", is_flag=True, help="Only the rate-distortion curves (slopes and the fixed control).")
    @click.option("--weights", type=click.Path(exists=True, dir_okay=False), default=None)
    @click.option("--limit", type=int, default=0, help="Only the first N images.")
    @click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None, help="Write the result here.")
    def bench_adaptive(dataset, target_psnr, targets, fixed, slopes, rd_only, weights, limit, json_path) -> None:
        """ALIT/KARL on a dataset: tokens vs complexity (Spearman), KARL-vs-ALIT agreement and encode time, bits
        saved against the fixed-length control at equal mean PSNR, and the flat grey image's token count."""
        import json

        from .report import run

        result = run(Path(dataset), target_psnr, [float(t) for t in targets.split(",")],
                     [int(n) for n in fixed.split(",")], weights=weights, limit=limit,
                     log=lambda line: click.echo(line, err=True),
                     slopes=tuple(float(s) for s in slopes.split(",") if s), rd_only=rd_only)
        summary = {k: v for k, v in result.items() if k != "per_image"}
        click.echo(json.dumps(summary, indent=1))
        if json_path:
            Path(json_path).write_text(json.dumps(result, indent=1) + "\n")
