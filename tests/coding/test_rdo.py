"""The encoder's rate-distortion optimised quantization (``codec.rdo_rounds``, ``rdsweep.coding.rdo``)."""
import numpy as np
import pytest

import rdsweep
from rdsweep.coding import rdo


@pytest.fixture(scope="module")
def searched(trained_run, test_digits):
    codec = rdsweep.load(trained_run)
    images = test_digits[:150]
    symbols = codec.encode(images)
    kept = {k: v.copy() for k, v in symbols.items()}
    out, stats = rdo.optimise(codec, images, symbols, 500.0, "mae", 3)
    assert all(np.array_equal(kept[k], symbols[k]) for k in kept)  # the input symbols are not modified
    return codec, images, symbols, out, stats


def digit_loss(codec, images, symbols, lmbda=500.0):
    """Each digit's information content + lmbda * MAE of its decoded image, computed here independently."""
    bits = sum(codec.info_bits(symbols).values())
    err = np.abs(codec.decode(symbols).astype(np.float64) - images.astype(np.float64)) / 255.0
    return bits + lmbda * err.reshape(len(images), -1).mean(axis=1)


def test_the_search_never_raises_a_digits_loss_and_lowers_the_mean(searched):
    codec, images, symbols, out, stats = searched
    before, after = digit_loss(codec, images, symbols), digit_loss(codec, images, out)
    assert np.all(after <= before + 1e-6)
    assert after.mean() < before.mean() and stats["rdo_moves"] > 0
    np.testing.assert_allclose([stats["rdo_loss_before"], stats["rdo_loss_after"]], [before.mean(), after.mean()],
                               rtol=1e-5)
    changed = np.any(out["y"] != symbols["y"], axis=1)
    assert np.all(after[changed] < before[changed]) and np.array_equal(after[~changed], before[~changed])
    assert np.abs(out["y"] - symbols["y"]).sum() <= stats["rdo_moves"] and stats["rdo_rounds_run"] <= 3


def test_the_searched_symbols_decode_exactly_as_any_others(searched):
    codec, images, _, out, _ = searched
    decoded = codec.decode_strings(codec.strings(out))
    assert all(np.array_equal(decoded[k], out[k]) for k in out)
    assert np.array_equal(codec.decompress(codec.compress_symbols(out, len(images))), codec.decode(out))


def test_no_move_helps_a_settled_digit_and_zero_rounds_change_nothing(searched):
    codec, images, _, out, stats = searched
    again, more = rdo.optimise(codec, images, out, 500.0, "mae", 3)
    if stats["rdo_rounds_run"] < 3:  # the first search stopped on its own: every digit was settled
        assert more["rdo_moves"] == 0 and all(np.array_equal(again[k], out[k]) for k in out)
    same, none = rdo.optimise(codec, images, out, 500.0, "mae", 0)
    assert none["rdo_moves"] == 0 and all(np.array_equal(same[k], out[k]) for k in out)
    with pytest.raises(ValueError, match="rdo rounds"):
        rdo.optimise(codec, images, out, 500.0, "mae", 101)
