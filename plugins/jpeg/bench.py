"""`rcodec bench jpeg`: exact JPEG recompression against the JPEG files (and JPEG XL's reversible transcoding
when imagecodecs with JPEG XL is installed), sizes and speeds.

JPEG files are measured as they are; a PNG (or a folder of them) is first turned into JPEGs by Pillow at quality
75 and 90, baseline and progressive, 4:2:0 and 4:4:4.
"""

from __future__ import annotations

import io
import json
import platform
import sys
import time
from pathlib import Path

import click

JPEG_SUFFIXES = {".jpg", ".jpeg"}
PNG_SUFFIXES = {".png", ".ppm", ".bmp", ".tif", ".tiff"}
VARIANTS = [(q, progressive, subsampling) for q in (75, 90) for progressive in (False, True)
            for subsampling in ("4:2:0", "4:4:4")]


def pillow_variants(path: Path) -> list[tuple[str, bytes]]:
    """The image at `path` as Pillow JPEGs: every quality / progression / subsampling of VARIANTS."""
    from PIL import Image

    with Image.open(path) as img:
        rgb = img.convert("RGB")
    out = []
    for quality, progressive, subsampling in VARIANTS:
        buf = io.BytesIO()
        rgb.save(buf, format="JPEG", quality=quality, progressive=progressive, subsampling=subsampling)
        mode = "prog" if progressive else "base"
        out.append((f"{path.stem}.q{quality}.{mode}.{subsampling.replace(':', '')}.jpg", buf.getvalue()))
    return out


def _jxl_transcoder():
    """imagecodecs' reversible JPEG -> JPEG XL transcoding, or None where it is not installed."""
    try:
        import imagecodecs
    except ImportError:
        return None
    encode = getattr(imagecodecs, "jpegxl_encode_jpeg", None)
    if encode is None or not getattr(imagecodecs, "JPEGXL", None) or not imagecodecs.JPEGXL.available:
        return None
    return encode


def measure(name: str, data: bytes, coder: str | None = None) -> dict:
    """One JPEG file through the default path: sizes, times, and proof that the same bytes come back."""
    import rcodec

    t0 = time.perf_counter()
    rcz = rcodec.encode(data, coder=coder)
    t1 = time.perf_counter()
    back = rcodec.decode(rcz)
    t2 = time.perf_counter()
    if back != data:
        raise RuntimeError(f"{name}: the decoded file differs from the original")
    facts = rcodec.info(rcz)
    row = {"file": name, "kind": "jpeg", "jpeg_file": len(data), "rcz": len(rcz), "codec": facts["codec"],
           "modelled": bool(facts["params"].get("modelled")), "encode_s": t1 - t0, "decode_s": t2 - t1}
    transcode = _jxl_transcoder()
    if transcode is not None:
        row["jxl_transcoded"] = len(transcode(data))
    return row


def summarize(rows: list[dict]) -> dict:
    jpeg = sum(r["jpeg_file"] for r in rows)
    rcz = sum(r["rcz"] for r in rows)
    out = {"files": len(rows), "jpeg_bytes": jpeg, "rcz_bytes": rcz,
           "saving_vs_jpeg_pct": 100 * (1 - rcz / jpeg) if jpeg else 0.0,
           "stored_unmodelled": sum(not r["modelled"] for r in rows),
           "max_encode_s": max((r["encode_s"] for r in rows), default=0.0),
           "max_decode_s": max((r["decode_s"] for r in rows), default=0.0)}
    if rows and all("jxl_transcoded" in r for r in rows):
        jxl = sum(r["jxl_transcoded"] for r in rows)
        out |= {"jxl_bytes": jxl, "jxl_saving_vs_jpeg_pct": 100 * (1 - jxl / jpeg)}
    else:
        out["jxl"] = "skipped (imagecodecs with JPEG XL is not installed)"
    return out


def collect(paths: list[Path]) -> list[tuple[str, bytes]]:
    items = []
    for p in paths:
        files = sorted(p.iterdir()) if p.is_dir() else [p]
        for f in files:
            if f.suffix.lower() in JPEG_SUFFIXES:
                items.append((f.name, f.read_bytes()))
            elif f.suffix.lower() in PNG_SUFFIXES:
                items += pillow_variants(f)
    return items


def run(items: list[tuple[str, bytes]], coder: str | None = None, progress=None) -> dict:
    rows = []
    for name, data in items:
        rows.append(measure(name, data, coder))
        if progress:
            progress(rows[-1])
    groups = {"all": rows}
    for quality, progressive, subsampling in VARIANTS:
        tag = f".q{quality}.{'prog' if progressive else 'base'}.{subsampling.replace(':', '')}.jpg"
        chosen = [r for r in rows if r["file"].endswith(tag)]
        if chosen:
            groups[tag.strip(".").removesuffix(".jpg")] = chosen
    return {"files": rows, "summary": {k: summarize(v) for k, v in groups.items()},
            "command": " ".join(["rcodec", *sys.argv[1:]]),
            "machine": {"platform": platform.platform(), "python": platform.python_version()}}


def register(bench_group) -> None:
    @bench_group.command(name="jpeg")
    @click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
    @click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write results here.")
    @click.option("--coder", default=None, help="Entropy coder backend.")
    def bench_jpeg(paths, json_path, coder) -> None:
        """Exact JPEG recompression: JPEG files as they are, PNGs as 8 Pillow JPEGs each (q75/q90, baseline and
        progressive, 4:2:0 and 4:4:4)."""

        def show(row):
            click.echo(f"{row['file']:<36} jpeg {row['jpeg_file']:>9}  rcz {row['rcz']:>9}  "
                       f"{100 * (1 - row['rcz'] / row['jpeg_file']):5.1f}%  "
                       f"enc {row['encode_s']:.2f}s dec {row['decode_s']:.2f}s", err=True)

        result = run(collect(list(paths)), coder, show)
        for group, s in result["summary"].items():
            click.echo(f"{group}: " + ", ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
                                                for k, v in s.items()))
        if json_path:
            json_path.write_text(json.dumps(result, indent=2) + "\n")
