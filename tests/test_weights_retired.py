"""Retired weights: a plugin's previous weights stay decodable after new ones ship."""

from __future__ import annotations

import json

import pytest

from rcodec import WeightsError
from rcodec.weights import retire, retired_weights, sha256_file


def _ship(folder, name: str, content: bytes) -> str:
    (folder / name).write_bytes(content)
    manifest_path = folder / "WEIGHTS.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    manifest[name] = {"sha256": sha256_file(folder / name), "steps": len(content)}
    manifest_path.write_text(json.dumps(manifest))
    return manifest[name]["sha256"]


def test_retired_file_is_found_by_its_sha256(tmp_path):
    first = _ship(tmp_path, "model.pt", b"first weights")
    retired_name = retire(tmp_path, "model.pt")
    assert retired_name == f"model-{first[:12]}.pt" and not (tmp_path / "model.pt").exists()
    second = _ship(tmp_path, "model.pt", b"second weights")
    assert retired_weights(tmp_path, "model.pt", first) == tmp_path / retired_name
    assert retired_weights(tmp_path, "model.pt", second) is None  # the shipped file is not a retired one
    assert retired_weights(tmp_path, "other.pt", first) is None
    manifest = json.loads((tmp_path / "WEIGHTS.json").read_text())
    assert manifest[retired_name]["retired"] is True and manifest[retired_name]["steps"] == len(b"first weights")
    assert manifest["model.pt"]["sha256"] == second


def test_damaged_retired_file_is_refused(tmp_path):
    first = _ship(tmp_path, "model.pt", b"first weights")
    retired_name = retire(tmp_path, "model.pt")
    (tmp_path / retired_name).write_bytes(b"tampered")
    with pytest.raises(WeightsError, match="does not match"):
        retired_weights(tmp_path, "model.pt", first)


def test_nothing_to_retire(tmp_path):
    assert retire(tmp_path, "model.pt") is None


def test_retired_file_missing_from_the_install_is_found_in_the_user_folder(tmp_path, monkeypatch):
    """The wheel carries no retired weights: an installed rcodec reads them from the user's weights folder."""
    from rcodec.learned import Weights

    folder = tmp_path / "myplugin" / "weights"
    folder.mkdir(parents=True)
    first = _ship(folder, "model.pt", b"first weights")
    retired_name = retire(folder, "model.pt")
    _ship(folder, "model.pt", b"second weights")
    user = tmp_path / "data" / "rcodec" / "weights"
    user.mkdir(parents=True)
    (folder / retired_name).rename(user / retired_name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert retired_weights(folder, "model.pt", first) == user / retired_name
    assert Weights(folder, "model.pt", "").for_decoding(None, bytes.fromhex(first)).path == user / retired_name
    (user / retired_name).unlink()
    with pytest.raises(WeightsError, match=f"copy plugins/myplugin/weights/{retired_name} from the rcodec source"):
        retired_weights(folder, "model.pt", first)
