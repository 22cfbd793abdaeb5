"""Codecs and their commands must leave the caller's torch state alone: a user's training loop in the same process
keeps its gradients and its thread count."""

import numpy as np
import torch
from click.testing import CliRunner

import rcodec
from rcodec.cli import _load_plugin_commands, cli


def test_codecs_and_commands_keep_autograd_and_threads():
    _load_plugin_commands()
    threads = torch.get_num_threads()
    image = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    for codec in ("hyperprior", "hyperprior-iscs"):
        rcodec.decode(rcodec.encode(image, codec=codec, quality=2))
    result = CliRunner().invoke(cli, ["iscs", "analyze", "--quality", "1"])
    assert result.exit_code == 0, result.output
    assert torch.is_grad_enabled()
    assert torch.get_num_threads() == threads
    weight = torch.ones(2, requires_grad=True)
    (weight * 3).sum().backward()
    assert weight.grad is not None


def test_allocator_tuning_can_be_turned_off():
    import subprocess
    import sys

    code = "from rcodec.torch_runtime import tune_allocator; print(tune_allocator())"
    off = subprocess.run([sys.executable, "-c", code], env={**__import__("os").environ, "RCODEC_MALLOC_TUNING": "0"},
                         capture_output=True, text=True, check=True)
    assert off.stdout.strip() == "False"
    on = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert on.stdout.strip() == ("True" if sys.platform.startswith("linux") else "False")


def test_side_thread_hyper_synthesis_is_exact():
    """The last layer's halves computed on two threads give the same integers as one pass."""
    from rcodec.plugins.hyperprior import fixed_point
    from rcodec.torch_runtime import codec_inference, side_thread

    model = rcodec.get_registry().codec("hyperprior").model(None)
    z = torch.from_numpy(np.random.default_rng(1).integers(-6, 7, (1, model.z_tables.count, 3, 5))).double()
    with codec_inference():
        plain = fixed_point.run_synthesis(model.hyper, z, model.z_inverse_gain_fixed[3])
        split = fixed_point.run_synthesis(model.hyper, z, model.z_inverse_gain_fixed[3], side_thread())
    assert torch.equal(plain, split)
    assert plain.abs().sum() > 0


def test_entry_points_that_set_threads_restore_them():
    """Training, export and evaluation set torch's thread count for their run; the caller gets its own back,
    also when they fail."""
    import pytest

    from rcodec.plugins.vqgan.training import train
    from rcodec.torch_runtime import restores_threads

    @restores_threads
    def run(threads: int) -> None:
        torch.set_num_threads(threads)
        raise RuntimeError("stopped")

    before = torch.get_num_threads()
    with pytest.raises(RuntimeError):
        run(before + 1)
    assert torch.get_num_threads() == before
    assert train.__wrapped__  # the real entry points carry the decorator
