"""Entropy-coder benchmark: speed and size of every backend on the two workloads codecs produce.

- `categorical256`: one categorical table over 256 symbols (a discretised Laplace + geometric mix), no indexes.
- `gaussian_indexed`: the hyperprior case. 64 Gaussian tables over a log-spaced scale ladder, built like
  CompressAI's GaussianConditional (tail mass 1e-9, escape symbol); every symbol draws its own scale index and a
  value from that Gaussian.

Times go through the Python API a codec calls (`encoder().encode(...)` + `finish()`, `decoder(data).decode(...)`),
so they include per-call overhead and any conversion a backend needs. `compressai.ans` is CompressAI's own rANS
behind the same contract; it takes Python lists, and the list conversions are part of its time because a codec
pays them too. Each figure is the median of `repeats` runs.
"""

from __future__ import annotations

import gc
import json
import math
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .coder import EntropyCoder, EntropyDecoder, EntropyEncoder
from .tables import CdfTables

SEED = 20240611
GAUSSIAN_SCALES = 64
GAUSSIAN_SCALE_RANGE = (0.11, 256.0)  # CompressAI's default scale table bounds
GAUSSIAN_TAIL_MASS = 1e-9

Case = tuple[CdfTables, np.ndarray, np.ndarray | None]


# ---------------------------------------------------------------------------------------------------------------
# Workloads


def categorical_case(symbols: int, seed: int = SEED) -> Case:
    """One 256-symbol table (16-bit) and `symbols` values drawn exactly from its quantised pmf."""
    k = np.arange(256)
    laplace = np.exp(-np.abs(k - 96) / 9.0)
    geometric = 0.93**k
    pmf = 0.6 * laplace / laplace.sum() + 0.4 * geometric / geometric.sum()
    tables = CdfTables.from_pmfs(pmf[None, :], precision=16)
    rng = np.random.default_rng(seed)
    slots = rng.integers(0, 1 << tables.precision, symbols)
    values = np.searchsorted(tables.cdf[0, 1:], slots, side="right").astype(np.int32)
    return tables, values, None


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    return 0.5 * np.vectorize(math.erfc)(-x / math.sqrt(2.0))


def gaussian_tables(levels: int = GAUSSIAN_SCALES, precision: int = 16) -> tuple[CdfTables, np.ndarray]:
    """Tables for a zero-mean Gaussian at each scale of a log-spaced ladder, with tails and an escape symbol."""
    scales = np.exp(np.linspace(math.log(GAUSSIAN_SCALE_RANGE[0]), math.log(GAUSSIAN_SCALE_RANGE[1]), levels))
    multiplier = -_normal_quantile(GAUSSIAN_TAIL_MASS / 2)
    pmfs, offsets = [], []
    for scale in scales:
        half = int(math.ceil(scale * multiplier))
        v = np.abs(np.arange(-half, half + 1, dtype=np.float64))
        pmfs.append(_normal_cdf((0.5 - v) / scale) - _normal_cdf((-0.5 - v) / scale))
        offsets.append(-half)
    return CdfTables.from_pmfs(pmfs, np.array(offsets), precision, escape=True), scales


def _normal_quantile(p: float) -> float:
    """Inverse standard normal CDF by bisection (only needed once per table build)."""
    lo, hi = -40.0, 40.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if 0.5 * math.erfc(-mid / math.sqrt(2.0)) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def gaussian_case(symbols: int, seed: int = SEED) -> Case:
    """`symbols` values, each from a Gaussian whose scale index is drawn uniformly from the ladder."""
    tables, scales = gaussian_tables()
    rng = np.random.default_rng(seed)
    indexes = rng.integers(0, len(scales), symbols).astype(np.int32)
    values = np.rint(rng.normal(0.0, scales[indexes])).astype(np.int32)
    return tables, values, indexes


def information_bits(tables: CdfTables, values: np.ndarray, indexes: np.ndarray | None) -> float:
    """Ideal size under the tables; an escaped value counts as its escape symbol (its raw bits are not counted)."""
    idx = np.zeros(values.size, np.int64) if indexes is None else indexes.astype(np.int64)
    lo = tables.offsets[idx].astype(np.int64)
    plain = tables.lengths[idx].astype(np.int64) - (1 if tables.escape else 0)
    symbols = values.astype(np.int64) - lo
    symbols = np.where((symbols < 0) | (symbols >= plain), tables.lengths[idx] - 1, symbols)
    return tables.information_bits(symbols + lo, indexes)


# ---------------------------------------------------------------------------------------------------------------
# CompressAI's rANS behind the backend contract


def _compressai_ans():
    from rcodec._compat import compressai

    return compressai().ans


def _compressai_tables(tables: CdfTables) -> tuple[list, list, list]:
    if tables.precision != 16 or (tables.count and tables.lengths.min() < 2):
        raise ValueError("CompressAI's rANS needs 16-bit tables of at least 2 symbols")
    # Its last symbol is always an escape; for tables without one, that symbol's values just take 4 extra bits.
    return tables.cdf.tolist(), (tables.lengths + 1).tolist(), tables.offsets.tolist()


class _CompressaiEncoder(EntropyEncoder):
    def __init__(self) -> None:
        self._coder = _compressai_ans().BufferedRansEncoder()

    def encode(self, values: np.ndarray, tables: CdfTables, indexes: np.ndarray | None = None) -> None:
        values = np.asarray(values, dtype=np.int32).ravel()
        idx = np.zeros(values.size, np.int32) if indexes is None else np.asarray(indexes, np.int32).ravel()
        self._coder.encode_with_indexes(values.tolist(), idx.tolist(), *_compressai_tables(tables))

    def finish(self) -> bytes:
        return self._coder.flush()


