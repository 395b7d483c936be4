"""A conditional entropy model: y given side information, as in Balle et al. 2018's scale hyperprior.

Each latent of y is a zero-mean Gaussian convolved with U(-1/2, 1/2), its scale chosen from a fixed table of
``num_scales`` log-spaced scales (TFC's and CompressAI's indexed entropy models) by an *index* that the
hyper-synthesis transform computes from the side information's symbols.

Training (``scale_of``, ``gaussian_bits``): the float hyper-synthesis output s, in index units, gives the
scale exp(log(scale_min) + clip(s) * step) directly (no rounding).

Coding (``ConditionalGaussian``): both sides must get bit-identical tables from the side symbols alone, and a
float hyper-synthesis output that lands one ulp on the other side of a rounding boundary on the decoding
machine would pick another table and desynchronise the decoder. So the coding side never rounds a float:
after training, the hyper-synthesis weights become a fixed-point integer network (``IntegerMLP``: int64
weights and activations, exact integer arithmetic, floor shifts, saturation), stored in the model file; the
index is that network's output rounded with integer operations. Integer sums do not depend on order,
batching, threads or CPU, so encoder and decoder compute the same index on any machine.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtr as jndtr
from scipy.special import ndtr, ndtri

from rdsweep.coding.tables import MAX_ENTRIES, MAX_WIDTH, CategoricalTables, quantize_pmf
from rdsweep.entropy.factorized import quantize
from rdsweep.errors import RdsweepError

LIKELIHOOD_BOUND = 1e-9
FRAC = 16  # fractional bits of the integer network's weights and activations
INPUT_CLIP = 1 << 15  # side symbols are clipped to this magnitude before the network
ACT_CLIP = 1 << 31  # activations saturate at +-2**15 (values; 2**31 with the fraction): sums stay below 2**63


def scale_of(s, scale_min: float, scale_max: float, num_scales: int):
    """Training: the scale for a float hyper-synthesis output s (index units), clipped to the table's range."""
    step = np.log(scale_max / scale_min) / (num_scales - 1)
    return jnp.exp(np.log(scale_min) + jnp.clip(s, 0.0, num_scales - 1.0) * step)


def gaussian_bits(y, scale):
    """Training: -log2 P of the unit bin around y under N(0, scale) (bounded as in TFC/CompressAI)."""
    v = jnp.abs(y)
    p = jndtr((0.5 - v) / scale) - jndtr((-0.5 - v) / scale)  # on the tail side: accurate far out
    return -jnp.log2(jnp.maximum(p, LIKELIHOOD_BOUND))


