"""Click commands for the core benchmarks (`rcodec bench image`)."""

from __future__ import annotations

import json
from pathlib import Path

import click


def register(bench_group) -> None:
    register_audio(bench_group)
    register_speed(bench_group)
    register_dataset(bench_group)
    register_video(bench_group)

    @bench_group.command(name="image")
    @click.option("--codec", "codecs", multiple=True, required=True, help="Codec id; repeatable.")
    @click.option("--dataset", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
                  help="Folder of PNG images, e.g. ../shared/data/kodak.")
    @click.option("--baseline", "baselines", multiple=True,
                  type=click.Choice(["jpeg", "webp", "avif", "jpeg2000", "avif-down", "jpegxl"]),
                  help="Baselines to run (default: Pillow's jpeg, webp, avif, jpeg2000). avif-down: AVIF of the "
                       "image downscaled 1-4x and scaled back up, the hull of its settings; jpegxl: libjxl effort 7 "
                       "(the bench extra).")
    @click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write results here.")
    @click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path), help="Write an RD plot PNG.")
    @click.option("--anchors", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
                  help="Folder of published RD curves (JSON) to draw on the plot.")
    @click.option("--limit", type=int, default=None, help="Only the first N images (quick checks).")
    @click.option("--quality", "qualities", multiple=True, type=int,
                  help="Only these rate points of the codecs; repeatable (default: every one). For slow encoders.")
    @click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE", help="Codec parameter.")
    def bench_image(codecs, dataset, baselines, json_path, plot_path, anchors, limit, qualities, params) -> None:
        """Rate-distortion and speed of image codecs vs JPEG, WebP, AVIF, JPEG 2000, with BD-rates."""
        from tqdm import tqdm

        from . import image

        extra = dict(p.split("=", 1) for p in params)
        with tqdm(total=0, unit="img", file=click.get_text_stream("stderr"), dynamic_ncols=True) as bar:
            def progress(done: int, total: int, label: str) -> None:
                bar.total = total
                bar.set_description(label[:40])
                bar.update(done - bar.n)

            result = image.run(list(codecs), dataset, list(baselines) or list(image.DEFAULT_BASELINES), extra, limit,
                               progress, list(qualities) or None)
        for group in ("codecs", "baselines"):
            for name, points in result[group].items():
                for p in points:
                    click.echo(f"{name:<12} q={str(p['quality']):<4} bpp {p['bpp']:.4f}  PSNR {p['psnr']:.2f} dB  "
                               f"MS-SSIM {p['ms_ssim']:.4f}  enc {p['encode_s']:.3f}s  dec {p['decode_s']:.3f}s")
        for codec, rates in result["bd_rate"].items():
            text = ", ".join(f"{b} {v:+.1f}%" if v is not None else f"{b} n/a" for b, v in rates.items())
            click.echo(f"BD-rate {codec}: {text}")
        for codec, rates in result["bd_rate_ms_ssim"].items():
            text = ", ".join(f"{b} {v:+.1f}%" if v is not None else f"{b} n/a" for b, v in rates.items())
            click.echo(f"BD-rate on MS-SSIM {codec}: {text}")
        click.echo(f"command: {result['command']}")
        if json_path:
            json_path.write_text(json.dumps(result, indent=2) + "\n")
        if plot_path:
            image.plot(result, plot_path, image.load_anchors(anchors) if anchors else None)


def register_audio(bench_group) -> None:
    @bench_group.command(name="audio")
    @click.option("--codec", "codecs", multiple=True, required=True, help="Codec id; repeatable.")
    @click.option("--dataset", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
                  help="Folder of WAV/FLAC/OGG clips, e.g. ../shared/data/audio/wav.")
    @click.option("--baseline", "baselines", multiple=True, type=click.Choice(["mp3", "opus", "flac"]),
                  help="soundfile baselines to run (default: all three).")
    @click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write results here.")
    @click.option("--limit", type=int, default=None, help="Only the first N clips.")
    @click.option("--baseline-kbps", "baseline_kbps", multiple=True, type=float,
                  help="Also run the lossy baselines at constant bitrate nearest this rate; repeatable.")
    @click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE", help="Codec parameter.")
    def bench_audio(codecs, dataset, baselines, json_path, limit, baseline_kbps, params) -> None:
        """Rate (kbit/s) and SNR per clip of audio codecs vs MP3, Opus and FLAC."""
        from . import audio

        extra = dict(p.split("=", 1) for p in params)
        result = audio.run(list(codecs), dataset, list(baselines) or list(audio.BASELINES), extra, limit,
                           baseline_kbps=tuple(baseline_kbps))
        for r in result["rows"]:
            level = f" level={r['level']}" if "level" in r else ""
            click.echo(f"{r['clip']:<36} {r['codec']:<8}{level:<11} {r['kbps']:8.2f} kbit/s  SNR {r['snr']:6.2f} dB")
        click.echo(f"command: {result['command']}")
        if json_path:
            json_path.write_text(json.dumps(result, indent=2) + "\n")


