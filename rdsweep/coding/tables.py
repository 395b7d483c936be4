"""Integer probability tables with an escape bin: what encoder and decoder share bit-exactly.

A ``CategoricalTables`` holds R rows (one per latent dimension for a factorized model, one per scale for a
conditional one). Row ``r`` covers the integers ``lo[r] .. lo[r] + K - 1`` (table indices ``0 .. K-1``) plus
an escape bin at index ``K``; ``counts[r]`` are integer probabilities summing to ``2**PRECISION``, every bin
at least 1, so every value is encodable: a value outside the row is coded as the escape symbol followed by the
fields of ``coding.escape``.

constriction's ``Categorical(perfect=False)`` maps float probabilities to integers by
``left_cdf[i] = floor(cumsum[i] * (2**24 - n) / total) + i``; passing ``counts - 1`` makes that map exact, so
the coder's model *is* ``counts`` and ``info_bits`` is exactly the information content under the coder.
"""
from __future__ import annotations

import constriction
import numpy as np

from rdsweep.coding import escape
from rdsweep.errors import RdsweepError

PRECISION = 24  # constriction's probability precision for Categorical
TOTAL = 1 << PRECISION
MAX_WIDTH = 1 << 16  # bins per row (K + 1), a bound checked on build and on load
MAX_ROWS = 1 << 16
MAX_ENTRIES = 1 << 22  # bins of all rows of one layer's tables (~100 MB as counts, probabilities and bits)
FAMILY = constriction.stream.model.Categorical(perfect=False)  # per-symbol probabilities given at coding time


def quantize_pmf(pmf: np.ndarray) -> np.ndarray:
    """Float pmf rows (R, n) -> int64 counts summing to TOTAL per row, each >= 1."""
    pmf = np.clip(np.asarray(pmf, np.float64), 0.0, None)
    sums = pmf.sum(axis=1, keepdims=True)
    if not np.all(np.isfinite(sums)) or np.any(sums <= 0):
        raise RdsweepError("cannot build coding tables: the pmf is not finite or sums to 0")
    n = pmf.shape[1]
    if n > MAX_WIDTH or n > TOTAL // 2:
        raise RdsweepError(f"coding table would need {n} bins (> {MAX_WIDTH}): the density is degenerate")
    counts = np.floor(pmf / sums * (TOTAL - n)).astype(np.int64) + 1
    rows = np.arange(len(counts))
    counts[rows, counts.argmax(axis=1)] += TOTAL - counts.sum(axis=1)
    return counts


