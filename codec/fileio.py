"""Safe output: atomic writes, never over the source, never over an existing file without force."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from .errors import OutputError, RcodecError


def read_file(path: str | os.PathLike, error: type[RcodecError] = RcodecError) -> bytes:
    """The whole file, or `error` with a one-line reason naming the path."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except IsADirectoryError:
        raise error(f"{path}: is a directory") from None
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror})") from None


def check_output(path: Path, source: Path | None, force: bool) -> None:
    """Refuse an output that would replace the input, an existing file (without `force`) or a directory. Messages
    name the output only: the caller names the input."""
    if source is not None and path.exists() and source.exists() and os.path.samefile(path, source):
        raise OutputError(f"output {path} would overwrite the input")
    if path.is_dir():
        raise OutputError(f"output {path} is a directory")
    if path.exists() and not force:
        raise OutputError(f"output {path} already exists (use -f to overwrite)")


def source_mode(source: Path | None) -> int | None:
    """The permission bits an output takes from its source (as gzip and zstd do); None: the umask's default."""
    try:
        return os.stat(source).st_mode & 0o777 if source is not None else None
    except OSError:
        return None


def _umask() -> int:
    """The process umask, read without setting it (os.umask would change it for every thread meanwhile)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def write_atomic(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write to a temporary file beside `path`, then rename: readers never see a half-written file. The file gets
    permission bits `mode`, or those a plain open() would give (0666 less the umask)."""
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror})") from None
    try:
        os.fchmod(fd, mode if mode is not None else 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise OutputError(f"{path}: cannot write ({exc.strerror})") from None
        raise


def write_stdout(data: bytes, binary_to_terminal_ok: bool) -> None:
    out = sys.stdout.buffer
    if out.isatty() and not binary_to_terminal_ok:
        raise OutputError("refusing to write compressed data to a terminal (redirect it, or use -f)")
    out.write(data)
    out.flush()
