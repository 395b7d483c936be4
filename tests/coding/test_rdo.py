"""The encoder's rate-distortion optimised quantization (``codec.rdo_rounds``, ``rdsweep.coding.rdo``)."""
import numpy as np
import pytest

import rdsweep
from rdsweep.coding import rdo
from rdsweep.errors import RdsweepError
from tests.conftest import untrained_codec


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


def test_a_digits_result_depends_on_that_digit_alone(searched):
    codec, images, symbols, out, _ = searched
    for i in (0, 3, 17):
        alone, _ = rdo.optimise(codec, images[i:i + 1], {k: v[i:i + 1] for k, v in symbols.items()}, 500.0, "mae", 3)
        assert np.array_equal(alone["y"][0], out["y"][i])


def test_rounds_go_on_where_the_last_stopped_and_zero_rounds_change_nothing(searched):
    codec, images, symbols, _, _ = searched
    settled, _ = rdo.optimise(codec, images[:10], {k: v[:10] for k, v in symbols.items()}, 500.0, "mae", 100)
    still, _ = rdo.optimise(codec, images[:10], settled, 500.0, "mae", 1)
    calm = np.all(still["y"] == settled["y"], axis=1)  # the digits no move helps any more
    assert calm.sum() >= 3
    picked = np.concatenate([np.flatnonzero(calm), np.arange(10, 20)])
    images = images[picked]
    mixed = {k: np.concatenate([settled[k][calm], v[10:20]]) for k, v in symbols.items()}
    one, first = rdo.optimise(codec, images, mixed, 500.0, "mae", 1)
    two, _ = rdo.optimise(codec, images, mixed, 500.0, "mae", 2)  # its round 2 skips the digits round 1 left
    again, _ = rdo.optimise(codec, images, one, 500.0, "mae", 1)  # round 2 over every digit
    assert np.array_equal(one["y"][:calm.sum()], mixed["y"][:calm.sum()])
    assert first["rdo_moves"] == first["rdo_unsettled"] == 10
    assert all(np.array_equal(again[k], two[k]) for k in two)
    same, none = rdo.optimise(codec, images, mixed, 500.0, "mae", 0)
    assert none["rdo_moves"] == 0 and all(np.array_equal(same[k], mixed[k]) for k in mixed)
    with pytest.raises(RdsweepError, match="0..100 rounds"):
        rdo.optimise(codec, images, mixed, 500.0, "mae", 101)


@pytest.mark.parametrize("model", ["hyperprior", "meanscale"])
def test_the_search_moves_y_given_the_side_information(model, test_digits):
    """Models with side information: only y moves, its coding context comes from the unchanged side symbols."""
    codec = untrained_codec(model=model, latent_dims=20)
    images = test_digits[:40]
    symbols = codec.encode(images)
    out, stats = rdo.optimise(codec, images, symbols, 2000.0, "mse", 2)
    assert np.array_equal(out["side"], symbols["side"]) and stats["rdo_moves"] > 0
    bits = lambda s: sum(codec.info_bits(s).values())  # noqa: E731
    err = lambda s: ((codec.decode(s) / 255.0 - images / 255.0) ** 2).reshape(40, -1).mean(axis=1)  # noqa: E731
    assert np.all(bits(out) + 2000 * err(out) <= bits(symbols) + 2000 * err(symbols) + 1e-6)
    decoded = codec.decode_strings(codec.strings(out))
    assert all(np.array_equal(decoded[k], out[k]) for k in out)
