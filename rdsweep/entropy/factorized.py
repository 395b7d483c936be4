"""The factorized entropy model's coding side: per-dimension integer tables built once from a trained density.

``FactorizedEntropy`` owns everything both sides must share bit-exactly: the quantization offset (the
density's median per dimension) and one ``CategoricalTables`` row per dimension covering the density's
``tail_mass / 2`` .. ``1 - tail_mass / 2`` quantiles (plus the escape bin). The tables are built from the
trained density on the encoder side and stored with the model; decoding never evaluates a float CDF.
"""
from __future__ import annotations

import numpy as np

from rdsweep.coding import escape
from rdsweep.coding.tables import MAX_ENTRIES, MAX_WIDTH, CategoricalTables, quantize_pmf
from rdsweep.entropy.densities import FactorizedPrior, quantiles
from rdsweep.errors import RdsweepError

DEFAULT_TAIL_MASS = 2.0**-8  # as TFC


def quantize(y, offset) -> np.ndarray:
    """Latents -> integer symbols around ``offset`` (rounded, NaN -> 0, clamped to the escape range), int64."""
    q = np.rint(np.asarray(y, np.float64) - offset)
    return np.clip(np.nan_to_num(q), -escape.CLAMP, escape.CLAMP).astype(np.int64)


class FactorizedEntropy:
    """Integer tables of factorized latents (N, D): quantize, code and count the bits of each digit's row."""

    def __init__(self, offset, tables: CategoricalTables, what: str = "factorized tables"):
        self.offset = np.ascontiguousarray(offset, np.float32)
        if self.offset.shape != (tables.rows,) or not np.all(np.isfinite(self.offset)) \
                or np.any(np.abs(self.offset) > escape.CLAMP):
            raise RdsweepError(f"{what}: offset must be {tables.rows} finite values of magnitude <= 2**30")
        self.tables, self.dims = tables, tables.rows

    @classmethod
    def from_density(cls, density: FactorizedPrior, params, tail_mass: float = DEFAULT_TAIL_MASS, gain=None):
        """The tables of ``density``; with ``gain`` (per dimension, float32) those of u = y * gain quantized in
        unit bins (a variable-rate model's operating point): bin k of dimension d is y in [(k - 1/2) / g_d,
        (k + 1/2) / g_d] around the offset."""
        import jax.numpy as jnp

        lower, median, upper = quantiles(density, params, tail_mass)
        if gain is not None:
            g = np.asarray(gain, np.float64)
            lower, median, upper = lower * g, median * g, upper * g
        offset = median.astype(np.float32)
        span = np.clip(np.ceil(upper - offset) - np.floor(lower - offset) + 1, 1, 2 * escape.CLAMP)
        lo = np.floor(np.clip(lower - offset, -escape.CLAMP, 0)).astype(np.int64)
        # the tables' size is bounded (MAX_ENTRIES over all rows): a density wider than that (a degenerate
        # prior, a tiny tail_mass) gets a window around its median, the rest of its mass coded by escapes
        cap = min(MAX_WIDTH - 1, MAX_ENTRIES // len(lo) - 1)
        lo = np.where(span > cap, -(cap // 2), lo)
        K = int(min(span.max(), cap))
        grid = (lo[:, None] + np.arange(K)[None, :]).astype(np.float32) + offset[:, None]  # (D, K) centres
        apply = lambda m, *x: np.asarray(density.apply({"params": params}, *(jnp.asarray(a.T) for a in x),  # noqa
                                                       method=m)).T
        if gain is None:
            pmf = apply(density.likelihood, grid).astype(np.float64)
            left = apply(density.cdf, grid[:, :1] - 0.5)[:, 0]
            right = 1.0 - apply(density.cdf, grid[:, -1:] + 0.5)[:, 0]
        else:
            g32 = np.asarray(gain, np.float32)[:, None]
            pmf = apply(density.bin_probability, (grid - 0.5) / g32, (grid + 0.5) / g32).astype(np.float64)
            left = apply(density.cdf, (grid[:, :1] - 0.5) / g32)[:, 0]
            right = 1.0 - apply(density.cdf, (grid[:, -1:] + 0.5) / g32)[:, 0]
        escape_mass = np.clip(left.astype(np.float64) + right, 0.0, None)
        return cls(offset, CategoricalTables(lo, quantize_pmf(np.concatenate([pmf, escape_mass[:, None]], axis=1))))

    def to_arrays(self) -> dict:
        return {"offset": self.offset, **self.tables.to_arrays()}

    @classmethod
    def from_arrays(cls, arrays, dims: int | None = None, what: str = "factorized tables") -> "FactorizedEntropy":
        """From stored arrays (offset, lo, counts), validated; ``dims``: the latent size they must have."""
        try:
            offset, lo, counts = (np.asarray(arrays[k]) for k in ("offset", "lo", "counts"))
        except (KeyError, TypeError, ValueError) as e:
            raise RdsweepError(f"{what}: missing or malformed arrays ({e})") from None
        if offset.dtype.kind != "f":
            raise RdsweepError(f"{what}: offset must be floating point, not {offset.dtype}")
        tables = CategoricalTables(lo, counts, what)
        if dims is not None and tables.rows != dims:
            raise RdsweepError(f"{what}: {tables.rows} table rows, but the model has {dims} latent dimensions")
        return cls(offset, tables, what)

    def quantize(self, y) -> np.ndarray:
        return quantize(y, self.offset)

    def dequantize(self, q) -> np.ndarray:
        return (np.asarray(q, np.float64) + self.offset).astype(np.float32)

    def escapes(self, q, context=None) -> np.ndarray:
        """Per row of q, how many values fall outside the tables (coded through the escape)."""
        return self.tables.split(q)[1].sum(axis=-1)

    def min_bits(self) -> float:
        """The least information content a digit's row can have (each dimension's likeliest symbol)."""
        return float(self.tables.min_bits().sum())

    def info_bits(self, q, context=None) -> np.ndarray:
        """Exact information content (bits) of each row of q under the coder, escapes included."""
        return self.tables.info_bits(q)

    def write(self, writer, q_row, context=None) -> None:
        self.tables.write(writer, q_row)

    def read(self, reader, context=None) -> np.ndarray:
        return self.tables.read(reader, self.dims)
