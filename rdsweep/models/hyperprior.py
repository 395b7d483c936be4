"""The scale hyperprior (Balle et al. 2018, TFC's ``bmshj2018``, CompressAI's ``bmshj2018-hyperprior``) on
the seed transforms: ``model=hyperprior``.

y = analysis(x) as in the seed model. A hyper-analysis z = h_a(|y|) (dense ``hyper_hidden`` + ReLU, dense
``hyper_dims``) is coded first as side information with the factorized prior of ``prior=`` (deep factorized by
default); a hyper-synthesis s = h_s(z) (dense ``hyper_hidden`` + ReLU, dense ``latent_dims``) gives each latent
of y the scale of a zero-mean Gaussian (``entropy.conditional``). Rate = bits(z) + bits(y | z); metrics.json
reports the side information as ``rate_side_bits`` and y as ``rate_y_bits``.
"""
from __future__ import annotations

from dataclasses import dataclass

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from rdsweep.entropy.conditional import ConditionalGaussian, gaussian_bits, scale_of
from rdsweep.entropy.densities import make_density
from rdsweep.entropy.factorized import FactorizedEntropy
from rdsweep.errors import RdsweepError
from rdsweep.models.base import ModelSpec, batched, register
from rdsweep.models.layers import glorot, images_to_input, training_latents
from rdsweep.models.seed import Analysis, SeedConfig, SeedModel, Synthesis


@dataclass
class HyperpriorConfig(SeedConfig):
    """conf/model/hyperprior.yaml: the seed model's sizes, plus the hyper transforms and the scale table."""

    name: str = "hyperprior"
    hyper_dims: int = 8  # z
    hyper_hidden: int = 64
    scale_min: float = 0.11  # the scale table, as TFC and CompressAI
    scale_max: float = 256.0
    num_scales: int = 64

    def __post_init__(self):
        super().__post_init__()
        if not 1 <= self.hyper_dims <= 1024 or not 1 <= self.hyper_hidden <= 4096:
            raise ValueError(f"model.hyper_dims (1..1024) and model.hyper_hidden (1..4096): not "
                             f"{self.hyper_dims}, {self.hyper_hidden}")
        if not (0 < self.scale_min < self.scale_max <= 1e4 and 2 <= self.num_scales <= 1024):
            raise ValueError(f"model.scale_min < scale_max <= 1e4 and 2 <= num_scales <= 1024: not "
                             f"{self.scale_min}, {self.scale_max}, {self.num_scales}")


class MLP(nn.Module):
    """Dense(hidden) + ReLU, Dense(features) (its bias starting at ``bias``): the hyper transforms."""

    hidden: int
    features: int
    bias: float = 0.0

    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Dense(self.hidden, kernel_init=glorot, name="dense1")(x))
        return nn.Dense(self.features, kernel_init=glorot, bias_init=nn.initializers.constant(self.bias),
                        name="dense2")(x)


class HyperpriorNet(nn.Module):
    """Training graph: noisy y and z; rate = bits(z~) under the density + bits(y~ | scales from h_s(z~))."""

    config: HyperpriorConfig
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
        self.hyper_analysis = MLP(cfg.hyper_hidden, cfg.hyper_dims)
        # scales start at 1 (a unit Gaussian per latent), not at scale_min
        unit = np.log(1.0 / cfg.scale_min) / np.log(cfg.scale_max / cfg.scale_min) * (cfg.num_scales - 1)
        self.hyper_synthesis = MLP(cfg.hyper_hidden, self.latent_dims, float(unit))
        self.entropy = make_density(self.prior, cfg.hyper_dims)

    def encode(self, x):
        """Images in [0, 1] -> (y, z), concatenated on the last axis."""
        y = self.analysis(x)
        return jnp.concatenate([y, self.hyper_analysis(jnp.abs(y))], axis=-1)

    def __call__(self, x, noise_key, alpha=None):
        cfg = self.config
        y = self.analysis(x)
        z = self.hyper_analysis(jnp.abs(y))
        ky, kz = jax.random.split(noise_key)
        z_tilde, _ = training_latents(z, kz, self.quantizer, self.entropy.median, alpha)  # as the coder rounds
        y_rate, y_synthesis = training_latents(y, ky, self.quantizer, alpha=alpha)
        side = self.entropy.bits(z_tilde).sum(axis=-1)
        scale = scale_of(self.hyper_synthesis(z_tilde), cfg.scale_min, cfg.scale_max, cfg.num_scales)
        main = gaussian_bits(y_rate, scale).sum(axis=-1)
        return side + main, self.synthesis(y_synthesis), {"rate_side_bits": side}


@register
class HyperpriorModel(SeedModel):
    """Coding: the side symbols (factorized tables), then y with the table each latent's index selects."""

    name = "hyperprior"
    Config = HyperpriorConfig
    Net = HyperpriorNet
    Conditional = ConditionalGaussian  # y's coding, given the side symbols
    stored = ("analysis", "synthesis", "hyper_analysis")

    @classmethod
    def check(cls, spec: ModelSpec, tail_mass: float = 2.0**-8) -> None:
        super().check(spec, tail_mass)
        cfg = cls.Config(**spec.model)
        cls.Conditional.check_size(cfg.scale_min, cfg.scale_max, cfg.num_scales, tail_mass)

    @classmethod
    def entropy_from_training(cls, spec: ModelSpec, params, tail_mass):
        cfg = cls.Config(**spec.model)
        side = FactorizedEntropy.from_density(make_density(spec.prior, cfg.hyper_dims), params["entropy"], tail_mass)
        hs = params["hyper_synthesis"]
        dense = [(hs[k]["kernel"], hs[k]["bias"]) for k in ("dense1", "dense2")]
        y = cls.Conditional.build(dense, side.offset, spec.latent_dims, cfg.scale_min, cfg.scale_max,
                                  cfg.num_scales, tail_mass)
        return {"side": side, "y": y}

    @classmethod
    def entropy_from_arrays(cls, spec: ModelSpec, arrays):
        side_dims = spec.model.get("hyper_dims", cls.Config.hyper_dims)
        side = FactorizedEntropy.from_arrays(arrays["side"], side_dims, "coding tables of the side information")
        y = cls.Conditional.from_arrays(arrays["y"], side_dims, spec.latent_dims, "conditional tables of y")
        scales = spec.model.get("num_scales", cls.Config.num_scales)
        if y.tables.rows != scales:
            raise RdsweepError(f"conditional tables of y: {y.tables.rows} rows, the config says {scales} scales")
        return {"side": side, "y": y}

    def latents(self, images) -> tuple[np.ndarray, np.ndarray]:
        """uint8 images -> (y, z), float32 (N, latent_dims) and (N, hyper_dims)."""
        if not hasattr(self, "_encode"):
            self._encode = self.jit(lambda net, x: net.encode(images_to_input(x)))
        yz = batched(self._encode, images, self.batch)
        return yz[:, : self.spec.latent_dims], yz[:, self.spec.latent_dims:]

    def encode(self, images):
        y, z = self.latents(images)
        return {"side": self.entropy["side"].quantize(z), "y": self.entropy["y"].quantize(y)}

    def context(self, layer, decoded):
        return self.entropy["y"].context(decoded["side"]) if layer == "y" else None

    def dequantize(self, symbols):
        return self.entropy["y"].dequantize(symbols["y"])
