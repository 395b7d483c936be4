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


# ---- exact re-formulations of the two strided layers (same parameters, kernels XLA on CPU runs fast) ------
# A 5x5 stride-2 "SAME" layer touches, per output phase, only a 3x3 window of the half-resolution grid, so:
#  * Conv (pad 1 before, 2 after) == space-to-depth (2x2 phases into channels) + 3x3 stride-1 conv;
#  * ConvTranspose (flax: dilated input, pad 3 before, 2 after, kernel not flipped) == 3x3 stride-1 conv with
#    the 4 output phases as channels + depth-to-space.
# The 3x3 kernels are gathers of the 5x5 kernel (zeros where a phase has no tap); tests check equality.
_S2D_TAPS = np.array([[0, 1], [2, 3], [4, 5]])  # [window a, phase p] -> row of the 5x5 kernel padded (1, 1)
_D2S_TAPS = np.array([[1, 0], [3, 2], [5, 4]])  # [window a, phase r] -> row of the 5x5 kernel padded (0, 1)


def _phase_kernel(kernel, taps, pad):
    k = jnp.pad(kernel, (pad, pad, (0, 0), (0, 0)))
    k = k[taps][:, :, taps]  # (3, 2, 3, 2, in, out): [a, ph, b, pw, c, o]
    return k.transpose(0, 2, 1, 3, 4, 5)  # [a, b, ph, pw, c, o]


def _conv3x3(x, kernel):
    return jax.lax.conv_general_dilated(x, kernel, (1, 1), ((1, 1), (1, 1)),
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))


class StridedConv(nn.Module):
    """Conv 5x5, stride 2, SAME, as space-to-depth + 3x3 conv. Parameters as flax.linen.Conv."""

    features: int

    @nn.compact
    def __call__(self, x):
        B, H, W, C = x.shape
        kernel = self.param("kernel", glorot, (5, 5, C, self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        x = x.reshape(B, H // 2, 2, W // 2, 2, C).transpose(0, 1, 3, 2, 4, 5).reshape(B, H // 2, W // 2, 4 * C)
        k = _phase_kernel(kernel, _S2D_TAPS, (1, 1)).reshape(3, 3, 4 * C, self.features)
        return _conv3x3(x, k) + bias


class StridedConvTranspose(nn.Module):
    """ConvTranspose 5x5, stride 2, SAME, as 3x3 conv + depth-to-space. Parameters as flax.linen.ConvTranspose."""

    features: int

    @nn.compact
    def __call__(self, x):
        B, H, W, C = x.shape
        kernel = self.param("kernel", glorot, (5, 5, C, self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        k = _phase_kernel(kernel, _D2S_TAPS, (0, 1))  # [a, b, rh, rw, c, o]
        k = k.transpose(0, 1, 4, 2, 3, 5).reshape(3, 3, C, 4 * self.features)
        y = _conv3x3(x, k).reshape(B, H, W, 2, 2, self.features)
        return y.transpose(0, 1, 3, 2, 4, 5).reshape(B, 2 * H, 2 * W, self.features) + bias


def _strided_layers(fast: bool):
    if fast:
        return StridedConv, StridedConvTranspose
    conv = functools.partial(nn.Conv, kernel_size=(5, 5), strides=(2, 2), padding="SAME", kernel_init=glorot)
    deconv = functools.partial(nn.ConvTranspose, kernel_size=(5, 5), strides=(2, 2), padding="SAME",
                               kernel_init=glorot)
    return conv, deconv


class AnalysisTransform(nn.Module):
    """28x28x1 image in [0, 1] -> latent vector y."""

    latent_dims: int = 50
    fast: bool = True  # the exact re-formulated strided layers (False: flax's Conv, as written in SPEC)

    @nn.compact
    def __call__(self, x):
        conv = _strided_layers(self.fast)[0]
        x = act(conv(20, name="conv1")(x))  # 14x14x20
        x = act(conv(50, name="conv2")(x))  # 7x7x50
        x = x.reshape(x.shape[0], -1)
        x = act(nn.Dense(500, kernel_init=glorot, name="dense1")(x))
        return nn.Dense(self.latent_dims, kernel_init=glorot, name="dense2")(x)


class SynthesisTransform(nn.Module):
    """Latent vector -> 28x28x1 image (float, nominally [0, 1])."""

    fast: bool = True

    @nn.compact
    def __call__(self, y):
        deconv = _strided_layers(self.fast)[1]
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
        self.analysis = AnalysisTransform(self.latent_dims, self.fast)
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
