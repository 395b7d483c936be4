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


def test_a_seed_mean_off_target_is_moved_along_the_first_seeds_slope():
    first = [(100.0, 1.0), (200.0, 16.0)]  # a knee: slope 4 in log-log
    assert targets.correct(first, 150.0, 5.0, 4.0) == pytest.approx(150 * 0.8 ** 0.25, rel=1e-9)
    assert targets.correct([], 150.0, 5.0, 4.0) == pytest.approx(150 * 0.8 ** (1 / targets.SLOPE), rel=1e-9)


def _record(top, seed, target, lmbda, rate):
    run = top / f"mnist-s{seed}" / f"lmbda={lmbda:g}"
    run.mkdir(parents=True)
    (run / "checkpoint.msgpack").write_bytes(b"kept")
    (run / "metrics.json").write_text(json.dumps({"target_bits": target, "lmbda": lmbda, "seed": seed,
                                                  "rate_info_bits": rate, "wall_s": 10.0}))
    return run


def test_settling_moves_a_missed_targets_runs_into_the_search_and_corrects_its_lambda(tmp_path):
    sweep, settled = tmp_path / "sweep", tmp_path / "sweep-search" / "settle1"
    for seed, rate in enumerate((4.1, 5.0, 4.3)):  # mean 4.47: +11.7 %
        _record(sweep, seed, 4.0, 231.9, rate)
    kept = [_record(sweep, seed, 8.0, 323.8, rate) for seed, rate in enumerate((7.9, 8.2, 7.6))]  # -2.5 %: stays
    other = _record(sweep, 0, None, 500.0, 13.0)  # a run of another sweep in the same directory: untouched
    lambdas, points = {4.0: 231.9, 8.0: 323.8}, [{"lmbda": 137.0, "rate_info_bits": 0.5, "round": 1},
                                                  {"lmbda": 248.0, "rate_info_bits": 5.3, "round": 2}]
    assert targets.settle(sweep, settled, [4.0, 8.0], lambdas, points) == [4.0]
    assert lambdas[8.0] == 323.8 and 137 < lambdas[4.0] < 231.9
    assert all((r / "metrics.json").is_file() for r in kept) and (other / "metrics.json").is_file()
    moved = sorted(settled.rglob("metrics.json"))
    assert len(moved) == 3 and not any(sweep.rglob("lmbda=231.9"))
    assert all(json.loads(p.read_text())["search"] is True for p in moved)
    assert all((p.parent / "checkpoint.msgpack").read_bytes() == b"kept" for p in moved)
    assert points[-1]["seeds"] == 3 and points[-1]["rate_info_bits"] == pytest.approx(4.4667, rel=1e-4)
    again = [dict(p) for p in points[:2]]  # a resumed sweep: the moved runs are found where they went
    lambdas_again = {4.0: 231.9, 8.0: 323.8}
    assert targets.settle(sweep, settled, [4.0, 8.0], lambdas_again, again) == [4.0]
    assert lambdas_again[4.0] == pytest.approx(lambdas[4.0]) and len(list(settled.rglob("metrics.json"))) == 3


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
