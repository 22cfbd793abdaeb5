"""Run one decode in a forked child with CPU, wall-clock and memory limits, so that a hang or a huge allocation
fails the caller instead of taking the machine down.

The parent imports rcodec (and the plugins) once; each attempt forks, so a child starts in milliseconds. The
memory limit caps the address space the child may add to what it inherited (RLIMIT_AS); peak memory is read from
the child's rusage.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MiB = 1 << 20


@dataclass
class Outcome:
    """What one attempt did. `status`: "decoded", "refused" (an rcodec error), "memory" (MemoryError),
    "crash" (any other exception, or a signal), "cpu" (CPU limit), "hang" (wall limit)."""

    status: str
    error: str = ""
    message: str = ""
    seconds: float = 0.0
    peak_mib: float = 0.0  # the child's peak resident size, pages shared with the parent included
    detail: Any = None
    added_mib: float = 0.0  # peak resident size beyond what the parent had resident at the fork
    cpu_seconds: float = 0.0  # the child's user + system time: what a busy machine does not inflate

    @property
    def ok(self) -> bool:
        return self.status in ("decoded", "refused")


def _status_bytes(field_name: str) -> int:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _vm_size() -> int:
    return _status_bytes("VmSize")


def _child(fn: Callable[..., Any], args: tuple, write_fd: int, cpu_s: float, mem_bytes: int) -> None:
    status: dict[str, Any]
    try:
        limit = _vm_size() + mem_bytes
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        cpu = max(1, int(cpu_s + 0.999))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        from rcodec import RcodecError

        try:
            detail = fn(*args)
            status = {"status": "decoded", "detail": detail}
        except RcodecError as exc:
            status = {"status": "refused", "error": type(exc).__name__, "message": str(exc)[:500]}
        except MemoryError:
            status = {"status": "memory", "error": "MemoryError"}
        except BaseException as exc:  # noqa: BLE001 - the point is to catch what rcodec should not raise
            status = {"status": "crash", "error": type(exc).__name__,
                      "message": "".join(traceback.format_exception(exc))[-2000:]}
        data = json.dumps(status, default=str).encode()[:60000]
        os.write(write_fd, data)
    finally:
        os._exit(0)


def single_threaded_torch() -> None:
    """Keep torch in this (parent) process on one thread: an OpenMP thread team that existed before a fork
    deadlocks the child's first parallel kernel. Call before the parent runs any torch code."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)


def run_limited(fn: Callable[..., Any], *args: Any, cpu_s: float = 10.0, wall_s: float = 20.0,
                mem_mib: int = 2048) -> Outcome:
    """Call `fn(*args)` in a forked child under the limits; `fn`'s return value must be JSON-serialisable.
    The caller should have called `single_threaded_torch` before running torch code itself."""
    read_fd, write_fd = os.pipe()
    resident = _status_bytes("VmRSS") / MiB
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child(fn, args, write_fd, cpu_s, mem_mib * MiB)
    os.close(write_fd)
    chunks: list[bytes] = []
    os.set_blocking(read_fd, False)
    killed = False
    while True:
        try:
            chunk = os.read(read_fd, 65536)
            if chunk:
                chunks.append(chunk)
        except BlockingIOError:
            pass
        done, wait_status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() - start > wall_s and not killed:
            os.kill(pid, signal.SIGKILL)
            killed = True
        time.sleep(0.002)
    try:
        while chunk := os.read(read_fd, 65536):
            chunks.append(chunk)
    except BlockingIOError:
        pass
    os.close(read_fd)
    seconds = time.monotonic() - start
    peak = usage.ru_maxrss / 1024
    measures = {"seconds": seconds, "peak_mib": peak, "added_mib": max(0.0, peak - resident),
                "cpu_seconds": usage.ru_utime + usage.ru_stime}
    if killed:
        return Outcome("hang", **measures)
    if os.WIFSIGNALED(wait_status):
        sig = os.WTERMSIG(wait_status)
        status = "cpu" if sig in (signal.SIGXCPU, signal.SIGKILL) else "crash"
        return Outcome(status, error=signal.Signals(sig).name, **measures)
    try:
        result = json.loads(b"".join(chunks) or b"{}")
    except ValueError:
        result = {}
    if "status" not in result:
        return Outcome("crash", error="no result", **measures)
    return Outcome(result["status"], result.get("error", ""), result.get("message", ""),
                   detail=result.get("detail"), **measures)


def decode_and_check(data: bytes) -> dict[str, Any]:
    """Decode fully, as `rcodec test` does; what came out (for the caller to compare with the original)."""
    import hashlib

    from rcodec.pipeline import decode_bytes

    media, report = decode_bytes(data)
    return {"sha256": hashlib.sha256(media.canonical_bytes()).hexdigest(), "shape": list(media.shape),
            "output_hash_matches": report.output_hash_matches, "sample_rate": media.sample_rate,
            "original_format": media.original_format, "dtype": media.dtype,
            "layout": {k: v.hex() if isinstance(v, bytes) else v for k, v in media.layout.items()}}
