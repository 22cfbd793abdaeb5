"""The `rcodec` command line, with zstd's conventions: keep the source, -f to overwrite, -c to stdout,
`-` for stdin/stdout, exit status 0 (ok), 1 (error), 2 (usage)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from .cli_options import CodecOptionsCommand, codec_help, declared_values, option_rows
from .errors import RcodecError

SUFFIX = ".rcz"


def _fail(message: str) -> None:
    click.echo(f"rcodec: {message}", err=True)


def _parse_params(items: tuple[str, ...]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--param")
        params[key.strip().replace("-", "_")] = value
    return params


def _read_input(name: str) -> tuple[bytes, Path | None]:
    from .fileio import read_file

    if name == "-":
        return sys.stdin.buffer.read(), None
    return read_file(name), Path(name)


def _deliver(data: bytes, target: Path | None, source: Path | None, remove_source: bool, to_terminal_ok: bool) -> int:
    """Write the result atomically (or to stdout when target is None), with the source's permission bits; remove
    the source only after that. Returns the bytes written."""
    from .fileio import source_mode, write_atomic, write_stdout

    if target is None:
        write_stdout(data, to_terminal_ok)
        return len(data)
    write_atomic(target, data, source_mode(source))
    if remove_source and source is not None:
        source.unlink()
    return len(data)


_OUTPUT_HELP = ("Output file; with several inputs or -r, a directory (created if needed; directory trees are "
                "mirrored under it). '-' for stdout.")


def _batch_options(command):
    command = click.option("-T", "--workers", type=click.IntRange(min=0), default=1, show_default=True,
                           help="Worker processes, each loading its model once (0: one per CPU core).")(command)
    return click.option("-r", "--recursive", is_flag=True, help="Process the files under directories.")(command)


def _plan(inputs, recursive: bool, output: str | None, to_stdout: bool, workers: int, wanted):
    """The batch's tasks, and the -o value left for single-file naming (None when -o names a directory)."""
    from .batch import plan

    if to_stdout and workers != 1:
        raise click.UsageError("-c writes the files one after another: it takes no -T")
    tasks, to_dir = plan(inputs, recursive, output, wanted)
    return tasks, (None if to_dir else output)


def _run_batch(tasks, action, workers: int, verb: str, compressing: bool) -> None:
    """Run the batch (progress bar and summary for several files); exit 1 at the end if any file failed."""
    from .batch import run

    if run(tasks, action, workers, verb, compressing):
        sys.exit(1)


def _run_each(inputs: tuple[str, ...], action) -> None:
    """Apply `action` to each input; report failures one line each; exit 1 if any failed."""
    failed = False
    for name in inputs:
        try:
            action(name)
        except RcodecError as exc:
            message = str(exc)
            _fail(message if message.startswith(f"{name}: ") else f"{name}: {message}")
            failed = True
    if failed:
        sys.exit(1)


