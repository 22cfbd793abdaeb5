"""How learned codecs run their float transforms: one torch thread, no autograd, a malloc that keeps its memory.

One thread because torch's kernels may sum in another order with more threads, which changes the last bits and,
rarely, a decoded pixel; at the sizes a codec runs, one thread is about as fast as two. No autograd because a codec
never needs gradients, and the setting is scoped: a caller's own training loop keeps its gradients.

The allocator: a transform's activations are tens of MB each. glibc's malloc serves blocks that large with fresh
mmap'ed pages and unmaps them when freed, so every transform pays page faults on all its memory again; measured on
a 2-core machine, that was a quarter of a Kodak image's synthesis. `tune_allocator` (run once, at the first codec
call) lets blocks up to 32 MiB come from the heap and keeps up to 256 MiB of freed heap for reuse. It touches
glibc only, and is skipped when RCODEC_MALLOC_TUNING=0.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import cache

# mallopt parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's upper bound for this setting on 64-bit machines
TRIM_THRESHOLD = 256 << 20


@cache
def tune_allocator() -> bool:
    """Set glibc malloc's mmap and trim thresholds for large tensors; True if they were set. Once per process."""
    if not sys.platform.startswith("linux") or os.environ.get("RCODEC_MALLOC_TUNING", "1") == "0":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))


@cache
def side_thread() -> ThreadPoolExecutor:
    """One long-lived worker thread for codec work that can run beside the calling thread. Codecs run torch on one
    thread (`codec_inference`), which leaves a second core idle; a task on this thread may use it. Submit only
    under `codec_inference`: the thread's torch takes the one-thread setting at its first use. Tasks must not wait
    for other tasks of this thread."""
    return ThreadPoolExecutor(1, thread_name_prefix="rcodec-side")


# A forked child (multiprocessing's default on Linux) inherits the executor but not its thread: work submitted
# there would wait forever. The child starts a thread of its own on first use instead.
os.register_at_fork(after_in_child=side_thread.cache_clear)


@contextmanager
def codec_inference() -> Iterator[None]:
    """Run the enclosed torch code on one thread with gradients off, restoring both afterwards."""
    import torch

    tune_allocator()
    before = torch.get_num_threads()
    _caller_threads.append(before)
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            yield
    finally:
        _caller_threads.pop()
        torch.set_num_threads(before)


_caller_threads: list[int] = []  # the thread count of each enclosing codec_inference's caller


@contextmanager
def caller_threads() -> Iterator[None]:
    """Inside `codec_inference`: give the enclosed code the thread count the caller had. Only for encoder-side
    work whose floats no decoder recomputes (an encoder's search), never for anything a decoder must match."""
    import torch

    during = torch.get_num_threads()
    torch.set_num_threads(_caller_threads[-1] if _caller_threads else during)
    try:
        yield
    finally:
        torch.set_num_threads(during)
