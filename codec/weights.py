"""Weights files: hashing and verification, shared by every plugin that ships or loads a model."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from .errors import WeightsError


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise WeightsError(f"{path}: cannot read weights ({exc.strerror})") from None
    return digest.hexdigest()


def verify(path: str | os.PathLike, expected_sha256: str) -> str:
    """The file's sha256 if it matches the recorded one, else WeightsError (a damaged or replaced file)."""
    actual = sha256_file(path)
    if actual != expected_sha256:
        raise WeightsError(f"{path}: sha256 {actual[:16]}... does not match the recorded {expected_sha256[:16]}...")
    return actual


def check_file_weights(header_params: dict, header_sha256: bytes | None, options: dict, loaded_sha256: bytes) -> None:
    """Refuse to decode a file with weights other than those it was compressed with."""
    if header_params.get("user_weights") and not options.get("weights"):
        raise WeightsError("this file was compressed with a user checkpoint: pass it with --weights")
    if header_sha256 != loaded_sha256:
        raise WeightsError("the file was compressed with other weights than these (sha256 mismatch)")


def shipped_weights(folder: Path, name: str, missing_hint: str) -> tuple[Path, str]:
    """A plugin's shipped weights file, listed in `folder/WEIGHTS.json`, verified: (path, sha256 hex)."""
    manifest = folder / "WEIGHTS.json"
    entry = json.loads(manifest.read_text()).get(name) if manifest.exists() else None
    if entry is None:
        raise WeightsError(f"no shipped weights {name}; {missing_hint}")
    path = folder / name
    return path, verify(path, entry["sha256"])


# Retired weights: when a plugin ships new weights, files compressed with the previous ones must still decode.
# The previous file is kept beside the new one as `<stem>-<sha256[:12]><suffix>` and listed in WEIGHTS.json with
# `"retired": true` and the name it replaced; decoders look it up by the sha256 their file's header records.
# The source tree keeps every retired file; the wheel carries none (docs/weights.md): an installed rcodec finds
# them in the user's weights folder, and says which file to put there when one is missing.

def user_weights_dir() -> Path:
    """Where an installed rcodec looks for retired weights files: $XDG_DATA_HOME/rcodec/weights, by default
    ~/.local/share/rcodec/weights."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "rcodec" / "weights"


def locate_retired(folder: Path, file_name: str, sha256_hex: str) -> Path:
    """The retired file `file_name`: beside the shipped weights, else in `user_weights_dir()`; WeightsError
    naming the file to fetch when it is in neither."""
    for path in (folder / file_name, user_weights_dir() / file_name):
        if path.is_file():
            return path
    plugin = folder.parent.name
    raise WeightsError(f"this file was compressed with retired {plugin} weights {file_name} (sha256 "
                       f"{sha256_hex[:16]}...), which this installation does not carry: copy plugins/{plugin}/"
                       f"weights/{file_name} from the rcodec source repository into {user_weights_dir()}")


def retire(folder: Path, name: str) -> str | None:
    """Keep the currently shipped `folder/name` as a retired, decode-only file; returns its new name (None when
    nothing was shipped). Call before writing the new weights under `name`."""
    manifest_path = folder / "WEIGHTS.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    entry = manifest.get(name)
    if entry is None or not (folder / name).exists():
        return None
    verify(folder / name, entry["sha256"])
    stem, dot, suffix = name.rpartition(".")
    retired_name = f"{stem}-{entry['sha256'][:12]}{dot}{suffix}"
    os.replace(folder / name, folder / retired_name)
    manifest[retired_name] = {**entry, "retired": True, "replaced_by_name": name}
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return retired_name


def retired_weights(folder: Path, name: str, sha256_hex: str) -> Path | None:
    """The retired file that once shipped as `name` with this sha256, verified; None if there is none."""
    manifest_path = folder / "WEIGHTS.json"
    if not manifest_path.exists():
        return None
    for retired_name, entry in json.loads(manifest_path.read_text()).items():
        if entry.get("retired") and entry.get("replaced_by_name") == name and entry.get("sha256") == sha256_hex:
            path = locate_retired(folder, retired_name, sha256_hex)
            verify(path, sha256_hex)
            return path
    return None
