"""vqgan decoder tuning: only the decoder moves, a run resumes, and files written before an export still decode with
the weights they were written with."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

import rcodec

torch = pytest.importorskip("torch")

from rcodec.learned import Weights  # noqa: E402
from rcodec.plugins.vqgan import codec as vqgan_codec  # noqa: E402
from rcodec.plugins.vqgan.decoder_tuning import TUNED_PREFIXES, export_tuned_decoder, tune_decoder  # noqa: E402
from rcodec.plugins.vqgan.export import WEIGHTS_DIR, WEIGHTS_NAME  # noqa: E402


@pytest.fixture()
def weights_dir(tmp_path, monkeypatch):
    """A copy of the shipped weights that the codec loads instead of the real folder."""
    folder = tmp_path / "weights"
    folder.mkdir()
    for name in (WEIGHTS_NAME, "WEIGHTS.json"):
        shutil.copy(WEIGHTS_DIR / name, folder / name)
    manifest = json.loads((folder / "WEIGHTS.json").read_text())
    (folder / "WEIGHTS.json").write_text(json.dumps({WEIGHTS_NAME: manifest[WEIGHTS_NAME]}))
    monkeypatch.setattr(vqgan_codec, "WEIGHTS", Weights(folder, WEIGHTS_NAME, "copy the shipped weights"))
    return folder


@pytest.fixture()
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        yy, xx = np.mgrid[0:200, 0:208]
        img = np.stack([xx, yy, (xx * yy) % 256], axis=2) + rng.integers(0, 40, (200, 208, 3))
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(folder / f"p{i}.png")
    return folder


def _payload(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def test_tuning_moves_only_the_decoder_and_resumes(weights_dir, photos, tmp_path):
    run = tmp_path / "run"
    tune_decoder(str(photos), str(run), 2, batch=1, crop=176, lr=1e-3, weights_dir=weights_dir, log=lambda _: None)
    tune_decoder(str(photos), str(run), 3, batch=1, crop=176, lr=1e-3, weights_dir=weights_dir, log=lambda _: None)
    state = torch.load(run / "state.pt", weights_only=False)
    assert state["step"] == 3
    assert state["tuned"] and all(k.startswith(TUNED_PREFIXES) for k in state["tuned"])
    before = _payload(weights_dir / WEIGHTS_NAME)
    export_tuned_decoder(run, "test", weights_dir)
    after = _payload(weights_dir / WEIGHTS_NAME)
    changed = {k for k in before["state_dict"] if not torch.equal(before["state_dict"][k], after["state_dict"][k])}
    assert changed and all(k.startswith(TUNED_PREFIXES) for k in changed)
    # what decides the indices and their coding is untouched, so every bitstream stays valid
    for part in ("codebooks", "freqs"):
        assert all(torch.equal(before[part][k], after[part][k]) for k in before[part])
    assert before["context"].keys() == after["context"].keys()
    assert set(after["decode_books"]) == set(before["codebooks"])
    assert any(not torch.equal(after["decode_books"][k], before["codebooks"][k]) for k in before["codebooks"])
    manifest = json.loads((weights_dir / "WEIGHTS.json").read_text())
    assert manifest[WEIGHTS_NAME]["decoder_tuning"]["steps"] == 3
    assert [e for e in manifest.values() if e.get("retired")]


def test_tuning_refuses_a_run_of_other_weights(weights_dir, photos, tmp_path):
    run = tmp_path / "run"
    tune_decoder(str(photos), str(run), 1, batch=1, crop=176, weights_dir=weights_dir, log=lambda _: None)
    state = torch.load(run / "state.pt", weights_only=False)
    state["base_sha256"] = "0" * 64
    torch.save(state, run / "state.pt")
    with pytest.raises(ValueError, match="other weights"):
        tune_decoder(str(photos), str(run), 2, batch=1, crop=176, weights_dir=weights_dir, log=lambda _: None)
    with pytest.raises(ValueError, match="other weights"):
        export_tuned_decoder(run, "test", weights_dir)


def test_files_from_before_an_export_decode_with_their_weights(weights_dir, photos, tmp_path):
    image = np.asarray(Image.open(photos / "p0.png"))[:64, :80]
    old_file = rcodec.encode(image, codec="vqgan", quality=2)
    old_pixels = rcodec.decode(old_file)
    run = tmp_path / "run"
    tune_decoder(str(photos), str(run), 2, batch=1, crop=176, lr=1e-2, weights_dir=weights_dir, log=lambda _: None)
    export_tuned_decoder(run, "test", weights_dir)  # same path, new file: models are cached by sha256, not path
    new_file = rcodec.encode(image, codec="vqgan", quality=2)
    assert np.array_equal(rcodec.decode(old_file), old_pixels)
    assert not np.array_equal(rcodec.decode(new_file), old_pixels)  # the tuned decoder draws other pixels
