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
