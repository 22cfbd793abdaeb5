"""`rcodec iscs analyze`: the parameter-derived channel order of a trained codec, checked against ablation."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click


def _load_crops(folder: Path, count: int, size: int):
    import numpy as np
    from PIL import Image

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg"})[:count]
    if not files:
        raise click.UsageError(f"no images in {folder}")
    crops = []
    for path in files:
        image = np.asarray(Image.open(path).convert("RGB"))
        h, w = image.shape[:2]
        top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
        crops.append(np.ascontiguousarray(image[top : top + size, left : left + size]))
    return crops


def register(cli) -> None:
    @cli.group(name="iscs")
    def iscs() -> None:
        """ISCS: parameter-guided channel ordering and grouping of learned codecs."""

    @iscs.command(name="analyze")
    @click.option("--codec", "codec_id", default="hyperprior", show_default=True, help="hyperprior or factorized.")
    @click.option("--quality", type=int, default=None, help="Rate point to analyse (default: all).")
    @click.option("--weights", type=click.Path(exists=True, dir_okay=False), default=None,
                  help="A CompressAI checkpoint instead of the shipped weights.")
    @click.option("--ablation", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
                  help="Measure real importance on these images (never the evaluation set) and report Spearman.")
    @click.option("--images", type=int, default=8, show_default=True, help="How many ablation images.")
    @click.option("--crop", type=int, default=256, show_default=True, help="Centre crop size for ablation.")
    @click.option("--core-share", type=float, default=0.5, show_default=True,
                  help="Share of the total score energy the Core group holds (the codec's grouping uses 0.5).")
    @click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write JSON here.")
    def analyze(codec_id, quality, weights, ablation, images, crop, core_share, json_path) -> None:
        """Order latent channels by importance from parameters alone; with --ablation, validate it."""
        import torch

        import rcodec

        from .analysis import ablation_importance, analyse, spearman

        with torch.no_grad():  # scoped: an in-process caller keeps its autograd state
            model = rcodec.get_registry().codec(codec_id).model(weights)
            qualities = [quality] if quality is not None else list(range(1, model.qualities + 1))
            crops = _load_crops(ablation, images, crop) if ablation else None
            results = {}
            for q in qualities:
                result = analyse(model, q - 1, core_share)
                if crops is not None:
                    truth = ablation_importance(model, q - 1, crops)
                    result.ablation = [float(v) for v in truth]
                    result.spearman_vs_ablation = spearman(result.scores, truth)
                results[q] = result
                rho = "n/a" if result.spearman_vs_ablation is None else f"{result.spearman_vs_ablation:.3f}"
                click.echo(f"quality {q}: core {len(result.core)} / {len(result.order)} channels, "
                           f"{len(result.groups)} groups, Spearman vs ablation {rho}")
                click.echo(f"  order: {' '.join(map(str, result.order))}")
        if json_path:
            payload = {str(q): asdict(r) for q, r in results.items()}
            if len(results) == 1:
                payload = next(iter(payload.values()))
            json_path.write_text(json.dumps(payload, indent=2) + "\n")


def register_train(train_group) -> None:
    @train_group.command(name="iscs")
    @click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path),
                  default="../shared/data/train_images", show_default=True,
                  help="Training photos (never the evaluation set).")
    @click.option("--images", type=int, default=47, show_default=True, help="How many photos.")
    @click.option("--crop", type=int, default=384, show_default=True, help="Centre crop (a multiple of 64).")
    @click.option("--core-share", type=float, default=0.5, show_default=True,
                  help="Share of the ISCS score energy the Core group holds.")
    @click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
                  help="Predictors file (default: the shipped one, recorded in WEIGHTS.json).")
    def train_iscs(data, images, crop, core_share, out) -> None:
        """Fit the hyperprior-iscs channel-conditional predictors for the shipped hyperprior (closed form)."""
        import sys

        import rcodec
        from rcodec.torch_runtime import codec_inference
        from rcodec.weights import retire, sha256_file

        from . import fitting
        from .codec import MANIFEST, PREDICTORS

        if crop % 64:
            raise click.UsageError("--crop must be a multiple of 64")
        model = rcodec.get_registry().codec("hyperprior").model(None)
        crops = _load_crops(data, images, crop)
        crops = [c for c in crops if c.shape[0] == crop and c.shape[1] == crop]
        predictors, stats = [], []
        with codec_inference():
            for q in range(model.qualities):
                predictor, row = fitting.fit_quality(model, q, crops, core_share,
                                                     lambda line: click.echo(line, err=True))
                predictors.append(predictor)
                stats.append(row)
        command = "rcodec train iscs " + " ".join(sys.argv[3:])
        path = out or PREDICTORS
        path.parent.mkdir(parents=True, exist_ok=True)
        if out is None:
            retire(MANIFEST.parent, PREDICTORS.name)  # files coded with the previous predictors must still decode
        fitting.export(predictors, model.sha256, path, {"core_share": core_share, "command": command})
        if out is None:
            manifest = json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {}
            manifest = {path.name: {
                "sha256": sha256_file(path), "bytes": path.stat().st_size, "command": command.strip(),
                "hyperprior_sha256": model.sha256.hex(), "images": len(crops), "fit": stats},
                **{k: v for k, v in manifest.items() if k != path.name}}
            MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")
        click.echo(f"wrote {path}")

