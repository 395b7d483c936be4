"""Entropy coding of the latents: the integer CDF tables and the real (constriction) coding.

``FactorizedCodec`` owns everything both sides must share bit-exactly: the quantization offset (the prior's
median per dimension), the support of each dimension's table and its integer probabilities. The tables are
built once from the trained prior (encoder side) and stored with the model; decoding never evaluates a float
CDF.

Table layout, per latent dimension ``d``: symbols ``lo[d] .. lo[d]+K-1`` (integers, relative to the offset)
at indices ``0 .. K-1`` and an escape bin at index ``K``. ``counts[d]`` are integer probabilities summing to
``2**PRECISION``, every bin at least 1, so any value is encodable: a value outside the table is coded as the
escape symbol followed by its side (1 bit) and its distance beyond the table edge, Elias-gamma style
(5 bits for the exponent n, then n mantissa bits), all with uniform models.

constriction's ``Categorical(perfect=False)`` maps float probabilities to integers by
``left_cdf[i] = floor(cumsum[i] * (2**24 - n) / total) + i``; passing ``counts - 1`` makes that map exact,
so the coder's model *is* ``counts`` and ``info_bits`` is exactly the information content under the coder.

Two coders, each where it is tightest: a digit's own string is range coded (``encode``; the minimal flush
costs ~2.6 bits/digit, an ANS state ~20 or more); many digits in one stream (``encode_stream``, the .rds
payload) are ANS coded (constriction's stack coder: we measured 21-24 bits for the whole stream of the 10k test
digits, where the range coder lost 72-109 bits to its integer arithmetic).
"""
from __future__ import annotations

import io

import constriction
import numpy as np

from rdsweep.errors import RdsweepError
from rdsweep.prior import FactorizedPrior, quantiles

PRECISION = 24  # constriction's probability precision for Categorical
TOTAL = 1 << PRECISION
CLAMP = 1 << 30  # quantized latents are clamped to [-CLAMP, CLAMP]
MAX_TABLE = 1 << 16
DEFAULT_TAIL_MASS = 2.0**-8  # as TFC

_Categorical = constriction.stream.model.Categorical
_Uniform = constriction.stream.model.Uniform
_RangeEncoder = constriction.stream.queue.RangeEncoder
_RangeDecoder = constriction.stream.queue.RangeDecoder
_AnsCoder = constriction.stream.stack.AnsCoder


def quantize_pmf(pmf: np.ndarray) -> np.ndarray:
    """Float pmf rows (D, n) -> int64 counts summing to TOTAL per row, each >= 1."""
    pmf = np.clip(np.asarray(pmf, np.float64), 0.0, None)
    sums = pmf.sum(axis=1, keepdims=True)
    if not np.all(np.isfinite(sums)) or np.any(sums <= 0):
        raise RdsweepError("cannot build coding tables: the prior's pmf is not finite or sums to 0")
    n = pmf.shape[1]
    counts = np.floor(pmf / sums * (TOTAL - n)).astype(np.int64) + 1
    rows = np.arange(len(counts))
    counts[rows, counts.argmax(axis=1)] += TOTAL - counts.sum(axis=1)
    return counts


def minimal_flush(enc) -> bytes:
    """The shortest byte string that decodes like ``enc``'s data, replacing constriction's word-sized seal.

    constriction's range coder keeps a 64-bit window ``lower``/``range`` after the words it has emitted
    (``pos()``), so the encoded message is the interval [L, L + range) with L = prefix * 2**64 + lower (when
    the coder holds back "inverted" words, ``get_compressed`` resolves their carry by its own seal point,
    undone here). Any point of the interval decodes the same symbols; we take the one with the most trailing
    zero bits, write the words big-endian and drop trailing zero bytes, which the decoder pads back
    (``words_of``).
    """
    nwords, (lower, rng) = enc.pos()
    if nwords == 0 and rng == (1 << 64) - 1:
        return b""  # nothing encoded
    prefix = int.from_bytes(enc.get_compressed()[:nwords].astype(">u4").tobytes(), "big")
    carried = lower + rng >= 1 << 64 and lower + (1 << 32) - 1 >= 1 << 64
    low = ((prefix - carried) << 64) + lower
    high = low + rng - 1  # inclusive
    d = (low ^ high).bit_length()  # low and high agree above bit d-1; there low has 0 and high has 1
    point = low if low % (1 << d) == 0 else (high >> (d - 1)) << (d - 1)
    return point.to_bytes(4 * nwords + 8, "big").rstrip(b"\0")


