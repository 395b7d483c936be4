import numpy as np
import pytest

from rdsweep.codec import CLAMP, TOTAL, FactorizedCodec, quantize_pmf
from rdsweep.errors import RdsweepError
from rdsweep.prior import PRIORS, make_prior
from tests.conftest import perturbed_params


@pytest.fixture(scope="module", params=sorted(PRIORS))
def codec(request):
    prior = make_prior(request.param, 8)
    return FactorizedCodec.from_prior(prior, perturbed_params(prior))


def latents(codec, n, seed=0, spread=1.5):
    rng = np.random.default_rng(seed)
    width = (codec.K / 4) * spread
    return codec.offset + (codec.lo + codec.K / 2) + rng.normal(size=(n, codec.dims)) * width


def test_tables_are_valid_integer_cdfs(codec):
    assert codec.counts.dtype == np.int64 and np.all(codec.counts >= 1)
    assert np.all(codec.counts.sum(axis=1) == TOTAL)
    cdf = np.concatenate([np.zeros((codec.dims, 1), np.int64), np.cumsum(codec.counts, axis=1)], axis=1)
    assert np.all(np.diff(cdf, axis=1) > 0) and np.all(cdf[:, -1] == TOTAL)


def test_roundtrip_exact_including_escapes_and_extremes(codec):
    q = codec.quantize(latents(codec, 300))
    q[0, 0], q[1, 1], q[2, 2], q[3, 3] = CLAMP, -CLAMP, codec.lo[2] - 1, codec.lo[3] + codec.K
    assert codec.escapes(q).sum() > 4  # escapes really happen
    strings = [codec.encode(row) for row in q]
    decoded = np.stack([codec.decode(s) for s in strings])
    np.testing.assert_array_equal(decoded, q)
    np.testing.assert_array_equal(codec.decode_stream(codec.encode_stream(q), len(q)), q)


def test_quantize_clamps_and_handles_nonfinite(codec):
    y = np.array([[np.inf, -np.inf, np.nan, 1e30] + [0.0] * (codec.dims - 4)])
    q = codec.quantize(y)
    assert q[0, 0] == CLAMP and q[0, 1] == -CLAMP and q[0, 2] == 0 and q[0, 3] == CLAMP
    np.testing.assert_array_equal(codec.decode(codec.encode(q[0])), q[0])


def test_info_bits_is_the_coders_information_content(codec):
    """A long ANS stream costs its summed information content plus a few dozen bits (no model mismatch)."""
    q = codec.quantize(latents(codec, 4000, seed=1))
    info = codec.info_bits(q).sum()
    coded = 8 * len(codec.encode_stream(q))
    assert info <= coded <= info + 48


def test_tables_survive_noncontiguous_arrays(codec):
    arrays = {k: np.asfortranarray(np.atleast_2d(v)) if v.ndim == 2 else v[::-1][::-1]
              for k, v in codec.to_arrays().items()}
    other = FactorizedCodec.from_arrays(arrays)
    q = codec.quantize(latents(codec, 50, seed=2))
    assert codec.encode_stream(q) == other.encode_stream(q)


def test_quantize_pmf_keeps_every_bin_and_the_total():
    pmf = np.array([[0.5, 0.5, 0.0, 1e-12], [1.0, 2.0, 3.0, 4.0]])
    counts = quantize_pmf(pmf)
    assert np.all(counts >= 1) and np.all(counts.sum(axis=1) == TOTAL)
    with pytest.raises(RdsweepError):
        quantize_pmf(np.array([[0.0, 0.0]]))


def test_invalid_tables_are_rejected():
    with pytest.raises(RdsweepError):
        FactorizedCodec(np.zeros(1), np.zeros(1), np.array([[TOTAL - 1, 0]]))
