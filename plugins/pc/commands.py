"""`rcodec train pc` and `rcodec bench pc`: click commands; the work happens in training.py and bench.py."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import click

from .weights import WEIGHTS_DIR, WEIGHTS_NAME, record_weights


def _command_line() -> str:
    return "rcodec " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _manifest_entry(path: Path) -> dict | None:
    from .weights import MANIFEST, sha256_file

    entry = json.loads(MANIFEST.read_text()).get(path.name) if MANIFEST.exists() else None
    if entry is None or entry["sha256"] != sha256_file(path):
        return None
    return entry


def register_train(group) -> None:
    @group.command(name="pc")
    @click.option("--data", type=click.Path(exists=True, file_okay=False), default=None,
                  help="Folder with train-images-idx3-ubyte.gz (default: ../shared/data/mnist beside the checkout).")
    @click.option("--hidden", type=int, default=32, show_default=True, help="Latent states per tree node (k).")
    @click.option("--epochs", type=int, default=10, show_default=True)
    @click.option("--batch", type=int, default=500, show_default=True)
    @click.option("--step-start", type=float, default=0.2, show_default=True, help="EM step size, first batch.")
    @click.option("--step-end", type=float, default=0.02, show_default=True, help="EM step size, last batch.")
    @click.option("--pseudocount", type=float, default=0.01, show_default=True)
    @click.option("--mi-bins", type=int, default=2, show_default=True,
                  help="Pixel values are binned into this many ranges to learn the Chow-Liu tree.")
    @click.option("--threads", type=int, default=1, show_default=True)
    @click.option("--seed", type=int, default=0, show_default=True)
    @click.option("--init", type=click.Path(exists=True, dir_okay=False), default=None,
                  help="Continue EM from these pc-mnist weights (their tree and k; --hidden and --mi-bins unused).")
    @click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
                  help=f"Weights file to write (default: the shipped {WEIGHTS_NAME}, recorded in WEIGHTS.json).")
    def train_pc(data, hidden, epochs, batch, step_start, step_end, pseudocount, mi_bins, threads, seed, init,
                 out) -> None:
        """Learn an HCLT on the MNIST training images (the last 5,000 held out) and write the pc-mnist weights."""
        import torch

        from .mnist import default_folder
        from .training import TrainConfig, train

        cfg = TrainConfig(data=str(data or default_folder()), hidden=hidden, epochs=epochs, batch=batch,
                          step_start=step_start, step_end=step_end, pseudocount=pseudocount, mi_bins=mi_bins,
                          threads=threads, seed=seed, init=init)
        # A continued run keeps the manifest entry of the weights it started from, so the chain stays reproducible.
        previous = _manifest_entry(Path(init)) if init else None
        state, curve = train(cfg, log=lambda line: click.echo(line, err=True))
        path = out or WEIGHTS_DIR / WEIGHTS_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(path)
        if out is None:
            entry = record_weights(path, _command_line(), curve, previous)
            click.echo(f"wrote {path} sha256 {entry['sha256']}")
        else:
            click.echo(f"wrote {path}")


def register_bench(group) -> None:
    @group.command(name="pc")
    @click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write results here.")
    @click.option("--limit", type=int, default=None, help="Use only the first N test images.")
    @click.option("--data", type=click.Path(exists=True, file_okay=False), default=None,
                  help="Folder with t10k-images-idx3-ubyte.gz (default: ../shared/data/mnist).")
    @click.option("--coder", default="rans", show_default=True, help="Entropy coder.")
    @click.option("--batch", type=int, default=1000, show_default=True,
                  help="Digits per file in the batched run (a vertical strip of digits, coded side by side).")
    @click.option("--singles", type=int, default=200, show_default=True,
                  help="Also code this many digits one file each (header and coder flush paid per digit).")
    @click.option("--scaling", is_flag=True, help="Instead: time the cached vs naive conditionals, D=196/784/3072.")
    def bench_pc(json_path, limit, data, coder, batch, singles, scaling) -> None:
        """pc-mnist on the MNIST test images (bpd, images/s) against PNG and WebP lossless."""
        from . import bench

        if scaling:
            result = bench.scaling(log=lambda line: click.echo(line, err=True))
        else:
            from .mnist import default_folder

            result = bench.run(Path(data or default_folder()), limit, lambda line: click.echo(line, err=True), coder,
                               batch, singles)
        result["command"] = _command_line()
        click.echo(json.dumps(result, indent=2))
        if json_path:
            json_path.write_text(json.dumps(result, indent=2) + "\n")
