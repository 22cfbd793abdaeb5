"""`rcodec bench lossless`: the lossless codec against PNG, WebP lossless and JPEG XL lossless (images) and FLAC
(audio), and JPEG files through their default codec (exact recompression, see the jpeg plugin) against the files
themselves; sizes and speeds. WebP and JPEG XL come from `imagecodecs` (the `bench` extra); without it those
columns are left out."""

from __future__ import annotations

import io
import json
import platform
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    import numpy as np

IMAGE_SUFFIXES = {".png", ".bmp", ".tif", ".tiff", ".ppm"}
AUDIO_SUFFIXES = {".wav", ".flac", ".aiff"}
JPEG_SUFFIXES = {".jpg", ".jpeg"}


def _png_bytes(path: Path, array: np.ndarray) -> dict[str, int]:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", optimize=True)
    return {"png_file": path.stat().st_size, "png_optimized": len(buf.getvalue())}


def _imagecodecs():
    try:
        import imagecodecs
    except ImportError:
        return None
    return imagecodecs


def _other_image_codecs(array: np.ndarray) -> dict[str, int]:
    """WebP lossless at its slowest setting and JPEG XL lossless at effort 7 (libjxl's default), when available."""
    codecs = _imagecodecs()
    out = {}
    if codecs is None:
        return out
    if codecs.WEBP.available:
        out["webp_lossless"] = len(codecs.webp_encode(array, lossless=True, level=100))
    if codecs.JPEGXL.available:
        out["jxl_lossless"] = len(codecs.jpegxl_encode(array, lossless=True, effort=7))
    return out


def _flac_bytes(samples: np.ndarray, rate: int, subtype: str) -> dict[str, int]:
    import soundfile

    out = {}
    for label, level in (("flac_default", None), ("flac_best", 1.0)):
        buf = io.BytesIO()
        kwargs = {} if level is None else {"compression_level": level}
        soundfile.write(buf, samples, rate, format="FLAC", subtype=subtype, **kwargs)
        out[label] = len(buf.getvalue())
    return out


def run(paths: list[Path], coder: str | None = None, progress=None) -> dict:
    import soundfile

    import rcodec
    from rcodec.media import load_path

    rows = []
    for path in paths:
        if path.suffix.lower() in JPEG_SUFFIXES:
            from rcodec.plugins.jpeg.bench import measure

            rows.append(measure(path.name, path.read_bytes(), coder))
            if progress:
                progress(rows[-1])
            continue
        media = load_path(path)
        t0 = time.perf_counter()
        data = rcodec.encode(media, codec="lossless", coder=coder)
        t1 = time.perf_counter()
        decoded = rcodec.decode(data)
        t2 = time.perf_counter()
        row = {"file": path.name, "rcz": len(data), "encode_s": t1 - t0, "decode_s": t2 - t1}
        if media.kind == "image":
            import numpy as np  # here, not at module level: `rcodec --help` registers this command

            assert np.array_equal(decoded, media.data), path
            row |= {"kind": "image", "pixels": int(media.data.shape[0] * media.data.shape[1])}
            row |= _png_bytes(path, media.data)
            row |= _other_image_codecs(media.data)
        else:
            assert decoded == media.data, path
            subtype = soundfile.info(path).subtype
            row |= {"kind": "audio", "samples": int(media.data.samples.size)}
            row |= _flac_bytes(media.data.samples, media.data.sample_rate, subtype if "PCM" in subtype else "PCM_16")
        rows.append(row)
        if progress:
            progress(row)
    summary = {}
    jpegs = [r for r in rows if r["kind"] == "jpeg"]
    if jpegs:
        from rcodec.plugins.jpeg.bench import summarize

        summary["jpeg"] = summarize(jpegs)
    image_baselines = ("png_file", "png_optimized", "webp_lossless", "jxl_lossless")
    for kind, baselines in (("image", image_baselines), ("audio", ("flac_default", "flac_best"))):
        chosen = [r for r in rows if r["kind"] == kind]
        if not chosen:
            continue
        total = sum(r["rcz"] for r in chosen)
        summary[kind] = {"files": len(chosen), "rcz_bytes": total}
        pixels = sum(r["pixels"] for r in chosen) if kind == "image" else 0
        for b in baselines:
            if not all(b in r for r in chosen):
                continue  # that codec is not installed
            summary[kind][f"{b}_bytes"] = sum(r[b] for r in chosen)
            summary[kind][f"saving_vs_{b}_pct"] = 100 * (1 - total / summary[kind][f"{b}_bytes"])
            if kind == "image":
                summary[kind][f"{b}_bpp"] = 8 * summary[kind][f"{b}_bytes"] / pixels
        if kind == "image":
            summary[kind]["rcz_bpp"] = 8 * total / pixels
    return {"files": rows, "summary": summary, "command": " ".join(["rcodec", *sys.argv[1:]]),
            "machine": {"platform": platform.platform(), "python": platform.python_version()}}


def register(bench_group) -> None:
    @bench_group.command(name="lossless")
    @click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
    @click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write results here.")
    @click.option("--coder", default=None, help="Entropy coder backend.")
    def bench_lossless(paths, json_path, coder) -> None:
        """Lossless codec vs PNG, WebP, JPEG XL and FLAC on files or folders (PNG/WAV/FLAC inside); JPEG files
        (exact recompression) vs themselves and JPEG XL's reversible transcoding where imagecodecs has it."""
        files = []
        for p in paths:
            if p.is_dir():
                files += sorted(f for f in p.iterdir()
                                if f.suffix.lower() in IMAGE_SUFFIXES | AUDIO_SUFFIXES | JPEG_SUFFIXES)
            else:
                files.append(p)

        def show(row):
            base = row.get("png_file") or row.get("flac_default") or row.get("jpeg_file")
            others = "".join(f"  {k.split('_')[0]} {row[k]:>9}" for k in ("webp_lossless", "jxl_lossless") if k in row)
            click.echo(f"{row['file']:<36} rcz {row['rcz']:>9}  baseline {base:>9}{others}  "
                       f"enc {row['encode_s']:.2f}s dec {row['decode_s']:.2f}s", err=True)

        result = run(files, coder, show)
        for kind, s in result["summary"].items():
            click.echo(f"{kind}: " + ", ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
                                               for k, v in s.items()))
        if json_path:
            json_path.write_text(json.dumps(result, indent=2) + "\n")
