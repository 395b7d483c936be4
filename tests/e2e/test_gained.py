"""model=gained (variable rate): one training, records at every operating point, exact coding at any lambda of
its range (a model file per point), through the public entry points."""
import json

import numpy as np
import pandas as pd
import pytest

import rdsweep
from rdsweep.errors import RdsweepError
from tests.conftest import made_once, one_error_line, run_tool, run_train


@pytest.fixture(scope="session")
def gained_run(tmp_path_factory, mnist_dir):
    with made_once(tmp_path_factory, "gained-run") as (run_dir, make):
        if make:
            r = run_train("model=gained", "model.code_at=[300,1000,2000]", "data.train_limit=1280",
                          "data.test_limit=200", "train.epochs=1", "progress=false", f"hydra.run.dir={run_dir}")
            assert r.returncode == 0, r.stderr
    return run_dir


def test_one_training_records_every_operating_point(gained_run, tmp_path):
    summary = json.loads((gained_run / "metrics.json").read_text())
    assert summary["kind"] == "variable-rate" and [p["lmbda"] for p in summary["points"]] == [300, 1000, 2000]
    for p in summary["points"]:
        record = json.loads((gained_run / "points" / f"lmbda={p['lmbda']:g}" / "metrics.json").read_text())
        assert record["model"] == "gained" and record["decode_mismatches"] == 0 and record["lmbda"] == p["lmbda"]
        assert (gained_run / "points" / f"lmbda={p['lmbda']:g}" / "digits.npz").is_file()
    r = run_tool("aggregate", gained_run, "--out", tmp_path)
    assert r.returncode == 0, r.stderr
    rd = pd.read_csv(tmp_path / "rd.csv")
    assert list(rd["lmbda"]) == [300, 1000, 2000] and rd["model"].unique().tolist() == ["gained"]


def test_any_lambda_of_the_range_codes_exactly(gained_run, test_digits, tmp_path):
    r = run_tool("export", gained_run, "--lmbda", "750", "-o", tmp_path / "m750.rdsm")
    assert r.returncode == 0, r.stderr
    codec = rdsweep.load(tmp_path / "m750.rdsm")
    assert codec.meta["lmbda"] == 750 and codec.model.name == "gained"
    data = codec.compress(test_digits[:50])
    np.testing.assert_array_equal(codec.decompress(data), codec.decode(codec.encode(test_digits[:50])))
    assert rdsweep.load(gained_run, lmbda=750).compress(test_digits[:50]) == data  # the same tables
    rates = [sum(rdsweep.load(gained_run, lmbda=lm).info_bits(rdsweep.load(gained_run, lmbda=lm).encode(
        test_digits[:50])).values()).mean() for lm in (300, 2000)]
    assert rates[0] < rates[1]  # a finer step at a higher lambda


def test_the_operating_point_must_be_given_and_in_range(gained_run, tmp_path):
    with pytest.raises(RdsweepError, match="variable-rate model: say at which lambda"):
        rdsweep.load(gained_run)
    one_error_line(run_tool("export", gained_run, "--lmbda", "5000", "-o", tmp_path / "x.rdsm"),
                   "lmbda 5000 is outside this model's range [200, 3000]")
    assert not (tmp_path / "x.rdsm").exists()
