"""ANS coding of many digits in one stream (the .rds payload): cost over the information content is the
coder's final state, about 20-25 bits for the whole stream, where a range coder loses ~1.5e-4 bits per
symbol to its integer arithmetic (we measured 21-24 against 72-109 bits on the 10k test digits).

constriction's ``AnsCoder`` is a stack: the writer records the operations and pushes them in reverse at
``finish``, so the reader pops them in writing order.
"""
from __future__ import annotations

import constriction
import numpy as np

from rdsweep.coding.reader import Reader, _Uniform
from rdsweep.coding.tables import FAMILY
from rdsweep.errors import RdsweepError



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


class AnsWriter:
    """The coder interface (``categorical``, ``model``, ``uniform``, ``finish``) over one ANS stream."""

    def __init__(self):
        self.ops = []

    def categorical(self, symbols, probs) -> None:
        self.ops.append((symbols, FAMILY, probs))

    def model(self, symbols, model) -> None:
        self.ops.append((symbols, model))

    def uniform(self, value: int, size: int) -> None:
        self.ops.append((value, _Uniform(size)))

    def finish(self) -> bytes:
        coder = constriction.stream.stack.AnsCoder()
        for op in reversed(self.ops):
            coder.encode_reverse(*op)
        return ans_bytes(coder)


class AnsReader(Reader):
    """Decodes what an ``AnsWriter`` wrote; ``exhausted`` tells whether the stream was used up exactly."""

    def __init__(self, data: bytes):
        try:
            self.dec = constriction.stream.stack.AnsCoder(ans_words(data))
        except (ValueError, OverflowError) as e:  # e.g. a last word of 0: no ANS coder ends that way
            raise RdsweepError(f"corrupted stream: not an ANS stream ({e})") from None

    def exhausted(self) -> bool:
        return self.dec.is_empty()
