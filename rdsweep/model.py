"""The seed architecture (SPEC "Model"): analysis and synthesis transforms, plus the full model.

Keras defaults are set explicitly: glorot-uniform kernels, zero biases, leaky ReLU slope 0.2.
"""
from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from rdsweep.prior import make_prior

LEAKY_SLOPE = 0.2
glorot = nn.initializers.glorot_uniform()
act = functools.partial(nn.leaky_relu, negative_slope=LEAKY_SLOPE)
# the seed model's strided layers as flax defines them (5x5, stride 2, SAME)
strided_conv = functools.partial(nn.Conv, kernel_size=(5, 5), strides=(2, 2), padding="SAME", kernel_init=glorot)
flax_conv_transpose = functools.partial(nn.ConvTranspose, kernel_size=(5, 5), strides=(2, 2), padding="SAME",
                                        kernel_init=glorot)


# ---- exact re-formulation of the stride-2 transposed convolution (same parameters, ~3x faster on CPU) ----
# A 5x5 stride-2 "SAME" ConvTranspose (flax: dilated input, pad 3 before, 2 after, kernel not flipped) touches,
# per output phase, only a 3x3 window of the input, so it equals a 3x3 stride-1 conv with the 4 output phases
# as channels + depth-to-space. The 3x3 kernel is a gather of the 5x5 kernel (zeros where a phase has no tap);
# a test checks equality with flax's layer. (The analogous space-to-depth form of the strided Conv was
# measured slower than XLA's own strided conv on CPU, so the encoder keeps flax's Conv.)
_D2S_TAPS = np.array([[1, 0], [3, 2], [5, 4]])  # [window a, phase r] -> row of the 5x5 kernel padded (0, 1)


class StridedConvTranspose(nn.Module):
    """ConvTranspose 5x5, stride 2, SAME, as 3x3 conv + depth-to-space. Parameters as flax.linen.ConvTranspose."""

    features: int

    @nn.compact
    def __call__(self, x):
        B, H, W, C = x.shape
        kernel = self.param("kernel", glorot, (5, 5, C, self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        k = jnp.pad(kernel, ((0, 1), (0, 1), (0, 0), (0, 0)))[_D2S_TAPS][:, :, _D2S_TAPS]  # [a, rh, b, rw, c, o]
        k = k.transpose(0, 2, 4, 1, 3, 5).reshape(3, 3, C, 4 * self.features)
        y = jax.lax.conv_general_dilated(x, k, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC"))
        y = y.reshape(B, H, W, 2, 2, self.features).transpose(0, 1, 3, 2, 4, 5)
        return y.reshape(B, 2 * H, 2 * W, self.features) + bias


class AnalysisTransform(nn.Module):
    """28x28x1 image in [0, 1] -> latent vector y."""

    latent_dims: int = 50

    @nn.compact
    def __call__(self, x):
        x = act(strided_conv(20, name="conv1")(x))  # 14x14x20
        x = act(strided_conv(50, name="conv2")(x))  # 7x7x50
        x = x.reshape(x.shape[0], -1)
        x = act(nn.Dense(500, kernel_init=glorot, name="dense1")(x))
        return nn.Dense(self.latent_dims, kernel_init=glorot, name="dense2")(x)


class SynthesisTransform(nn.Module):
    """Latent vector -> 28x28x1 image (float, nominally [0, 1])."""

    fast: bool = True  # the exact sub-pixel form of the transposed convs (False: flax's ConvTranspose)

    @nn.compact
    def __call__(self, y):
        deconv = StridedConvTranspose if self.fast else flax_conv_transpose
        x = act(nn.Dense(500, kernel_init=glorot, name="dense1")(y))
        x = act(nn.Dense(2450, kernel_init=glorot, name="dense2")(x))
        x = x.reshape(x.shape[0], 7, 7, 50)
        x = act(deconv(20, name="deconv1")(x))  # 14x14x20
        return act(deconv(1, name="deconv2")(x))  # 28x28x1


class CompressionModel(nn.Module):
    """Analysis transform, learned factorized prior and synthesis transform."""

    latent_dims: int = 50
    prior: str = "deep_factorized"
    fast: bool = True

    def setup(self):
        self.analysis = AnalysisTransform(self.latent_dims)
        self.synthesis = SynthesisTransform(self.fast)
        self.entropy = make_prior(self.prior, self.latent_dims)

    def __call__(self, x, noise_key):
        """Training pass: noisy latents. Returns (bits per digit, reconstruction)."""
        y = self.analysis(x)
        y_tilde = y + jax.random.uniform(noise_key, y.shape, y.dtype, -0.5, 0.5)
        return self.entropy.bits(y_tilde).sum(axis=-1), self.synthesis(y_tilde)

    def encode(self, x):
        return self.analysis(x)

    def decode(self, y):
        return self.synthesis(y)


def images_to_input(images_uint8):
    """uint8 (N, 28, 28) -> float32 (N, 28, 28, 1) in [0, 1]."""
    return (images_uint8.astype(jnp.float32) / 255.0)[..., None]


def output_to_images(x):
    """Model output -> uint8 (N, 28, 28): scale, round, saturate."""
    return jnp.clip(jnp.round(x[..., 0] * 255.0), 0, 255).astype(jnp.uint8)


def init_params(model: CompressionModel, key):
    return model.init(key, jnp.zeros((1, 28, 28, 1), jnp.float32), jax.random.key(0))["params"]


def count_params(tree) -> int:
    return sum(int(x.size) for x in jax.tree_util.tree_leaves(tree))
