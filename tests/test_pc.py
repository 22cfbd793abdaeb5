"""pc-mnist and rcodec.entropy.pc: exact round trips, refusals, the cached conditionals against references."""

from __future__ import annotations

import io
import itertools
import math

import numpy as np
import pytest

import rcodec
from conftest import DATA
from rcodec.entropy.pc import random_tree
from rcodec.entropy.pc.conditionals import CodingModel, conditionals, naive_conditionals

torch = pytest.importorskip("torch")
MNIST_TEST = DATA / "mnist" / "t10k-images-idx3-ubyte.gz"
# Measured: 1.2366 bpd for the shipped model on the first 100 test images (1.276 on all 10,000).
THEORETICAL_BPD_BOUND = 1.30


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    from rcodec.plugins.pc.mnist import load_images

    return load_images(MNIST_TEST, 100)


def _tiny_hclt(d: int, hidden: int, categories: int, seed: int):
    from rcodec.entropy.pc import HCLT

    model = HCLT(random_tree(d, np.random.default_rng(seed)), hidden, categories).double()
    model.randomize(torch.Generator().manual_seed(seed), noise=1.5)
    return model


def test_round_trip_exact(digits):
    blank = np.zeros((28, 28), np.uint8)
    full = np.full((28, 28), 255, np.uint8)
    for img in [*digits[:3], blank, full]:
        data = rcodec.encode(img, codec="pc-mnist")
        assert rcodec.info(data)["codec"] == "pc-mnist"
        assert np.array_equal(rcodec.decode(data), img)


def test_png_input(digits):
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(digits[3]).save(buf, format="PNG")
    assert np.array_equal(rcodec.decode(rcodec.encode(buf.getvalue(), codec="pc-mnist")), digits[3])


@pytest.mark.parametrize("shape", [(28, 28, 3), (27, 28), (56, 56)])
def test_wrong_shape_refused(shape):
    with pytest.raises(rcodec.MediaError, match="28x28 grayscale"):
        rcodec.encode(np.zeros(shape, np.uint8), codec="pc-mnist")


def test_tampered_weights_refused(tmp_path):
    from rcodec.plugins.pc.weights import WEIGHTS_NAME, verified_path

    fake = tmp_path / WEIGHTS_NAME
    fake.write_bytes(b"not the shipped weights")
    with pytest.raises(rcodec.WeightsError, match="sha256"):
        verified_path(fake)


def test_cached_conditionals_equal_naive():
    rng = np.random.default_rng(3)
    for d in (1, 2, 15, 40):
        tree = random_tree(d, rng)
        model = CodingModel(tree.parent, rng.random(4), rng.random((d, 4, 4)) ** 3, rng.random((d, 7, 4)) ** 3)
        x = rng.integers(0, 7, d)
        fast, naive = conditionals(model, x), naive_conditionals(model, x)
        np.testing.assert_allclose(fast, naive, rtol=0, atol=1e-12)
        np.testing.assert_allclose(fast.sum(axis=1), 1.0, atol=1e-9)


def test_marginals_exact_by_enumeration():
    d, c = 4, 3
    model = _tiny_hclt(d, 2, c, seed=5)
    every = torch.as_tensor(list(itertools.product(range(c), repeat=d)))
    with torch.no_grad():
        joint = torch.exp(model.log_likelihood(every))
        assert float(joint.sum()) == pytest.approx(1.0, abs=1e-12)
        # Marginalising variables 1 and 3 (leaves set to 1) equals summing the joint over them.
        observed = torch.tensor([[True, False, True, False]]).expand(len(every), d)
        marg = torch.exp(model.log_likelihood(every, observed)).reshape(c, c, c, c)
        brute = joint.reshape(c, c, c, c).sum(dim=(1, 3), keepdim=True).expand(c, c, c, c)
        torch.testing.assert_close(marg, brute, rtol=1e-10, atol=0)
        # A marginal over one variable sums to 1.
        one = torch.zeros(c, d, dtype=torch.bool)
        one[:, 2] = True
        x = torch.zeros(c, d, dtype=torch.long)
        x[:, 2] = torch.arange(c)
        assert float(torch.exp(model.log_likelihood(x, one)).sum()) == pytest.approx(1.0, abs=1e-12)


def test_conditionals_match_circuit_marginals():
    d, c = 9, 4
    model = _tiny_hclt(d, 3, c, seed=1)
    coding = CodingModel.from_state(model.export())
    x = np.random.default_rng(2).integers(0, c, d)
    fast = conditionals(coding, x)
    with torch.no_grad():
        for n, i in enumerate(coding.order.tolist()):
            xs = torch.as_tensor(np.tile(x, (c, 1)))
            xs[:, i] = torch.arange(c)
            observed = torch.zeros(c, d, dtype=torch.bool)
            observed[:, coding.order[: n + 1]] = True
            ratio = torch.softmax(model.log_likelihood(xs, observed), 0).numpy()
            np.testing.assert_allclose(fast[n], ratio, atol=1e-10)
    bits = -np.log2(fast[np.arange(d), x[coding.order]]).sum()
    with torch.no_grad():
        nats = -float(model.log_likelihood(torch.as_tensor(x[None])))
    assert bits == pytest.approx(nats / math.log(2), rel=1e-6)


def test_theoretical_bits_of_shipped_model(digits):
    from rcodec.plugins.pc.bench import theoretical_bits

    bpd = theoretical_bits(digits).sum() / digits.size
    assert bpd < THEORETICAL_BPD_BOUND


