"""Layers and conversions shared by the models.

Keras defaults are set explicitly where the reference uses them: glorot-uniform kernels, zero biases.
"""
from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

glorot = nn.initializers.glorot_uniform()


def leaky(slope: float):
    return functools.partial(nn.leaky_relu, negative_slope=slope)


def strided_conv(features: int, kernel: int = 5, **kw):
    """Conv kernel x kernel, stride 2, SAME, glorot kernel, zero bias (the seed model's analysis layers)."""
    return nn.Conv(features, (kernel, kernel), strides=(2, 2), padding="SAME", kernel_init=glorot, **kw)


def flax_conv_transpose(features: int, kernel: int = 5, **kw):
    """flax's ConvTranspose kernel x kernel, stride 2, SAME (the definition ``StridedConvTranspose`` equals)."""
    return nn.ConvTranspose(features, (kernel, kernel), strides=(2, 2), padding="SAME", kernel_init=glorot, **kw)


# ---- exact re-formulation of the stride-2 transposed convolution (same parameters, ~3x faster on CPU) ----
# A 5x5 stride-2 "SAME" ConvTranspose (flax: dilated input, pad 3 before, 2 after, kernel not flipped) touches,
# per output phase, only a 3x3 window of the input, so it equals a 3x3 stride-1 conv with the 4 output phases
# as channels + depth-to-space. The 3x3 kernel is a gather of the 5x5 kernel (zeros where a phase has no tap);
# a test checks equality with flax's layer. (The analogous space-to-depth form of the strided Conv was
# measured slower than XLA's own strided conv on CPU, so the encoder keeps flax's Conv.)
_D2S_TAPS = np.array([[1, 0], [3, 2], [5, 4]])  # [window a, phase r] -> row of the 5x5 kernel padded (0, 1)


class StridedConvTranspose(nn.Module):
    """ConvTranspose 5x5, stride 2, SAME, as 3x3 conv + depth-to-space. Parameters as flax.linen.ConvTranspose.
    ``conv``: the convolution (``jax.lax.conv_general_dilated``, or a precision's: models/precision.py)."""

    features: int
    conv: object = None

    @nn.compact
    def __call__(self, x):
        B, H, W, C = x.shape
        kernel = self.param("kernel", glorot, (5, 5, C, self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        k = jnp.pad(kernel, ((0, 1), (0, 1), (0, 0), (0, 0)))[_D2S_TAPS][:, :, _D2S_TAPS]  # [a, rh, b, rw, c, o]
        k = k.transpose(0, 2, 4, 1, 3, 5).reshape(3, 3, C, 4 * self.features)
        conv = self.conv or jax.lax.conv_general_dilated
        y = conv(x, k, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC"))
        y = y.reshape(B, H, W, 2, 2, self.features).transpose(0, 1, 3, 2, 4, 5)
        return y.reshape(B, 2 * H, 2 * W, self.features) + bias


def conv_transpose(features: int, kernel: int, fast: bool, name: str, conv=None):
    """The stride-2 transposed conv: the exact sub-pixel form where it exists (5x5), else flax's layer."""
    if fast and kernel == 5:
        return StridedConvTranspose(features, conv, name=name)
    return flax_conv_transpose(features, kernel, name=name)


QUANTIZERS = ("noise", "ste", "mixed", "soft")
SOFT_ALPHA = (1.0, 16.0)  # ``soft``: the soft rounding's alpha rises linearly from the first to the second in training


def soft_round(y, alpha):
    """Agustsson & Theis (2020)'s soft rounding: floor(y) + 1/2 + tanh(alpha r) / (2 tanh(alpha / 2)),
    r = y - floor(y) - 1/2. Continuous and differentiable in y; the identity as alpha -> 0, rounding as
    alpha -> inf; exact at integers and half-integers for every alpha > 0."""
    m = jnp.floor(y) + 0.5
    return m + jnp.tanh(alpha * (y - m)) / (2.0 * jnp.tanh(alpha / 2.0))


def soft_round_inverse(y, alpha):
    """The inverse of ``soft_round`` (as TensorFlow Compression's): floor(y) + 1/2 + atanh(2 r tanh(alpha / 2)) /
    alpha, r = y - floor(y) - 1/2, the atanh's argument kept inside (-1, 1) and its result inside [-1/2, 1/2] so
    that neither the value nor the gradient overflows."""
    m = jnp.floor(y) + 0.5
    t = jnp.clip((y - m) * 2.0 * jnp.tanh(alpha / 2.0), -1.0 + 1e-6, 1.0 - 1e-6)
    return m + jnp.clip(jnp.arctanh(t) / alpha, -0.5, 0.5)


def training_latents(y, key, quantizer: str = "noise", shift=0.0, alpha=None):
    """(the latents the rate is computed on, the latents the synthesis decodes) while training (``train.quantizer``):
    ``noise``: y + U(-1/2, 1/2) for both (Balle et al.); ``ste``: round(y - shift) + shift for both, its gradient
    passed straight through; ``mixed``: the noisy latents for the rate, the rounded ones for the synthesis (as
    TensorFlow Compression's ms2020); ``soft`` (Agustsson & Theis 2020, Sec. 4.1): n = soft_round(y - shift, alpha)
    + U(-1/2, 1/2) for the rate and, for the synthesis, the conditional mean of y given n,
    soft_round_inverse(n - 1/2, alpha) + 1/2 (both + shift), which tends to round(y - shift) + shift as alpha
    grows; ``alpha``: a scalar, annealed over training through ``SOFT_ALPHA`` (None: its last value). The
    synthesis never sees the soft-rounded latents without their noise: their fractional part would carry what
    rounding throws away when coding. ``shift``: what the coder quantizes around (a factorized density's
    median, ``FactorizedPrior.median``; a mean-scale model's means; 0 for a zero-mean Gaussian's y), or a
    function giving it, called only by the quantizers that round (``noise`` neither traces nor computes it)."""
    u = jax.random.uniform(key, y.shape, y.dtype, -0.5, 0.5)
    if quantizer == "noise":
        return y + u, y + u
    shift = shift() if callable(shift) else shift
    if quantizer == "soft":
        alpha = SOFT_ALPHA[1] if alpha is None else alpha
        noisy = soft_round(y - shift, alpha) + u
        return noisy + shift, soft_round_inverse(noisy - 0.5, alpha) + 0.5 + shift
    hard = y + jax.lax.stop_gradient(jnp.round(y - shift) + shift - y)
    return (hard, hard) if quantizer == "ste" else (y + u, hard)


def images_to_input(images_uint8):
    """uint8 (N, H, W, C) -> float32 (N, H, W, C) in [0, 1]."""
    return images_uint8.astype(jnp.float32) / 255.0


def output_to_images(x):
    """Model output (N, H, W, C) -> uint8: scale, round, saturate."""
    return jnp.clip(jnp.round(x * 255.0), 0, 255).astype(jnp.uint8)


def count_params(tree) -> int:
    return sum(int(x.size) for x in jax.tree_util.tree_leaves(tree))
