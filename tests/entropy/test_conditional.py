"""The conditional Gaussian entropy model and its integer network: valid tables, exact and machine-independent
indexes, and the failure it guards against (one ulp of a float index desynchronises the decoder)."""
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rdsweep.coding import messages
from rdsweep.coding.ans import AnsReader, AnsWriter
from rdsweep.coding.tables import TOTAL
from rdsweep.entropy.conditional import FRAC, ConditionalGaussian, IntegerMLP, gaussian_bits, scale_table
from rdsweep.errors import RdsweepError
from tests.conftest import untrained_codec


@pytest.fixture(scope="module")
def codec():
    """An untrained hyperprior codec whose hyper-synthesis is moved so that indexes vary across digits."""
    c = untrained_codec(model="hyperprior", latent_dims=20)
    hs = c.model.params["hyper_synthesis"]
    rng = np.random.default_rng(0)
    dense = [(np.asarray(hs[k]["kernel"]) * 3 + rng.normal(0, 0.3, hs[k]["kernel"].shape),
              np.asarray(hs[k]["bias"])) for k in ("dense1", "dense2")]
    side = c.model.entropy["side"]
    c.model.entropy["y"] = ConditionalGaussian.build(dense, side.offset, 20, 0.11, 256.0, 64, 2.0**-8)
    c.dense = dense
    return c


def side_symbols(codec, n=400, seed=1):
    return np.random.default_rng(seed).integers(-6, 7, (n, codec.model.entropy["side"].dims))


def test_tables_are_valid_gaussians_per_scale(codec):
    t = codec.model.entropy["y"].tables
    assert t.rows == 64 and np.all(t.counts >= 1) and np.all(t.counts.sum(axis=1) == TOTAL)
    K = -t.lo[0]
    p = t.counts[:, K] / TOTAL  # probability of 0 falls as the scale grows
    assert np.all(np.diff(p) < 0) and p[0] > 0.99
    for i, s in enumerate(scale_table(0.11, 256.0, 64)[::9]):  # the tables are the training density, quantized
        counts = t.counts[i * 9, K - 3: K + 4]
        bits = -np.log2(counts / TOTAL)
        expected = np.asarray(gaussian_bits(jnp.arange(-3.0, 4.0), s))
        likely = counts > 1000  # below that, the 2**-24 resolution of the table dominates
        np.testing.assert_allclose(bits[likely], expected[likely], rtol=1e-3, atol=2e-3)


def test_the_integer_network_follows_the_float_one(codec):
    q = side_symbols(codec)
    side = codec.model.entropy["side"]
    (k1, b1), (k2, b2) = codec.dense
    s_float = np.maximum((q + side.offset) @ k1 + b1, 0) @ k2 + b2
    s_int = codec.model.entropy["y"].net(q) / 2.0**FRAC
    np.testing.assert_allclose(s_int, s_float, atol=1e-2)  # in index units: tables are 1 apart
    rows = codec.model.context("y", {"side": q})
    assert len(np.unique(rows)) > 10  # the indexes really vary


def test_the_index_is_the_same_for_any_batching_order_or_process(codec, tmp_path):
    q = side_symbols(codec)
    y = codec.model.entropy["y"]
    rows = y.context(q)
    np.testing.assert_array_equal(np.concatenate([y.context(q[i:i + 1]) for i in range(len(q))]), rows)
    np.testing.assert_array_equal(y.context(q[::-1])[::-1], rows)
    np.savez(tmp_path / "net.npz", q=q, **y.net.to_arrays())
    code = ("import numpy as np, sys; from rdsweep.entropy.conditional import IntegerMLP; "
            f"z = np.load('{tmp_path / 'net.npz'}'); net = IntegerMLP.from_arrays(dict(z), 'net'); "
            f"np.save('{tmp_path / 'other.npy'}', net(z['q'][::-1]))")
    subprocess.run([sys.executable, "-c", code], check=True)
    np.testing.assert_array_equal(np.load(tmp_path / "other.npy")[::-1], y.net(q))


