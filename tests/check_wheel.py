"""Build the wheel and check what it holds: code and the weights decoding needs, nothing from the training lab.

    python tests/check_wheel.py [--wheel PATH] [--no-build-isolation]

Builds with `pip wheel --no-deps` (or checks the given wheel), lists it, and exits 1 when it holds a training state,
a learning curve or log, a bench or evaluation output, a retired weights file, when a plugin's current weights are
missing, or when it is larger than BUDGET_BYTES.

The budget: the current weights of every plugin, as the wheel compresses them, are 24.6 MB (vqgan 7.6,
hyperprior 6.6, pc-mnist 3.9, factorized 3.2, adaptive 2.6, iscs predictors 0.3, inr-vc image and audio 0.3); code
and the three native extensions add 0.6 MB: 25.2 MB in all (December 2026). 32 MiB leaves room for one more model
of vqgan's size (a new plugin, or a larger export), and fails the build when a retired file (0.3-7.5 MB each), a
training state (16-26 MB each) or a second copy of any weights slips in: each of those is a decision for
docs/weights.md, not an accident of packaging.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET_BYTES = 32 << 20

# (what, fnmatch pattern on the path inside the wheel)
FORBIDDEN = [
    ("training state", "*/training_state/*"),
    ("training state", "*/state.pt"),
    ("training state", "*/checkpoint.pt"),
    ("learning curve or log", "*.jsonl"),
    ("learning curve or log", "*.log"),
    ("learning curve or log", "*/training_logs/*"),
    ("bench or evaluation output", "*/bench_*.json"),
    ("bench or evaluation output", "*/eval_*.json"),
    ("bench or evaluation output", "*.png"),
]
RETIRED = re.compile(r".*/weights/[^/]*-[0-9a-f]{12}\.[a-z]+$")  # `<stem>-<sha256[:12]>.pt` (rcodec.weights.retire)


def build_wheel(out: Path, isolation: bool) -> Path:
    # setuptools copies into build/lib and packs what it finds there: files left by an earlier build under
    # other packaging rules would ride along, so the wheel is built from an empty build folder.
    shutil.rmtree(ROOT / "build", ignore_errors=True)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)]
    if not isolation:
        command.insert(4, "--no-build-isolation")
    subprocess.run(command, check=True)
    wheels = sorted(out.glob("rcodec-*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"expected one rcodec wheel in {out}, found {[w.name for w in wheels]}")
    return wheels[0]


def required_weights() -> list[str]:
    """The wheel paths of every plugin's current (not retired) weights files and their manifests."""
    out = []
    for manifest in sorted((ROOT / "plugins").glob("*/weights/WEIGHTS.json")):
        plugin = manifest.parent.parent.name
        out.append(f"rcodec/plugins/{plugin}/weights/WEIGHTS.json")
        for name, entry in json.loads(manifest.read_text()).items():
            if not entry.get("retired") and (manifest.parent / name).exists():
                out.append(f"rcodec/plugins/{plugin}/weights/{name}")
    return out


def check(wheel: Path) -> list[str]:
    """The problems found in `wheel` (empty: it passes); prints its listing."""
    problems = []
    with zipfile.ZipFile(wheel) as archive:
        infos = archive.infolist()
    names = {info.filename for info in infos}
    for info in sorted(infos, key=lambda i: -i.compress_size):
        if not info.filename.endswith(".py"):
            print(f"{info.compress_size:>11,} {info.file_size:>11,}  {info.filename}")
    print(f"{sum(1 for n in names if n.endswith('.py'))} Python files")
    for name in sorted(names):
        for what, pattern in FORBIDDEN:
            if fnmatch.fnmatch(name, pattern):
                problems.append(f"{what}: {name}")
        if RETIRED.match(name):
            problems.append(f"retired weights (docs/weights.md: not in the wheel): {name}")
    problems += [f"missing current weights: {name}" for name in required_weights() if name not in names]
    size = wheel.stat().st_size
    print(f"{wheel.name}: {size:,} bytes (budget {BUDGET_BYTES:,})")
    if size > BUDGET_BYTES:
        problems.append(f"the wheel is {size:,} bytes, over the budget of {BUDGET_BYTES:,}")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wheel", type=Path, help="check this wheel instead of building one")
    parser.add_argument("--no-build-isolation", action="store_true", help="build with the current environment's "
                        "setuptools and pybind11 (offline)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or build_wheel(Path(tmp), not args.no_build_isolation)
        problems = check(wheel)
    for problem in problems:
        print(f"check_wheel: {problem}", file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
