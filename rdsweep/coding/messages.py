"""Digits as messages over entropy layers: the one loop that writes and reads them, string or stream.

``layers``: (name, entropy layer) in coding order; ``context(name, decoded)``: that layer's coding parameters
for every digit, from the layers before it (None for a layer without). A digit's own string holds its layers
in order; a stream holds all digits' first layer, then all digits' next layer (``writers``/``readers`` are
then one shared coder), so the decoder can derive a layer's parameters for all digits at once.
"""
from __future__ import annotations

import numpy as np

from rdsweep import coding


def no_context(name, decoded):
    return None


def write(layers, symbols: dict, writers, context=no_context) -> None:
    for name, layer in layers:
        q, ctx = symbols[name], context(name, symbols)
        for i, w in enumerate(writers):
            layer.write(w, q[i], None if ctx is None else ctx[i])


def read(layers, readers, context=no_context) -> dict:
    decoded = {}
    for name, layer in layers:
        ctx = context(name, decoded)
        rows = [layer.read(r, None if ctx is None else ctx[i]) for i, r in enumerate(readers)]
        decoded[name] = np.stack(rows) if rows else np.zeros((0, layer.dims), np.int64)
    return decoded


def strings(layers, symbols: dict, context=no_context) -> list[bytes]:
    """Each digit's own byte string (range coded, minimal flush; no length field inside)."""
    writers = [coding.STRING[0]() for _ in range(len(next(iter(symbols.values()))))]
    write(layers, symbols, writers, context)
    return [w.finish() for w in writers]


def decode_strings(layers, data, context=no_context) -> dict:
    """Byte strings -> symbols. Any bytes decode to something (a string has no sanity check)."""
    return read(layers, [coding.STRING[1](s) for s in data], context)
