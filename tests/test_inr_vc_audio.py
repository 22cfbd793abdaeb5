"""`inr-vc` on audio: segment gains, round trips, rate control, determinism across thread counts, the golden file
and bad input. Runs on the shipped audio base network."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from thread_counts import on_one_and_two_threads

import rcodec
import rcodec.plugins.inr
from rcodec.errors import RcodecError, WeightsError

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "samples" / "golden" / "inr" / "chirp_stereo_16k.inr-vc.rcz"
FAST = {"steps": 2, "time_budget": 1000.0}  # a fixed number of refinement steps: reproducible and quick


def _audio(frames: int = 6000) -> rcodec.Audio:
    """A stereo chirp and a decaying tone at 16 kHz; not a whole number of 128-sample segments."""
    t = np.arange(frames) / 16000
    left = 0.5 * np.sin(2 * np.pi * (200 + 600 * t) * t)
    right = 0.3 * np.exp(-3 * t) * np.sin(2 * np.pi * 440 * t)
    return rcodec.Audio(np.stack([left, right], axis=1).astype(np.float32), 16000)


def _snr(decoded: np.ndarray, original: np.ndarray) -> float:
    return 10 * np.log10(np.sum(original.astype(float) ** 2) / np.sum((decoded - original.astype(float)) ** 2))


def test_gain_is_the_smallest_quarter_octave_at_or_above_the_peak():
    from rcodec.plugins.inr import vc_audio
    from rcodec.plugins.inr.quant import step_of

    rng = np.random.default_rng(0)
    segments = np.clip(rng.normal(size=(40, 128)) * np.exp(rng.uniform(-9, 0, (40, 1))), -1.0, 1.0)
    segments[0] = 0.0  # silence
    segments[1, 5] = 1.0  # full scale
    ks = vc_audio.gain_exponents(segments)
    peaks = np.abs(segments).max(axis=1)
    assert ks[0] == vc_audio.GAIN_K_MIN and ks[1] == 0
    for k, peak in zip(ks[2:], peaks[2:]):
        assert step_of(int(k)) >= peak and (k == vc_audio.GAIN_K_MIN or step_of(int(k) - 1) < peak)
    targets = vc_audio.normalise(segments, ks)
    assert targets.min() >= 0.0 and targets.max() <= 1.0
    assert np.allclose(vc_audio.denormalise(targets, ks), segments, atol=1e-6)


def test_mid_side_round_trips_and_leaves_other_channel_counts():
    from rcodec.plugins.inr import vc_audio

    stereo = np.random.default_rng(3).uniform(-1, 1, (50, 2)).astype(np.float32)
    coded = vc_audio.to_mid_side(stereo)
    assert np.array_equal(vc_audio.from_mid_side(coded), stereo)
    twin = np.repeat(stereo[:, :1], 2, axis=1)
    assert not vc_audio.to_mid_side(twin)[:, 1].any()  # identical channels: a silent side channel
    for channels in (1, 3):
        samples = stereo[:, :1].repeat(channels, axis=1)
        assert vc_audio.to_mid_side(samples) is samples and vc_audio.from_mid_side(samples) is samples


def test_gains_round_trip_through_the_stream():
    from rcodec.codec import SymbolSink, SymbolSource
    from rcodec.entropy.rans import RansCoder
    from rcodec.plugins.inr import vc_audio

    ks = np.random.default_rng(1).integers(vc_audio.GAIN_K_MIN, vc_audio.GAIN_K_MAX + 1, 300).astype(np.int32)
    sink = SymbolSink(RansCoder())
    vc_audio.write_gains(sink, ks)
    streams, _ = sink.finish()
    assert np.array_equal(vc_audio.read_gains(SymbolSource(RansCoder(), streams), len(ks)), ks)
    assert abs(vc_audio.gain_bits(ks) - 8 * sum(len(s) for s in streams)) < 0.2 * vc_audio.gain_bits(ks)


def test_round_trip_keeps_rate_and_channels_and_reconstructs():
    audio = _audio()
    data = rcodec.encode(audio, codec="inr-vc", step=12, **FAST)
    out = rcodec.decode(data)
    assert isinstance(out, rcodec.Audio) and out.sample_rate == 16000
    assert out.samples.shape == audio.samples.shape and out.samples.dtype == np.float32
    assert _snr(out.samples, audio.samples) > 10
    assert rcodec.encode(audio, codec="inr-vc", step=12, **FAST) == data


def test_silence_decodes_to_silence():
    silent = rcodec.Audio(np.zeros((1000, 1), np.float32), 8000)
    out = rcodec.decode(rcodec.encode(silent, codec="inr-vc", **FAST))
    assert np.abs(out.samples).max() < 1e-3


def test_rate_follows_the_kbps_target():
    audio = _audio()
    seconds = audio.frames / audio.sample_rate
    sizes = {}
    for kbps in (16, 64):
        data = rcodec.encode(audio, codec="inr-vc", kbps=kbps, **FAST)
        sizes[kbps] = len(data)
        assert 8 * len(data) <= kbps * 1000 * seconds + 8 * 600  # the budget plus the container's header
    assert sizes[16] < sizes[64]


def test_decode_identical_on_one_and_two_threads():

    data = rcodec.encode(_audio(), codec="inr-vc", step=10, **FAST)
    one, two = on_one_and_two_threads(lambda: rcodec.decode(data))
    assert np.array_equal(one.samples, two.samples)


def test_golden_file_decodes_identically_on_one_and_two_threads():

    from rcodec.pipeline import decode_bytes

    data = GOLDEN.read_bytes()
    one, two = (result[0] for result in on_one_and_two_threads(lambda: decode_bytes(data)))
    assert one.canonical_bytes() == two.canonical_bytes()
    recorded = np.load(GOLDEN.with_suffix(".decoded.npy"))
    assert one.shape == recorded.shape == _audio().samples.shape
    assert np.abs(one.data.samples - recorded).max() <= 1e-5  # other float kernels may differ in the last bits
    assert _snr(one.data.samples, _audio().samples) > 10


def test_image_weights_are_refused_for_audio_and_audio_weights_for_images():
    from rcodec.plugins.inr.vc_export import AUDIO_WEIGHTS_NAME, WEIGHTS_DIR, WEIGHTS_NAME

    with pytest.raises(WeightsError, match="for images"):
        rcodec.encode(_audio(), codec="inr-vc", weights=str(WEIGHTS_DIR / WEIGHTS_NAME), **FAST)
    with pytest.raises(WeightsError, match="for audio"):
        rcodec.encode(np.zeros((32, 32, 3), np.uint8), codec="inr-vc",
                      weights=str(WEIGHTS_DIR / AUDIO_WEIGHTS_NAME), **FAST)


@pytest.mark.parametrize("bad", [{"kbps": 0.0}, {"step": 16}, {"quality": 0}])
def test_bad_parameters_are_clear_errors(bad):
    with pytest.raises(RcodecError):
        rcodec.encode(_audio(), codec="inr-vc", **{**FAST, **bad})


@pytest.mark.parametrize("where", [0.5, 0.9])
def test_damaged_stream_is_refused(where):
    data = bytearray(GOLDEN.read_bytes())
    data[int(len(data) * where)] ^= 0x5A
    with pytest.raises(RcodecError):
        rcodec.decode(bytes(data))
