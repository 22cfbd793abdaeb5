"""How learned codecs run their float transforms: one torch thread, no autograd, a malloc that keeps its memory.

One thread because torch's kernels may sum in another order with more threads, which changes the last bits and,
rarely, a decoded pixel; at the sizes a codec runs, one thread is about as fast as two. No autograd because a codec
never needs gradients, and the setting is scoped: a caller's own training loop keeps its gradients.

The allocator: a transform's activations are tens of MB each. glibc's malloc serves blocks that large with fresh
mmap'ed pages and unmaps them when freed, so every transform pays page faults on all its memory again; measured on
a 2-core machine, that was a quarter of a Kodak image's synthesis. `tune_allocator` lets blocks up to 32 MiB come
from the heap and keeps up to 256 MiB of freed heap for reuse. It changes the whole process's malloc, so only the
`rcodec` command calls it (at start, unless RCODEC_MALLOC_TUNING=0); a program using rcodec as a library keeps
its own malloc settings and may call it itself.

Thread settings are per calling thread: torch keeps its thread count per OS thread once that thread has used it,
so each scope saves and restores the count of the thread it runs on, and the caller's count that `caller_threads`
gives back is kept per thread too: codecs may run in several threads at once.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache, wraps
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

F = TypeVar("F", bound=Callable[..., Any])

# mallopt parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's upper bound for this setting on 64-bit machines
TRIM_THRESHOLD = 256 << 20


@cache
def tune_allocator() -> bool:
    """Set glibc malloc's mmap and trim thresholds for large tensors; True if they were set. Once per process, and
    only by the process's owner (the `rcodec` command, or a program that opts in): never by a codec call."""
    if not sys.platform.startswith("linux") or os.environ.get("RCODEC_MALLOC_TUNING", "1") == "0":
        return False
    import ctypes  # here: `rcodec --help` should not pay for it

    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the process already runs on
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
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(1, thread_name_prefix="rcodec-side")


# A forked child (multiprocessing's default on Linux) inherits the executor but not its thread: work submitted
# there would wait forever. The child starts a thread of its own on first use instead.
os.register_at_fork(after_in_child=side_thread.cache_clear)


@contextmanager
def codec_inference() -> Iterator[None]:
    """Run the enclosed torch code on one thread with gradients off, restoring both afterwards."""
    import torch

    stack = _callers()
    before = torch.get_num_threads()
    stack.append(before)
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            yield
    finally:
        stack.pop()
        torch.set_num_threads(before)


_local = threading.local()


def _callers() -> list[int]:
    """This thread's stack of the thread counts its enclosing `codec_inference` scopes found on entry."""
    if not hasattr(_local, "callers"):
        _local.callers = []
    return _local.callers


@contextmanager
def caller_threads() -> Iterator[None]:
    """Inside `codec_inference`: give the enclosed code the thread count the caller had. Only for encoder-side
    work whose floats no decoder recomputes (an encoder's search), never for anything a decoder must match."""
    import torch

    during = torch.get_num_threads()
    stack = _callers()
    torch.set_num_threads(stack[-1] if stack else during)
    try:
        yield
    finally:
        torch.set_num_threads(during)


@contextmanager
def torch_threads(count: int | None = None) -> Iterator[None]:
    """Run the enclosed torch code (an encoder's fit, a training run) on `count` threads, or on whatever it sets
    itself when `count` is None; the caller's count comes back on exit."""
    import torch

    before = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def restores_threads(function: F) -> F:
    """Decorator for entry points that set torch's thread count for their run (training, export, evaluation):
    the caller's count comes back when they return or raise."""

    @wraps(function)
    def scoped(*args: Any, **kwargs: Any) -> Any:
        with torch_threads():
            return function(*args, **kwargs)

    return scoped  # type: ignore[return-value]
