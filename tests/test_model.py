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


def test_subpixel_deconv_equals_flax_conv_transpose():
    """The sub-pixel transposed convolutions compute flax's function (values and gradients), same parameters."""
    import numpy as np

    slow, fast = CompressionModel(latent_dims=50, fast=False), CompressionModel(latent_dims=50, fast=True)
    params = init_params(slow, jax.random.key(3))
    assert jax.tree_util.tree_structure(params) == jax.tree_util.tree_structure(init_params(fast, jax.random.key(3)))
    x = jax.random.uniform(jax.random.key(4), (5, 28, 28, 1))
    y_slow = slow.apply({"params": params}, x, method=slow.encode)
    y_fast = fast.apply({"params": params}, x, method=fast.encode)
    np.testing.assert_allclose(y_fast, y_slow, rtol=1e-4, atol=1e-4)
    x_slow = slow.apply({"params": params}, y_slow, method=slow.decode)
    x_fast = fast.apply({"params": params}, y_slow, method=fast.decode)
    np.testing.assert_allclose(x_fast, x_slow, rtol=1e-4, atol=1e-5)
    loss = lambda m: lambda p: jax.numpy.sum(m.apply({"params": p}, x, jax.random.key(5))[1] ** 2)  # noqa: E731
    g_slow, g_fast = jax.grad(loss(slow))(params), jax.grad(loss(fast))(params)
    for a, b in zip(jax.tree_util.tree_leaves(g_slow), jax.tree_util.tree_leaves(g_fast)):
        np.testing.assert_allclose(b, a, rtol=1e-3, atol=1e-4 * float(np.abs(a).max()) + 1e-7)