def flush_floor_bits(info_bits) -> np.ndarray:
    """Expected length (bits) of the shortest whole-byte string inside an interval of width 2**-I, I = info_bits.

    With I = 8m + f (0 <= f < 8) and the interval at a random position, a point with m bytes lies inside it
    with probability 2**-f, and one with m + 1 bytes always does: E = 8m + 8 (1 - 2**-f). Minus I, this is the
    least string overhead any byte-granular flush can average (2.56 bits for f uniform in [0, 8));
    ``minimal_flush`` reaches it.
    """
    info = np.asarray(info_bits, np.float64)
    m, f = np.divmod(info, 8.0)
    return 8.0 * m + 8.0 * (1.0 - 2.0 ** -f)


def words_of(data: bytes) -> np.ndarray:
    """Bytes of ``minimal_flush`` -> constriction's uint32 words, zero-padded past the end."""
    return np.frombuffer(bytes(data) + b"\0" * (-len(data) % 4 + 8), dtype=">u4").astype(np.uint32)


def ans_bytes(coder) -> bytes:
    """An ANS coder's words, little-endian, without the zero high bytes of its last (most significant) word."""
    words = coder.get_compressed()
    data = words.astype("<u4").tobytes()
    if len(words) == 0 or words[-1] == 0:
        return data
    return data[: 4 * len(words) - (3 - (int(words[-1]).bit_length() - 1) // 8)]


def ans_words(data: bytes) -> np.ndarray:
    """Bytes of ``ans_bytes`` -> the coder's uint32 words (the last one zero-padded)."""
    return np.frombuffer(bytes(data) + b"\0" * (-len(data) % 4), dtype="<u4").astype(np.uint32)


class FactorizedCodec:
    """Integer tables + constriction coding (range: per digit, ANS: per stream) of factorized latents (rows of D)."""

    def __init__(self, offset, lo, counts):
        # constriction reads raw buffers: non-C-contiguous arrays are silently misread, so copy here.
        self.offset = np.ascontiguousarray(offset, np.float32)
        self.lo = np.ascontiguousarray(lo, np.int64)
        self.counts = np.ascontiguousarray(counts, np.int64)
        D, n = self.counts.shape
        if self.offset.shape != (D,) or self.lo.shape != (D,) or n < 2:
            raise RdsweepError("inconsistent coding tables (offset, lo and counts disagree in shape)")
        if np.any(self.counts < 1) or np.any(self.counts.sum(axis=1) != TOTAL):
            raise RdsweepError(f"invalid coding tables: counts must be >= 1 and sum to 2**{PRECISION} per row")
        self.dims, self.K = D, n - 1
        self._probs = (self.counts - 1).astype(np.float64)  # exact under constriction's map (module doc)
        self._bits = -np.log2(self.counts / TOTAL)
        self._family = _Categorical(perfect=False)

    # ---- tables -------------------------------------------------------------------------------------
    @classmethod
    def from_prior(cls, prior: FactorizedPrior, params, tail_mass: float = DEFAULT_TAIL_MASS):
        import jax.numpy as jnp

        lower, median, upper = quantiles(prior, params, tail_mass)
        offset = median.astype(np.float32)
        lo = np.floor(lower - offset).astype(np.int64)
        hi = np.ceil(upper - offset).astype(np.int64)
        K = int((hi - lo).max()) + 1
        if K > MAX_TABLE:
            raise RdsweepError(f"coding table would need {K} bins (> {MAX_TABLE}): the prior is degenerate")
        grid = (lo[:, None] + np.arange(K)[None, :]).astype(np.float32) + offset[:, None]  # (D, K) centres
        apply = lambda x, m: np.asarray(prior.apply({"params": params}, jnp.asarray(x.T), method=m)).T  # noqa
        pmf = apply(grid, prior.likelihood).astype(np.float64)
        left = apply(grid[:, :1] - 0.5, prior.cdf)[:, 0]
        right = 1.0 - apply(grid[:, -1:] + 0.5, prior.cdf)[:, 0]
        escape = np.clip(left.astype(np.float64) + right, 0.0, None)
        return cls(offset, lo, quantize_pmf(np.concatenate([pmf, escape[:, None]], axis=1)))

    def to_arrays(self) -> dict:
        return {"offset": self.offset, "lo": self.lo, "counts": self.counts}

    def to_npz(self) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, **self.to_arrays())
        return buf.getvalue()

    @classmethod
    def from_npz(cls, path) -> "FactorizedCodec":
        try:
            with np.load(path, allow_pickle=False) as z:
                return cls.from_arrays({k: z[k] for k in ("offset", "lo", "counts")})
        except (OSError, ValueError, KeyError) as e:
            raise RdsweepError(f"cannot read coding tables {path}: {e}") from None

    @classmethod
    def from_arrays(cls, arrays) -> "FactorizedCodec":
        return cls(arrays["offset"], arrays["lo"], arrays["counts"])

    # ---- quantization -------------------------------------------------------------------------------
    def quantize(self, y) -> np.ndarray:
        """Latents (N, D) -> integer symbols around the offset, int64 (N, D)."""
        q = np.rint(np.asarray(y, np.float64) - self.offset)
        return np.clip(np.nan_to_num(q), -CLAMP, CLAMP).astype(np.int64)

    def dequantize(self, q) -> np.ndarray:
        return (np.asarray(q, np.float64) + self.offset).astype(np.float32)

    def _split(self, q):
        idx = np.asarray(q, np.int64) - self.lo
        esc = (idx < 0) | (idx >= self.K)
        return np.ascontiguousarray(np.where(esc, self.K, idx), np.int32), esc, idx

    def escapes(self, q) -> np.ndarray:
        """Per row of q, how many values fall outside the tables (coded through the escape)."""
        return self._split(q)[1].sum(axis=-1)

    def info_bits(self, q) -> np.ndarray:
        """Exact information content (bits) of each row of q under the coding model (escapes included)."""
        sym, esc, idx = self._split(q)
        bits = self._bits[np.arange(self.dims), sym].sum(axis=-1)
        over = np.where(idx < 0, -idx, idx - self.K + 1)
        n = np.where(esc, np.floor(np.log2(np.maximum(over, 1))), 0)
        return bits + (esc * (6 + n)).sum(axis=-1)

    # ---- coding -------------------------------------------------------------------------------------
    def _encode_rows(self, q, enc=None):
        """Range code rows of q: into one shared encoder ``enc`` (a stream), or each into its own string."""
        sym, esc, idx = self._split(np.atleast_2d(q))
        escaped = esc.any(axis=1)
        strings = []
        for r in range(len(sym)):
            e = _RangeEncoder() if enc is None else enc
            e.encode(sym[r], self._family, self._probs)
            if escaped[r]:
                for d in np.flatnonzero(esc[r]):
                    for value, model in self._escape_fields(int(idx[r, d])):
                        e.encode(value, model)
            if enc is None:
                strings.append(minimal_flush(e))
        return strings

    def _escape_fields(self, i: int) -> list:
        """(value, uniform model) in decoding order for the table index i (outside 0..K-1) of an escape."""
        side = int(i >= self.K)
        v = i - self.K + 1 if side else -i
        n = v.bit_length() - 1
        m = v - (1 << n)
        fields = [(side, _Uniform(2)), (n, _Uniform(32))]
        if n > 16:
            fields += [(m >> 16, _Uniform(1 << (n - 16))), (m & 0xFFFF, _Uniform(1 << 16))]
        elif n > 0:
            fields.append((m, _Uniform(1 << n)))
        return fields

    def _decode_stream_rows(self, dec, n: int) -> np.ndarray:
        """n rows from one stream decoder: each row's escapes follow its symbols, so resolve them in order."""
        sym = np.empty((n, self.dims), np.int64)
        for r in range(n):
            sym[r] = dec.decode(self._family, self._probs)
            if sym[r].max() == self.K:
                sym[r] = [self._decode_escape(dec) if s == self.K else s for s in sym[r]]
        return self.lo + sym

    def _decode_escape(self, dec) -> int:
        """The table index (outside 0..K-1) of an escaped value."""
        side = int(dec.decode(_Uniform(2)))
        n = int(dec.decode(_Uniform(32)))
        if n > 16:
            m = (int(dec.decode(_Uniform(1 << (n - 16)))) << 16) | int(dec.decode(_Uniform(1 << 16)))
        else:
            m = int(dec.decode(_Uniform(1 << n))) if n > 0 else 0
        v = (1 << n) + m
        return self.K - 1 + v if side else -v

    def encode(self, q_row) -> bytes:
        """One digit's symbols (D,) -> its own byte string (no length field: the caller keeps lengths)."""
        return self._encode_rows(q_row)[0]

    def encode_many(self, q) -> list[bytes]:
        """Each digit (row of q) -> its own byte string."""
        return self._encode_rows(q)

    def decode(self, data: bytes) -> np.ndarray:
        """A digit's byte string -> its symbols (D,). Any bytes decode to something (no sanity check)."""
        return self.decode_many([data])[0]

    def decode_many(self, strings) -> np.ndarray:
        """Byte strings -> symbols (N, D). Each string has its own decoder, so escapes are resolved after."""
        decoders = [_RangeDecoder(words_of(s)) for s in strings]
        if not decoders:
            return np.zeros((0, self.dims), np.int64)
        sym = np.stack([dec.decode(self._family, self._probs) for dec in decoders]).astype(np.int64)
        for r in np.flatnonzero((sym == self.K).any(axis=1)):
            sym[r] = [self._decode_escape(decoders[r]) if s == self.K else s for s in sym[r]]
        return self.lo + sym

    def encode_stream(self, q) -> bytes:
        """Many digits (N, D) in one ANS stream (the container payload), decodable row after row."""
        sym, esc, idx = self._split(np.atleast_2d(q))
        ans = _AnsCoder()
        for r in range(len(sym) - 1, -1, -1):  # a stack: push in reverse of the decoding order
            for d in np.flatnonzero(esc[r])[::-1]:
                for value, model in self._escape_fields(int(idx[r, d]))[::-1]:
                    ans.encode_reverse(value, model)
            ans.encode_reverse(sym[r], self._family, self._probs)
        return ans_bytes(ans)

    def decode_stream(self, data: bytes, n: int) -> np.ndarray:
        """The n rows of ``encode_stream``'s bytes; the stream must be used up exactly."""
        try:
            ans = _AnsCoder(ans_words(data))
            rows = self._decode_stream_rows(ans, n)
            exact = ans.is_empty()
        except (ValueError, OverflowError, AssertionError) as e:  # constriction on data it did not write
            raise RdsweepError(f"corrupted stream: {e}") from None
        if not exact:
            raise RdsweepError("corrupted stream: data left over after the last digit")
        return rows

    def encode_range_stream(self, q) -> bytes:
        """Many digits in one range-coded stream: the .rds payload of format version 1 (read, no longer written)."""
        enc = _RangeEncoder()
        self._encode_rows(q, enc)
        return minimal_flush(enc)

    def decode_range_stream(self, data: bytes, n: int) -> np.ndarray:
        """n rows of ``encode_range_stream``'s bytes."""
        return self._decode_stream_rows(_RangeDecoder(words_of(data)), n)
