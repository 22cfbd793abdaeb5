"""Running the same computation with torch on one thread and on two, for the determinism tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def on_one_and_two_threads(compute: Callable[[], Any]) -> tuple[Any, Any]:
    """`compute()` with torch set to one thread, then to two; the caller's setting is restored."""
    import torch

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = compute()
        torch.set_num_threads(2)
        two = compute()
    finally:
        torch.set_num_threads(before)
    return one, two
