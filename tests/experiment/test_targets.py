"""Sweeps that place themselves: the fit that turns measured (lambda, rate) points into each target's lambda,
and, end to end (slow), a small placed sweep."""
import json

import numpy as np
import pytest

from rdsweep.errors import RdsweepError
from rdsweep.experiment import targets
from tests.conftest import run_train


def test_the_fit_interpolates_in_log_log_and_inverts_a_power_law():
    law = [(lm, 3.0 * lm**0.8) for lm in (100.0, 300.0, 1000.0, 3000.0)]
    for t in (3.0 * 200**0.8, 3.0 * 2000**0.8):  # between the points: exact for a power law
        assert targets.fit(law, t) == pytest.approx((t / 3.0) ** (1 / 0.8), rel=1e-9)
    assert targets.fit(law, 3.0 * 6000**0.8) == pytest.approx(6000, rel=1e-9)  # beyond: the end segment's slope


def test_the_fit_is_bounded_and_survives_a_flat_or_falling_curve():
    assert targets.fit([], 24.0) == pytest.approx(targets.guess(24.0))
    one = targets.fit([(1000.0, 12.0)], 24.0)
    assert one == pytest.approx(1000 * 2 ** (1 / targets.SLOPE))
    flat = targets.fit([(100.0, 50.0), (1000.0, 50.5)], 200.0)  # the rate barely moves: a bounded step
    assert flat <= 1000 * targets.MAX_STEP
    falling = targets.fit([(100.0, 60.0), (1000.0, 40.0), (3000.0, 80.0)], 70.0)  # a noisy point is dropped
    assert 100 < falling < 3000 and np.isfinite(falling)


@pytest.mark.parametrize("argv,message", [
    (["target_bits=8"], "run it with -m"),
    (["-m", "target_bits=8,16", "lmbda=100"], "give target_bits or lmbda, not both"),
    (["-m", "target_bits=8,x"], "must be numbers"),
    (["-m", "target_bits=0,8"], "must be in [0.1, 1e6]"),
])
def test_bad_target_sweeps_are_refused(argv, message):
    with pytest.raises(RdsweepError, match=message.replace("[", r"\[")):
        targets.place(argv)


def test_a_command_line_without_targets_is_left_alone():
    assert targets.place(["-m", "lmbda=1,2"]) is None


@pytest.mark.slow
def test_a_placed_sweep_runs_its_points_for_every_seed(tmp_path, mnist_dir):
    sweep = tmp_path / "sweep"
    quick = ["data.train_limit=2560", "data.test_limit=200", "train.epochs=1", "progress=false", "latent_dims=8",
             "model.hidden=64", "model.filters=[8,16]"]
    r = run_train("-m", "target_bits=24,40", "seed=0,1", *quick, f"hydra.sweep.dir={sweep}", timeout=900)
    assert r.returncode == 0, r.stderr
    search = json.loads((tmp_path / "sweep-search" / "search.json").read_text())
    assert set(search["lambdas"]) == {"24", "40"} and search["search_runs"] >= 2 and search["search_run_s"] > 0
    records = [json.loads(p.read_text()) for p in sweep.rglob("metrics.json")]
    assert sorted((m["target_bits"], m["seed"]) for m in records) == [(24, 0), (24, 1), (40, 0), (40, 1)]
    for m in records:  # one lambda per target for all seeds: the one the search found
        assert m["lmbda"] == pytest.approx(search["lambdas"][f"{m['target_bits']:g}"]) and "search" not in m
    assert all(json.loads(p.read_text())["search"] for p in (tmp_path / "sweep-search").rglob("metrics.json"))