class _Group(click.Group):
    """Turns RcodecError into one line on stderr and exit status 1 (click itself uses 2 for usage errors)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RcodecError as exc:
            _fail(str(exc))
            ctx.exit(1)
        except BrokenPipeError:
            ctx.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rcodec", prog_name="rcodec")
def cli() -> None:
    """Compress images, audio and video with learned codecs into .rcz files.

    \b
    Examples:
      rcodec compress photo.png                 # writes photo.png.rcz (lossless by default)
      rcodec compress -q 4 --codec hyperprior photo.png
      rcodec compress clip.mp4                  # video: lossless; --codec nirvana -q 3 for a learned lossy one
      rcodec decompress photo.png.rcz           # writes photo.png
      cat photo.png | rcodec compress -c - > photo.rcz
      rcodec info photo.png.rcz; rcodec codecs; rcodec codecs hyperprior  # a codec's options
    """


@cli.command(cls=CodecOptionsCommand)
@click.argument("inputs", nargs=-1, required=True, metavar="IN...")
@click.option("-o", "--output", type=click.Path(), help=_OUTPUT_HELP)
@click.option("--codec", "codec_id", default=None,
              help="Codec id (see `rcodec codecs`); default: jpeg (the same file back) for JPEG files, else lossless.")
@click.option("-q", "--quality", type=int, default=None, help="Rate point of a lossy codec (higher: better, larger).")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Codec parameter; repeatable (`rcodec codecs ID` lists a codec's parameters).")
@click.option("--coder", default=None, help="Entropy coder backend (rans, ans, range); default: the fastest one.")
@click.option("--weights", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Use this checkpoint instead of the codec's shipped weights (e.g. a CompressAI zoo file).")
@click.option("-f", "--force", is_flag=True, help="Overwrite existing output; allow binary output to a terminal.")
@click.option("-c", "--stdout", "to_stdout", is_flag=True, help="Write to standard output; keep the input.")
@click.option("--rm", "remove_source", is_flag=True, help="Remove the input after successful compression.")
@click.option("-k", "--keep", is_flag=True, help="Keep the input (the default; accepted as gzip and zstd do).")
@_batch_options
def compress(inputs, output, codec_id, quality, params, coder, weights, force, to_stdout, remove_source, keep,
             recursive, workers, **codec_flags) -> None:
    """Compress image, audio or video files to .rcz (IN.rcz beside each input; '-' reads stdin)."""
    from . import media as media_mod
    from .fileio import check_output
    from .pipeline import encode_prepared, prepare

    if keep and remove_source:
        raise click.UsageError("--keep and --rm contradict each other")
    tasks, output = _plan(inputs, recursive, output, to_stdout, workers, lambda path: not path.endswith(SUFFIX))
    codec_params = _parse_params(params)
    if quality is not None:
        codec_params["quality"] = quality
    codec_params.update(declared_values(codec_flags))
    if weights is not None:
        codec_params["weights"] = weights

    def one(name: str, out_dir: Path | None = None) -> int:
        data, source = _read_input(name)
        target = _output_path(name, output, to_stdout, lambda n: n + SUFFIX, out_dir)
        if target is not None:
            if name != "-" and name.endswith(SUFFIX) and output is None:
                raise RcodecError(f"{name}: already has the {SUFFIX} suffix")
            check_output(target, source, force)
        media = media_mod.load_bytes(data, name)
        media, codec_obj, coder_obj, resolved = prepare(media, codec_id, coder, name, **codec_params)
        return _deliver(encode_prepared(media, codec_obj, coder_obj, resolved), target, source, remove_source, force)

    _run_batch(tasks, one, workers, "compressed", True)


def _known_suffixes() -> dict[str, str]:
    from .media import AUDIO_SUFFIXES, IMAGE_SUFFIXES, STACK_SUFFIXES
    from .videofile import VIDEO_SUFFIXES

    return IMAGE_SUFFIXES | AUDIO_SUFFIXES | STACK_SUFFIXES | VIDEO_SUFFIXES


def _same_format(a: str, b: str) -> bool:
    table = _known_suffixes()
    return table.get(a.lower()) == table.get(b.lower())


def _output_path(name: str, output: str | None, to_stdout: bool, default, out_dir: Path | None = None) -> Path | None:
    if to_stdout or output == "-":
        return None
    if out_dir is not None:
        return out_dir / Path(default(name)).name
    if output:
        return Path(output)
    if name == "-":
        raise RcodecError("reading standard input: give -o FILE or -c")
    return Path(default(name))


@cli.command(cls=CodecOptionsCommand, decoding=True)
@click.argument("inputs", nargs=-1, required=True, metavar="IN...")
@click.option("-o", "--output", type=click.Path(), help=_OUTPUT_HELP)
@click.option("-f", "--force", is_flag=True, help="Overwrite existing output.")
@click.option("-c", "--stdout", "to_stdout", is_flag=True, help="Write to standard output.")
@click.option("--rm", "remove_source", is_flag=True, help="Remove the .rcz input after successful decompression.")
@click.option("--weights", type=click.Path(exists=True, dir_okay=False), default=None,
              help="The checkpoint the file was compressed with, if it was not the codec's shipped weights.")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Decode option; repeatable (`rcodec codecs ID` lists a codec's decode options).")
@click.option("-k", "--keep", is_flag=True, help="Keep the input (the default; accepted as gzip and zstd do).")
@click.option("--format", "out_format", default=None, metavar="EXT",
              help="Write this file format (e.g. png, wav, mkv, y4m, mp4). Video is written exactly as FFV1 in .mkv "
                   "by default; mp4 and webm re-encode it at high quality (H.264 / VP9), close to but not equal to "
                   "the decoded frames.")
@_batch_options
def decompress(inputs, output, force, to_stdout, remove_source, weights, params, keep, out_format, recursive, workers,
               **codec_flags) -> None:
    """Decompress .rcz files, restoring the original format where that is exact (x.png.rcz -> x.png; a JPEG's
    pixels come back as x.png, an animation as APNG)."""
    from . import container
    from .dataset import is_dataset
    from .fileio import check_output
    from .media import default_suffix, to_file, writable_suffixes
    from .pipeline import decode_container

    if keep and remove_source:
        raise click.UsageError("--keep and --rm contradict each other")
    tasks, output = _plan(inputs, recursive, output, to_stdout, workers, lambda path: path.endswith(SUFFIX))
    options = _parse_params(params) | ({"weights": weights} if weights else {}) | declared_values(codec_flags)
    known_suffixes = _known_suffixes()
    asked = "." + out_format.lower().lstrip(".") if out_format else None
    if asked is not None and asked not in known_suffixes:
        raise click.UsageError(f"--format {out_format}: unknown format (known: "
                               f"{', '.join(sorted(s.lstrip('.') for s in known_suffixes))})")

    def default_name(name: str) -> str:
        if not name.endswith(SUFFIX):
            raise RcodecError(f"{name}: unknown suffix (expected {SUFFIX}; use -o to name the output)")
        return name[: -len(SUFFIX)]

    def one(name: str, out_dir: Path | None = None) -> int:
        data, source = _read_input(name)
        target = _output_path(name, output, to_stdout, default_name, out_dir)
        parsed = container.read(data)  # cheap: checksums and lengths, no decoding
        h = parsed.header
        writable = writable_suffixes(h.media, is_dataset(parsed))
        suffix = asked
        if target is not None:
            if output is None:
                # The original format where it can hold the output exactly (x.jpg.rcz -> x.png), or the one asked.
                best = asked or default_suffix(h.original_format, h.media, h.layout)
                known = target.suffix.lower() in known_suffixes
                if not known:
                    target = target.with_name(target.name + best)
                elif target.suffix.lower() != best and not _same_format(target.suffix, best):
                    target = target.with_suffix(best)
            check_output(target, source, force)
            if asked is None and target.suffix.lower() in writable and (
                    output is not None or target.suffix.lower() in (".idx", ".gz")):
                suffix = target.suffix  # asked for by name, or a stack's own (x.gz.rcz -> x.gz, gzip'd again)
        media, report = decode_container(parsed, **options)
        if remove_source and report.partial:
            raise RcodecError(f"{name}: --rm with a partial decode ({', '.join(sorted(options))}) would delete the "
                              "only full-quality copy")
        file_bytes, written, exact = to_file(media, suffix)
        if target is not None and output is None and not _same_format(written, target.suffix):
            target = target.with_suffix(written)  # the original format turned out not to hold it exactly
            check_output(target, source, force)
        if not exact:
            click.echo(f"rcodec: warning: {target or 'output'}: {suffix} does not hold the decoded "
                       f"{media.kind} exactly", err=True)
        return _deliver(file_bytes, target, source, remove_source, True)

    _run_batch(tasks, one, workers, "decompressed", False)


@cli.command()
@click.argument("inputs", nargs=-1, required=True, metavar="FILE...")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def info(inputs, as_json) -> None:
    """Show what a .rcz file holds (header only; instant)."""
    from .pipeline import info as info_of

    results = []

    def one(name: str) -> None:
        data, _ = _read_input(name)
        facts = info_of(data)
        facts["file"] = name
        results.append(facts)
        if not as_json:
            shape = "x".join(str(d) for d in facts["shape"])
            rate = f"{facts['bpp']:.4f} bpp" if facts.get("bpp") is not None else f"{facts.get('kbps') or 0:.1f} kbps"
            params = ", ".join(f"{k}={v}" for k, v in facts["params"].items())
            click.echo(f"{name}: {facts['codec']} v{facts['codec_version']} ({facts['coder']}), {facts['media']} "
                       f"{shape}, {facts['compressed_bytes']} bytes, {rate}" + (f", {params}" if params else ""))

    try:
        _run_each(inputs, one)
    finally:
        if as_json and results:
            click.echo(json.dumps(results[0] if len(results) == 1 else results, indent=2))


@cli.command()
@click.argument("inputs", nargs=-1, required=True, metavar="FILE...")
@click.option("--weights", type=click.Path(exists=True, dir_okay=False), default=None,
              help="The checkpoint the file was compressed with, if it was not the codec's shipped weights.")
def test(inputs, weights) -> None:
    """Decode fully and verify every checksum, writing nothing."""
    from .pipeline import decode_bytes

    def one(name: str) -> None:
        data, _ = _read_input(name)
        _, report = decode_bytes(data, **({"weights": weights} if weights else {}))
        if report.output_hash_matches is False and report.header_bound:
            click.echo(f"{name}: OK (symbols exact; decoded pixels differ from the encoder's by float rounding, "
                       "which a lossy codec allows)")
        elif report.output_hash_matches is False:
            click.echo(f"{name}: OK? (symbols exact, decoded pixels differ from the encoder's: float rounding, or an "
                       "edited header, which this file's format (1.0) does not check)")
        else:
            click.echo(f"{name}: OK")

    _run_each(inputs, one)


@cli.command()
@click.argument("codec_id", required=False, metavar="[ID]")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def codecs(codec_id, as_json) -> None:
    """List the available codecs and entropy coders; with ID, that codec's options and decode options."""
    from .registry import get_registry

    registry = get_registry()
    if codec_id is not None:
        cls = type(registry.codec(codec_id))
        if as_json:
            click.echo(json.dumps({"id": cls.id, "version": cls.version, "media": list(cls.media),
                                   "lossless": cls.lossless, "description": cls.description,
                                   "options": option_rows(cls.options),
                                   "decode_options": option_rows(cls.decode_options)}, indent=2))
        else:
            click.echo(codec_help(codec_id))
        return
    rows = [{"id": cid, "version": cls.version, "media": list(cls.media), "lossless": cls.lossless,
             "plugin": plugin, "description": cls.description, "options": sorted(cls.options)}
            for cid, (cls, plugin) in sorted(registry.codec_classes().items())]
    coders = [{"id": cid, "version": c.version, "plugin": plugin, "description": c.description,
               "default": cid == registry.coder().id} for cid, (c, plugin) in sorted(registry.coders().items())]
    if as_json:
        click.echo(json.dumps({"codecs": rows, "coders": coders}, indent=2))
        return
    for r in rows:
        kind = "lossless" if r["lossless"] else "lossy"
        click.echo(f"{r['id']:<18} v{r['version']:<3} {'/'.join(r['media']):<12} {kind:<9} {r['description']}")
    click.echo("\nentropy coders:")
    for c in coders:
        click.echo(f"{c['id']:<18} v{c['version']:<3} {c['description']}" + (" (default)" if c["default"] else ""))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def plugins(as_json) -> None:
    """List the loaded plugins: name, version and the hooks they implement."""
    from .registry import get_registry

    infos = get_registry().plugins()
    if as_json:
        click.echo(json.dumps([vars(p) for p in infos], indent=2))
        return
    for p in infos:
        origin = "built-in" if p.builtin else (p.version or "?")
        status = f"  FAILED: {p.error}" if p.error else ""
        click.echo(f"{p.name:<20} {origin:<10} {', '.join(p.hooks)}{status}")


@cli.group()
def bench() -> None:
    """Benchmarks: rate, distortion and speed, written as JSON (and plots)."""


@cli.group()
def train() -> None:
    """Train the models that codecs ship with (recipes recorded beside each weights file)."""


_commands_loaded = False


def _load_plugin_commands() -> None:
    global _commands_loaded
    if _commands_loaded:
        return
    _commands_loaded = True
    from .bench.commands import register as register_core_benchmarks
    from .registry import get_registry

    register_core_benchmarks(bench)
    get_registry().pm.hook.rcodec_register_commands(cli=cli)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: add the plugins' commands, then run click. The command owns its process, so it tunes
    malloc for large tensors here (`torch_runtime.tune_allocator`); library calls never do."""
    from .torch_runtime import tune_allocator

    tune_allocator()
    try:
        _load_plugin_commands()
    except RcodecError as exc:
        _fail(str(exc))
        sys.exit(1)
    cli.main(args=argv, prog_name="rcodec")
