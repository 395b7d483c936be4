"""The escape format: one field spec read by the encoder, the decoder and the bit count."""
import math

import numpy as np
import pytest

from rdsweep.coding import escape
from rdsweep.coding.ans import AnsReader, AnsWriter
from rdsweep.coding.range import RangeReader, RangeWriter

K = 7
INDICES = [-1, -2, -3, -2**16, -2**16 - 1, -2**17 + 5, -escape.CLAMP - K, K, K + 1, K + 2**15, K + 2**20 + 3,
           escape.CLAMP + K]


@pytest.mark.parametrize("coder", [(RangeWriter, RangeReader), (AnsWriter, AnsReader)])
def test_every_escaped_index_reads_back(coder):
    w = coder[0]()
    for i in INDICES:
        escape.write(w, i, K)
    r = coder[1](w.finish())
    assert [escape.read(r, K) for _ in INDICES] == INDICES


def test_bits_are_the_fields_sizes_and_the_format_of_version_1():
    """1 side bit + 5 exponent bits + n mantissa bits (v = 2**n + m): what format 1 and 2 files hold."""
    for i in INDICES:
        v = i - K + 1 if i >= K else -i
        n = v.bit_length() - 1
        assert escape.bits(i, K) == 6 + n
        assert sum(math.log2(size) for _, size in escape.fields(i, K)) == 6 + n
        sizes = [size for _, size in escape.fields(i, K)][2:]
        assert sizes == ([2 ** (n - 16), 2**16] if n > 16 else [2**n] if n > 0 else [])


def test_a_coded_escape_costs_its_information_content():
    rng = np.random.default_rng(0)
    idx = [int(x) for x in rng.integers(-2**20, 2**20, 2000) if not 0 <= x < K]
    w = AnsWriter()
    for i in idx:
        escape.write(w, i, K)
    bits = sum(escape.bits(i, K) for i in idx)
    assert bits <= 8 * len(w.finish()) <= bits + 64