def register_speed(bench_group) -> None:
    @bench_group.command(name="speed")
    @click.option("--codec", "codecs", multiple=True, required=True,
                  help="Codec id; repeatable. The first is the reference of decode_ratio.")
    @click.option("--dataset", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
                  help="Folder of PNG images, e.g. ../shared/data/kodak.")
    @click.option("--quality", "qualities", multiple=True, type=int,
                  help="Rate point; repeatable (default: all of the first codec's).")
    @click.option("--limit", type=int, default=5, show_default=True, help="Only the first N images (0: all).")
    @click.option("--rounds", type=click.IntRange(1), default=3, show_default=True,
                  help="Timed decodes of every file per codec.")
    @click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write results here.")
    def bench_speed(codecs, dataset, qualities, limit, rounds, json_path) -> None:
        """Median encode and decode times of codecs timed alternately on the same files."""
        from tqdm import tqdm

        from . import speed

        with tqdm(total=0, unit="file", file=click.get_text_stream("stderr"), dynamic_ncols=True) as bar:
            def progress(done: int, total: int, label: str) -> None:
                bar.total = total
                bar.set_description(label[:40])
                bar.update(done - bar.n)

            result = speed.run(list(codecs), dataset, list(qualities) or None, limit or None, rounds, progress)
        for codec, row in result["codecs"].items():
            per_q = "  ".join(f"q{r['quality']} {r['decode_s']:.3f}s" for r in row["qualities"])
            click.echo(f"{codec:<16} decode median {row['decode_s']:.3f}s  x{row['decode_ratio']:.3f} of "
                       f"{result['reference']}  ({per_q})")
        click.echo(f"command: {result['command']}")
        if json_path:
            json_path.write_text(json.dumps(result, indent=2) + "\n")


def register_dataset(bench_group) -> None:
    @bench_group.command(name="dataset")
    @click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--codec", default="pc-mnist", show_default=True, help="A codec that writes dataset files.")
    @click.option("--limit", type=int, default=1000, show_default=True, help="Items of SOURCE to code.")
    @click.option("--block", "blocks", multiple=True, type=int, help="Items per block; repeatable (default 1, 4, 16).")
    @click.option("--singles", type=int, default=200, show_default=True,
                  help="Also code this many items as one file each.")
    @click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write results here.")
    def bench_dataset(source, codec, limit, blocks, singles, json_path) -> None:
        """A dataset file (.npy or MNIST idx SOURCE) against one file per item: bits per value, fixed bytes, and
        the time to decode one item alone."""
        from . import dataset

        result = dataset.run(source, codec, limit, list(blocks) or [1, 4, 16], singles,
                             progress=lambda line: click.echo(line, err=True))
        for b in result["blocks"]:
            click.echo(f"dataset file, {b['block']:>3} items/block: {b['bytes']:>9,} bytes  {b['bpd']:.4f} bits/value  "
                       f"index {b['index_bytes']:,} bytes  item decode {b['item_decode_ms_median']:.1f} ms (median)  "
                       f"encode {b['encode_s']:.1f} s")
        if "single_files" in result:
            s = result["single_files"]
            m = s["mean"]
            click.echo(f"one file per item ({s['files']} files): {m['file']:.1f} bytes  {s['bpd']:.4f} bits/value; "
                       f"header {m['header']:.0f} + framing {m['framing']:.0f} + footer {m['footer']:.0f} bytes, "
                       f"stream {m['streams']:.1f} bytes of which {m['coder_fixed']:.1f} coder head")
        click.echo(f"command: {result['command']}")
        if json_path:
            json_path.write_text(json.dumps(result, indent=2) + "\n")


def register_video(bench_group) -> None:
    @bench_group.command(name="video")
    @click.option("--codec", "codecs", multiple=True, required=True, help="Codec id; repeatable.")
    @click.option("--dataset", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
                  help="Folder of video clips, e.g. ../shared/data/video.")
    @click.option("--quality", "qualities", multiple=True, type=int,
                  help="Only these rate points of the codecs; repeatable (default: every one).")
    @click.option("--frames", type=click.IntRange(1), default=None, help="Only the first N frames of each clip.")
    @click.option("--baseline", "baselines", multiple=True, type=click.Choice(["x264", "x265"]),
                  help="CRF ladders to run, preset medium (default: both).")
    @click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write results here.")
    @click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path), help="Write an RD plot PNG.")
    @click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE", help="Codec parameter.")
    def bench_video(codecs, dataset, qualities, frames, baselines, json_path, plot_path, params) -> None:
        """Rate (kbit/s), RGB PSNR, encode and decode fps of video codecs vs x264 and x265, with BD-rates."""
        from . import video

        def progress(clip: str, codec: str, p: dict) -> None:
            click.echo(f"{clip:<16} {codec:<10} q={str(p['quality']):<4} {p['kbps']:9.1f} kbit/s  PSNR "
                       f"{p['psnr']:.2f} dB  enc {p['encode_fps']:.2f} fps  dec {p['decode_fps']:.1f} fps", err=True)

        extra = dict(p.split("=", 1) for p in params)
        result = video.run(list(codecs), dataset, list(qualities) or None, extra, frames,
                           list(baselines) or list(video.BASELINES), progress)
        for row in result["clips"]:
            for codec, rates in row["bd_rate"].items():
                text = ", ".join(f"{b} {v:+.1f}%" if v is not None else f"{b} n/a" for b, v in rates.items())
                click.echo(f"{row['clip']}: BD-rate {codec}: {text}")
        click.echo(f"command: {result['command']}")
        if json_path:
            json_path.write_text(json.dumps(result, indent=2) + "\n")
        if plot_path:
            video.plot(result, plot_path)
