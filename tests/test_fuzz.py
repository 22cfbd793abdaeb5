"""The mutation fuzzer (tests/fuzz/campaign.py): a short fixed-seed campaign here, a long one marked slow.

Fails on any crash, hang, CPU or memory overrun, or tampered file of format 1.1 decoded without complaint; the
summary of each run is written to the pytest temporary folder (and failing inputs beside it)."""

from __future__ import annotations

import json

import pytest

from fuzz.campaign import campaign


def _run(tmp_path, attempts: int, seed: int, per_codec: int | None):
    summary = campaign(attempts, seed, crashers=tmp_path / "crashers", per_codec=per_codec)
    (tmp_path / "summary.json").write_text(json.dumps(summary.as_dict(), indent=2))
    assert summary.attempts == attempts
    assert summary.failed() == 0, json.dumps(summary.failures[:5], indent=2)
    return summary


def test_short_campaign_over_every_codec(tmp_path):
    summary = _run(tmp_path, 300, seed=27, per_codec=1)
    assert len(summary.by_codec) >= 10  # every shipped codec was fuzzed
    assert summary.statuses["refused"] > 0


@pytest.mark.slow
def test_long_campaign(tmp_path):
    _run(tmp_path, 20_000, seed=1, per_codec=None)
