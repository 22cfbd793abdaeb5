"""How learned codecs run their float transforms: one torch thread, no autograd.

One thread because torch's kernels may sum in another order with more threads, which changes the last bits and,
rarely, a decoded pixel; at the sizes a codec runs, one thread is about as fast as two. No autograd because a codec
never needs gradients, and the setting is scoped: a caller's own training loop keeps its gradients.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def codec_inference() -> Iterator[None]:
    """Run the enclosed torch code on one thread with gradients off, restoring both afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            yield
    finally:
        torch.set_num_threads(before)