def test_strip_of_digits_round_trip_and_beats_single_files(digits):
    strip = digits[:40].reshape(-1, 28)
    data = rcodec.encode(strip, codec="pc-mnist")
    assert np.array_equal(rcodec.decode(data), strip)
    # One stream for all digits: the per-file header and coder flush are paid once.
    singles = sum(len(rcodec.encode(d, codec="pc-mnist")) for d in digits[:40])
    assert len(data) < singles - 39 * 100


def test_strip_with_a_partial_digit_refused():
    with pytest.raises(rcodec.MediaError, match="strip"):
        rcodec.encode(np.zeros((70, 28), np.uint8), codec="pc-mnist")


def _kernel_pmfs(coding, values: np.ndarray, threads: int = 1) -> np.ndarray:
    from rcodec.entropy.pc.conditionals import BatchConditionals

    steps = BatchConditionals(coding, len(values), threads)
    out = []
    for _ in range(coding.size):
        out.append(steps.pmf().copy())
        steps.observe(values[:, steps.variable])
    return np.stack(out, axis=1)  # (batch, D, C) in coding order


def test_kernel_matches_numpy_conditionals_and_is_batch_and_thread_independent():
    model = _tiny_hclt(30, 5, 7, seed=3)
    coding = CodingModel.from_state(model.export())
    values = np.random.default_rng(1).integers(0, 7, (9, 30))
    batch = _kernel_pmfs(coding, values)
    for b in range(len(values)):
        reference = conditionals(coding, values[b])
        assert np.abs(batch[b] - reference).max() <= 2.0**-39  # float rounding only, then the 2**-40 grid
        assert np.array_equal(_kernel_pmfs(coding, values[b : b + 1])[0], batch[b])  # alone == in a batch
    assert np.array_equal(_kernel_pmfs(coding, values, threads=3), batch)


def test_kernel_tables_quantise_like_quantize_pmf():
    from rcodec.entropy import quantize_pmf
    from rcodec.entropy.pc.conditionals import BatchConditionals

    coding = CodingModel.from_state(_tiny_hclt(12, 4, 9, seed=5).export())
    steps = BatchConditionals(coding, 3)
    for _ in range(coding.size):
        tables = steps.tables(12)
        assert np.array_equal(np.diff(tables.cdf, axis=1), quantize_pmf(steps.pmf(), 12))
        steps.observe(np.array([0, 4, 8]))


class _BitsCodec(rcodec.Codec):
    """A second codec on the PC entropy model: 16-pixel binary patterns coded with an HCLT's exact conditionals,
    through the public API only (rcodec.entropy.pc + the sink/source)."""

    id = "test-pc-bits"
    media = ("image",)
    lossless = True
    description = "binary 4x4 patterns, HCLT prior"
    coding = None

    def encode(self, media, params, sink):
        from rcodec.entropy.pc.conditionals import BatchConditionals

        x = media.data.reshape(-1, 16).astype(np.int64)
        steps = BatchConditionals(self.coding, len(x))
        for _ in range(16):
            values = x[:, steps.variable]
            sink.write(values, steps.tables(), np.arange(len(x)))
            steps.observe(values)
        return rcodec.EncodeResult()

    def decode(self, source, header, options):
        from rcodec.entropy.pc.conditionals import BatchConditionals

        x = np.zeros((header.shape[0] // 4, 16), np.uint8)
        steps = BatchConditionals(self.coding, len(x))
        for _ in range(16):
            v = steps.variable
            x[:, v] = source.read(steps.tables(), np.arange(len(x)))
            steps.observe(x[:, v])
        return rcodec.media.Media("image", x.reshape(header.shape))


def test_pc_entropy_model_in_another_codec():
    from rcodec.entropy.pc import HCLT

    # Data with structure: each pattern is one of two templates with a few flipped pixels.
    rng = np.random.default_rng(0)
    templates = np.array([[1, 0] * 8, [1, 1, 0, 0] * 4])
    data = templates[rng.integers(0, 2, 2000)] ^ (rng.random((2000, 16)) < 0.05)
    model = HCLT(random_tree(16, np.random.default_rng(0)), 4, 2).double()
    model.randomize(torch.Generator().manual_seed(0))
    for _ in range(30):
        model.log_likelihood(torch.as_tensor(data)).sum().backward()
        model.em_update(0.5, 0.01)
    _BitsCodec.coding = CodingModel.from_state(model.export())

    class Plugin:
        @rcodec.hookimpl
        def rcodec_register_codecs(self, register):
            register(_BitsCodec)

    registry = rcodec.get_registry()
    registry.register_plugin(Plugin(), name="test-pc-bits")
    try:
        patterns = data[:500].astype(np.uint8).reshape(-1, 4)
        encoded = rcodec.encode(patterns, codec="test-pc-bits")
        assert np.array_equal(rcodec.decode(encoded), patterns)
        with torch.no_grad():
            bits = -float(model.log_likelihood(torch.as_tensor(data[:500])).sum()) / math.log(2)
        payload = len(encoded) - len(rcodec.encode(patterns[:4], codec="test-pc-bits"))
        assert bits < 0.5 * 8000  # the model learned the structure: far below 1 bit per pixel
        assert payload * 8 < bits * 1.05 + 64
    finally:
        registry.unregister_plugin("test-pc-bits")