class CategoricalTables:
    """R integer tables of K bins + escape. ``write``/``read`` code one digit's symbols through a coder."""

    def __init__(self, lo, counts, what: str = "coding tables"):
        lo, counts = np.asarray(lo), np.asarray(counts)
        if counts.ndim != 2 or lo.shape != counts.shape[:1] or not 2 <= counts.shape[1] <= MAX_WIDTH \
                or not 1 <= len(lo) <= MAX_ROWS or counts.size > MAX_ENTRIES:
            raise RdsweepError(f"{what}: lo {lo.shape} and counts {counts.shape} do not form R rows of "
                               f"2..{MAX_WIDTH} bins, {MAX_ENTRIES} bins in all")
        if lo.dtype.kind not in "iu" or counts.dtype.kind not in "iu":
            raise RdsweepError(f"{what}: lo and counts must be integers, not {lo.dtype} and {counts.dtype}")
        # ranges checked in the arrays' own types, before any cast or sum could wrap
        if np.any(lo > escape.CLAMP) or (lo.dtype.kind == "i" and np.any(lo < -escape.CLAMP)):
            raise RdsweepError(f"{what}: table starts (lo) out of range (|lo| > 2**30)")
        if np.any(counts < 1) or np.any(counts > TOTAL):
            raise RdsweepError(f"{what}: counts must be >= 1 and sum to 2**{PRECISION} per row")
        # constriction reads raw buffers: non-C-contiguous arrays are silently misread, so copy here.
        self.lo = np.ascontiguousarray(lo, np.int64)
        self.counts = np.ascontiguousarray(counts, np.int64)
        if np.any(self.counts.sum(axis=1) != TOTAL):
            raise RdsweepError(f"{what}: counts must be >= 1 and sum to 2**{PRECISION} per row")
        self.rows, self.K = len(self.lo), self.counts.shape[1] - 1
        self.probs = (self.counts - 1).astype(np.float64)  # exact under constriction's map (module doc)
        self.bits = -np.log2(self.counts / TOTAL)
        self._models = None

    def to_arrays(self) -> dict:
        return {"lo": self.lo, "counts": self.counts}

    def models(self) -> list:
        """One prebuilt constriction model per row (for symbols grouped by row)."""
        if self._models is None:
            self._models = [constriction.stream.model.Categorical(p, perfect=False) for p in self.probs]
        return self._models

    def min_bits(self) -> np.ndarray:
        """Per row, the least information content of one symbol (its likeliest bin), bits."""
        return self.bits.min(axis=1)

    def split(self, q, rows=None):
        """Symbols q (..., n) and their table rows (broadcastable to q; None: symbol i uses row i) ->
        (table index with escapes = K as int32, escaped?, raw table index)."""
        q = np.asarray(q, np.int64)
        idx = q - (self.lo[: q.shape[-1]] if rows is None else self.lo[rows])
        esc = (idx < 0) | (idx >= self.K)
        return np.where(esc, self.K, idx).astype(np.int32), esc, idx

    def info_bits(self, q, rows=None) -> np.ndarray:
        """Exact information content (bits) of each row of q (N, n) under these tables, escapes included."""
        sym, esc, idx = self.split(q, rows)
        rows = np.arange(sym.shape[-1]) if rows is None else rows
        bits = self.bits[np.broadcast_to(rows, sym.shape), sym].sum(axis=-1)
        for r, d in zip(*np.nonzero(esc)):  # escapes are rare (the tables hold 1 - tail_mass)
            bits[r] += escape.bits(int(idx[r, d]), self.K)
        return bits

    def write(self, writer, q_row, rows=None, grouped: bool = False) -> None:
        """One digit's symbols (n,) with their table rows (n,; None: symbol i uses row i): the symbols, then
        each escape's fields, in that order.

        ``grouped``: code the symbols row by row with prebuilt models (for many rows of wide tables), in the
        order of ``np.unique(rows)``, which the decoder derives from the same rows.
        """
        sym, esc, idx = self.split(q_row, rows)
        sym = np.ascontiguousarray(sym)
        if grouped:
            models = self.models()
            for r in np.unique(rows):
                writer.model(np.ascontiguousarray(sym[rows == r]), models[r])
        else:
            writer.categorical(sym, self.probs[: len(sym)] if rows is None else self.probs[rows])
        for d in np.flatnonzero(esc):
            escape.write(writer, int(idx[d]), self.K)

    def read(self, reader, n: int, rows=None, grouped: bool = False) -> np.ndarray:
        """The inverse of ``write``: n symbols (int64) of one digit."""
        if grouped:
            sym = np.empty(n, np.int64)
            models = self.models()
            for r in np.unique(rows):
                where = np.flatnonzero(rows == r)
                sym[where] = reader.model(models[r], len(where))
        else:
            sym = np.asarray(reader.categorical(self.probs[:n] if rows is None else self.probs[rows]), np.int64)
        out = (self.lo[:n] if rows is None else self.lo[rows])
        if sym.max(initial=0) == self.K:
            sym = np.array([escape.read(reader, self.K) if s == self.K else s for s in sym], np.int64)
            if np.any(np.abs(out + sym) > escape.CLAMP):  # the encoder clamps every symbol to +-CLAMP
                raise RdsweepError("corrupted stream: an escaped symbol beyond +-2**30")
        return out + sym
