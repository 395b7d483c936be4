"""Learned factorized densities over the latent dimensions (selected by ``prior=``, hyper-parameters in
``conf/prior/<name>.yaml``). A new density: a class here, its config dataclass, an entry in ``PRIORS``, a yaml.

Each density is written as ``cdf(x) = F(z(x))`` with ``z`` monotone increasing per dimension and ``F`` a
standard CDF symmetric about 0 (``F(-z) = 1 - F(z)``). That single form gives, for every prior:

* the likelihood of a noisy latent (the density convolved with the unit uniform),
  ``P(y) = cdf(y + 1/2) - cdf(y - 1/2)``, evaluated on the side of the median where it is accurate;
* quantiles and the median by bisection on ``z`` (used for the quantization offset and the coding tables).

Priors: ``deep_factorized`` (Balle et al. 2018, as TFC's DeepFactorized / CompressAI's EntropyBottleneck),
``logistic`` (the TFC tutorial: location 0, learned scale), ``gaussian`` (the report's), ``laplace``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import List

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtr, ndtri

from rdsweep.errors import RdsweepError
from rdsweep.typed import check_fields

LIKELIHOOD_BOUND = 1e-9


def _logistic_cdf(z):
    return jax.nn.sigmoid(z)


def _logistic_icdf(p):
    return jnp.log(p) - jnp.log1p(-p)


def _laplace_cdf(z):
    return jnp.where(z < 0, 0.5 * jnp.exp(jnp.minimum(z, 0)), 1.0 - 0.5 * jnp.exp(-jnp.maximum(z, 0)))


def _laplace_icdf(p):  # for p <= 1/2
    return jnp.log(2.0 * p)


def _uniform_centered(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -0.5, 0.5)


MEDIAN_BRACKET, MEDIAN_STEPS = 4096.0, 32  # FactorizedPrior.median


class FactorizedPrior(nn.Module):
    """Base class: subclasses define ``z(x)`` (per dimension, increasing) and the standard CDF ``F``."""

    dims: int
    std_cdf = staticmethod(_logistic_cdf)
    std_icdf = staticmethod(_logistic_icdf)

    def z(self, x):
        raise NotImplementedError

    def cdf(self, x):
        return self.std_cdf(self.z(x))

    def likelihood(self, y):
        """P of the unit-width bin around ``y`` (y: (..., dims)), computed on the accurate tail side."""
        return self.bin_probability(y - 0.5, y + 0.5)

    def bin_probability(self, lo, hi):
        """P of the bin [lo, hi] (each (..., dims)), computed on the side of the median where it is accurate."""
        zl, zu = self.z(lo), self.z(hi)
        sign = jax.lax.stop_gradient(-jnp.sign(zl + zu))
        sign = jnp.where(sign == 0, 1.0, sign)
        return jnp.abs(self.std_cdf(sign * zu) - self.std_cdf(sign * zl))

    def median(self):
        """Per dimension, the x with CDF(x) = 1/2 (dims,), without a gradient: where the coder quantizes
        (``FactorizedEntropy``), so training that rounds (``train.quantizer`` other than noise) rounds there too.
        Jittable: MEDIAN_STEPS bisection steps on x over [-MEDIAN_BRACKET, MEDIAN_BRACKET] for z(x) = 0 (a
        resolution of 2**-19 there); ``quantiles`` solves the same equation for the coder, to float32 precision."""
        lo = jnp.full((self.dims,), -MEDIAN_BRACKET, jnp.float32)
        hi = -lo
        for _ in range(MEDIAN_STEPS):
            mid = 0.5 * (lo + hi)
            below = self.z(mid[None])[0] < 0
            lo, hi = jnp.where(below, mid, lo), jnp.where(below, hi, mid)
        return jax.lax.stop_gradient(0.5 * (lo + hi))

    def bits(self, y):
        """-log2 likelihood per dimension (bounded below as in TFC/CompressAI)."""
        return -jnp.log2(jnp.maximum(self.likelihood(y), LIKELIHOOD_BOUND))

    def __call__(self, y):
        return self.bits(y)


class LocationScalePrior(FactorizedPrior):
    learn_location: bool = True

    def setup(self):
        self.loc = self.param("loc", nn.initializers.zeros, (self.dims,)) if self.learn_location else None
        self.log_scale = self.param("log_scale", nn.initializers.zeros, (self.dims,))

    def z(self, x):
        loc = 0.0 if self.loc is None else self.loc
        return (x - loc) * jnp.exp(-self.log_scale)

    def median(self):
        return jax.lax.stop_gradient(jnp.zeros((self.dims,)) if self.loc is None else self.loc)


class LogisticPrior(LocationScalePrior):
    learn_location: bool = False  # the TFC tutorial: location 0, learned scale


class GaussianPrior(LocationScalePrior):
    std_cdf = staticmethod(ndtr)
    std_icdf = staticmethod(ndtri)


class LaplacePrior(LocationScalePrior):
    std_cdf = staticmethod(_laplace_cdf)
    std_icdf = staticmethod(_laplace_icdf)


class DeepFactorizedPrior(FactorizedPrior):
    """Non-parametric density of Balle et al. 2018 (appendix 6.1): a monotone per-dimension MLP gives the
    CDF's logits. Initialisation as CompressAI's EntropyBottleneck (filters (3,3,3,3), init_scale 10)."""

    filters: tuple = (3, 3, 3, 3)
    init_scale: float = 10.0

    def setup(self):
        widths = (1, *self.filters, 1)
        scale = self.init_scale ** (1.0 / (len(widths) - 1))
        mats, biases, factors = [], [], []
        for i in range(len(widths) - 1):
            fin, fout = widths[i], widths[i + 1]
            value = float(np.log(np.expm1(1.0 / scale / fout)))
            mats.append(self.param(f"matrix{i}", nn.initializers.constant(value), (self.dims, fout, fin)))
            biases.append(self.param(f"bias{i}", _uniform_centered, (self.dims, fout)))
            if i < len(widths) - 2:
                factors.append(self.param(f"factor{i}", nn.initializers.zeros, (self.dims, fout)))
        self.mats, self.biases, self.factors = mats, biases, factors

    def z(self, x):
        h = x[..., None]  # (..., dims, 1)
        for i, (m, b) in enumerate(zip(self.mats, self.biases)):
            h = jnp.einsum("doi,...di->...do", jax.nn.softplus(m), h) + b
            if i < len(self.factors):
                h = h + jnp.tanh(self.factors[i]) * jnp.tanh(h)
        return h[..., 0]


@dataclass
class PriorConfig:
    """conf/prior/*.yaml of the densities without hyper-parameters."""

    name: str = "deep_factorized"

    def __post_init__(self):
        check_fields(self, "prior")
        if self.name not in PRIORS:
            raise ValueError(f"prior.name: unknown prior {self.name!r}; choose one of {', '.join(PRIORS)}")


@dataclass
class DeepFactorizedConfig(PriorConfig):
    filters: List[int] = field(default_factory=lambda: [3, 3, 3, 3])  # hidden widths of the monotone MLP
    init_scale: float = 10.0

    def __post_init__(self):
        super().__post_init__()
        if not 1 <= len(self.filters) <= 8 or not all(1 <= f <= 64 for f in self.filters):
            raise ValueError(f"prior.filters: 1 to 8 widths of 1 to 64, not {list(self.filters)}")
        if not 0 < self.init_scale < 1e6:
            raise ValueError(f"prior.init_scale must be in (0, 1e6), not {self.init_scale}")


PRIORS = {  # name: (density, its config)
    "deep_factorized": (DeepFactorizedPrior, DeepFactorizedConfig),
    "logistic": (LogisticPrior, PriorConfig),
    "gaussian": (GaussianPrior, PriorConfig),
    "laplace": (LaplacePrior, PriorConfig),
}


def make_density(prior, dims: int) -> FactorizedPrior:
    """The density of ``prior`` (a mapping: ``name`` and that density's hyper-parameters) over ``dims``."""
    name = prior.get("name")
    if name not in PRIORS:
        raise RdsweepError(f"unknown prior {name!r}; choose one of {', '.join(PRIORS)}")
    cls, config = PRIORS[name]
    kwargs = {f.name: prior[f.name] for f in fields(config) if f.name != "name" and f.name in prior}
    return cls(dims, **{k: tuple(v) if isinstance(v, (list, tuple)) else v for k, v in kwargs.items()})


def solve_z(prior: FactorizedPrior, params, target, iters: int = 60):
    """Per dimension, the x with z(x) = target (target: scalar or (dims,)), by bracketing and bisection."""
    z = jax.jit(lambda x: prior.apply({"params": params}, x[None], method=prior.z)[0])
    target = np.broadcast_to(np.asarray(target, np.float64), (prior.dims,))
    lo, hi = -np.ones(prior.dims), np.ones(prior.dims)
    for _ in range(64):  # widen the bracket until it holds the root in every dimension
        zlo, zhi = np.asarray(z(jnp.asarray(lo, jnp.float32))), np.asarray(z(jnp.asarray(hi, jnp.float32)))
        bad_lo, bad_hi = zlo > target, zhi < target
        if not (bad_lo.any() or bad_hi.any()):
            break
        lo, hi = np.where(bad_lo, lo * 2, lo), np.where(bad_hi, hi * 2, hi)
    else:
        raise RdsweepError("the prior's CDF does not reach the requested quantile (degenerate prior)")
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        below = np.asarray(z(jnp.asarray(mid, jnp.float32))) < target
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return 0.5 * (lo + hi)


def quantiles(prior: FactorizedPrior, params, tail_mass: float):
    """(lower, median, upper): per dimension, the tail_mass/2, 1/2 and 1 - tail_mass/2 quantiles."""
    zt = float(prior.std_icdf(tail_mass / 2))
    return solve_z(prior, params, zt), solve_z(prior, params, 0.0), solve_z(prior, params, -zt)