def test_one_ulp_of_a_float_index_desynchronises_the_decoder_the_integer_index_cannot(codec):
    """The failure the integer network guards against: a float hyper-synthesis output on a rounding boundary
    on one machine and one ulp below it on another picks another table, and the decoder goes wrong."""
    y = codec.model.entropy["y"]
    q_side = side_symbols(codec, 50)
    s = np.clip(np.floor(y.net(q_side) / 2.0**FRAC), 1, 62).astype(np.float32) + np.float32(0.5)  # on a boundary
    s_other = np.nextafter(s, np.float32(-np.inf))  # one ulp away, as another machine may compute it
    rows_enc, rows_dec = (np.clip(np.floor(v + np.float32(0.5)), 0, 63).astype(np.int64) for v in (s, s_other))
    assert np.all(rows_enc == rows_dec + 1)
    q = np.random.default_rng(2).integers(-2, 3, (50, 20))
    strings = []
    for qi, ri in zip(q, rows_enc):
        w = AnsWriter()
        y.write(w, qi, ri)
        strings.append(w.finish())
    wrong = np.stack([y.read(AnsReader(s_), r) for s_, r in zip(strings, rows_dec)])
    assert np.any(wrong != q, axis=1).sum() > 0  # the failure is real
    # rdsweep's decoder never sees a float: the rows come from the decoded side symbols, by integer arithmetic
    symbols = {"side": q_side, "y": q}
    layers = codec.model.layers()
    decoded = messages.decode_strings(layers, messages.strings(layers, symbols, codec.model.context),
                                      codec.model.context)
    for k in symbols:
        np.testing.assert_array_equal(decoded[k], symbols[k])


def test_coding_is_exact_and_costs_its_information_content(codec, test_digits):
    symbols = codec.encode(test_digits[:300])
    symbols["y"][0, :3] = [10**6, -10**6, 5000]  # escapes
    w = AnsWriter()
    messages.write(codec.model.layers(), symbols, [w] * 300, codec.model.context)
    data = w.finish()
    info = sum(v.sum() for v in codec.info_bits(symbols).values())
    assert info <= 8 * len(data) <= info + 48
    r = AnsReader(data)
    decoded = messages.read(codec.model.layers(), [r] * 300, codec.model.context)
    assert r.exhausted() and all(np.array_equal(decoded[k], symbols[k]) for k in symbols)
    np.testing.assert_array_equal(codec.decompress(codec.compress(test_digits[:40])),
                                  codec.decode(codec.encode(test_digits[:40])))


@pytest.mark.parametrize("change,message", [
    (lambda a: a.update(w0=a["w0"].astype(np.float64)), "int64 weights"),
    (lambda a: a.update(w1=a["w1"][:, :-1], b1=a["b1"][:-1]), "gives 19 outputs"),
    (lambda a: a.update(b0=a["b0"][:-1]), "that chain"),
    (lambda a: a.update(w0=a["w0"] * 0 + 2**40), "out of range"),
    (lambda a: a.update(w1=a["w1"] * 0 + np.iinfo(np.int64).min), "out of range"),
    (lambda a: a.pop("b1"), "missing 'b1'"),
    (lambda a: a.update(w0=np.zeros((3, a["w0"].shape[1]), np.int64)), "must take the 8 side symbols"),
])
def test_invalid_stored_networks_are_refused(codec, change, message):
    arrays = dict(codec.model.entropy["y"].to_arrays())
    change(arrays)
    with pytest.raises(RdsweepError, match=message):
        ConditionalGaussian.from_arrays(arrays, 8, 20)


def test_the_hyperprior_trains(codec):
    from rdsweep.models import get
    M = get("hyperprior")
    spec = codec.model.spec
    params = M.init_params(spec, jax.random.key(0))
    bits, x, terms = M.make_net(spec).apply({"params": params}, jnp.zeros((2, 28, 28, 1)), jax.random.key(1))
    assert bits.shape == (2,) and set(terms) == {"rate_side_bits"} and np.all(bits >= terms["rate_side_bits"])
    assert IntegerMLP.from_arrays(codec.model.entropy["y"].net.to_arrays(), "x").layers[0][0].shape == (8, 64)