class _CompressaiDecoder(EntropyDecoder):
    def __init__(self, data: bytes) -> None:
        self._coder = _compressai_ans().RansDecoder()
        self._coder.set_stream(data)

    def decode(self, tables: CdfTables, indexes: np.ndarray | None = None, count: int | None = None) -> np.ndarray:
        idx = np.zeros(count or 0, np.int32) if indexes is None else np.asarray(indexes, np.int32).ravel()
        out = self._coder.decode_stream(idx.tolist(), *_compressai_tables(tables))
        return np.array(out, dtype=np.int32)


class CompressaiAnsCoder(EntropyCoder):
    id = "compressai.ans"
    version = 0
    description = "CompressAI's C++ rANS (Python-list API), for comparison only"

    def encoder(self) -> EntropyEncoder:
        return _CompressaiEncoder()

    def decoder(self, data: bytes) -> EntropyDecoder:
        return _CompressaiDecoder(data)


def default_backends() -> dict[str, EntropyCoder]:
    from .constriction_coders import AnsCoder, RangeCoder
    from .rans import RansCoder

    return {"rans": RansCoder(), "ans": AnsCoder(), "range": RangeCoder(), "compressai.ans": CompressaiAnsCoder()}


# ---------------------------------------------------------------------------------------------------------------
# Measurement


def measure(coder: EntropyCoder, tables: CdfTables, values: np.ndarray, indexes: np.ndarray | None,
            repeats: int) -> dict:
    """Median encode and decode time per symbol over `repeats` full round trips, size and correctness."""
    n = values.size
    encode_ns, decode_ns = [], []
    ok, size = True, 0
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter_ns()
        encoder = coder.encoder()
        encoder.encode(values, tables, indexes)
        data = encoder.finish()
        middle = time.perf_counter_ns()
        decoded = coder.decoder(data).decode(tables, indexes, None if indexes is not None else n)
        end = time.perf_counter_ns()
        encode_ns.append(middle - start)
        decode_ns.append(end - middle)
        ok = ok and np.array_equal(decoded, values)
        size = len(data)
    return {
        "encode_ns_per_symbol": round(statistics.median(encode_ns) / max(n, 1), 3),
        "decode_ns_per_symbol": round(statistics.median(decode_ns) / max(n, 1), 3),
        "bits_per_symbol": round(8 * size / max(n, 1), 6),
        "information_bits_per_symbol": round(information_bits(tables, values, indexes) / max(n, 1), 6),
        "roundtrip_ok": bool(ok),
    }


def machine_info() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    if hasattr(os, "getloadavg"):
        info["load_average"] = round(os.getloadavg()[0], 2)  # other work on the machine inflates the times
    return info


def run_entropy_bench(symbols: int = 10_000_000, repeats: int = 5, backends: dict[str, EntropyCoder] | None = None,
                      progress: Callable[[str], None] | None = None) -> dict:
    """Benchmark every backend on both cases; returns the JSON-ready result (see the module docstring)."""
    backends = default_backends() if backends is None else backends
    say = progress or (lambda message: None)
    machine = machine_info()
    cases: dict[str, dict] = {}
    for name, build in (("categorical256", categorical_case), ("gaussian_indexed", gaussian_case)):
        say(f"{name}: drawing {symbols} symbols")
        tables, values, indexes = build(symbols)
        cases[name] = {}
        for backend_id, coder in backends.items():
            say(f"{name}: {backend_id}")
            cases[name][backend_id] = measure(coder, tables, values, indexes, repeats)
    if "load_average" in machine:
        machine["load_average_after"] = round(os.getloadavg()[0], 2)
    return {"cases": cases, "machine": machine, "command": shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])}


def format_table(result: dict) -> str:
    """A plain-text table of a `run_entropy_bench` result."""
    header = f"{'case':<18} {'backend':<16} {'enc ns/sym':>10} {'dec ns/sym':>10} {'bits/sym':>9} {'ideal':>9} " \
             f"{'excess':>8}  ok"
    lines = [header, "-" * len(header)]
    for case, backends in result["cases"].items():
        for backend_id, r in backends.items():
            ideal = r["information_bits_per_symbol"]
            excess = (r["bits_per_symbol"] / ideal - 1) * 100 if ideal else float("nan")
            lines.append(f"{case:<18} {backend_id:<16} {r['encode_ns_per_symbol']:>10.2f} "
                         f"{r['decode_ns_per_symbol']:>10.2f} {r['bits_per_symbol']:>9.4f} {ideal:>9.4f} "
                         f"{excess:>7.3f}%  {'yes' if r['roundtrip_ok'] else 'NO'}")
    return "\n".join(lines)


def write_bench(result: dict, path: str | Path) -> None:
    """Writes the result as JSON (atomically: temporary file + rename)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m rcodec.entropy.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="PATH", help="write the result as JSON to PATH")
    parser.add_argument("--symbols", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    result = run_entropy_bench(args.symbols, args.repeats, progress=lambda m: print(m, file=sys.stderr))
    if args.json:
        write_bench(result, args.json)
    print(format_table(result))
    return 0 if all(r["roundtrip_ok"] for case in result["cases"].values() for r in case.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
