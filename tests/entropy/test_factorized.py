"""The factorized entropy model's tables, built from each trained density: valid, exact, robust."""
import numpy as np
import pytest

from rdsweep.coding import escape, messages
from rdsweep.coding.ans import AnsReader, AnsWriter
from rdsweep.coding.tables import TOTAL
from rdsweep.entropy.densities import PRIORS, make_density
from rdsweep.entropy.factorized import FactorizedEntropy
from rdsweep.errors import RdsweepError
from tests.conftest import perturbed_params


@pytest.fixture(scope="module", params=sorted(PRIORS))
def entropy(request):
    density = make_density({"name": request.param}, 8)
    return FactorizedEntropy.from_density(density, perturbed_params(density))


def latents(e, n, seed=0, spread=1.5):
    rng = np.random.default_rng(seed)
    K = e.tables.K
    return e.offset + (e.tables.lo + K / 2) + rng.normal(size=(n, e.dims)) * (K / 4) * spread


def stream(e, q) -> bytes:
    w = AnsWriter()
    messages.write([("y", e)], {"y": q}, [w] * len(q))
    return w.finish()


def test_tables_are_valid_integer_cdfs(entropy):
    counts = entropy.tables.counts
    assert counts.dtype == np.int64 and np.all(counts >= 1) and np.all(counts.sum(axis=1) == TOTAL)


def test_roundtrip_exact_including_escapes_and_extremes(entropy):
    q = entropy.quantize(latents(entropy, 300))
    lo, K = entropy.tables.lo, entropy.tables.K
    q[0, 0], q[1, 1], q[2, 2], q[3, 3] = escape.CLAMP, -escape.CLAMP, lo[2] - 1, lo[3] + K
    assert entropy.escapes(q).sum() > 4  # escapes really happen
    layers = [("y", entropy)]
    np.testing.assert_array_equal(messages.decode_strings(layers, messages.strings(layers, {"y": q}))["y"], q)
    r = AnsReader(stream(entropy, q))
    np.testing.assert_array_equal(messages.read(layers, [r] * len(q))["y"], q)
    assert r.exhausted()


def test_quantize_clamps_and_handles_nonfinite(entropy):
    y = np.array([[np.inf, -np.inf, np.nan, 1e30] + [0.0] * (entropy.dims - 4)])
    q = entropy.quantize(y)
    assert q[0, 0] == escape.CLAMP and q[0, 1] == -escape.CLAMP and q[0, 2] == 0 and q[0, 3] == escape.CLAMP


def test_info_bits_is_the_coders_information_content(entropy):
    """A long ANS stream costs its summed information content plus a few dozen bits (no model mismatch)."""
    q = entropy.quantize(latents(entropy, 4000, seed=1))
    info = entropy.info_bits(q).sum()
    assert info <= 8 * len(stream(entropy, q)) <= info + 48


def test_stored_arrays_round_trip_and_survive_noncontiguous_copies(entropy):
    arrays = {k: np.asfortranarray(v) if v.ndim == 2 else v[::-1][::-1] for k, v in entropy.to_arrays().items()}
    other = FactorizedEntropy.from_arrays(arrays, entropy.dims)
    q = entropy.quantize(latents(entropy, 50, seed=2))
    assert stream(entropy, q) == stream(other, q)


@pytest.mark.parametrize("change,message", [
    (lambda a: a.update(offset=np.full_like(a["offset"], np.nan)), "offset must be"),
    (lambda a: a.update(offset=a["offset"][:-1]), "offset must be"),
    (lambda a: a.update(offset=a["offset"].astype(np.int64)), "floating point"),
    (lambda a: a.pop("lo"), "missing"),
    (lambda a: a.update(counts=a["counts"][:-1]), "do not form R rows"),
])
def test_invalid_stored_arrays_are_refused(entropy, change, message):
    arrays = dict(entropy.to_arrays())
    change(arrays)
    with pytest.raises(RdsweepError, match=message):
        FactorizedEntropy.from_arrays(arrays, entropy.dims)
    with pytest.raises(RdsweepError, match="latent dimensions"):
        FactorizedEntropy.from_arrays(entropy.to_arrays(), entropy.dims + 1)
