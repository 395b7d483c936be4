"""What the two coders' readers share: the reader interface over a constriction decoder."""
from __future__ import annotations

import constriction
import numpy as np

from rdsweep.coding.tables import FAMILY
from rdsweep.errors import RdsweepError

_Uniform = constriction.stream.model.Uniform  # shared by the writers and readers


class Reader:
    """``categorical``, ``model``, ``uniform`` over ``self.dec`` (a constriction decoder); constriction's errors on
    bytes it did not write become RdsweepError. Subclasses say whether the data was used up (``exhausted``)."""

    dec = None

    def _decode(self, *args):
        try:
            return self.dec.decode(*args)
        except (ValueError, OverflowError, AssertionError) as e:
            raise RdsweepError(f"corrupted stream: {e}") from None

    def categorical(self, probs) -> np.ndarray:
        return self._decode(FAMILY, probs)

    def model(self, model, n: int) -> np.ndarray:
        return self._decode(model, n)

    def uniform(self, size: int) -> int:
        return int(self._decode(_Uniform(size)))

    def exhausted(self) -> bool:
        raise NotImplementedError
