"""A variable-rate model: one training, then coding at any lambda of its range: ``model=gained``.

The seed transforms with gain units (Cui et al. 2021, "Asymmetric Gained Deep Image Compression With
Continuous Rate Adaptation"): ``anchors`` learned gain vectors g_k and inverse gains h_k (one value per latent
dimension) at lambdas log-spaced over [lmbda_min, lmbda_max]; at any lambda of that range the gains are
interpolated geometrically between the two nearest anchors (g = g_k^(1-a) g_(k+1)^a). The encoder codes
u = y * g(lambda) in unit bins; the decoder's input is u_hat * h(lambda). One deep factorized (or other
``prior=``) density models y itself, so the probability of bin k of dimension d at any gain is exact:
F((k + 1/2) / g_d) - F((k - 1/2) / g_d) (``FactorizedEntropy.from_density(..., gain=)``).

Training draws each digit's lambda log-uniformly from the range and minimises the mean of
rate_i + lambda_i * distortion_i (the training graph returns the drawn lambdas as ``terms["lmbda"]``).

Coding is at one operating point: its gains (float32, stored with its integer tables) and tables. A run
evaluates ``code_at`` (records in ``points/lmbda=<lambda>/``); ``rdsweep export RUN --lmbda X`` (any X of the
range) and ``rdsweep.load(RUN, lmbda=X)`` give the codec of one point. ``lmbda`` itself is not used by training.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from rdsweep.entropy.densities import make_density
from rdsweep.entropy.factorized import FactorizedEntropy
from rdsweep.errors import RdsweepError
from rdsweep.models.base import ModelSpec, register
from rdsweep.models.layers import training_latents
from rdsweep.models.seed import Analysis, SeedConfig, SeedModel, Synthesis


@dataclass
class GainedConfig(SeedConfig):
    """conf/model/gained.yaml: the seed model's sizes, the lambda range and its anchors, the points coded."""

    name: str = "gained"
    lmbda_min: float = 200.0
    lmbda_max: float = 3000.0
    anchors: int = 8  # learned gain vectors, log-spaced over [lmbda_min, lmbda_max]
    code_at: List[float] = field(default_factory=lambda: [300.0, 500.0, 1000.0, 2000.0])  # evaluated by a run

    def __post_init__(self):
        super().__post_init__()
        if not 0 < self.lmbda_min < self.lmbda_max <= 1e9 or not 2 <= self.anchors <= 64:
            raise ValueError(f"model.lmbda_min < lmbda_max <= 1e9 and 2 <= anchors <= 64: not {self.lmbda_min}, "
                             f"{self.lmbda_max}, {self.anchors}")
        if not 1 <= len(self.code_at) <= 64 or not all(self.lmbda_min <= x <= self.lmbda_max for x in self.code_at) \
                or len({f"{x:g}" for x in self.code_at}) < len(self.code_at):  # distinct records' directories
            raise ValueError(f"model.code_at: 1 to 64 lambdas, distinct to 6 significant digits, within "
                             f"[{self.lmbda_min}, {self.lmbda_max}], not {list(self.code_at)}")


def interpolate(log_table, lmbda, lmbda_min: float, lmbda_max: float):
    """Rows of ``log_table`` (anchors, D) at ``lmbda`` (N,), linearly in log lambda between adjacent anchors
    (a geometric interpolation of the gains); the log values (N, D)."""
    anchors = log_table.shape[0]
    t = (jnp.log(lmbda) - np.log(lmbda_min)) / (np.log(lmbda_max) - np.log(lmbda_min)) * (anchors - 1)
    t = jnp.clip(t, 0.0, anchors - 1.0)
    k = jnp.clip(jnp.floor(t).astype(jnp.int32), 0, anchors - 2)
    a = (t - k)[:, None]
    return (1.0 - a) * log_table[k] + a * log_table[k + 1]


class Gains(nn.Module):
    """The anchors' log gains and log inverse gains (anchors, dims); called: both at the lambdas (N,)."""

    config: GainedConfig
    dims: int

    @nn.compact
    def __call__(self, lmbda):
        cfg = self.config
        # gains start proportional to sqrt(lambda) (a finer step at a higher lambda), inverse gains at 1/gain
        ramp = 0.5 * np.log(np.geomspace(cfg.lmbda_min, cfg.lmbda_max, cfg.anchors) / cfg.lmbda_max)
        start = np.repeat(ramp[:, None], self.dims, axis=1).astype(np.float32)
        log_gain = self.param("log_gain", lambda k, s: jnp.asarray(start), start.shape)
        log_inverse = self.param("log_inverse", lambda k, s: jnp.asarray(-start), start.shape)
        return (jnp.exp(interpolate(log_gain, lmbda, cfg.lmbda_min, cfg.lmbda_max)),
                jnp.exp(interpolate(log_inverse, lmbda, cfg.lmbda_min, cfg.lmbda_max)))