class IntegerMLP:
    """Fixed-point ReLU MLP over integer inputs: weights ``w`` (int64, value * 2**FRAC), biases ``b`` (int64,
    value * 2**(2 FRAC)); activations carry FRAC fractional bits. Exact: the same outputs everywhere."""

    def __init__(self, layers: list, what: str = "integer network"):
        self.layers = []
        for i, (w, b) in enumerate(layers):
            w, b = np.asarray(w), np.asarray(b)
            if w.dtype != np.int64 or b.dtype != np.int64 or w.ndim != 2 or b.shape != w.shape[1:] \
                    or (self.layers and w.shape[0] != self.layers[-1][0].shape[1]) or not 1 <= w.size <= 1 << 24:
                raise RdsweepError(f"{what}: layer {i} must be int64 weights (in, out) and biases (out,) that chain")
            # |x| <= ACT_CLIP = 2**31, so sum |x w| < 2**62 needs sum_in |w| < 2**31 per output; and |b| < 2**61
            bounded = np.all((w > -(1 << 31)) & (w < 1 << 31)) and np.all((b > -(1 << 61)) & (b < 1 << 61))
            if not bounded or np.any(np.abs(w).sum(axis=0) >= 1 << 31):
                raise RdsweepError(f"{what}: layer {i} weights or biases out of range")
            self.layers.append((np.ascontiguousarray(w), np.ascontiguousarray(b)))

    @classmethod
    def from_dense(cls, dense: list, input_offset) -> "IntegerMLP":
        """From float dense layers [(kernel, bias), ...] applied to (symbols + input_offset), ReLU between."""
        layers = []
        for i, (k, b) in enumerate(dense):
            k, b = np.asarray(k, np.float64), np.asarray(b, np.float64)
            if i == 0:  # the inputs are symbols; their float offset is folded into the first bias
                b = b + np.asarray(input_offset, np.float64) @ k
            layers.append((np.rint(k * 2.0**FRAC).astype(np.int64), np.rint(b * 2.0 ** (2 * FRAC)).astype(np.int64)))
        return cls(layers)

    def __call__(self, q) -> np.ndarray:
        """Integer inputs (N, in) -> outputs (N, out) with FRAC fractional bits, as int64."""
        x = np.clip(np.asarray(q, np.int64), -INPUT_CLIP, INPUT_CLIP) << FRAC
        for i, (w, b) in enumerate(self.layers):
            x = (x @ w + b) >> FRAC  # floor division by 2**FRAC: exact, the same on every machine
            x = np.clip(x, 0 if i < len(self.layers) - 1 else -ACT_CLIP, ACT_CLIP)  # ReLU between layers
        return x

    def to_arrays(self) -> dict:
        return {f"{kind}{i}": a for i, (w, b) in enumerate(self.layers) for kind, a in (("w", w), ("b", b))}

    @classmethod
    def from_arrays(cls, arrays: dict, what: str) -> "IntegerMLP":
        n = sum(1 for k in arrays if k.startswith("w") and k[1:].isdigit())
        try:
            return cls([(arrays[f"w{i}"], arrays[f"b{i}"]) for i in range(n)], what)
        except KeyError as e:
            raise RdsweepError(f"{what}: missing {e}") from None


def scale_table(scale_min: float, scale_max: float, num_scales: int) -> np.ndarray:
    return np.exp(np.log(scale_min) + np.arange(num_scales) * np.log(scale_max / scale_min) / (num_scales - 1))


