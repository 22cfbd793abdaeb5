"""Many files per call: -r with a mirrored tree under -o DIR, -T worker processes, errors reported as the batch goes
on, a progress bar and a summary line."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import rcodec
from rcodec import batch
from rcodec.cli import _load_plugin_commands, cli

_load_plugin_commands()


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def tree(tmp_path, small_image) -> Path:
    """src/a0..a2.png, src/sub/b0..b1.png and a damaged src/sub/bad.png."""
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    for i in range(3):
        Image.fromarray(np.roll(small_image, i, axis=0)).save(src / f"a{i}.png")
    for i in range(2):
        Image.fromarray(np.roll(small_image, i, axis=1)[:, :20]).save(src / "sub" / f"b{i}.png")
    (src / "sub" / "bad.png").write_bytes(b"not an image")
    return src


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_recursive_mirrors_the_tree_and_reports_failures_while_going_on(tree, tmp_path):
    out = tmp_path / "out"
    result = run("compress", "-r", str(tree), "-o", str(out))
    assert result.exit_code == 1  # one file failed; the others were still compressed
    assert _files(out) == ["a0.png.rcz", "a1.png.rcz", "a2.png.rcz", "sub/b0.png.rcz", "sub/b1.png.rcz"]
    assert "bad.png" in result.output and "5 files compressed" in result.output and "1 failed" in result.output
    back = tmp_path / "back"
    result = run("decompress", "-r", str(out), "-o", str(back))
    assert result.exit_code == 0, result.output
    assert _files(back) == ["a0.png", "a1.png", "a2.png", "sub/b0.png", "sub/b1.png"]
    for name in _files(back):
        assert np.array_equal(np.asarray(Image.open(back / name)), np.asarray(Image.open(tree / name)))


def test_recursive_in_place_skips_compressed_files(tree):
    assert run("compress", "-r", str(tree)).exit_code == 1  # bad.png
    assert (tree / "sub" / "b1.png.rcz").exists()
    # A second pass does not compress the .rcz files again; the outputs exist, so each file fails without -f.
    result = run("compress", "-r", str(tree))
    assert result.exit_code == 1 and ".rcz.rcz" not in result.output and "already exists" in result.output
    assert not list(tree.rglob("*.rcz.rcz"))


def test_directory_without_recursive_is_an_error_and_the_rest_goes_on(tree, tmp_path):
    result = run("compress", str(tree), str(tree / "a0.png"), "-o", str(tmp_path / "out"))
    assert result.exit_code == 1 and "use -r" in result.output
    assert (tmp_path / "out" / "a0.png.rcz").exists()


def test_two_inputs_with_one_output_name_are_refused(tree, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "a0.png").write_bytes((tree / "a1.png").read_bytes())
    out = tmp_path / "out"
    result = run("compress", str(tree / "a0.png"), str(other / "a0.png"), "-o", str(out))
    assert result.exit_code == 1 and "would overwrite" in result.output
    assert _files(out) == ["a0.png.rcz"]
    assert run("decompress", str(out / "a0.png.rcz"), "-o", "-").exit_code == 0


def test_stdout_takes_no_workers(tree):
    result = CliRunner().invoke(cli, ["compress", "-c", "-T", "2", str(tree / "a0.png")])
    assert result.exit_code == 2 and "-T" in result.output


def test_workers_write_the_same_files_as_one_process(tree, tmp_path):
    """Real processes: -T 2 forks workers; every output is identical to the one-process result."""
    for workers in ("1", "2"):
        proc = subprocess.run([sys.executable, "-m", "rcodec", "compress", "-r", "-T", workers, str(tree), "-o",
                               str(tmp_path / f"t{workers}")], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 1 and "bad.png" in proc.stderr and "5 files compressed" in proc.stderr
        assert "Traceback" not in proc.stderr
    names = _files(tmp_path / "t1")
    assert names == _files(tmp_path / "t2") and len(names) == 5
    for name in names:
        assert (tmp_path / "t1" / name).read_bytes() == (tmp_path / "t2" / name).read_bytes()


def test_progress_bar_shows_files_per_second_and_the_running_ratio(monkeypatch):
    tasks = [batch.Task(f"f{i}") for i in range(3)] + [batch.Task("broken", error="is a directory")]
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(batch.os.path, "getsize", lambda name: 100)
    failed = batch.run(tasks, lambda name, out_dir: 25, workers=1, progress=True)
    text = err.getvalue()
    assert failed == 1
    assert "files/s" in text and "ratio 25.0%" in text and "broken: is a directory" in text
    assert "3 files compressed, 300 -> 75 bytes (25.00%)" in text and "1 failed" in text


def test_one_file_prints_no_summary(tree):
    result = run("compress", str(tree / "a0.png"))
    assert result.exit_code == 0 and result.output == ""


def test_a_worker_that_dies_is_a_clear_error(tmp_path):
    def die(name, out_dir):
        if name == "b":
            import os

            os._exit(3)
        return 1

    tasks = [batch.Task(n) for n in ("a", "b", "c", "d")]
    with pytest.raises(rcodec.RcodecError, match="worker process died"):
        batch.run(tasks, die, workers=2)
