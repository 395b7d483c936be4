import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate

from rdsweep.entropy.densities import PRIORS, make_density, quantiles
from tests.conftest import perturbed_params


@pytest.fixture(params=sorted(PRIORS))
def prior_and_params(request):
    prior = make_density({"name": request.param}, 4)
    return prior, perturbed_params(prior)


def test_discretized_pmf_sums_to_one(prior_and_params):
    prior, params = prior_and_params
    for offset in (0.0, 0.3):
        grid = np.arange(-2000, 2001, dtype=np.float32)[:, None] + offset + np.zeros((1, prior.dims), np.float32)
        pmf = np.asarray(prior.apply({"params": params}, jnp.asarray(grid), method=prior.likelihood), np.float64)
        assert np.all(pmf >= 0)
        np.testing.assert_allclose(pmf.sum(axis=0), 1.0, atol=1e-6)


def test_cdf_is_monotone_and_spans_zero_to_one(prior_and_params):
    prior, params = prior_and_params
    x = np.linspace(-2000, 2000, 40001, dtype=np.float32)[:, None] * np.ones((1, prior.dims), np.float32)
    cdf = np.asarray(prior.apply({"params": params}, jnp.asarray(x), method=prior.cdf))
    assert np.all(np.diff(cdf, axis=0) >= 0)
    assert np.all(cdf[0] < 1e-6) and np.all(cdf[-1] > 1 - 1e-6)


def test_noisy_latent_rate_equals_integrated_density(prior_and_params):
    """bits(y) = -log2 of the density convolved with U(-1/2, 1/2), integrated here by quadrature (float64)."""
    prior, params = prior_and_params
    y = np.array([[-3.7, -0.2, 0.0, 2.6], [1.1, 5.3, -1.4, 0.45]], np.float32)
    bits = np.asarray(prior.apply({"params": params}, jnp.asarray(y), method=prior.bits))
    enable_x64 = jax.enable_x64 if hasattr(jax, "enable_x64") else jax.experimental.enable_x64  # older JAX
    with enable_x64(True):
        p64 = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), params)
        cdf = lambda x: prior.apply({"params": p64}, x, method=prior.cdf)  # noqa: E731
        density = jax.jit(jax.vmap(jax.grad(lambda x, d: cdf(jnp.full((1, prior.dims), x))[0, d]), (0, None)))
        for i in range(y.shape[0]):
            for d in range(prior.dims):
                f = lambda t: float(density(jnp.array([t], jnp.float64), d)[0])  # noqa: E731
                p, _ = integrate.quad(f, y[i, d] - 0.5, y[i, d] + 0.5, epsabs=1e-12, epsrel=1e-9, limit=200)
                assert bits[i, d] == pytest.approx(-np.log2(p), rel=2e-4, abs=2e-4)


def test_quantiles_bracket_the_median(prior_and_params):
    prior, params = prior_and_params
    tail = 2.0**-8
    lower, median, upper = quantiles(prior, params, tail)
    assert np.all(lower < median) and np.all(median < upper)
    c = lambda x: np.asarray(prior.apply({"params": params}, jnp.asarray(x[None], jnp.float32), method=prior.cdf))[0]  # noqa
    np.testing.assert_allclose(c(median), 0.5, atol=1e-4)
    np.testing.assert_allclose(c(lower), tail / 2, rtol=1e-2)
    np.testing.assert_allclose(c(upper), 1 - tail / 2, atol=1e-4)


def test_unknown_prior_is_a_clear_error():
    from rdsweep.errors import RdsweepError

    with pytest.raises(RdsweepError, match="unknown prior 'cauchy'"):
        make_density({"name": "cauchy"}, 3)


def test_hyper_parameters_come_from_the_config():
    density = make_density({"name": "deep_factorized", "filters": [2, 5], "init_scale": 3.0}, 4)
    assert density.filters == (2, 5) and density.init_scale == 3.0
    params = density.init(jax.random.key(0), np.zeros((1, 4), np.float32))["params"]
    assert params["matrix1"].shape == (4, 5, 2)
