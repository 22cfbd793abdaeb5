"""Benchmarks behind `rcodec bench ...`: each prints what it measured and writes JSON (and plots)."""
