"""What stands for rounding while training (``train.quantizer``): each quantizer's latents and gradients, the
soft rounding's maths, and that every model passes the soft rounding's alpha through."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rdsweep.entropy.densities import PRIORS, make_density, quantiles
from rdsweep.models import MODELS, get
from rdsweep.models.layers import (QUANTIZERS, images_to_input, output_to_images, soft_round, soft_round_inverse,
                                   training_latents)
from tests.conftest import perturbed_params, seed_spec

Y = jnp.linspace(-3.2, 3.7, 301)
KEY = jax.random.key(0)


def test_soft_rounding_keeps_integers_and_half_integers_and_goes_from_identity_to_rounding():
    for alpha in (0.5, 1.0, 4.0, 16.0):
        ends = jnp.arange(-6, 7) / 2.0  # integers and half-integers
        np.testing.assert_allclose(soft_round(ends, alpha), ends, atol=1e-5)
        steps = jnp.diff(soft_round(Y, alpha))  # increasing (flat to float32 near integers at a large alpha)
        assert bool(jnp.all(steps > 0)) if alpha <= 4 else bool(jnp.all(steps >= 0))
    np.testing.assert_allclose(soft_round(Y, 1e-3), Y, atol=1e-5)
    off_half = jnp.abs(Y - jnp.floor(Y) - 0.5) > 0.1
    np.testing.assert_allclose(soft_round(Y, 200.0)[off_half], jnp.round(Y)[off_half], atol=1e-5)
    for alpha in (0.5, 4.0):  # the inverse, where float32 can tell the values apart
        np.testing.assert_allclose(soft_round_inverse(soft_round(Y, alpha), alpha), Y, atol=1e-3)


@pytest.mark.parametrize("quantizer", QUANTIZERS)
def test_each_quantizer_gives_the_rate_and_the_synthesis_their_latents(quantizer):
    shift = 0.3
    rate, synthesis = training_latents(Y, KEY, quantizer, shift, alpha=jnp.float32(4.0))
    noise = rate - {"noise": Y, "ste": rate, "mixed": Y, "soft": soft_round(Y - shift, 4.0) + shift}[quantizer]
    assert float(jnp.abs(noise).max()) <= 0.5 and (quantizer == "ste" or float(jnp.abs(noise).max()) > 0.4)
    expected = {"noise": rate, "ste": jnp.round(Y - shift) + shift, "mixed": jnp.round(Y - shift) + shift,
                "soft": soft_round_inverse(rate - shift - 0.5, 4.0) + 0.5 + shift}[quantizer]
    np.testing.assert_allclose(synthesis, expected, atol=1e-6)
    grad = jax.grad(lambda y: training_latents(y, KEY, quantizer, shift, alpha=4.0)[1].sum())(Y)
    if quantizer == "soft":  # through the soft rounding and its inverse: finite, never negative
        assert bool(jnp.all(jnp.isfinite(grad))) and bool(jnp.all(grad >= 0)) and float(grad.max()) > 0
    else:  # the identity: the noise's, or rounding's passed straight through
        np.testing.assert_allclose(grad, 1.0)


@pytest.mark.parametrize("model", sorted(MODELS))
def test_every_model_passes_the_soft_roundings_alpha_to_its_latents(model):
    spec = seed_spec()
    spec = type(spec)(dataclasses.asdict(get(model).Config()), spec.prior, spec.latent_dims, spec.shape)
    M = get(model)
    params = M.init_params(spec, jax.random.key(1))
    x = jax.random.uniform(jax.random.key(2), (4, 28, 28, 1))
    net = M.make_net(spec, quantizer="soft")
    soft, hard = (net.apply({"params": params}, x, KEY, jnp.float32(a)) for a in (0.5, 16.0))
    assert not np.allclose(soft[1], hard[1])  # the reconstruction follows alpha
    assert np.all(np.isfinite(soft[0])) and np.all(np.isfinite(hard[0]))


def test_soft_rounding_with_a_large_alpha_hands_the_synthesis_the_rounded_latents():
    rate, synthesis = training_latents(Y, KEY, "soft", 0.3, alpha=jnp.float32(200.0))
    rounded = jnp.round(Y - 0.3) + 0.3
    inside = (jnp.abs(Y - rounded) < 0.45) & (jnp.abs(rate - rounded) < 0.45)  # y and its noise off the edges
    np.testing.assert_allclose(synthesis[inside], rounded[inside], atol=0.02)  # off by O(1 / alpha)
    grad = jax.grad(lambda y: training_latents(y, KEY, "soft", 0.0, alpha=16.0)[1].sum())(Y)
    assert bool(jnp.all(jnp.isfinite(grad)))


def _binned(key, per_unit, *weights):
    """Counts and means of ``weights`` in bins of ``key`` over [-2, 2) (away from the edges of y's range)."""
    size = 4 * per_unit
    bins = np.floor((np.asarray(key) + 2.0) * per_unit).astype(int)
    inside = (bins >= 0) & (bins < size)
    count = np.bincount(bins[inside], minlength=size)
    return count, [np.bincount(bins[inside], np.asarray(w)[inside], size) / np.maximum(count, 1) for w in weights]


def test_the_soft_synthesis_latents_are_the_conditional_mean_of_y_given_the_noisy_value():
    # Monte Carlo: y uniform over many cells, n = soft_round(y) + u
    y = np.asarray(jax.random.uniform(jax.random.key(3), (2_000_000,), minval=-3.0, maxval=3.0))
    n, synthesis = training_latents(jnp.asarray(y), jax.random.key(4), "soft", alpha=4.0)
    _, (mean_y, mean_synthesis) = _binned(n, 20, y, synthesis)  # E[y | n] in narrow bins of n
    np.testing.assert_allclose(mean_synthesis, mean_y, atol=0.01)
    # and it does not determine y: given it, y still spreads as the noise does (the soft-rounded latents
    # themselves would tell the synthesis y to within float rounding: spread 0.0014)
    count, (m1, m2) = _binned(synthesis, 200, y, y**2)
    assert np.sqrt(np.maximum(m2 - m1**2, 0))[count > 100].mean() > 0.2


@pytest.mark.parametrize("prior", sorted(PRIORS))
def test_each_density_knows_the_median_the_coder_quantizes_around(prior):
    density = make_density({"name": prior}, 6)
    params = perturbed_params(density)
    median = np.asarray(density.apply({"params": params}, method=density.median))
    assert (np.abs(median).max() > 0.01) == (prior != "logistic")  # the logistic prior has its location at 0
    np.testing.assert_allclose(median, quantiles(density, params, 2.0**-8)[1], atol=2e-5)


@pytest.mark.parametrize("quantizer", ["ste", "mixed"])
def test_training_rounds_the_latents_where_the_coder_does(quantizer, test_digits):
    """With a rounding quantizer the synthesis in training sees the latents the decoder will get: rounded around
    the density's median, not the integers (before this, seed + mixed trained on one grid and coded on another)."""
    spec = seed_spec(latent_dims=8)
    model = get("seed")
    params = model.init_params(spec, jax.random.key(0))
    params = {**params, "entropy": perturbed_params(make_density(spec.prior, spec.latent_dims), scale=1.0)}
    images = test_digits[:64]
    net = model.make_net(spec, quantizer=quantizer)
    _, x_tilde, _ = net.apply({"params": params}, images_to_input(images), jax.random.key(3))
    coder = model(spec, params, model.entropy_from_training(spec, params, 2.0**-8))
    assert np.abs(coder.entropy["y"].offset - np.round(coder.entropy["y"].offset)).max() > 0.1
    decoded = coder.decode(coder.encode(images)).astype(int)
    trained = np.asarray(output_to_images(x_tilde)).astype(int)
    assert np.abs(decoded - trained).max() <= 1 and np.mean(decoded == trained) > 0.999
