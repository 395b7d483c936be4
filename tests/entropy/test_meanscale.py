"""The mean-scale conditional model: means from the integer hyper-synthesis, on a fixed grid, the same for any
batching or process; a float mean one ulp off moves the decoder's latents, the integer one cannot."""
import subprocess
import sys

import numpy as np
import pytest

from rdsweep.entropy.conditional import FRAC, MEAN_FRAC, ConditionalMeanGaussian, IntegerMLP
from tests.conftest import untrained_codec


@pytest.fixture(scope="module")
def codec():
    """An untrained mean-scale codec whose hyper-synthesis is moved so that indexes and means vary."""
    c = untrained_codec(model="meanscale", latent_dims=20)
    hs = c.model.params["hyper_synthesis"]
    rng = np.random.default_rng(0)
    dense = [(np.asarray(hs[k]["kernel"]) * 3 + rng.normal(0, 0.3, hs[k]["kernel"].shape),
              np.asarray(hs[k]["bias"])) for k in ("dense1", "dense2")]
    c.model.entropy["y"] = ConditionalMeanGaussian.build(dense, c.model.entropy["side"].offset, 20, 0.11, 256.0, 64,
                                                         2.0**-8)
    c.dense = dense
    return c


def side_symbols(codec, n=400, seed=1):
    return np.random.default_rng(seed).integers(-6, 7, (n, codec.model.entropy["side"].dims))


def test_the_means_follow_the_float_network_on_their_grid(codec):
    q = side_symbols(codec)
    (k1, b1), (k2, b2) = codec.dense
    out = np.maximum((q + codec.model.entropy["side"].offset) @ k1 + b1, 0) @ k2 + b2
    means = codec.model.entropy["y"].means(q)
    np.testing.assert_allclose(means, out[:, 20:], atol=2.0**-MEAN_FRAC)
    assert np.all(means * 2**MEAN_FRAC == np.round(means * 2**MEAN_FRAC))  # on the grid of 2**-8
    assert np.std(means) > 0.1 and len(np.unique(codec.model.entropy["y"].context(q))) > 10


def test_the_means_are_the_same_for_any_batching_order_or_process(codec, tmp_path):
    q = side_symbols(codec)
    y = codec.model.entropy["y"]
    means = y.means(q)
    np.testing.assert_array_equal(np.concatenate([y.means(q[i:i + 1]) for i in range(len(q))]), means)
    np.testing.assert_array_equal(y.means(q[::-1])[::-1], means)
    np.savez(tmp_path / "net.npz", q=q, **y.net.to_arrays())
    code = ("import numpy as np; from rdsweep.entropy.conditional import IntegerMLP; "
            f"z = np.load('{tmp_path / 'net.npz'}'); net = IntegerMLP.from_arrays(dict(z), 'net'); "
            f"np.save('{tmp_path / 'other.npy'}', net(z['q'][::-1]))")
    subprocess.run([sys.executable, "-c", code], check=True)
    np.testing.assert_array_equal(np.load(tmp_path / "other.npy")[::-1], y.net(q))


def test_one_ulp_of_a_float_mean_moves_the_latents_the_integer_mean_cannot(codec):
    """Encoder and decoder must agree on the means bit for bit: a float mean computed one ulp apart on the
    decoding machine rounds y - mean to another symbol, or dequantizes to another latent."""
    y = codec.model.entropy["y"]
    q_side = side_symbols(codec, 50)
    means = y.means(q_side).astype(np.float32)
    latents = means + np.float32(0.5)  # y exactly half-way: round(y - mean) is decided by the last bit
    other = np.nextafter(means, np.float32(-np.inf))  # the decoder's float mean, one ulp down
    assert np.any(np.rint(latents - means) != np.rint(latents - other))  # the failure is real
    q = y.quantize(latents, y.means(q_side))
    again = y.dequantize(q, y.means(q_side.copy()))  # rdsweep: both sides' means from the integers
    np.testing.assert_array_equal(again, y.dequantize(q, y.means(q_side)))


def test_the_mean_scale_model_codes_exactly(codec, test_digits):
    np.testing.assert_array_equal(codec.decompress(codec.compress(test_digits[:60])),
                                  codec.decode(codec.encode(test_digits[:60])))
    symbols = codec.encode(test_digits[:60])
    assert set(symbols) == {"side", "y"}
    assert IntegerMLP.from_arrays(codec.model.entropy["y"].net.to_arrays(), "x").layers[-1][0].shape[1] == 40
    assert FRAC > MEAN_FRAC
