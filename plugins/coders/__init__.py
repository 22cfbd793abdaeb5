"""Built-in entropy-coder backends: native interleaved rANS (`rans`, the default when built) and constriction's
ANS stack (`ans`) and range coder (`range`)."""

from __future__ import annotations

import rcodec


@rcodec.hookimpl
def rcodec_register_entropy_coders(register) -> None:
    from rcodec.entropy.constriction_coders import AnsCoder, RangeCoder

    register(AnsCoder())
    register(RangeCoder())
    try:
        from rcodec.entropy.rans import RansCoder
    except ImportError:  # the native extension was not built
        return
    register(RansCoder())


@rcodec.hookimpl
def rcodec_register_commands(cli) -> None:
    import click

    @cli.commands["bench"].command(name="entropy")
    @click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the results as JSON here.")
    @click.option("--symbols", type=int, default=10_000_000, show_default=True, help="Symbols per case.")
    @click.option("--repeats", type=int, default=5, show_default=True, help="Runs per measurement (median).")
    def bench_entropy(json_path, symbols, repeats) -> None:
        """Entropy coders side by side (native rans, constriction ans/range, CompressAI's rANS): ns/symbol and
        bits/symbol on a categorical(256) case and a Gaussian case with per-symbol scale index."""
        from rcodec.entropy.bench import format_table, run_entropy_bench, write_bench

        result = run_entropy_bench(symbols, repeats, progress=lambda m: click.echo(m, err=True))
        click.echo(format_table(result))
        click.echo(f"command: {result['command']}")
        if json_path:
            write_bench(result, json_path)
        if not all(r["roundtrip_ok"] for case in result["cases"].values() for r in case.values()):
            raise SystemExit(1)
