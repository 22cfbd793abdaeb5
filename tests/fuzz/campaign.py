"""A mutation fuzzer over the .rcz container and every decoder.

    python tests/fuzz/campaign.py --attempts 100000 --seed 1 --out fuzz-summary.json --crashers tests/fuzz/crashers

Seeds are the golden files (every codec, current and retired) plus a few small files made at start (palette,
1-bit, LA, animation, stereo audio, every entropy coder). Each attempt applies byte-level mutations (bit flips,
byte sets, inserts, deletes, truncation, splices) or structural ones (a header field, parameter, layout entry or
stream changed through the parser), recomputes the CRCs for three quarters of them so that they reach the
decoders, and decodes in a forked child with CPU, wall-clock and memory limits (`sandbox.py`).

An attempt fails when the child crashes (an exception that is not an rcodec error, or a signal), hangs past the
wall limit, exceeds the CPU or memory limit, or decodes a file of format 1.1 to anything other than what its seed
decodes to (a tampered file accepted). Files of format 1.0 may still decode edited headers (their hashes do not
cover the header): those are counted, not failed. Failing inputs are written to the crashers folder.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import struct
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from fuzz.forge import fix_crcs  # noqa: E402
from fuzz.sandbox import Outcome, decode_and_check, run_limited, single_threaded_torch  # noqa: E402

INTERESTING_INTS = [0, 1, 2, 3, 7, 8, 15, 16, 24, 255, 256, 1023, 4096, 65535, 65536, 1 << 24, 1 << 28, 1 << 31,
                    (1 << 32) - 1]
INTERESTING_BYTES = [0x00, 0x01, 0x7F, 0x80, 0xFF]


@dataclass
class Seed:
    name: str
    data: bytes
    codec: str
    bound: bool
    expected: dict


@dataclass
class Summary:
    attempts: int = 0
    statuses: Counter = field(default_factory=Counter)
    by_codec: dict = field(default_factory=dict)
    old_format_edits_accepted: int = 0
    tampered_accepted: int = 0
    max_seconds: float = 0.0
    max_peak_mib: float = 0.0
    max_added_mib: float = 0.0
    max_cpu_seconds: float = 0.0
    failures: list = field(default_factory=list)

    def failed(self) -> int:
        return sum(n for s, n in self.statuses.items() if s not in ("decoded", "refused")) + self.tampered_accepted

    def as_dict(self) -> dict:
        return {"attempts": self.attempts, "statuses": dict(self.statuses), "by_codec": self.by_codec,
                "tampered_accepted": self.tampered_accepted,
                "old_format_edits_accepted": self.old_format_edits_accepted, "failures": len(self.failures),
                "max_seconds": round(self.max_seconds, 3), "max_peak_mib": round(self.max_peak_mib, 1),
                "max_added_mib": round(self.max_added_mib, 1), "max_cpu_seconds": round(self.max_cpu_seconds, 3),
                "failure_examples": self.failures[:20]}


# --- seeds -------------------------------------------------------------------------------------------------------

def made_seeds() -> list[tuple[str, bytes]]:
    """Small files of every layout and coder, made now (cheap: lossless only)."""
    import io

    import numpy as np
    from PIL import Image

    import rcodec
    from rcodec.media import load_bytes
    from rcodec.pipeline import encode_media

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (9, 12, 3), dtype=np.uint8)
    out = []

    def image_file(img, fmt: str, **options) -> bytes:
        buf = io.BytesIO()
        img.save(buf, format=fmt, **options)
        return buf.getvalue()

    frames = [Image.fromarray(rng.integers(0, 256, (6, 7, 4), dtype=np.uint8)) for _ in range(2)]
    files = {
        "palette.png": image_file(Image.fromarray(pixels).quantize(8), "PNG", transparency=1),
        "one.png": image_file(Image.fromarray(pixels).convert("1"), "PNG"),
        "la.png": image_file(Image.fromarray(pixels).convert("LA"), "PNG"),
        "cmyk.jpg": image_file(Image.fromarray(pixels).convert("CMYK"), "JPEG"),
        "anim.png": image_file(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=[50, 70]),
    }
    for name, data in files.items():
        out.append((f"made/{name}.rcz", encode_media(load_bytes(data, name))))
    audio = rcodec.Audio((rng.integers(-300, 300, (700, 2)) / 32768).astype(np.float32), 8000)
    for coder in sorted(rcodec.get_registry().coders()):
        out.append((f"made/stereo.{coder}.rcz", rcodec.encode(audio, coder=coder)))
        out.append((f"made/gray.{coder}.rcz", rcodec.encode(pixels[..., 0], coder=coder)))
    return out


def load_seeds(golden: Path, codecs: set[str] | None, per_codec: int | None = None) -> list[Seed]:
    """Seeds decoded here, in the parent: the weights they need are then loaded once and shared by every forked
    attempt. `per_codec` keeps that many seeds of each codec (current format first)."""
    from rcodec import container

    named = [(str(p.relative_to(golden)), p.read_bytes()) for p in sorted(golden.rglob("*.rcz"))]
    named = sorted(named + made_seeds(), key=lambda item: (item[1][9] == 0, item[0]))  # format 1.1 first
    seeds: list[Seed] = []
    kept: Counter = Counter()
    for name, data in named:
        header, flags, _ = container.read_header(data)
        if (codecs and header.codec not in codecs) or (per_codec is not None and kept[header.codec] >= per_codec):
            continue
        kept[header.codec] += 1
        seeds.append(Seed(name, data, header.codec, bool(flags & container.FLAG_BOUND), decode_and_check(data)))
    return seeds


# --- mutations ---------------------------------------------------------------------------------------------------

def mutate_bytes(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    b = bytearray(data)
    kind = rng.choice(["flip", "set", "insert", "delete", "truncate", "splice", "interesting"])
    pos = rng.randrange(len(b)) if b else 0
    if kind == "flip":
        for _ in range(rng.choice([1, 1, 2, 4, 8])):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    elif kind == "set":
        b[pos] = rng.randrange(256)
    elif kind == "insert":
        b[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.choice([1, 4, 16, 300])))
    elif kind == "delete":
        del b[pos : pos + rng.choice([1, 4, 16, 300])]
    elif kind == "truncate":
        b = b[:pos]
    elif kind == "splice":
        n = rng.choice([4, 16, 64])
        src = rng.randrange(max(1, len(b) - n))
        b[pos : pos + n] = b[src : src + n]
    else:
        width = rng.choice([1, 2, 4])
        value = rng.choice(INTERESTING_INTS) & ((1 << (8 * width)) - 1)
        b[pos : pos + width] = value.to_bytes(width, "little")
    return bytes(b), f"{kind}@{pos}"


def mutate_structure(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    """Change one thing through the parser and write the file back (header rewritten, CRCs recomputed)."""
    from rcodec import RcodecError, container

    try:
        c = container.read(data)
    except RcodecError:  # an earlier mutation broke the parse: mutate bytes instead
        return mutate_bytes(rng, data)
    h = c.header
    streams = list(c.streams)
    what = rng.choice(["shape", "shape", "dtype", "rate", "format", "param", "param", "layout", "version", "coder",
                       "stream", "stream", "weights", "media"])
    if what == "shape":
        dims = list(h.shape)
        op = rng.random()
        if op < 0.6 and dims:
            i = rng.randrange(len(dims))
            dims[i] = rng.choice(INTERESTING_INTS + [dims[i] + 1, max(dims[i] - 1, 0), dims[i] * 2])
        elif op < 0.8:
            dims.append(rng.choice(INTERESTING_INTS))
        else:
            dims = dims[:-1]
        h.shape = tuple(min(d, (1 << 32) - 1) for d in dims[: container.MAX_DIMS])
    elif what == "dtype":
        h.dtype = rng.choice(["uint8", "uint16", "float32", "int32", "float64", "", "x" * 40])
    elif what == "rate":
        h.sample_rate = rng.choice(INTERESTING_INTS + [22050, 44100, h.sample_rate + 1])
    elif what == "format":
        h.original_format = rng.choice(["PNG", "JPEG", "GIF", "WEBP", "TIFF", "WAV:PCM_16", "WAV:ULAW", "OGG:VORBIS",
                                        "FLAC:PCM_24", "", "NONSENSE"])
    elif what == "param":
        params = dict(h.params)
        key = rng.choice(sorted(params) or ["quality"])
        params[key] = rng.choice([True, False, 0, -1, 1 << 62, 2.5, float("nan"), "x", b"\0" * 8, 10 ** 6,
                                  params.get(key, 0)])
        if rng.random() < 0.2:
            params[f"unknown{rng.randrange(100)}"] = rng.randrange(10)
        if rng.random() < 0.2 and params:
            params.pop(rng.choice(sorted(params)))
        h.params = params
    elif what == "layout":
        layout = dict(h.layout)
        key = rng.choice(["mode", "palette", "palette_mode", "transparency", "frames", "durations", "loop"])
        layout[key] = rng.choice(["P", "1", "LA", "CMYK", "RGB;16", "I;16", "RGBA", "?", 0, 1, 3, 1 << 40, b"",
                                  b"\xff" * 7, b"\0" * 768, -1])
        h.layout = layout
    elif what == "version":
        h.codec_version = rng.choice([0, h.codec_version + 1, max(h.codec_version - 1, 0), 65535])
    elif what == "coder":
        h.coder = rng.choice(["rans", "ans", "range", "nope"])
    elif what == "stream" and streams:
        i = rng.randrange(len(streams))
        op = rng.choice(["truncate", "drop", "swap", "append", "empty", "duplicate"])
        if op == "truncate":
            streams[i] = streams[i][: rng.randrange(len(streams[i]) + 1)]
        elif op == "drop":
            streams.pop(i)
        elif op == "swap" and len(streams) > 1:
            j = rng.randrange(len(streams))
            streams[i], streams[j] = streams[j], streams[i]
        elif op == "append":
            streams[i] = streams[i] + bytes(rng.randrange(256) for _ in range(rng.choice([1, 4, 64])))
        elif op == "empty":
            streams[i] = b""
        else:
            streams.insert(i, streams[i])
        what = f"stream {op}"
    elif what == "weights":
        w = bytearray(h.weights_sha256)
        w[rng.randrange(32)] ^= 1
        h.weights_sha256 = bytes(w)
    elif what == "media":
        h.media = "audio" if h.media == "image" else "image"
    try:
        body = container._header_body(h)
    except (ValueError, TypeError, KeyError, OverflowError, struct.error):
        return data, f"{what} (not writable)"
    head = container.MAGIC + data[8:12] + struct.pack("<I", len(body)) + body + b"\0\0\0\0"
    payload = [struct.pack("<H", len(streams))]
    for s in streams:
        payload += [struct.pack("<I", len(s)), s]
    payload.append(struct.pack("<H", len(c.chunks)))
    for tag, chunk in c.chunks:
        payload += [tag, struct.pack("<I", len(chunk)), chunk]
    footer = data[len(data) - container.FOOTER_BYTES :]
    return head + b"".join(payload) + footer, what


def mutate(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    """One or a few mutations; CRCs recomputed for three quarters of the results."""
    description = []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        if rng.random() < 0.5:
            data, what = mutate_structure(rng, data)
        else:
            data, what = mutate_bytes(rng, data)
        description.append(what)
    if rng.random() < 0.75:
        data = fix_crcs(data)
        description.append("crc fixed")
    return data, ", ".join(description)


# --- the campaign ------------------------------------------------------------------------------------------------

def same_output(seed: Seed, outcome: Outcome) -> bool:
    got = outcome.detail or {}
    keys = ("sha256", "shape", "sample_rate", "original_format", "layout")
    return all(got.get(k) == seed.expected.get(k) for k in keys)


def campaign(attempts: int, seed: int = 0, golden: Path | None = None, codecs: set[str] | None = None,
             crashers: Path | None = None, cpu_s: float = 5.0, wall_s: float = 10.0, mem_mib: int = 2048,
             progress: bool = False, per_codec: int | None = None, out: Path | None = None) -> Summary:
    from golden_common import GOLDEN

    single_threaded_torch()
    seeds = load_seeds(golden or GOLDEN, codecs, per_codec)
    by_codec: dict[str, list[Seed]] = {}
    for s in seeds:
        by_codec.setdefault(s.codec, []).append(s)
    rng = random.Random(seed)
    summary = Summary()
    started = time.monotonic()
    for attempt in range(attempts):
        codec = rng.choice(sorted(by_codec))  # every codec equally often, whatever its number of seeds
        base = rng.choice(by_codec[codec])
        data, description = mutate(rng, base.data)
        if data == base.data:
            data, description = mutate_bytes(rng, data)
        outcome = run_limited(decode_and_check, data, cpu_s=cpu_s, wall_s=wall_s, mem_mib=mem_mib)
        summary.attempts += 1
        summary.statuses[outcome.status] += 1
        counts = summary.by_codec.setdefault(codec, Counter())
        counts[outcome.status] += 1
        summary.max_seconds = max(summary.max_seconds, outcome.seconds)
        summary.max_peak_mib = max(summary.max_peak_mib, outcome.peak_mib)
        summary.max_added_mib = max(summary.max_added_mib, outcome.added_mib)
        summary.max_cpu_seconds = max(summary.max_cpu_seconds, outcome.cpu_seconds)
        problem = None
        if not outcome.ok:
            problem = outcome.status
        elif outcome.status == "decoded" and not same_output(base, outcome):
            if base.bound:
                summary.tampered_accepted += 1
                problem = "tampered accepted"
            else:
                summary.old_format_edits_accepted += 1
        if problem:
            record = {"seed": base.name, "mutation": description, "problem": problem, "error": outcome.error,
                      "message": outcome.message[-400:], "seconds": round(outcome.seconds, 2),
                      "cpu_seconds": round(outcome.cpu_seconds, 2)}
            if crashers is not None:
                crashers.mkdir(parents=True, exist_ok=True)
                path = crashers / f"{hashlib.sha256(data).hexdigest()[:16]}.rcz"
                path.write_bytes(data)
                record["file"] = str(path)
            summary.failures.append(record)
        if progress and (attempt + 1) % 100 == 0:
            rate = (attempt + 1) / (time.monotonic() - started)
            print(f"{attempt + 1} attempts, {summary.failed()} failures, {rate:.1f}/s", file=sys.stderr)
        if out is not None and (attempt + 1) % 100 == 0:  # a long run interrupted still leaves its figures
            out.write_text(json.dumps(summary.as_dict(), indent=2, default=dict) + "\n")
    summary.by_codec = {k: dict(v) for k, v in summary.by_codec.items()}
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attempts", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--codec", action="append", help="only seeds of this codec (repeatable)")
    parser.add_argument("--out", type=Path, help="write the JSON summary here")
    parser.add_argument("--crashers", type=Path, help="write failing inputs here")
    parser.add_argument("--cpu", type=float, default=5.0, help="CPU seconds per attempt")
    parser.add_argument("--wall", type=float, default=10.0, help="wall-clock seconds per attempt (a hang past it)")
    parser.add_argument("--mem-mib", type=int, default=2048)
    parser.add_argument("--per-codec", type=int, help="seeds kept per codec (default: all)")
    args = parser.parse_args()
    summary = campaign(args.attempts, args.seed, codecs=set(args.codec) if args.codec else None,
                       crashers=args.crashers, cpu_s=args.cpu, wall_s=args.wall, mem_mib=args.mem_mib, progress=True,
                       per_codec=args.per_codec, out=args.out)
    text = json.dumps(summary.as_dict(), indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    sys.exit(1 if summary.failed() else 0)


if __name__ == "__main__":
    main()
