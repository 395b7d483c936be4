"""An independent decoder of rdsweep's files, written from docs/formats.md alone: the four models (seed,
hyperprior, meanscale, and an exported operating point of gained).

It imports nothing from ``rdsweep``: only numpy, msgpack and the standard library (it does not even use
constriction: the ANS and range decoders below follow the arithmetic the spec gives). Its purpose is to prove
that the spec is complete: ``tests/formats/test_reference_decoder.py`` checks that it decodes exactly the
symbols, names and dequantized latents rdsweep decodes, and images within one grey level of rdsweep's.

    model = load_model("model.rdsm")
    symbols, names, images = decode(model, open("digits.rds", "rb").read())

Section numbers (§) refer to docs/formats.md. Every check the spec says a decoder must make raises
``FormatError``.
"""
from __future__ import annotations

import hashlib
import json
import math
import struct
import zlib
from pathlib import Path

import msgpack
import numpy as np


CLAMP = 1 << 30  # §0: the encoder clamps every symbol to [-CLAMP, CLAMP]


class FormatError(ValueError):
    """The file is not a valid rdsweep file (or not one for this model)."""


# ---- §1 the model file ----------------------------------------------------------------------------------

MODEL_MAGIC = b"RDSM"
MODEL_HEADER = struct.Struct(">4sH32s")  # magic, version, SHA-256 of the payload

SEED_DEFAULTS = {"name": "seed", "filters": [20, 50], "kernel_size": 5, "hidden": 500, "leaky_slope": 0.2}
HYPER_DEFAULTS = {**SEED_DEFAULTS, "name": "hyperprior", "hyper_dims": 8, "hyper_hidden": 64,
                  "scale_min": 0.11, "scale_max": 256.0, "num_scales": 64}
DEFAULTS = {"seed": SEED_DEFAULTS, "hyperprior": HYPER_DEFAULTS, "meanscale": {**HYPER_DEFAULTS, "name": "meanscale"},
            "gained": {**SEED_DEFAULTS, "name": "gained", "lmbda_min": 200.0, "lmbda_max": 3000.0, "anchors": 8,
                       "code_at": [300.0, 500.0, 1000.0, 2000.0]}}


def _array(data: bytes) -> np.ndarray:
    """§1.2: an ExtType 1 body: msgpack [shape, dtype name, raw C-order bytes], little-endian."""
    shape, dtype, raw = msgpack.unpackb(data, raw=False)
    if isinstance(dtype, bytes):
        dtype = dtype.decode("ascii")
    dt = np.dtype(dtype)
    if dt.hasobject or dt.fields is not None:
        raise FormatError(f"array of dtype {dtype} is not allowed")
    return np.frombuffer(raw, dtype=dt.newbyteorder("<")).astype(dt).reshape(tuple(shape), order="C")


def _ext_hook(code: int, data: bytes):
    if code == 1:  # ndarray
        return _array(data)
    if code == 3:  # numpy scalar: a 0-d array
        return _array(data)[()]
    if code == 2:  # complex
        re, im = msgpack.unpackb(data)
        return complex(re, im)
    raise FormatError(f"unknown msgpack extension type {code}")


def _unchunk(node):
    """§1.2: arrays over 2**30 bytes are stored as {"__msgpack_chunked_array__": true, "shape", "chunks"}."""
    if isinstance(node, dict):
        if "__msgpack_chunked_array__" in node:
            shape = tuple(node["shape"][str(i)] for i in range(len(node["shape"])))
            chunks = [node["chunks"][str(i)] for i in range(len(node["chunks"]))]
            return np.concatenate(chunks).reshape(shape)
        return {k: _unchunk(v) for k, v in node.items()}
    return node


def unpack_payload(payload: bytes) -> dict:
    return _unchunk(msgpack.unpackb(payload, raw=False, strict_map_key=False, ext_hook=_ext_hook))


