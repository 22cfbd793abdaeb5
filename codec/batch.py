"""Many files per call, with zstd's conventions: several inputs, `-r` walks directories (the tree mirrored under
`-o DIR`), `-T N` worker processes, a progress bar, per-file errors reported as they happen, a summary line.

The per-file work is whatever action the command hands over (a function of the input name and the directory to
write into). Workers are forked, so the action, a closure over the parsed command line, needs no pickling; each
worker keeps the models it loads (codecs cache them per process), so a model loads once per worker, not per file.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from .errors import RcodecError

# The action: (input name, directory to write into or None for the command's own naming) -> bytes written.
Action = Callable[[str, "Path | None"], int]


@dataclass
class Task:
    name: str  # as given on the command line or found under a directory
    out_dir: Path | None = None  # where the output goes (None: beside the input, or the command's -o)
    error: str | None = None  # known before running (a directory without -r, two inputs with one output)


@dataclass
class Outcome:
    name: str
    in_bytes: int = 0
    out_bytes: int = 0
    error: str | None = None


def plan(inputs: tuple[str, ...] | list[str], recursive: bool, output: str | None,
         wanted: Callable[[str], bool]) -> tuple[list[Task], bool]:
    """The files to process, and whether `output` names a directory (several inputs, -r, or an existing folder).

    `wanted` filters the files found under a directory (e.g. decompress takes only .rcz files); files named on the
    command line are always tried, so a wrong one gets a clear error."""
    to_dir = bool(output) and output != "-" and (len(inputs) > 1 or recursive or Path(output).is_dir())
    root = Path(output) if to_dir else None
    tasks: list[Task] = []
    for name in inputs:
        if name != "-" and os.path.isdir(name):
            if not recursive:
                tasks.append(Task(name, error="is a directory (use -r to process the files under it)"))
                continue
            tasks.extend(Task(path, _mirror(root, name, path)) for path in _walk(name) if wanted(path))
        else:
            tasks.append(Task(name, root))
    if root is not None:
        seen: dict[tuple[Path | None, str], str] = {}
        for task in tasks:
            if task.error is None:
                key = (task.out_dir, os.path.basename(task.name))
                if key in seen:
                    task.error = f"its output would overwrite that of {seen[key]}"
                seen.setdefault(key, task.name)
    return tasks, to_dir


def _walk(directory: str) -> Iterator[str]:
    """Regular files under `directory`, sorted, skipping hidden files and folders (e.g. half-written temp files)."""
    for top, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for f in sorted(files):
            path = os.path.join(top, f)
            if not f.startswith(".") and os.path.isfile(path):
                yield path


def _mirror(root: Path | None, directory: str, path: str) -> Path | None:
    if root is None:
        return None
    relative = os.path.relpath(os.path.dirname(path), directory)
    return root if relative == "." else root / relative


def _message(name: str, exc: RcodecError) -> str:
    text = str(exc)
    return text if text.startswith(name) else f"{name}: {text}"


def _run_one(action: Action, task: Task) -> Outcome:
    if task.error is not None:
        return Outcome(task.name, error=f"{task.name}: {task.error}")
    try:
        in_bytes = os.path.getsize(task.name) if task.name != "-" else 0
    except OSError:
        in_bytes = 0  # the action reports the missing file
    try:
        if task.out_dir is not None:
            try:
                task.out_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise RcodecError(f"{task.out_dir}: cannot create the output directory ({exc.strerror})") from None
        written = action(task.name, task.out_dir)
    except RcodecError as exc:
        return Outcome(task.name, in_bytes, error=_message(task.name, exc))
    return Outcome(task.name, in_bytes, int(written or 0))


# Set in the parent just before the workers fork; each worker inherits it.
_ACTION: Action | None = None


def _worker(task: Task) -> Outcome:
    assert _ACTION is not None
    return _run_one(_ACTION, task)


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _outcomes(tasks: list[Task], action: Action, workers: int) -> Iterator[Outcome]:
    if workers <= 1 or len(tasks) <= 1:
        for task in tasks:
            yield _run_one(action, task)
        return
    global _ACTION
    _ACTION = action
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            pending: set[Future] = set()
            queue = iter(tasks)
            # A bounded window of submitted tasks: memory stays flat for a million files.
            for task in queue:
                pending.add(pool.submit(_worker, task))
                if len(pending) >= 4 * workers:
                    break
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    try:
                        outcome = future.result()
                    except BrokenProcessPool:
                        raise RcodecError("a worker process died (out of memory, or killed); the files not "
                                          "reported as done were not processed") from None
                    yield outcome
                    task = next(queue, None)
                    if task is not None:
                        pending.add(pool.submit(_worker, task))
    finally:
        _ACTION = None


def run(tasks: list[Task], action: Action, workers: int = 1, verb: str = "compressed",
        compressing: bool = True, progress: bool | None = None) -> int:
    """Run `action` over the tasks; print each failure as it happens and, for more than one file, a progress bar
    (on a terminal, or when `progress` is True) and a summary line, all on stderr. Returns the number that failed.

    `workers`: processes (0: one per core). The running ratio is compressed size over original size, so
    `compressing` says which side of each file is the compressed one."""
    from tqdm import tqdm

    if workers == 0:
        workers = default_workers()
    if workers > 1 and "fork" not in multiprocessing.get_all_start_methods():
        workers = 1  # no fork on this platform: the action cannot be handed to a worker
    if any(task.name == "-" for task in tasks):
        workers = 1  # standard input belongs to this process
    many = len(tasks) > 1
    # disable=None: tqdm draws only on a terminal.
    disable = True if not many or progress is False else (False if progress else None)
    bar = tqdm(total=len(tasks), unit=" files", file=sys.stderr, dynamic_ncols=True, disable=disable)
    failed, files, read, written = 0, 0, 0, 0
    start = time.perf_counter()
    try:
        for outcome in _outcomes(tasks, action, workers):
            if outcome.error is not None:
                failed += 1
                bar.write(f"rcodec: {outcome.error}", file=sys.stderr)
            else:
                files, read, written = files + 1, read + outcome.in_bytes, written + outcome.out_bytes
                ratio = _ratio(read, written, compressing)
                if ratio is not None:
                    bar.set_postfix_str(f"ratio {100 * ratio:.1f}%", refresh=False)
            bar.update(1)
    finally:
        bar.close()
    if many:
        seconds = time.perf_counter() - start
        print(summary(files, failed, read, written, seconds, verb, compressing), file=sys.stderr)
    return failed


def _ratio(read: int, written: int, compressing: bool) -> float | None:
    """Compressed size over original size."""
    small, large = (written, read) if compressing else (read, written)
    return small / large if large else None


def summary(files: int, failed: int, read: int, written: int, seconds: float, verb: str,
            compressing: bool = True) -> str:
    ratio = _ratio(read, written, compressing)
    rate = files / seconds if seconds > 0 else 0.0
    line = (f"rcodec: {files} files {verb}, {read:,} -> {written:,} bytes"
            + (f" ({100 * ratio:.2f}%)" if ratio is not None else "") + f", {seconds:.1f} s, {rate:.2f} files/s")
    return line + (f"; {failed} failed" if failed else "")
