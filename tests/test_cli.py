"""The rcodec CLI: zstd conventions, safe writes, clear errors, exit codes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import KODAK, WAVS
from rcodec.cli import _load_plugin_commands, cli

_load_plugin_commands()
RCODEC = [sys.executable, "-m", "rcodec"]


def run(*args: str, input: bytes | None = None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


@pytest.fixture
def png(tmp_path, small_image) -> Path:
    path = tmp_path / "pic.png"
    Image.fromarray(small_image).save(path)
    return path


def test_compress_decompress_round_trip(png, small_image):
    original = png.read_bytes()
    assert run("compress", str(png)).exit_code == 0
    rcz = png.with_name("pic.png.rcz")
    assert rcz.exists() and png.read_bytes() == original  # the source is kept, untouched
    png.unlink()
    assert run("decompress", str(rcz)).exit_code == 0
    assert np.array_equal(np.asarray(Image.open(png)), small_image)


def test_refuses_to_overwrite_without_force(png):
    assert run("compress", str(png)).exit_code == 0
    rcz = png.with_name("pic.png.rcz")
    before = rcz.read_bytes()
    rcz.write_bytes(b"keep me")
    result = run("compress", str(png))
    assert result.exit_code == 1 and "already exists" in result.output
    assert rcz.read_bytes() == b"keep me"
    assert run("compress", "-f", str(png)).exit_code == 0 and rcz.read_bytes() == before


def test_decompress_refuses_to_overwrite_the_original(png):
    run("compress", str(png))
    result = run("decompress", str(png) + ".rcz")
    assert result.exit_code == 1 and "already exists" in result.output


def test_rm_removes_source_only_after_success(png):
    assert run("compress", "--rm", str(png)).exit_code == 0
    assert not png.exists() and png.with_name("pic.png.rcz").exists()


def test_stdin_to_stdout_pipeline(png, small_image, tmp_path):
    out = subprocess.run(RCODEC + ["compress", "-c", "-"], input=png.read_bytes(), capture_output=True, check=True)
    assert out.stdout[:4] == b"\x89RCZ"
    back = subprocess.run(RCODEC + ["decompress", "-c", "-"], input=out.stdout, capture_output=True, check=True)
    (tmp_path / "back.png").write_bytes(back.stdout)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "back.png")), small_image)


def test_shell_pipe_as_in_the_readme(png, tmp_path):
    rcodec = shutil.which("rcodec", path=str(Path(sys.executable).parent))
    assert rcodec is not None, "the rcodec console script is installed beside the interpreter"
    subprocess.run(f"cat {png} | {rcodec} compress -c - > {tmp_path / 'x.rcz'}", shell=True, check=True)
    assert (tmp_path / "x.rcz").read_bytes()[:4] == b"\x89RCZ"


def test_stdin_needs_an_output():
    result = run("compress", "-", input=b"whatever")
    assert result.exit_code == 1 and "-o FILE or -c" in result.output


def test_corrupt_image_input_leaves_no_output(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    result = run("compress", str(bad))
    assert result.exit_code == 1 and "broken.png" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.png"]


@pytest.mark.parametrize("damage", ["truncate", "flip", "magic", "major"])
def test_damaged_file_errors_without_leaving_output(png, tmp_path, damage):
    run("compress", str(png))
    rcz = png.with_name("pic.png.rcz")
    data = bytearray(rcz.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        data[len(data) // 2] ^= 0xFF
    elif damage == "magic":
        data[1] = ord("X")
    else:
        data[8] = 99
    rcz.write_bytes(bytes(data))
    png.unlink()
    result = run("decompress", str(rcz))
    assert result.exit_code == 1, result.output
    assert result.output.startswith("rcodec: ") and len(result.output.strip().splitlines()) == 1
    assert not png.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["pic.png.rcz"]
    assert run("test", str(rcz)).exit_code == 1


def test_missing_file_and_usage_errors(tmp_path):
    assert run("compress", str(tmp_path / "nope.png")).exit_code == 1
    assert run("compress").exit_code == 2
    assert run("compress", "--no-such-flag", "x").exit_code == 2


def test_info_and_test_commands(png):
    run("compress", str(png))
    rcz = str(png) + ".rcz"
    facts = json.loads(run("info", "--json", rcz).output)
    assert facts["codec"] == "lossless" and facts["shape"] == [24, 32, 3]
    assert "bpp" in run("info", rcz).output
    result = run("test", rcz)
    assert result.exit_code == 0 and "OK" in result.output


def test_codecs_and_plugins_listing():
    listing = json.loads(run("codecs", "--json").output)
    assert {"lossless"} <= {c["id"] for c in listing["codecs"]}
    assert {"ans", "range"} <= {c["id"] for c in listing["coders"]}
    plugins = json.loads(run("plugins", "--json").output)
    assert {"name", "version", "hooks"} <= set(plugins[0])


def test_refuses_binary_to_terminal():
    # Through a pseudo-terminal: the real isatty check, not a mock.
    import os
    import pty

    pid, fd = pty.fork()
    if pid == 0:
        os.execv(sys.executable, RCODEC + ["compress", "-c", str(KODAK[0])])
    output = b""
    while True:
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 1
    assert b"terminal" in output and b"RCZ" not in output


def test_audio_cli_round_trip(tmp_path):
    import soundfile

    wav = tmp_path / "clip.wav"
    samples, rate = soundfile.read(WAVS[-1], dtype="int16", frames=5000, always_2d=True)
    soundfile.write(wav, samples, rate, subtype="PCM_16")
    assert run("compress", str(wav)).exit_code == 0
    wav.unlink()
    assert run("decompress", str(wav) + ".rcz").exit_code == 0
    back, back_rate = soundfile.read(wav, dtype="int16", always_2d=True)
    assert back_rate == rate and np.array_equal(back, samples)
    assert soundfile.info(wav).subtype == "PCM_16"


def test_third_party_plugin_is_listed_and_runs(png, tmp_path):
    """tests/plugin_example is installed by the README's install command; its codec must be usable."""
    listing = json.loads(run("codecs", "--json").output)
    entry = next((c for c in listing["codecs"] if c["id"] == "example-order0"), None)
    assert entry is not None, "install tests/plugin_example (see README) — entry point group 'rcodec'"
    assert entry["plugin"] == "example"
    assert run("compress", "--codec", "example-order0", "-o", str(tmp_path / "o.rcz"), str(png)).exit_code == 0
    assert run("decompress", "-o", str(tmp_path / "o.png"), str(tmp_path / "o.rcz")).exit_code == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "o.png")), np.asarray(Image.open(png)))
    assert "hello from rcodec-example-plugin" in run("example-hello").output
    plugins = {p["name"]: p for p in json.loads(run("plugins", "--json").output)}
    assert plugins["example"]["version"] == "0.3.1"