class Model:
    """What a decoder needs of a model file: its config, synthesis weights, entropy arrays and fingerprint."""

    def __init__(self, config: dict, params: dict, entropy: dict, fingerprint: bytes):
        self.config, self.params, self.entropy, self.fingerprint = config, params, entropy, fingerprint
        name = config["model"]["name"]
        if name not in DEFAULTS:
            raise FormatError(f"unknown model {name!r}")
        self.name = name
        self.spec = {**DEFAULTS[name], **config["model"]}
        self.shape = tuple(int(s) for s in config["shape"])
        self.latent_dims = D = int(config["latent_dims"])
        if set(entropy) != ({"side", "y"} if name in ("hyperprior", "meanscale") else {"y"}):
            raise FormatError(f"entropy layers {sorted(entropy)} are not those of model {name}")
        # §5.1 / §6.1: the entropy layers in coding order
        if name == "seed":
            self.layers = [("y", Factorized(entropy["y"]))]
        elif name == "gained":  # §4.7
            self.layers = [("y", Gained(entropy["y"]))]
        else:  # §4.5 (hyperprior), §4.6 (meanscale)
            side = Factorized(entropy["side"])
            y = Conditional(entropy["y"], D) if name == "hyperprior" else ConditionalMean(entropy["y"], D)
            if y.net[0][0].shape[0] != side.dims:
                raise FormatError("the integer network does not take the side symbols")
            if y.tables.rows != int(self.spec["num_scales"]):
                raise FormatError("the conditional tables do not have num_scales rows")
            self.layers = [("side", side), ("y", y)]
        if self.layers[-1][1].dims != D:
            raise FormatError("the tables of y do not have latent_dims rows / outputs")

    def latents(self, symbols: dict) -> np.ndarray:
        """§6.1: the decoded symbols -> y_hat (N, latent_dims) float32, exact (the last layer's dequantize)."""
        return self.layers[-1][1].dequantize(symbols)


def load_model(source) -> Model:
    """A model file (path or bytes) -> Model; §1.1 header and checksum checked."""
    data = Path(source).read_bytes() if isinstance(source, (str, Path)) else bytes(source)
    if len(data) < MODEL_HEADER.size or data[:4] != MODEL_MAGIC:
        raise FormatError("not an rdsweep model file")
    _, version, digest = MODEL_HEADER.unpack_from(data)
    if version not in (1, 2):
        raise FormatError(f"model format version {version} is not supported")
    payload = data[MODEL_HEADER.size:]
    if hashlib.sha256(payload).digest() != digest:
        raise FormatError("model file checksum mismatch")
    state = unpack_payload(payload)
    config = json.loads(state["config"])
    if version == 1:  # §1.4
        config = {**config, "model": {"name": "seed"}, "prior": {"name": config["prior"]},
                  "shape": [*config.get("shape", [28, 28]), 1]}
        entropy = {"y": state["codec"]}
    else:
        entropy = state["entropy"]
    return Model(config, state["params"], entropy, digest[:16])


# ---- §3 the entropy coders --------------------------------------------------------------------------------

PRECISION = 24
TOTAL = 1 << PRECISION
QMASK = TOTAL - 1
WORD = 32
WMASK = (1 << WORD) - 1
M64 = (1 << 64) - 1


def categorical_lookup(cdf: np.ndarray):
    """§3.1: the quantile function of a table row: cdf (K+2,) = 0, counts[0], counts[0]+counts[1], ..., 2**24."""
    def lookup(q: int):
        s = int(np.searchsorted(cdf, q, side="right")) - 1
        left = int(cdf[s])
        return s, left, int(cdf[s + 1]) - left
    return lookup


