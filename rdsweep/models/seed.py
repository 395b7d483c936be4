"""The seed architecture (SPEC "Model") with a factorized prior: ``model=seed``.

Analysis: ``len(filters)`` stride-2 convolutions (kernel_size, SAME, leaky ReLU), flatten, dense ``hidden``
(leaky ReLU), dense ``latent_dims`` (no activation) -> y. Synthesis mirrors it with stride-2 transposed
convolutions down to the image's channels. ``hidden: 0`` makes the transforms fully convolutional: no dense
layers, the last convolution has no activation and its output, flattened, is y, so ``latent_dims`` must be
H/2^k * W/2^k * filters[-1] (k = len(filters); 7 * 7 * 16 = 784 for [32, 16] on MNIST). The image (H, W, C)
comes from the data; H and W must be divisible by 2**len(filters). With the defaults on 28x28x1 this is the TFC
tutorial's model: encoder 1,276,120 and decoder 1,278,471 parameters (latent 50).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

import flax.linen as nn

from rdsweep.entropy.densities import make_density
from rdsweep.entropy.factorized import FactorizedEntropy
from rdsweep.errors import RdsweepError
from rdsweep.models.base import CodingModel, ModelSpec, register
from rdsweep.models.layers import conv_transpose, glorot, leaky, strided_conv, training_latents
from rdsweep.models.precision import ops
from rdsweep.typed import check_fields


@dataclass
class SeedConfig:
    """conf/model/seed.yaml."""

    name: str = "seed"
    filters: List[int] = field(default_factory=lambda: [20, 50])  # channels after each stride-2 conv
    kernel_size: int = 5
    hidden: int = 500  # 0: fully convolutional (no dense layers)
    leaky_slope: float = 0.2  # Keras' default, as the reference

    def __post_init__(self):
        check_fields(self, "model")
        if not 1 <= len(self.filters) <= 4 or not all(1 <= f <= 1024 for f in self.filters):
            raise ValueError(f"model.filters: 1 to 4 channel counts of 1 to 1024, not {list(self.filters)}")
        if not (1 <= self.kernel_size <= 15 and self.kernel_size % 2 == 1):
            raise ValueError(f"model.kernel_size must be odd, 1 to 15, not {self.kernel_size}")
        if not 0 <= self.hidden <= 16384:
            raise ValueError(f"model.hidden must be 0 (fully convolutional) to 16384, not {self.hidden}")
        if not 0 <= self.leaky_slope < 1:
            raise ValueError(f"model.leaky_slope must be in [0, 1), not {self.leaky_slope}")


class Analysis(nn.Module):
    """Images in [0, 1] (N, H, W, C) -> latents (N, latent_dims). ``precision``: models/precision.py."""

    config: SeedConfig
    latent_dims: int
    precision: str = "float32"

    @nn.compact
    def __call__(self, x):
        act = leaky(self.config.leaky_slope)
        dot, conv = ops(self.precision)
        dense = {"dot_general": dot} if dot else {}
        last = len(self.config.filters) if self.config.hidden else len(self.config.filters) - 1
        for i, f in enumerate(self.config.filters):
            x = strided_conv(f, self.config.kernel_size, name=f"conv{i + 1}",
                             **({"conv_general_dilated": conv} if conv else {}))(x)
            x = act(x) if i < last else x
        x = x.reshape(x.shape[0], -1)
        if not self.config.hidden:
            return x
        x = act(nn.Dense(self.config.hidden, kernel_init=glorot, name="dense1", **dense)(x))
        return nn.Dense(self.latent_dims, kernel_init=glorot, name="dense2", **dense)(x)


class Synthesis(nn.Module):
    """Latents (N, latent_dims) -> images (N, H, W, C), float, nominally in [0, 1]."""

    config: SeedConfig
    shape: tuple
    fast: bool = True  # the exact sub-pixel form of the transposed convs (False: flax's ConvTranspose)
    precision: str = "float32"

    @nn.compact
    def __call__(self, y):
        cfg, (H, W, C) = self.config, self.shape
        act, step = leaky(cfg.leaky_slope), 2 ** len(cfg.filters)
        dot, conv = ops(self.precision)
        dense = {"dot_general": dot} if dot else {}
        x = y
        if cfg.hidden:
            x = act(nn.Dense(cfg.hidden, kernel_init=glorot, name="dense1", **dense)(x))
            x = act(nn.Dense(H // step * W // step * cfg.filters[-1], kernel_init=glorot, name="dense2", **dense)(x))
        x = x.reshape(x.shape[0], H // step, W // step, cfg.filters[-1])
        for i, f in enumerate([*cfg.filters[-2::-1], C]):
            x = act(conv_transpose(f, cfg.kernel_size, self.fast, name=f"deconv{i + 1}", conv=conv)(x))
        return x


class SeedNet(nn.Module):
    """Training graph: analysis, additive uniform noise (or ``quantizer``'s rounding), factorized density,
    synthesis."""

    config: SeedConfig
    prior: dict
    latent_dims: int
    shape: tuple
    fast: bool = True
    quantizer: str = "noise"  # train.quantizer (layers.training_latents)
    precision: str = "float32"  # train.precision of the transforms (models/precision.py)

    def setup(self):
        self.analysis = Analysis(self.config, self.latent_dims, self.precision)
        self.synthesis = Synthesis(self.config, self.shape, self.fast, self.precision)
        self.entropy = make_density(self.prior, self.latent_dims)

    def __call__(self, x, noise_key, alpha=None):
        """Returns (bits per digit on the noisy latents, reconstruction, {})."""
        for_rate, for_synthesis = training_latents(self.analysis(x), noise_key, self.quantizer,
                                                   self.entropy.median, alpha)  # rounded where the coder rounds
        return self.entropy.bits(for_rate).sum(axis=-1), self.synthesis(for_synthesis), {}


@register
class SeedModel(CodingModel):
    """y is quantized around the density's median and coded with one integer table per dimension."""

    name = "seed"
    Config = SeedConfig
    Net = SeedNet

    @classmethod
    def check(cls, spec: ModelSpec, tail_mass: float = 2.0**-8) -> None:
        filters = spec.model.get("filters", SeedConfig().filters)
        step = 2 ** len(filters)
        H, W, C = spec.shape
        if H % step or W % step or not (step <= H <= 4096 and step <= W <= 4096) or C not in (1, 3):
            raise RdsweepError(f"images of {H}x{W}x{C}: model {cls.name} needs height and width divisible by "
                               f"{step} (up to 4096) and 1 or 3 channels")
        conv_dims = H // step * W // step * filters[-1]
        if spec.model.get("hidden", SeedConfig().hidden) == 0 and spec.latent_dims != conv_dims:
            raise RdsweepError(f"model.hidden=0 (fully convolutional) on {H}x{W} images with filters "
                               f"{list(filters)} makes latent_dims {conv_dims}, not {spec.latent_dims}")
        super().check(spec, tail_mass)

    @classmethod
    def entropy_from_training(cls, spec: ModelSpec, params, tail_mass):
        density = make_density(spec.prior, spec.latent_dims)
        return {"y": FactorizedEntropy.from_density(density, params["entropy"], tail_mass)}

    @classmethod
    def entropy_from_arrays(cls, spec: ModelSpec, arrays):
        return {"y": FactorizedEntropy.from_arrays(arrays["y"], spec.latent_dims, "coding tables of y")}

    def encode(self, images):
        return {"y": self.entropy["y"].quantize(self.analysis(images))}

    def dequantize(self, symbols):
        return self.entropy["y"].dequantize(symbols["y"])
