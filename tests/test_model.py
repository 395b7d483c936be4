import jax
import jax.numpy as jnp

from rdsweep.model import CompressionModel, count_params, init_params


def test_seed_architecture_parameter_counts():
    params = init_params(CompressionModel(latent_dims=50), jax.random.key(0))
    assert count_params(params["analysis"]) == 1_276_120
    assert count_params(params["synthesis"]) == 1_278_471


def test_shapes_and_keras_initialisation():
    model = CompressionModel(latent_dims=10, prior="logistic")
    params = init_params(model, jax.random.key(0))
    x = jnp.zeros((3, 28, 28, 1))
    y = model.apply({"params": params}, x, method=model.encode)
    assert y.shape == (3, 10)
    assert model.apply({"params": params}, y, method=model.decode).shape == (3, 28, 28, 1)
    bits, x_tilde = model.apply({"params": params}, x, jax.random.key(1))
    assert bits.shape == (3,) and x_tilde.shape == x.shape
    assert all(float(jnp.abs(b).max()) == 0 for b in jax.tree_util.tree_leaves(params["analysis"]) if b.ndim == 1)
    # glorot uniform: |w| <= sqrt(6 / (fan_in + fan_out)); dense1 of the encoder: 2450 -> 500
    w = params["analysis"]["dense1"]["kernel"]
    assert float(jnp.abs(w).max()) <= (6 / (2450 + 500)) ** 0.5