def uniform_lookup(size: int):
    """§3.2: constriction's uniform model over 0..size-1 at precision 24."""
    per_bin = TOTAL // size

    def lookup(q: int):
        s = min(q // per_bin, size - 1)
        left = s * per_bin
        return s, left, (per_bin if s < size - 1 else TOTAL - left)
    return lookup


class AnsDecoder:
    """§3.3: constriction's AnsCoder (32-bit words, 64-bit state, precision 24), decoding side. Every decoded
    (left, prob) is logged so that the payload can be coded again and compared (§5.3)."""

    def __init__(self, payload: bytes):
        raw = bytes(payload) + b"\0" * (-len(payload) % 4)
        self.words = [int(w) for w in np.frombuffer(raw, dtype="<u4")]
        self.pos = len(self.words)  # words are popped from the end
        self.log = []
        self.state = 0
        if self.pos:
            top = self.pop()
            if top == 0:
                raise FormatError("corrupted stream: the ANS data ends in a zero word")
            self.state = top
            if self.pos:
                self.state = (self.state << WORD) | self.pop()

    def pop(self) -> int:
        self.pos -= 1
        return self.words[self.pos]

    def decode(self, lookup) -> int:
        q = self.state & QMASK
        s, left, prob = lookup(q)
        self.state = (self.state >> PRECISION) * prob + (q - left)
        if self.state < (1 << WORD) and self.pos:
            self.state = (self.state << WORD) | self.pop()
        self.log.append((left, prob))
        return s

    def exhausted(self) -> bool:
        return self.state == 0 and self.pos == 0


def ans_encode(log) -> bytes:
    """§3.3: the ANS bytes of a sequence of (left, prob) in decoding order."""
    state, bulk = 0, []
    for left, prob in reversed(log):
        if (state >> (64 - PRECISION)) >= prob:
            bulk.append(state & WMASK)
            state >>= WORD
        state = ((state // prob) << PRECISION) | (left + state % prob)
    if state:
        bulk.append(state & WMASK)
        if state >> WORD:
            bulk.append(state >> WORD)
    return b"".join(struct.pack("<I", w) for w in bulk).rstrip(b"\0")


class RangeDecoder:
    """§3.4: constriction's RangeDecoder (32-bit words read big-endian, 64-bit lower/range/point, precision 24),
    reading zeros past the end of the data."""

    def __init__(self, payload: bytes):
        raw = bytes(payload) + b"\0" * (-len(payload) % 4)
        self.words = [int(w) for w in np.frombuffer(raw, dtype=">u4")]
        self.pos = 0
        self.lower, self.range = 0, M64
        self.point = (self.next() << WORD) | self.next()
        self.log = []

    def next(self) -> int:
        self.pos += 1
        return self.words[self.pos - 1] if self.pos <= len(self.words) else 0

    def decode(self, lookup) -> int:
        scale = self.range >> PRECISION
        q = ((self.point - self.lower) & M64) // scale
        if q >= TOTAL:
            raise FormatError("corrupted stream: range decoder out of its interval")
        s, left, prob = lookup(q)
        self.lower = (self.lower + scale * left) & M64
        self.range = scale * prob
        if self.range < (1 << WORD):
            self.lower = (self.lower << WORD) & M64
            self.range <<= WORD
            self.point = ((self.point << WORD) & M64) | self.next()
        self.log.append((left, prob))
        return s

    def exhausted(self) -> bool:
        return True


def range_encode(log) -> bytes:
    """§3.4: the minimal-flush bytes of a range coded sequence of (left, prob)."""
    if not log:
        return b""
    low, rng, shifts = 0, M64, 0
    for left, prob in log:
        scale = rng >> PRECISION
        low += scale * left
        rng = scale * prob
        if rng < (1 << WORD):
            low <<= WORD
            rng <<= WORD
            shifts += 1
    high = low + rng - 1
    d = (low ^ high).bit_length()
    point = low if low % (1 << d) == 0 else (high >> (d - 1)) << (d - 1)
    return point.to_bytes(4 * shifts + 8, "big").rstrip(b"\0")


# ---- §4 tables, escapes, the entropy layers ---------------------------------------------------------------

ESCAPE_EXPONENT = 32
ESCAPE_CHUNK = 16
FRAC = 16
MEAN_FRAC = 8  # §4.6: the means' grid, multiples of 2**-8
INPUT_CLIP = 1 << 15
ACT_CLIP = 1 << 31


class Tables:
    """§4.1: R rows of K table bins + the escape bin K; row r covers lo[r] .. lo[r] + K - 1."""

    def __init__(self, lo, counts):
        self.lo = np.asarray(lo, np.int64)
        self.counts = np.asarray(counts, np.int64)
        if self.counts.ndim != 2 or self.lo.shape != self.counts.shape[:1] or self.counts.shape[1] < 2:
            raise FormatError("lo and counts do not form R rows")
        if np.any(self.counts < 1) or np.any(self.counts.sum(axis=1) != TOTAL):
            raise FormatError("counts must be >= 1 and sum to 2**24 per row")
        self.rows, self.K = self.counts.shape[0], self.counts.shape[1] - 1
        cdf = np.zeros((self.rows, self.K + 2), np.int64)
        cdf[:, 1:] = np.cumsum(self.counts, axis=1)
        self.lookups = [categorical_lookup(c) for c in cdf]
        self.min_bits = (-np.log2(self.counts / TOTAL)).min(axis=1)  # §5.2

    def read_escape(self, dec) -> int:
        """§4.2: the table index of an escaped value."""
        side = dec.decode(uniform_lookup(2))
        n = dec.decode(uniform_lookup(ESCAPE_EXPONENT))
        m, left = 0, n
        while left > 0:
            take = left - ESCAPE_CHUNK * ((left - 1) // ESCAPE_CHUNK)  # the high chunk: 1..16 bits
            m = (m << take) | dec.decode(uniform_lookup(1 << take))
            left -= take
        v = (1 << n) + m
        return self.K - 1 + v if side else -v

    def read(self, dec, rows: np.ndarray, grouped: bool) -> np.ndarray:
        """One digit's symbols, symbol i with table row rows[i] (§4.3 order, then the escapes)."""
        idx = np.empty(len(rows), np.int64)
        if grouped:
            for r in np.unique(rows):  # ascending rows, positions ascending within a row
                for i in np.flatnonzero(rows == r):
                    idx[i] = dec.decode(self.lookups[r])
        else:
            for i, r in enumerate(rows):
                idx[i] = dec.decode(self.lookups[r])
        for i in np.flatnonzero(idx == self.K):
            idx[i] = self.read_escape(dec)
        return self.lo[rows] + idx


class Factorized:
    """§4.4: one table row per dimension, quantization offset per dimension."""

    def __init__(self, arrays):
        self.offset = np.asarray(arrays["offset"], np.float32)
        self.tables = Tables(arrays["lo"], arrays["counts"])
        self.dims = self.tables.rows
        if self.offset.shape != (self.dims,):
            raise FormatError("offset does not have one value per table row")

    def min_bits(self) -> float:
        return float(self.tables.min_bits.sum())

    def read(self, dec, context) -> np.ndarray:
        return self.tables.read(dec, np.arange(self.dims), grouped=False)

    def dequantize(self, symbols: dict) -> np.ndarray:
        """§4.4: y_hat = float32(float64(q) + float64(offset))."""
        return (np.asarray(symbols["y"], np.float64) + self.offset.astype(np.float64)).astype(np.float32)


class Gained(Factorized):
    """§4.7: a factorized layer of u = y * gain (tables, offset of u), and the inverse gains the decoder applies."""

    def __init__(self, arrays):
        super().__init__(arrays)
        if "gain" not in arrays or "inverse" not in arrays:
            raise FormatError("a gained layer needs its gain and inverse arrays")
        self.gain, self.inverse = (np.asarray(arrays[k]) for k in ("gain", "inverse"))
        for a in (self.gain, self.inverse):
            if a.dtype.kind != "f" or a.shape != (self.dims,):
                raise FormatError("gain and inverse must be floating point, one value per table row")
        self.gain, self.inverse = self.gain.astype(np.float32), self.inverse.astype(np.float32)
        for a in (self.gain, self.inverse):
            if not np.all(np.isfinite(a)) or np.any(a <= 0) or np.any(a > 1e6):
                raise FormatError("gain and inverse must be finite, in (0, 1e6]")

    def dequantize(self, symbols: dict) -> np.ndarray:
        """§4.7: y_hat = float32(float64(q) + float64(offset)) * inverse, a float32 product (round to nearest)."""
        return super().dequantize(symbols) * self.inverse


class Conditional:
    """§4.5: one table row per scale; each latent's row from the integer hyper-synthesis of the side symbols."""

    OUTPUTS = 1  # the integer network's outputs per latent: the table index

    def __init__(self, arrays, dims: int):
        self.tables = Tables(arrays["lo"], arrays["counts"])
        n = sum(1 for k in arrays if k[:1] == "w" and k[1:].isdigit())
        self.net = [(np.asarray(arrays[f"w{i}"]), np.asarray(arrays[f"b{i}"])) for i in range(n)]
        if not self.net:
            raise FormatError("no integer network")
        for i, (w, b) in enumerate(self.net):
            if w.dtype != np.int64 or b.dtype != np.int64 or w.ndim != 2 or b.shape != w.shape[1:] \
                    or (i and w.shape[0] != self.net[i - 1][0].shape[1]) or not 1 <= w.size <= 1 << 24:
                raise FormatError(f"integer network layer {i}: not int64 weights (in, out), biases (out,) that chain")
            bounded = np.all((w > -(1 << 31)) & (w < 1 << 31)) and np.all((b > -(1 << 61)) & (b < 1 << 61))
            if not bounded or np.any(np.abs(w).sum(axis=0) >= 1 << 31):  # §4.5: no int64 sum can overflow
                raise FormatError(f"integer network layer {i}: weights or biases out of range")
        if self.net[-1][0].shape[1] != self.OUTPUTS * dims:
            raise FormatError(f"the integer network must give {self.OUTPUTS} x {dims} outputs")
        self.dims = dims

    def min_bits(self) -> float:
        return float(self.dims * self.tables.min_bits.min())

    def network(self, side: np.ndarray) -> np.ndarray:
        """(N, hyper_dims) side symbols -> (N, OUTPUTS * dims) outputs with FRAC fractional bits, integer only."""
        x = np.clip(np.asarray(side, np.int64), -INPUT_CLIP, INPUT_CLIP) * (1 << FRAC)
        for i, (w, b) in enumerate(self.net):
            x = (x @ w + b) >> FRAC  # floor; |x @ w + b| < 2**63 by the spec's bounds
            x = np.clip(x, 0 if i < len(self.net) - 1 else -ACT_CLIP, ACT_CLIP)
        return x

    def context(self, side: np.ndarray) -> np.ndarray:
        """(N, hyper_dims) side symbols -> (N, dims) table rows: the network's first dims outputs, rounded."""
        x = self.network(side)[:, : self.dims]
        return np.clip((x + (1 << (FRAC - 1))) >> FRAC, 0, self.tables.rows - 1)

    def read(self, dec, rows) -> np.ndarray:
        return self.tables.read(dec, rows, grouped=True)

    def dequantize(self, symbols: dict) -> np.ndarray:
        """§4.5: y_hat = float32(q); the side symbols only chose the tables."""
        return np.asarray(symbols["y"]).astype(np.float32)


class ConditionalMean(Conditional):
    """§4.6: as §4.5, plus a mean per latent: the network's outputs dims..2 dims-1 on the grid of 2**-MEAN_FRAC."""

    OUTPUTS = 2

    def means(self, side: np.ndarray) -> np.ndarray:
        """(N, hyper_dims) side symbols -> (N, dims) means, float64 multiples of 2**-MEAN_FRAC (exact)."""
        m = self.network(side)[:, self.dims:]
        shift = FRAC - MEAN_FRAC
        return ((m + (1 << (shift - 1))) >> shift).astype(np.float64) / (1 << MEAN_FRAC)

    def dequantize(self, symbols: dict) -> np.ndarray:
        """§4.6: y_hat = float32(float64(q) + mean): the float64 sum is exact, then rounded to float32."""
        return (np.asarray(symbols["y"], np.float64) + self.means(symbols["side"])).astype(np.float32)


# ---- §2 the compressed file ---------------------------------------------------------------------------------

RDS_MAGIC = b"RDSW"
HEADS = {1: struct.Struct(">4sB16sIHHI"), 2: struct.Struct(">4sB16sIHHI"), 3: struct.Struct(">4sB16sIHHBI"),
         4: struct.Struct(">4sB16sIHHBII")}
END = (0xA5C3, 1 << 16)
MAX_DIGITS = 1 << 24
MAX_NAME = 255
MAX_DECODE_BYTES = 1 << 29


def parse_container(data: bytes, model: Model):
    """§2: (version, N, payload, names or None), every framing check made."""
    data = bytes(data)
    if len(data) < 5 or data[:4] != RDS_MAGIC:
        raise FormatError("bad magic")
    version = data[4]
    if version not in HEADS:
        raise FormatError(f"format version {version} is not supported")
    head = HEADS[version]
    if len(data) < head.size + 4:
        raise FormatError("truncated file")
    fields = head.unpack_from(data)
    fingerprint, n = fields[2], fields[3]
    if version >= 3:
        shape, plen = tuple(fields[4:7]), fields[7]
    else:
        shape, plen = (fields[4], fields[5], 1), fields[6]
    nlen = fields[8] if version >= 4 else 0
    if len(data) != head.size + plen + nlen + 4:
        raise FormatError("truncated or padded file")
    if zlib.crc32(data[:-4]) != struct.unpack(">I", data[-4:])[0]:
        raise FormatError("checksum mismatch")
    if fingerprint != model.fingerprint:
        raise FormatError("file was made with another model")
    if shape != model.shape or n > MAX_DIGITS:
        raise FormatError("image shape or count does not match the model")
    if nlen > n * (2 + MAX_NAME):
        raise FormatError("names block too long")
    payload = data[head.size: head.size + plen]
    return version, n, payload, parse_names(data[head.size + plen: head.size + plen + nlen], n)


def parse_names(block: bytes, n: int):
    """§2.2: N times (u16 length, UTF-8 bytes), filling the block exactly; an empty block: no names."""
    if not block:
        return None
    names, pos = [], 0
    for _ in range(n):
        if pos + 2 > len(block):
            raise FormatError("malformed names")
        (size,) = struct.unpack_from(">H", block, pos)
        raw = block[pos + 2: pos + 2 + size]
        if len(raw) != size:
            raise FormatError("malformed names")
        try:
            names.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise FormatError("malformed names") from None
        pos += 2 + size
    if pos != len(block):
        raise FormatError("names do not fill their block")
    if len(set(names)) != n or any(not 1 <= len(s.encode()) <= MAX_NAME or "/" in s or "\0" in s or s in (".", "..")
                                   for s in names):
        raise FormatError("names are not N distinct file names")
    return names


# ---- §5 the payload ---------------------------------------------------------------------------------------

def read_symbols(model: Model, payload: bytes, n: int, version: int) -> dict:
    """§5: the N digits' symbols of a payload, with every stream check (§2.3: versions 1 and 2 are read, as if
    asked to, for the seed model on 28x28x1 only)."""
    if n < 1:
        raise FormatError("a file of no images")
    if version < 3 and (model.name != "seed" or model.shape != (28, 28, 1)):
        raise FormatError(f"version {version} holds only seed-model 28x28 digits")
    if n * sum(layer.min_bits() for _, layer in model.layers) > 8 * len(payload) + 64:
        raise FormatError(f"{n} digits cannot fit in {len(payload)} bytes")
    per_digit = 8 * sum(layer.dims for _, layer in model.layers) + math.prod(model.shape)
    if n * per_digit > MAX_DECODE_BYTES:
        raise FormatError(f"{n} digits: more than one file may hold")
    dec = RangeDecoder(payload) if version == 1 else AnsDecoder(payload)
    symbols = {}
    for name, layer in model.layers:  # layer after layer, digit after digit
        context = None
        if isinstance(layer, Conditional):
            context = layer.context(symbols["side"])
        rows = [layer.read(dec, None if context is None else context[i]) for i in range(n)]
        symbols[name] = np.stack(rows) if rows else np.zeros((0, layer.dims), np.int64)
    if any(np.any(np.abs(v) > CLAMP) for v in symbols.values()):
        raise FormatError("corrupted stream: a symbol beyond the encoder's clamp")
    if version >= 3 and dec.decode(uniform_lookup(END[1])) != END[0]:
        raise FormatError("corrupted stream: wrong end mark")
    if not dec.exhausted():
        raise FormatError("corrupted stream: data left after the end")
    again = range_encode(dec.log) if version == 1 else ans_encode(dec.log)
    if again != bytes(payload):
        raise FormatError("corrupted stream: the payload is not what the encoder makes of its symbols")
    return symbols


# ---- §6 the synthesis transform -----------------------------------------------------------------------------

def leaky(x: np.ndarray, slope: float) -> np.ndarray:
    return np.where(x >= 0, x, slope * x)


def conv_transpose(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """§6.2: flax ConvTranspose, stride 2, padding "SAME", kernel (k, k, C_in, C_out) not flipped: per spatial
    axis, input i reaches output 2 i + a - t through kernel tap t, with a = ceil(k / 2) (a = 0 for k = 1)."""
    k = kernel.shape[0]
    pad_a = k - 1 if 2 > k - 1 else math.ceil(k / 2)
    N, H, W, _ = x.shape
    y = np.zeros((N, 2 * H, 2 * W, kernel.shape[3]), x.dtype)
    for th in range(k):
        oh = 2 * np.arange(H) + pad_a - th
        ih = np.flatnonzero((oh >= 0) & (oh < 2 * H))
        for tw in range(k):
            ow = 2 * np.arange(W) + pad_a - tw
            iw = np.flatnonzero((ow >= 0) & (ow < 2 * W))
            part = np.tensordot(x[:, ih][:, :, iw], kernel[th, tw], axes=([3], [0]))
            y[:, oh[ih][:, None], ow[iw][None, :], :] += part
    return y + bias


def synthesis(model: Model, y_hat: np.ndarray) -> np.ndarray:
    """§6: y_hat (N, latent_dims) float32 -> uint8 images (N, H, W, C), computed in float64."""
    p = {k: {n: np.asarray(v, np.float64) for n, v in layer.items()} for k, layer in model.params["synthesis"].items()}
    spec, (H, W) = model.spec, model.shape[:2]
    filters, slope = list(spec["filters"]), float(spec["leaky_slope"])
    step = 2 ** len(filters)
    x = np.asarray(y_hat, np.float64)
    if not int(spec["hidden"]) and y_hat.shape[1] != H // step * W // step * filters[-1]:
        raise FormatError(f"hidden 0 needs latent_dims {H // step * W // step * filters[-1]}, not {y_hat.shape[1]}")
    if int(spec["hidden"]):  # hidden 0: fully convolutional, y_hat is the first deconvolution's input
        x = leaky(x @ p["dense1"]["kernel"] + p["dense1"]["bias"], slope)
        x = leaky(x @ p["dense2"]["kernel"] + p["dense2"]["bias"], slope)
    x = x.reshape(len(x), H // step, W // step, filters[-1])
    for i in range(len(filters)):
        layer = p[f"deconv{i + 1}"]
        x = leaky(conv_transpose(x, layer["kernel"], layer["bias"]), slope)
    return np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)


# ---- everything ---------------------------------------------------------------------------------------------

def decode(model, data):
    """(symbols {layer: int64 (N, D)}, names or None, uint8 images (N, H, W, C)) of an .rds file (bytes or path);
    ``model``: a Model or a model file."""
    if not isinstance(model, Model):
        model = load_model(model)
    if isinstance(data, (str, Path)):
        data = Path(data).read_bytes()
    version, n, payload, names = parse_container(data, model)
    symbols = read_symbols(model, payload, n, version)
    images = synthesis(model, model.latents(symbols))
    return symbols, names, images
