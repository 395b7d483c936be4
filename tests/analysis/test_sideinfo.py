"""rdsweep sideinfo: empirical entropies of a run's symbols, and what grouping digits by their active latents
would save."""
import numpy as np
import pytest

from rdsweep.analysis.sideinfo import entropy_bits, side_information
from tests.conftest import run_tool


def test_entropies_are_exact_for_known_distributions():
    assert entropy_bits(np.array([0, 1, 2, 3] * 25)) == pytest.approx(2.0)
    assert entropy_bits(np.zeros(10, int)) == 0.0


def test_independent_latents_gain_nothing_and_two_kinds_of_digits_gain_what_the_kind_is_worth():
    rng = np.random.default_rng(0)
    q = rng.integers(-1, 2, size=(4000, 6))
    r = side_information(q, ks=(2, 4))
    assert r["static"] == pytest.approx(6 * np.log2(3), rel=1e-2) and r["active"] == 6
    assert all(g["net"] < 0.05 for g in r["groups"])  # in-sample: about 0, never a real saving
    # two kinds of digits: one uses latents 0-2 (uniform over 8 values), the other latents 3-5
    kinds = rng.integers(0, 2, 4000)
    q = np.where(kinds[:, None] == 0, np.r_[1, 1, 1, 0, 0, 0], np.r_[0, 0, 0, 1, 1, 1]) * rng.integers(1, 9, (4000, 6))
    r = side_information(q, ks=(2,))
    # static: each latent is 0 half the time, else uniform over 8: 1 + 3/2 = 2.5 bits each, 15 in all; knowing
    # the kind (1 bit) leaves 3 latents of 3 bits: 9 + 1 = 10, a saving of 5 bits
    assert r["static"] == pytest.approx(15.0, abs=0.05) and r["groups"][0]["net"] == pytest.approx(5.0, abs=0.05)


def test_the_command_reports_a_trained_run(trained_run):
    r = run_tool("sideinfo", trained_run)
    assert r.returncode == 0, r.stderr
    head, row = r.stdout.strip().splitlines()
    assert "static bound" in head and "K=64" in head and str(trained_run) in row


def test_the_command_refuses_what_is_not_a_run(tmp_path):
    r = run_tool("sideinfo", tmp_path / "nothing")
    assert r.returncode == 1 and r.stderr.startswith("rdsweep: error:") and len(r.stderr.strip().splitlines()) == 1