class GainedNet(nn.Module):
    """Training graph: per-digit lambda, gained noisy latents, the density of y over each gained bin."""

    config: GainedConfig
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
        self.entropy = make_density(self.prior, self.latent_dims)
        self.gains = Gains(cfg, self.latent_dims)

    def __call__(self, x, noise_key, alpha=None):
        """Returns (bits per digit on the noisy gained latents, reconstruction, {"lmbda": each digit's})."""
        cfg = self.config
        k_lmbda, k_noise = jax.random.split(noise_key)
        lmbda = jnp.exp(jax.random.uniform(k_lmbda, (x.shape[0],), jnp.float32, np.log(cfg.lmbda_min),
                                           np.log(cfg.lmbda_max)))
        gain, inverse = self.gains(lmbda)
        u, u_synthesis = training_latents(self.analysis(x) * gain, k_noise, self.quantizer,
                                          lambda: self.entropy.median() * gain, alpha)  # where the coder rounds u
        p = self.entropy.bin_probability((u - 0.5) / gain, (u + 0.5) / gain)
        bits = -jnp.log2(jnp.maximum(p, 1e-9)).sum(axis=-1)
        return bits, self.synthesis(u_synthesis * inverse), {"lmbda": lmbda}


class GainedEntropy(FactorizedEntropy):
    """An operating point: the factorized tables of u = y * gain, and the gains (float32, (D,)) both sides use."""

    def __init__(self, offset, tables, gain, inverse, what: str = "gained tables"):
        super().__init__(offset, tables, what)
        self.gain, self.inverse = (np.ascontiguousarray(a, np.float32) for a in (gain, inverse))
        for name, a in (("gain", self.gain), ("inverse", self.inverse)):
            if a.shape != (self.dims,) or not np.all(np.isfinite(a)) or np.any(a <= 0) or np.any(a > 1e6):
                raise RdsweepError(f"{what}: {name} must be {self.dims} finite values in (0, 1e6]")

    def to_arrays(self) -> dict:
        return {**super().to_arrays(), "gain": self.gain, "inverse": self.inverse}

    @classmethod
    def from_arrays(cls, arrays, dims: int | None = None, what: str = "gained tables") -> "GainedEntropy":
        base = FactorizedEntropy.from_arrays(arrays, dims, what)
        try:
            gain, inverse = (np.asarray(arrays[k]) for k in ("gain", "inverse"))
        except (KeyError, TypeError) as e:
            raise RdsweepError(f"{what}: missing gains ({e})") from None
        if gain.dtype.kind != "f" or inverse.dtype.kind != "f":
            raise RdsweepError(f"{what}: gains must be floating point")
        return cls(base.offset, base.tables, gain, inverse, what)

    def quantize(self, y) -> np.ndarray:
        return super().quantize(np.asarray(y, np.float32) * self.gain)

    def dequantize(self, q) -> np.ndarray:
        return super().dequantize(q) * self.inverse


@register
class GainedModel(SeedModel):
    """Codes at one operating point (its ``GainedEntropy``); ``points`` builds those of several lambdas."""

    name = "gained"
    Config = GainedConfig
    Net = GainedNet
    variable_rate = True

    @classmethod
    def point(cls, spec: ModelSpec, params, tail_mass: float, lmbda: float) -> dict:
        """The entropy layers of the operating point ``lmbda`` (within the trained range)."""
        cfg = GainedConfig(**spec.model)
        if not cfg.lmbda_min <= lmbda <= cfg.lmbda_max:
            raise RdsweepError(f"lmbda {lmbda:g} is outside this model's range [{cfg.lmbda_min:g}, {cfg.lmbda_max:g}]")
        net = cls.make_net(spec)
        gain, inverse = (np.asarray(a[0], np.float32) for a in net.apply(
            {"params": params}, jnp.asarray([lmbda], jnp.float32), method=lambda n, lm: n.gains(lm)))
        density = make_density(spec.prior, spec.latent_dims)
        base = FactorizedEntropy.from_density(density, params["entropy"], tail_mass, gain=gain)
        return {"y": GainedEntropy(base.offset, base.tables, gain, inverse)}

    @classmethod
    def entropy_from_training(cls, spec: ModelSpec, params, tail_mass):
        """The operating points ``code_at``, each as its layers keyed ``y@<lambda>``."""
        return {f"y@{float(lm)!r}": cls.point(spec, params, tail_mass, lm)["y"]
                for lm in GainedConfig(**spec.model).code_at}

    @classmethod
    def entropy_from_arrays(cls, spec: ModelSpec, arrays):
        return {"y": GainedEntropy.from_arrays(arrays["y"], spec.latent_dims, "gained tables of y")}
