"""`hyperprior` version 3: y coded with the shipped context model; version-2 files and bad headers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import rcodec
from rcodec import container


@pytest.fixture(scope="module")
def crop(small_image) -> np.ndarray:
    return small_image


def test_files_record_and_use_the_context_model(crop):
    from rcodec.plugins.hyperprior.context import shipped_context

    data = rcodec.encode(crop, codec="hyperprior", quality=4)
    header = container.read_header(data)[0]
    model = rcodec.get_registry().codec("hyperprior").model(None)
    found = shipped_context(model)
    assert header.codec_version == 3
    assert found is not None, "the shipped context weights must fit the shipped transforms"
    assert header.params["context"] == found[1]
    assert rcodec.decode(data).shape == crop.shape


def _with_params(data: bytes, **params) -> bytes:
    c = container.read(data)
    header = dataclasses.replace(c.header, params={**c.header.params, **params})
    return container.write(dataclasses.replace(c, header=header))


def test_unknown_or_malformed_context_weights_are_clear_errors(crop):
    data = rcodec.encode(crop, codec="hyperprior", quality=2)
    with pytest.raises(rcodec.WeightsError, match="context weights"):
        rcodec.decode(_with_params(data, context=bytes(32)))
    with pytest.raises(rcodec.FormatError, match="context must be bytes"):  # refused by the header check
        rcodec.decode(_with_params(data, context="x"))
    with pytest.raises(rcodec.FormatError, match="context"):
        rcodec.decode(_with_params(data, context=bytes(5)))
