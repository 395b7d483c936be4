"""The mean-scale hyperprior (Minnen, Balle, Toderici 2018, without the autoregressive context; CompressAI's
``mbt2018-mean``) on the seed transforms: ``model=meanscale``.

As ``model=hyperprior`` but the hyper-analysis sees y itself (not |y|) and the hyper-synthesis gives each
latent a mean as well as a scale: y is coded as q = round(y - mean) with the zero-mean Gaussian table of its
scale, and decoded as q + mean. Rate = bits(z) + bits(y - mean | scale). On the coding side both the table
indexes and the means come from the fixed-point integer hyper-synthesis of the decoded side symbols
(``ConditionalMeanGaussian``: the means rounded to a grid of 2**-8 with integer operations), so encoder and
decoder agree exactly on any machine.
"""
from __future__ import annotations

from dataclasses import dataclass

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from rdsweep.entropy.conditional import ConditionalMeanGaussian, gaussian_bits, scale_of
from rdsweep.entropy.densities import make_density
from rdsweep.models.base import register
from rdsweep.models.hyperprior import HyperpriorConfig, HyperpriorModel
from rdsweep.models.layers import glorot, training_latents
from rdsweep.models.seed import Analysis, Synthesis


@dataclass
class MeanScaleConfig(HyperpriorConfig):
    """conf/model/meanscale.yaml: the hyperprior's settings (the scale table, the hyper transforms' sizes)."""

    name: str = "meanscale"


class HyperSynthesis(nn.Module):
    """z -> (scale index, mean) per latent: Dense(hidden) + ReLU, Dense(2 x dims); the index half's bias starts
    at ``index``, the mean half's at 0."""

    hidden: int
    dims: int
    index: float

    @nn.compact
    def __call__(self, z):
        x = nn.relu(nn.Dense(self.hidden, kernel_init=glorot, name="dense1")(z))
        start = np.concatenate([np.full(self.dims, self.index), np.zeros(self.dims)]).astype(np.float32)
        out = nn.Dense(2 * self.dims, kernel_init=glorot, bias_init=lambda *_: jnp.asarray(start), name="dense2")(x)
        return out[..., : self.dims], out[..., self.dims:]


class MeanScaleNet(nn.Module):
    """Training graph: rate = bits(z~) + bits(y~ - mean | scale), means and scales from h_s(z~)."""

    config: MeanScaleConfig
    prior: dict
    latent_dims: int
    shape: tuple
    fast: bool = True
    quantizer: str = "noise"  # train.quantizer (layers.training_latents)
    precision: str = "float32"  # train.precision of the transforms (models/precision.py)

    def setup(self):
        cfg = self.config
        self.analysis = Analysis(cfg, self.latent_dims, self.precision)
        self.synthesis = Synthesis(cfg, self.shape, self.fast, self.precision)
        self.hyper_analysis = HyperAnalysis(cfg.hyper_hidden, cfg.hyper_dims)
        unit = np.log(1.0 / cfg.scale_min) / np.log(cfg.scale_max / cfg.scale_min) * (cfg.num_scales - 1)
        self.hyper_synthesis = HyperSynthesis(cfg.hyper_hidden, self.latent_dims, float(unit))
        self.entropy = make_density(self.prior, cfg.hyper_dims)

    def encode(self, x):
        """Images in [0, 1] -> (y, z), concatenated on the last axis."""
        y = self.analysis(x)
        return jnp.concatenate([y, self.hyper_analysis(y)], axis=-1)

    def __call__(self, x, noise_key, alpha=None):
        cfg = self.config
        y = self.analysis(x)
        ky, kz = jax.random.split(noise_key)
        z_tilde, _ = training_latents(self.hyper_analysis(y), kz, self.quantizer, self.entropy.median, alpha)
        index, mean = self.hyper_synthesis(z_tilde)
        y_rate, y_synthesis = training_latents(y, ky, self.quantizer, jax.lax.stop_gradient(mean), alpha)
        side = self.entropy.bits(z_tilde).sum(axis=-1)
        main = gaussian_bits(y_rate - mean, scale_of(index, cfg.scale_min, cfg.scale_max, cfg.num_scales))
        return side + main.sum(axis=-1), self.synthesis(y_synthesis), {"rate_side_bits": side}


class HyperAnalysis(nn.Module):
    """y -> z: Dense(hidden) + ReLU, Dense(hyper_dims)."""

    hidden: int
    features: int

    @nn.compact
    def __call__(self, y):
        x = nn.relu(nn.Dense(self.hidden, kernel_init=glorot, name="dense1")(y))
        return nn.Dense(self.features, kernel_init=glorot, name="dense2")(x)


@register
class MeanScaleModel(HyperpriorModel):
    """Coding: the side symbols (factorized tables), then y - mean with the table each latent's index selects."""

    name = "meanscale"
    Config = MeanScaleConfig
    Net = MeanScaleNet
    Conditional = ConditionalMeanGaussian

    def encode(self, images):
        y, z = self.latents(images)
        side = self.entropy["side"].quantize(z)
        return {"side": side, "y": self.entropy["y"].quantize(y, self.entropy["y"].means(side))}

    def dequantize(self, symbols):
        return self.entropy["y"].dequantize(symbols["y"], self.entropy["y"].means(symbols["side"]))
