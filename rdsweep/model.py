"""The seed architecture (SPEC "Model"): analysis and synthesis transforms, plus the full model.

Keras defaults are set explicitly: glorot-uniform kernels, zero biases, leaky ReLU slope 0.2.
"""
from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from rdsweep.prior import make_prior

LEAKY_SLOPE = 0.2
glorot = nn.initializers.glorot_uniform()
act = functools.partial(nn.leaky_relu, negative_slope=LEAKY_SLOPE)


class AnalysisTransform(nn.Module):
    """28x28x1 image in [0, 1] -> latent vector y."""

    latent_dims: int = 50

    @nn.compact
    def __call__(self, x):
        conv = functools.partial(nn.Conv, kernel_size=(5, 5), strides=(2, 2), padding="SAME", kernel_init=glorot)
        x = act(conv(20, name="conv1")(x))  # 14x14x20
        x = act(conv(50, name="conv2")(x))  # 7x7x50
        x = x.reshape(x.shape[0], -1)
        x = act(nn.Dense(500, kernel_init=glorot, name="dense1")(x))
        return nn.Dense(self.latent_dims, kernel_init=glorot, name="dense2")(x)


class SynthesisTransform(nn.Module):
    """Latent vector -> 28x28x1 image (float, nominally [0, 1])."""

    @nn.compact
    def __call__(self, y):
        deconv = functools.partial(
            nn.ConvTranspose, kernel_size=(5, 5), strides=(2, 2), padding="SAME", kernel_init=glorot)
        x = act(nn.Dense(500, kernel_init=glorot, name="dense1")(y))
        x = act(nn.Dense(2450, kernel_init=glorot, name="dense2")(x))
        x = x.reshape(x.shape[0], 7, 7, 50)
        x = act(deconv(20, name="deconv1")(x))  # 14x14x20
        return act(deconv(1, name="deconv2")(x))  # 28x28x1


class CompressionModel(nn.Module):
    """Analysis transform, learned factorized prior and synthesis transform."""

    latent_dims: int = 50
    prior: str = "deep_factorized"

    def setup(self):
        self.analysis = AnalysisTransform(self.latent_dims)
        self.synthesis = SynthesisTransform()
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
