import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rdsweep.errors import RdsweepError
from rdsweep.models import ModelSpec, get
from rdsweep.models.layers import count_params
from tests.conftest import seed_spec

Seed = get("seed")


def test_seed_architecture_parameter_counts():
    params = Seed.init_params(seed_spec(), jax.random.key(0))
    assert count_params(params["analysis"]) == 1_276_120
    assert count_params(params["synthesis"]) == 1_278_471


@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 1), (32, 20, 3)])
def test_shapes_follow_the_data_and_keras_initialisation(shape):
    spec = seed_spec(shape, latent_dims=10, prior="logistic")
    params = Seed.init_params(spec, jax.random.key(0))
    net = Seed.make_net(spec)
    x = jnp.zeros((3, *shape))
    y = net.apply({"params": params}, x, method=lambda m, x: m.analysis(x))
    assert y.shape == (3, 10)
    assert net.apply({"params": params}, y, method=lambda m, y: m.synthesis(y)).shape == (3, *shape)
    bits, x_tilde, terms = net.apply({"params": params}, x, jax.random.key(1))
    assert bits.shape == (3,) and x_tilde.shape == x.shape and terms == {}
    assert all(float(jnp.abs(b).max()) == 0 for b in jax.tree_util.tree_leaves(params["analysis"]) if b.ndim == 1)
    w = params["analysis"]["dense1"]["kernel"]  # glorot uniform: |w| <= sqrt(6 / (fan_in + fan_out))
    assert float(jnp.abs(w).max()) <= (6 / sum(w.shape)) ** 0.5


def test_shapes_the_strided_layers_cannot_take_are_refused():
    for shape in [(30, 28, 1), (28, 28, 2), (8192, 8, 1)]:
        with pytest.raises(RdsweepError, match="divisible by 4"):
            Seed.check(seed_spec(shape))
    with pytest.raises(ValueError, match="model.hidden"):
        Seed.Config(hidden=-1)


@pytest.mark.parametrize("name", ["seed", "hyperprior", "meanscale", "gained"])
def test_hidden_0_is_fully_convolutional(name):
    """model.hidden=0: no dense layer in either transform; y is the last convolution's output (no activation),
    flattened, so latent_dims must be H/4 * W/4 * filters[-1]; any other value is refused before building."""
    model = get(name)
    base = seed_spec()
    spec = ModelSpec({**dataclasses.asdict(model.Config()), "filters": [4, 3], "hidden": 0}, base.prior, 7 * 7 * 3, base.shape)
    model.check(spec)
    params = model.init_params(spec, jax.random.key(0))
    assert not any("dense" in k for k in params["analysis"]) and not any("dense" in k for k in params["synthesis"])
    net = model.make_net(spec)
    x = jax.random.uniform(jax.random.key(1), (2, 28, 28, 1))
    y = net.apply({"params": params}, x, method=lambda m, x: m.analysis(x))
    assert y.shape == (2, 147)
    last = params["analysis"]["conv2"]  # no activation after it: negating its weights negates y exactly
    flipped = {**params, "analysis": {**params["analysis"], "conv2": jax.tree_util.tree_map(lambda w: -w, last)}}
    np.testing.assert_array_equal(net.apply({"params": flipped}, x, method=lambda m, x: m.analysis(x)), -y)
    assert net.apply({"params": params}, y, method=lambda m, y: m.synthesis(y)).shape == (2, 28, 28, 1)
    with pytest.raises(RdsweepError, match="latent_dims 147, not 50"):
        model.check(ModelSpec(spec.model, base.prior, 50, base.shape))


def test_param_shapes_are_computed_without_allocating():
    big = ModelSpec({**seed_spec().model, "hidden": 16384}, seed_spec().prior, 4096, (4096, 4096, 3))
    shapes = Seed.param_shapes(big)  # ~10^12 parameters: only shapes
    assert shapes["analysis"]["dense1"]["kernel"].shape == (1024 * 1024 * 50, 16384)


def test_subpixel_deconv_equals_flax_conv_transpose():
    """The sub-pixel transposed convolutions compute flax's function (values and gradients), same parameters
    (on narrower layers than the seed model's: the formulation does not depend on the widths)."""
    spec = seed_spec()
    spec = type(spec)({**spec.model, "filters": [6, 8], "hidden": 32}, spec.prior, 8, spec.shape)
    slow, fast = Seed.make_net(spec, fast=False), Seed.make_net(spec, fast=True)
    params = Seed.init_params(spec, jax.random.key(3), fast=False)
    assert jax.tree_util.tree_structure(params) == jax.tree_util.tree_structure(
        Seed.init_params(spec, jax.random.key(3)))
    x = jax.random.uniform(jax.random.key(4), (5, 28, 28, 1))
    enc = lambda m: jax.jit(lambda p, x: m.apply({"params": p}, x, method=lambda n, x: n.analysis(x)))  # noqa: E731
    dec = lambda m: jax.jit(lambda p, y: m.apply({"params": p}, y, method=lambda n, y: n.synthesis(y)))  # noqa: E731
    y = enc(slow)(params, x)
    np.testing.assert_allclose(enc(fast)(params, x), y, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dec(fast)(params, y), dec(slow)(params, y), rtol=1e-4, atol=1e-5)
    loss = lambda m: lambda p: jnp.sum(m.apply({"params": p}, x, jax.random.key(5))[1] ** 2)  # noqa: E731
    g_slow, g_fast = jax.jit(jax.grad(loss(slow)))(params), jax.jit(jax.grad(loss(fast)))(params)
    for a, b in zip(jax.tree_util.tree_leaves(g_slow), jax.tree_util.tree_leaves(g_fast)):
        np.testing.assert_allclose(b, a, rtol=1e-3, atol=1e-4 * float(np.abs(a).max()) + 1e-7)


@pytest.mark.parametrize("strides,padding,size", [((2, 2), "SAME", 28), ((2, 2), "SAME", 14),
                                                   ((1, 1), ((1, 1), (1, 1)), 7), ((2, 2), "SAME", 13)])
def test_the_bf16_gemm_convolution_computes_xlas_convolution(strides, padding, size):
    """train.precision=bf16: a convolution as one GEMM of gathered windows, bfloat16 operands, float32 sums."""
    from rdsweep.models.precision import conv_gemm_bf16

    x = jax.random.normal(jax.random.key(0), (3, size, size, 6))
    k = jax.random.normal(jax.random.key(1), (5, 5, 6, 7) if strides == (2, 2) else (3, 3, 6, 7)) * 0.2
    dn = ("NHWC", "HWIO", "NHWC")
    ref = jax.lax.conv_general_dilated(x, k, strides, padding, dimension_numbers=dn)
    got = conv_gemm_bf16(x, k, strides, padding, dimension_numbers=dn)
    assert got.shape == ref.shape and got.dtype == jnp.float32
    np.testing.assert_allclose(got, ref, atol=2e-2 * float(jnp.abs(ref).max()))


def test_a_bf16_net_follows_the_float32_one():
    spec = seed_spec()
    params = Seed.init_params(spec, jax.random.key(3))
    x = jax.random.uniform(jax.random.key(4), (4, 28, 28, 1))
    outs = [Seed.make_net(spec, precision=p).apply({"params": params}, x, jax.random.key(5))
            for p in ("float32", "bf16")]
    np.testing.assert_allclose(outs[1][1], outs[0][1], atol=0.02)  # the reconstructions
    np.testing.assert_allclose(outs[1][0], outs[0][0], rtol=0.02)  # the rates
