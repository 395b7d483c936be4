"""minimal_flush: the shortest byte string that decodes like constriction's sealed data."""
import constriction
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rdsweep.coding.range import flush_floor_bits, minimal_flush, words_of

Categorical = constriction.stream.model.Categorical
PROBS = np.array([1.0, 2.0, 3.0, 1e5, 7.0, 1e6])  # skewed: long runs of the top symbols stress the carry


def roundtrip(symbols):
    enc = constriction.stream.queue.RangeEncoder()
    enc.encode(np.ascontiguousarray(symbols, np.int32), Categorical(PROBS, perfect=False))
    nwords, (lower, rng) = enc.pos()
    data = minimal_flush(enc)
    decoded = constriction.stream.queue.RangeDecoder(words_of(data)).decode(
        Categorical(PROBS, perfect=False), len(symbols))
    return data, decoded, lower + rng >= 1 << 64, enc.get_compressed()


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from([0, 1, 2, 3, 4, 5, 5, 5, 5, 3]), min_size=1, max_size=300))
def test_flush_decodes_exactly_and_is_never_longer_than_the_seal(symbols):
    data, decoded, _, sealed = roundtrip(symbols)
    np.testing.assert_array_equal(decoded, symbols)
    assert len(data) <= 4 * len(sealed)
    assert not data.endswith(b"\0")


def test_inverted_coder_state_is_flushed_correctly():
    """Runs of the last symbol keep the interval's top at 2**64, so the coder enters its carry-pending state."""
    rng = np.random.default_rng(0)
    inverted = 0
    for _ in range(300):
        symbols = np.concatenate([np.full(rng.integers(1, 60), 5), rng.integers(0, 6, rng.integers(0, 4))])
        data, decoded, was_inverted, _ = roundtrip(symbols)
        np.testing.assert_array_equal(decoded, symbols)
        inverted += was_inverted
    assert inverted > 0  # the case was really exercised


def test_empty_encoder_flushes_to_nothing():
    assert minimal_flush(constriction.stream.queue.RangeEncoder()) == b""


def test_flush_floor_is_the_byte_lattice_expectation():
    assert flush_floor_bits(16.0) == 16.0  # a 2**-16 interval always holds a 2-byte point
    np.testing.assert_allclose(flush_floor_bits(15.0), 8 + 8 * (1 - 2**-7))
    info = np.linspace(40, 48, 80001)[:-1]  # fractional bits uniform over a byte
    assert abs(np.mean(flush_floor_bits(info) - info) - 2.5629) < 1e-3


def test_flush_reaches_the_floor_on_random_intervals():
    """Mean string length of random messages = the byte-lattice floor of their information content.

    (Messages of a model's top symbol end near the top of the unit interval, where zero padding needs
    all-ones bytes; random models and messages put the final interval anywhere, as digits' latents do.)
    """
    rng = np.random.default_rng(0)
    over, floor = [], []
    for _ in range(2000):
        counts = rng.integers(1, 1000, size=8)
        counts = counts * (2**24 // counts.sum())
        counts[0] += 2**24 - counts.sum()  # counts summing to 2**24: ``counts - 1`` is the coder's exact model
        symbols = rng.integers(0, 8, size=rng.integers(10, 60))
        enc = constriction.stream.queue.RangeEncoder()
        enc.encode(np.ascontiguousarray(symbols, np.int32), Categorical(counts - 1.0, perfect=False))
        info = -np.log2(counts[symbols] / 2**24).sum()
        over.append(8 * len(minimal_flush(enc)) - info)
        floor.append(flush_floor_bits(info) - info)
    assert abs(np.mean(over) - np.mean(floor)) < 0.1, (np.mean(over), np.mean(floor))