class ConditionalGaussian:
    """The coding side of y | side: one integer table per scale, and the integer network picking the table of
    every latent of every digit from that digit's side symbols (``context``)."""

    OUTPUTS = 1  # integer network outputs per latent dimension: its table index

    def __init__(self, tables: CategoricalTables, net: IntegerMLP, dims: int, what: str = "conditional tables"):
        if net.layers[-1][0].shape[1] != self.OUTPUTS * dims:
            raise RdsweepError(f"{what}: the integer network gives {net.layers[-1][0].shape[1]} outputs, "
                               f"the model needs {self.OUTPUTS} x {dims} latent dimensions")
        self.tables, self.net, self.dims = tables, net, dims

    @staticmethod
    def half_width(scale_max: float, tail_mass: float) -> int:
        """K: the tables cover -K .. K (the widest scale's 1 - tail_mass), plus the escape bin."""
        return int(np.ceil(scale_max * ndtri(1 - tail_mass / 2)))

    @classmethod
    def check_size(cls, scale_min: float, scale_max: float, num_scales: int, tail_mass: float) -> None:
        """RdsweepError if these settings would make tables larger than the coder allows (before training)."""
        bins = 2 * cls.half_width(scale_max, tail_mass) + 2
        if bins > MAX_WIDTH or num_scales * bins > MAX_ENTRIES:
            raise RdsweepError(f"{num_scales} scales up to {scale_max:g} at tail mass {tail_mass:g} need tables of "
                               f"{num_scales} x {bins} bins, more than the coder's {MAX_WIDTH} bins a row and "
                               f"{MAX_ENTRIES} entries: a smaller model.scale_max or num_scales, or a larger "
                               "codec.tail_mass")

    @classmethod
    def build(cls, dense: list, side_offset, dims: int, scale_min: float, scale_max: float, num_scales: int,
              tail_mass: float) -> "ConditionalGaussian":
        """After training: the tables of the scale table's Gaussians and the integer hyper-synthesis."""
        cls.check_size(scale_min, scale_max, num_scales, tail_mass)
        scales = scale_table(scale_min, scale_max, num_scales)
        K = cls.half_width(scales[-1], tail_mass)
        k = np.arange(-K, K + 1, dtype=np.float64)
        pmf = ndtr((k[None] + 0.5) / scales[:, None]) - ndtr((k[None] - 0.5) / scales[:, None])
        tail = 2 * ndtr((-K - 0.5) / scales)
        counts = quantize_pmf(np.concatenate([pmf, tail[:, None]], axis=1))
        return cls(CategoricalTables(np.full(num_scales, -K), counts), IntegerMLP.from_dense(dense, side_offset), dims)

    def context(self, side_symbols) -> np.ndarray:
        """Each latent's table row (N, dims), from the side symbols alone (integer arithmetic only)."""
        s = self.net(side_symbols)[:, : self.dims]
        return np.clip((s + (1 << (FRAC - 1))) >> FRAC, 0, self.tables.rows - 1)

    def to_arrays(self) -> dict:
        return {**self.tables.to_arrays(), **self.net.to_arrays()}

    @classmethod
    def from_arrays(cls, arrays, side_dims: int, dims: int, what: str = "conditional tables"):
        try:
            tables = CategoricalTables(arrays["lo"], arrays["counts"], what)
        except (KeyError, TypeError) as e:
            raise RdsweepError(f"{what}: missing or malformed arrays ({e})") from None
        net = IntegerMLP.from_arrays(arrays, what)
        if not net.layers or net.layers[0][0].shape[0] != side_dims:
            raise RdsweepError(f"{what}: the integer network must take the {side_dims} side symbols")
        return cls(tables, net, dims, what)

    def quantize(self, y) -> np.ndarray:
        return quantize(y, 0.0)

    def dequantize(self, q) -> np.ndarray:
        return np.asarray(q, np.float32)

    def escapes(self, q, rows) -> np.ndarray:
        return self.tables.split(q, rows)[1].sum(axis=-1)

    def min_bits(self) -> float:
        return float(self.dims * self.tables.min_bits().min())

    def info_bits(self, q, rows) -> np.ndarray:
        return self.tables.info_bits(q, rows)

    def write(self, writer, q_row, rows) -> None:
        self.tables.write(writer, q_row, rows, grouped=True)

    def read(self, reader, rows) -> np.ndarray:
        return self.tables.read(reader, self.dims, rows, grouped=True)


MEAN_FRAC = 8  # the means' grid: multiples of 2**-8


class ConditionalMeanGaussian(ConditionalGaussian):
    """y | side with a mean and a scale per latent (Minnen et al. 2018's mean-scale hyperprior): the integer
    network's first ``dims`` outputs pick the table (as ``ConditionalGaussian``), the next ``dims`` are the
    means, rounded with integer operations to the grid of 2**-MEAN_FRAC (``means``). The symbol is
    q = round(y - mean), coded with the zero-mean table; the decoder's latent is q + mean. Both sides get the
    means from the side symbols by the same integer arithmetic: exact on any machine."""

    OUTPUTS = 2

    def means(self, side_symbols) -> np.ndarray:
        """Each latent's mean (N, dims) as float64 multiples of 2**-MEAN_FRAC (integer arithmetic to the grid)."""
        m = self.net(side_symbols)[:, self.dims:]
        step = FRAC - MEAN_FRAC
        return ((m + (1 << (step - 1))) >> step).astype(np.float64) / (1 << MEAN_FRAC)

    def quantize(self, y, means) -> np.ndarray:
        return quantize(np.asarray(y, np.float64) - means, 0.0)

    def dequantize(self, q, means) -> np.ndarray:
        return (np.asarray(q, np.float64) + means).astype(np.float32)