def test_plugin_restriction_env(monkeypatch):
    code = "import rcodec; print(rcodec.codecs())"
    env = {**__import__("os").environ, "RCODEC_LOAD_PLUGINS": ""}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert "example-order0" not in out and "lossless" in out


def test_bench_speed_writes_medians_and_ratio(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(5)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    out = tmp_path / "speed.json"
    result = CliRunner().invoke(cli, ["bench", "speed", "--codec", "factorized", "--codec", "hyperprior",
                                      "--dataset", str(folder), "--quality", "1", "--quality", "2", "--rounds", "2",
                                      "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["reference"] == "factorized" and data["images"] == 2 and data["rounds"] == 2
    assert data["codecs"]["factorized"]["decode_ratio"] == 1.0
    for row in data["codecs"].values():
        assert [q["quality"] for q in row["qualities"]] == [1, 2]
        assert row["decode_s"] > 0 and all(q["encode_s"] > 0 for q in row["qualities"])
    assert "decode median" in result.output


def test_bench_image_runs_only_the_asked_qualities(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(np.random.default_rng(6).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(folder / "a.png")
    out = tmp_path / "rd.json"
    result = CliRunner().invoke(cli, ["bench", "image", "--codec", "factorized", "--dataset", str(folder),
                                      "--baseline", "jpeg", "--quality", "2", "--quality", "5", "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert [p["quality"] for p in data["codecs"]["factorized"]] == [2, 5]
    assert len(data["baselines"]["jpeg"]) > 2  # the baselines keep their whole sweep


def test_bench_audio_adds_constant_bitrate_baselines(tmp_path):
    import soundfile as sf

    folder = tmp_path / "clips"
    folder.mkdir()
    t = np.arange(16000) / 16000
    rng = np.random.default_rng(2)
    sf.write(folder / "tone.wav", (0.3 * np.sin(2 * np.pi * 440 * t) + 0.01 * rng.standard_normal(t.size)), 16000,
             subtype="PCM_16")
    out = tmp_path / "audio.json"
    result = CliRunner().invoke(cli, ["bench", "audio", "--codec", "lossless", "--dataset", str(folder),
                                      "--baseline", "mp3", "--baseline-kbps", "32", "--json", str(out)])
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text())["rows"]
    assert [r["codec"] for r in rows][:1] == ["lossless"] and rows[0]["snr"] == float("inf")
    constant = [r for r in rows if r.get("mode") == "constant"]
    if not constant:
        pytest.skip("this libsndfile has no MP3 constant-bitrate mode")
    assert constant[0]["target_kbps"] == 32 and abs(constant[0]["kbps"] - 32) < 8
    assert np.isfinite(constant[0]["snr"])


def test_keep_is_accepted_and_outputs_take_the_source_mode(png):
    png.chmod(0o640)
    assert run("compress", "-k", str(png)).exit_code == 0
    rcz = png.with_name("pic.png.rcz")
    assert rcz.stat().st_mode & 0o777 == 0o640
    assert run("decompress", "--keep", "-f", str(rcz)).exit_code == 0
    assert png.stat().st_mode & 0o777 == 0o640


def test_existing_output_is_named_once_and_refused_before_decoding(png, monkeypatch):
    assert run("compress", str(png)).exit_code == 0
    rcz = png.with_name("pic.png.rcz")
    import rcodec.pipeline

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded before checking the output")

    monkeypatch.setattr(rcodec.pipeline, "decode_container", no_decoding)
    result = run("decompress", str(rcz))
    assert result.exit_code == 1
    assert result.output.count("pic.png.rcz") == 1 and result.output.count("already exists") == 1


def test_errors_show_no_python_reprs(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt nonsense")
    result = run("compress", str(bad))
    assert result.exit_code == 1 and "bad.wav" in result.output
    assert " at 0x" not in result.output and "<_io" not in result.output


def test_jpeg_decompresses_to_the_same_file_by_default(tmp_path, small_image):
    jpg = tmp_path / "photo.jpg"
    Image.fromarray(small_image).save(jpg, quality=80)
    original = jpg.read_bytes()
    assert run("compress", "--rm", str(jpg)).exit_code == 0
    assert run("decompress", str(tmp_path / "photo.jpg.rcz")).exit_code == 0
    assert jpg.read_bytes() == original


def test_jpeg_coded_as_pixels_decompresses_to_a_png_of_its_pixels(tmp_path, small_image):
    jpg = tmp_path / "photo.jpg"
    Image.fromarray(small_image).save(jpg, quality=80)
    pixels = np.asarray(Image.open(jpg))
    assert run("compress", "--codec", "lossless", "--rm", str(jpg)).exit_code == 0
    assert run("decompress", str(tmp_path / "photo.jpg.rcz")).exit_code == 0
    assert not jpg.exists()
    back = Image.open(tmp_path / "photo.png")
    assert back.format == "PNG" and np.array_equal(np.asarray(back), pixels)


def test_info_never_prints_a_traceback_for_odd_shapes(tmp_path):
    from rcodec import container

    for shape in [(), (64,)]:
        header = container.Header("lossless", 1, "rans", 1, "image", shape, "uint8")
        path = tmp_path / f"odd{len(shape)}.rcz"
        path.write_bytes(container.write(container.Container(header, [b"x"], b"\0" * 16)))
        result = CliRunner().invoke(cli, ["info", str(path)])
        assert result.exception is None or isinstance(result.exception, SystemExit)
