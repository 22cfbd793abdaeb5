"""The shipped pc-mnist weights: their manifest (WEIGHTS.json) and the sha256 check before use."""

from __future__ import annotations

import json
from pathlib import Path

from rcodec import WeightsError
from rcodec.weights import sha256_file

WEIGHTS_DIR = Path(__file__).parent / "weights"
WEIGHTS_NAME = "pc_mnist.pt"
MANIFEST = WEIGHTS_DIR / "WEIGHTS.json"


def record_weights(path: Path, command: str, curve: list[dict], continued_from: dict | None = None) -> dict:
    """Write the weights file's sha256, size, producing command and learning curve into WEIGHTS.json; a run that
    continued from earlier weights (`--init`) also records their entry."""
    manifest = json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {}
    manifest[path.name] = {"sha256": sha256_file(path), "bytes": path.stat().st_size, "command": command,
                           "curve": curve}
    if continued_from is not None:
        manifest[path.name]["continued_from"] = continued_from
    MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest[path.name]


def verified_path(path: Path | None = None) -> tuple[Path, str]:
    """The weights file and its sha256, refused with WeightsError unless it matches the manifest."""
    path = path or WEIGHTS_DIR / WEIGHTS_NAME
    try:
        entry = json.loads(MANIFEST.read_text())[path.name]
    except (OSError, ValueError, KeyError):
        raise WeightsError(f"{path.name} is not listed in {MANIFEST}; train it with `rcodec train pc`") from None
    if not path.exists():
        raise WeightsError(f"{path}: weights file not found")
    sha = sha256_file(path)
    if sha != entry["sha256"]:
        raise WeightsError(f"{path}: sha256 {sha[:16]}... does not match the recorded {entry['sha256'][:16]}...")
    return path, sha
