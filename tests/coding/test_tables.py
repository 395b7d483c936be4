"""Integer tables: valid CDFs, exact information content, every row layout codes and decodes exactly."""
import numpy as np
import pytest

from rdsweep.coding.ans import AnsReader, AnsWriter
from rdsweep.coding.range import RangeReader, RangeWriter
from rdsweep.coding.tables import TOTAL, CategoricalTables, quantize_pmf
from rdsweep.errors import RdsweepError


def tables(rows=6, K=9, seed=0):
    rng = np.random.default_rng(seed)
    return CategoricalTables(rng.integers(-5, 5, rows), quantize_pmf(rng.random((rows, K + 1)) ** 3))


def test_quantize_pmf_keeps_every_bin_and_the_total():
    counts = quantize_pmf(np.array([[0.5, 0.5, 0.0, 1e-12], [1.0, 2.0, 3.0, 4.0]]))
    assert np.all(counts >= 1) and np.all(counts.sum(axis=1) == TOTAL)
    cdf = np.cumsum(counts, axis=1)
    assert np.all(np.diff(cdf, axis=1) > 0) and np.all(cdf[:, -1] == TOTAL)
    with pytest.raises(RdsweepError):
        quantize_pmf(np.array([[0.0, 0.0]]))


@pytest.mark.parametrize("lo,counts,message", [
    (np.zeros(1, np.int64), np.array([[TOTAL - 1, 0]]), "counts must be >= 1"),
    (np.zeros(1, np.int64), np.array([[TOTAL, 1]]), "sum to 2**24"),
    (np.zeros(2, np.int64), np.array([[TOTAL - 1, 1]]), "do not form R rows"),
    (np.zeros(1), np.array([[TOTAL - 1, 1]]), "must be integers"),
    (np.array([2**40]), np.array([[TOTAL - 1, 1]]), "out of range"),
    (np.zeros(1, np.int64), np.ones((1, 2**17), np.int64), "do not form R rows"),
])
def test_invalid_tables_are_refused_with_the_reason(lo, counts, message):
    with pytest.raises(RdsweepError, match=message.replace("*", r"\*")):
        CategoricalTables(lo, counts)


@pytest.mark.parametrize("grouped", [False, True])
@pytest.mark.parametrize("coder", [(RangeWriter, RangeReader), (AnsWriter, AnsReader)])
def test_rows_per_symbol_code_exactly_with_escapes(grouped, coder):
    t = tables()
    rng = np.random.default_rng(1)
    rows = rng.integers(0, t.rows, (40, 12))
    q = t.lo[rows] + rng.integers(-3, t.K + 3, rows.shape)  # some outside: escapes
    assert t.split(q, rows)[1].any()
    w = coder[0]()
    for qi, ri in zip(q, rows):
        t.write(w, qi, ri, grouped)
    r = coder[1](w.finish())
    np.testing.assert_array_equal(np.stack([t.read(r, 12, ri, grouped) for ri in rows]), q)


def test_info_bits_is_the_coders_information_content():
    t = tables(rows=8)
    rng = np.random.default_rng(2)
    q = t.lo + rng.integers(-1, t.K + 1, (3000, 8))
    w = AnsWriter()
    for row in q:
        t.write(w, row)
    info = t.info_bits(q).sum()
    assert info <= 8 * len(w.finish()) <= info + 48
    assert t.min_bits().sum() <= t.info_bits(q).min()
