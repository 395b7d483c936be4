"""Range coding of one digit's own string, ending in the shortest byte string that decodes the same.

constriction's ``RangeEncoder`` emits whole 32-bit words and its seal adds one or two (about +20 bits per
digit); ``minimal_flush`` replaces the seal and lands on the whole-byte floor (``flush_floor_bits``). A string
is just its bytes, with no length field; the decoder pads zeros back (``words_of``).
"""
from __future__ import annotations

import constriction
import numpy as np

from rdsweep.coding.reader import Reader, _Uniform
from rdsweep.coding.tables import FAMILY



def minimal_flush(enc) -> bytes:
    """The shortest byte string that decodes like ``enc``'s data, replacing constriction's word-sized seal.

    constriction's range coder keeps a 64-bit window ``lower``/``range`` after the words it has emitted
    (``pos()``), so the encoded message is the interval [L, L + range) with L = prefix * 2**64 + lower (when
    the coder holds back "inverted" words, ``get_compressed`` resolves their carry by its own seal point,
    undone here). Any point of the interval decodes the same symbols; we take the one with the most trailing
    zero bits, write the words big-endian and drop trailing zero bytes.
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
    m, f = np.divmod(np.asarray(info_bits, np.float64), 8.0)
    return 8.0 * m + 8.0 * (1.0 - 2.0 ** -f)


def words_of(data: bytes) -> np.ndarray:
    """Bytes of ``minimal_flush`` -> constriction's uint32 words, zero-padded past the end."""
    return np.frombuffer(bytes(data) + b"\0" * (-len(data) % 4 + 8), dtype=">u4").astype(np.uint32)


class RangeWriter:
    """The coder interface (``categorical``, ``model``, ``uniform``, ``finish``) over one range encoder."""

    def __init__(self):
        self.enc = constriction.stream.queue.RangeEncoder()

    def categorical(self, symbols, probs) -> None:
        self.enc.encode(symbols, FAMILY, probs)

    def model(self, symbols, model) -> None:
        self.enc.encode(symbols, model)

    def uniform(self, value: int, size: int) -> None:
        self.enc.encode(value, _Uniform(size))

    def finish(self) -> bytes:
        return minimal_flush(self.enc)


class RangeReader(Reader):
    """Decodes what a ``RangeWriter`` wrote. Any bytes decode to something (a string has no sanity check)."""

    def __init__(self, data: bytes):
        self.dec = constriction.stream.queue.RangeDecoder(words_of(data))

    def exhausted(self) -> bool:
        return True  # a string's end is implicit (zero padding): nothing to check
