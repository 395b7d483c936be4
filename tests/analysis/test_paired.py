"""Paired comparisons on the same test digits: a bootstrap over the digits, the same resample for both sides."""
import json

import numpy as np
import pandas as pd
import pytest

from rdsweep.analysis.paired import paired


def runs(tmp_path, name, rate_shift, psnr_shift, seeds=(0, 1), n=400):
    """Records and digits.npz of a 4-lambda setting; digit i's cost depends on the digit (shared by settings)."""
    rng = np.random.default_rng(7)
    hardness = rng.gamma(2.0, 1.0, n)  # the same digits for every setting: some are expensive
    rows = []
    for seed in seeds:
        noise = np.random.default_rng(seed).normal(0, 0.2, n)
        for k, lmbda in enumerate((300, 500, 1000, 2000)):
            d = tmp_path / name / f"s{seed}" / f"lmbda={lmbda}"
            d.mkdir(parents=True)
            info = (5 + 8 * k) * hardness + rate_shift + noise
            psnr = 13 + 2 * k - 0.5 * hardness + psnr_shift
            np.savez(d / "digits.npz", info_bits=info, psnr_db=psnr, mse=np.ones(n), string_bits=np.ones(n))
            rows.append({"lmbda": lmbda, "seed": seed, "run": str(d), "data": "mnist",
                         "rate_info_bits": info.mean(), "psnr_db": psnr.mean()})
    return pd.DataFrame(rows)


def test_a_rate_difference_gets_a_narrow_paired_interval(tmp_path):
    a, b = runs(tmp_path, "a", 0.0, 0.0), runs(tmp_path, "b", -1.0, 0.0)
    bd, diff = paired([("a", a), ("b", b)])
    row = diff[diff["lmbda"] == 1000].iloc[0]
    assert row["rate_diff_bits"] == pytest.approx(-1.0, abs=0.05)
    assert row["rate_diff_lo"] < -1.0 + 0.05 and row["rate_diff_hi"] > -1.0 - 0.05
    assert row["rate_diff_hi"] - row["rate_diff_lo"] < 0.2  # paired: the digits' hardness cancels
    b_vs_a = bd[(bd["learned"] == "b") & (bd["baseline"] == "a")].iloc[0]
    assert b_vs_a["bd_rate_paired_lo"] < b_vs_a["bd_rate_paired_hi"] < 0  # b needs fewer bits


def test_other_test_digits_or_missing_files_are_not_paired(tmp_path):
    a, b = runs(tmp_path, "a", 0.0, 0.0), runs(tmp_path, "b", -1.0, 0.0, n=300)
    assert paired([("a", a), ("b", b)])[0].empty
    (tmp_path / "a" / "s0" / "lmbda=300" / "digits.npz").unlink()
    c = runs(tmp_path, "c", 0.0, 0.1)
    assert paired([("a", a), ("c", c)])[0].empty
    json.dumps(paired([("c", c), ("c2", c)])[0].to_dict())  # a plain table
