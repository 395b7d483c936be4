"""The escape format, defined once: how a value outside its table is coded after the escape symbol.

A table covers indices ``0 .. K-1``; an index ``i`` outside is coded as uniform fields, in this order:
``side`` (1 bit: below / above the table), ``n`` (5 bits), then the mantissa ``m`` (n bits, in chunks of at
most 16 bits, high chunk first), where ``v = 2**n + m >= 1`` is the distance beyond the table's edge
(Elias-gamma style). ``fields`` is the one spec: the encoder writes it, the decoder reads it back field by
field, and ``bits`` (the information content) sums its field sizes.
"""
from __future__ import annotations

import math

CLAMP = 1 << 30  # quantized latents are clamped to [-CLAMP, CLAMP]: every distance fits the fields below
EXPONENT_SIZE = 32  # alphabet of the n field
CHUNK = 16  # bits per mantissa chunk (constriction's uniform models take sizes up to 2**32)


def _mantissa_sizes(n: int) -> list[int]:
    """Alphabet sizes of the mantissa chunks of an n-bit mantissa, high chunk first."""
    sizes = []
    while n > 0:
        take = n - CHUNK * ((n - 1) // CHUNK)  # the high chunk takes the remainder
        sizes.append(1 << take)
        n -= take
    return sizes


def fields(i: int, K: int) -> list[tuple[int, int]]:
    """(value, alphabet size) of each field, in coding order, for the table index i (i < 0 or i >= K)."""
    side = int(i >= K)
    v = i - K + 1 if side else -i
    n = v.bit_length() - 1
    m = v - (1 << n)
    out = [(side, 2), (n, EXPONENT_SIZE)]
    shift = n
    for size in _mantissa_sizes(n):
        shift -= size.bit_length() - 1
        out.append(((m >> shift) & (size - 1), size))
    return out


def bits(i: int, K: int) -> float:
    """Information content of an escaped index's fields (the escape symbol itself is in the table)."""
    return sum(math.log2(size) for _, size in fields(i, K))


def write(writer, i: int, K: int) -> None:
    for value, size in fields(i, K):
        writer.uniform(value, size)


def read(reader, K: int) -> int:
    """The table index of an escaped value, read field by field as ``fields`` wrote it."""
    side = reader.uniform(2)
    n = reader.uniform(EXPONENT_SIZE)
    m = 0
    for size in _mantissa_sizes(n):
        m = (m << (size.bit_length() - 1)) | reader.uniform(size)
    v = (1 << n) + m
    return K - 1 + v if side else -v
