"""The aggregation stage: deterministic, never stopped by one bad record, works with baselines alone."""
import json

import numpy as np
import pandas as pd
import pytest

from tests.conftest import run_tool

GOOD = {"lmbda": 300, "rate_info_bits": 12.0, "psnr_db": 19.0, "decode_mismatches": 0, "prior": "x",
        "distortion": "mae", "latent_dims": 50, "epochs": 5, "test_digits": 10000, "model": "seed", "data": "mnist"}


def put(root, name, record=None, raw=None, failed=None):
    d = root / name
    d.mkdir(parents=True)
    if record is not None or raw is not None:
        (d / "metrics.json").write_bytes(raw if raw is not None else json.dumps(record).encode())
    if failed is not None:
        (d / "failed.txt").write_bytes(failed)
    return d


def test_aggregation_is_deterministic(tmp_path):
    put(tmp_path / "sweep", "lmbda=300", GOOD)
    (put(tmp_path / "sweep", "lmbda=500") / "checkpoint.msgpack").write_bytes(b"")
    first = run_tool("aggregate", tmp_path / "sweep")
    assert first.returncode == 0 and "lmbda=500: incomplete" in first.stderr
    files = {p.name: p.read_bytes() for p in (tmp_path / "sweep").iterdir() if p.is_file()}
    assert run_tool("aggregate", tmp_path / "sweep").returncode == 0
    assert files == {p.name: p.read_bytes() for p in (tmp_path / "sweep").iterdir() if p.is_file()}
    assert set(files) == {"rd.csv", "rd_summary.csv", "table1.md", "rd_curve.png", "rd_curve.svg"}
    assert "| 300 | 1 | 12.00 | - | 19.00 | - | - | 12.84 | 18.37 | 11.45 | 11.93 | no | - |" in files["table1.md"].decode()


BAD = {
    "string lmbda": dict(record={**GOOD, "lmbda": "300"}, why="lmbda is '300', not a finite number"),
    "NaN rate": dict(raw=json.dumps({**GOOD, "rate_info_bits": float("nan")}).encode(), why="rate_info_bits is nan"),
    "infinite PSNR": dict(raw=b'{"lmbda": 1, "rate_info_bits": 1, "psnr_db": Infinity, "decode_mismatches": 0}',
                          why="psnr_db is inf"),
    "mixed types": dict(record={**GOOD, "epochs": [5]}, why="epochs is [5], not a finite number"),
    "prior a number": dict(record={**GOOD, "prior": 3}, why="prior is 3, not a string"),
    "not an object": dict(raw=b"[1, 2]", why="not a JSON object"),
    "invalid UTF-8": dict(raw=b'{"lmbda": "\xff"}', why="unreadable metrics.json"),
    "mismatches": dict(record={**GOOD, "decode_mismatches": 3}, why="3 decode mismatches"),
    "missing keys": dict(record={"lmbda": 2}, why="lacks decode_mismatches, psnr_db, rate_info_bits"),
}


def test_bad_records_are_listed_and_left_out_the_rest_is_written(tmp_path):
    put(tmp_path, "good", GOOD)
    for i, case in enumerate(sorted(BAD)):
        put(tmp_path, f"bad{i}", **{k: v for k, v in BAD[case].items() if k != "why"})
    put(tmp_path, "failed", failed=b"boom \xff\xfe\n")
    r = run_tool("aggregate", tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "failed: boom" in r.stderr
    lines = r.stderr.splitlines()
    for i, case in enumerate(sorted(BAD)):  # each bad record: one warning, naming its directory and why
        assert [ln for ln in lines if f"{tmp_path / f'bad{i}'}:" in ln and BAD[case]["why"] in ln], (case, r.stderr)
    rd = pd.read_csv(tmp_path / "rd.csv")
    assert len(rd) == 1 and (tmp_path / "rd_curve.png").exists()


def test_missing_directories_and_baselines_alone(tmp_path):
    for i, (rate, psnr) in enumerate([(100, 20), (200, 25), (300, 28), (400, 30)]):
        put(tmp_path / "baselines" / "dct", f"p{i}", {"kind": "baseline", "prior": "dct", "lmbda": i + 1,
                                                      "rate_info_bits": rate, "psnr_db": psnr,
                                                      "decode_mismatches": 0, "rate_definition": "x"})
    r = run_tool("aggregate", tmp_path / "sweeps", tmp_path / "baselines", "--out", tmp_path / "sweeps")
    assert r.returncode == 0, r.stderr
    assert "no runs yet in" in r.stderr
    assert (tmp_path / "sweeps" / "rd.csv").exists() and (tmp_path / "sweeps" / "rd_curve.png").exists()
    r = run_tool("aggregate", tmp_path / "nothing")
    assert r.returncode == 1 and r.stderr.strip().splitlines()[-1].startswith("rdsweep: error: no complete runs")


def test_runs_on_different_test_sets_are_kept_apart(tmp_path):
    put(tmp_path, "a", GOOD)
    put(tmp_path, "b", {**GOOD, "lmbda": 500, "test_digits": 300})
    r = run_tool("aggregate", tmp_path)
    assert r.returncode == 0 and "different test sets" in r.stderr
    table = (tmp_path / "table1.md").read_text()
    assert "300 test digits" in table and "10000 test digits" in table


def seeded(root, prior, rates, psnrs, seeds=(0, 1, 2), spread=0.02):
    """Runs of one setting at 4 lambdas and several seeds (rates and PSNRs moved a little per seed)."""
    rng = np.random.default_rng(len(prior))
    for seed in seeds:
        for lmbda, rate, psnr in zip((300, 500, 1000, 2000), rates, psnrs):
            put(root / f"{prior}-s{seed}", f"lmbda={lmbda}", {**GOOD, "prior": prior, "lmbda": lmbda, "seed": seed,
                "rate_info_bits": rate * (1 + spread * rng.normal()), "psnr_db": psnr + spread * rng.normal(),
                "mae": 0.05, "rate_string_bits": rate + 2.5})


def test_seeds_are_summarised_with_student_t_intervals_and_bd_rates_get_intervals(tmp_path):
    from scipy import stats
    rates, psnrs = np.array([8.0, 13.0, 23.0, 40.0]), np.array([13.7, 15.1, 16.8, 18.8])
    seeded(tmp_path, "aaa", rates, psnrs)
    seeded(tmp_path, "bbb", rates * 1.5, psnrs)
    r = run_tool("aggregate", tmp_path)
    assert r.returncode == 0, r.stderr
    rd = pd.read_csv(tmp_path / "rd.csv")
    summary = pd.read_csv(tmp_path / "rd_summary.csv")
    assert len(rd) == 24 and len(summary) == 8 and set(summary["n_seeds"]) == {3}
    row = summary[(summary["prior"] == "aaa") & (summary["lmbda"] == 500)].iloc[0]
    values = rd[(rd["prior"] == "aaa") & (rd["lmbda"] == 500)]["rate_info_bits"]
    assert row["rate_info_bits_mean"] == pytest.approx(values.mean(), rel=1e-5)
    half = stats.t.ppf(0.975, 2) * values.std(ddof=1) / np.sqrt(3)
    assert row["rate_info_bits_ci95"] == pytest.approx(half, rel=1e-4)
    assert (tmp_path / "table1.md").read_text().split("| 500 | 3 | ")[1].startswith(f"{row['rate_info_bits_mean']:.2f} ± ")
    assert " ± " in (tmp_path / "table1.md").read_text()
    bd = pd.read_csv(tmp_path / "bd.csv")
    a_vs_b = bd[bd["learned"].str.startswith("aaa")].iloc[0]
    assert a_vs_b["bd_rate_pct"] == pytest.approx(-33.3, abs=2) and a_vs_b["bd_pairs"] == 3
    assert 0 < a_vs_b["bd_rate_ci95"] < 10 and a_vs_b["bd_rate_ci_includes_0"] == "no"


def test_setting_labels_print_whole_numbers_though_joined_with_baselines_nans():
    from rdsweep.analysis.records import SETTING, setting_label

    key = dict(kind="learned", data="mnist", model="seed", prior="deep_factorized", distortion="mse",
               latent_dims=256.0, epochs=126.0, variant="cosine", test_digits=10000.0)
    assert setting_label(tuple(key[k] for k in SETTING), True) == \
        "deep_factorized, mse, latent 256, 126 ep, cosine, 10000 test digits"


def test_a_seed_pair_without_a_bd_rate_is_named_not_silently_dropped():
    from rdsweep.analysis.bd import bd_table

    rows = [{"seed": s, "lmbda": lm, "rate_info_bits": r, "psnr_db": d}
            for s in (0, 1, 2) for lm, r, d in zip((1, 2, 3, 4), (10, 20, 40, 80), (20, 24, 27, 29))]
    rows[-1]["psnr_db"] = 26  # seed 2's last point is off the Pareto front: 3 points left, no BD-rate
    learned = pd.DataFrame(rows)
    anchor = pd.DataFrame({"lmbda": [1, 2, 3, 4, 5], "rate_info_bits": [15, 30, 60, 120, 240],
                           "psnr_db": [19, 23, 26, 28, 30]})
    row = bd_table([("ours", learned)], [("codec", anchor)])[0].iloc[0]
    assert row["bd_pairs"] == 2 and "1 of 3 seed pairs undefined (fewer than 4 lossy points)" in row["note"]
    assert row["bd_rate_pct"] < 0


def test_one_run_found_under_two_directories_counts_once(tmp_path):
    """The same setting, lambda and seed in two directories given (a copy, a smoke test under runs/ and a
    sweep): one row, one warning naming both; seeds that differ still average."""
    for top in ("runs", "sweeps"):
        put(tmp_path / top, "a/lmbda=300", {**GOOD, "seed": 0})
    put(tmp_path / "sweeps", "b/lmbda=300", {**GOOD, "seed": 1, "rate_info_bits": 14.0})
    r = run_tool("aggregate", tmp_path / "runs", tmp_path / "sweeps", "--out", tmp_path / "out")
    assert r.returncode == 0 and r.stdout.startswith("2 runs (1 left out)"), r
    assert [ln for ln in r.stderr.splitlines() if f"{tmp_path / 'sweeps' / 'a' / 'lmbda=300'}: left out: the same "
            f"setting, lambda and seed as {tmp_path / 'runs' / 'a' / 'lmbda=300'}" in ln], r.stderr
    summary = pd.read_csv(tmp_path / "out" / "rd_summary.csv")
    assert list(summary["n_seeds"]) == [2] and list(summary["rate_info_bits_mean"]) == [13.0]


def test_the_gap_to_the_bound_follows_the_time_sharing_chord_between_far_apart_points():
    from rdsweep.analysis.bd import gap_to_bound

    mse = lambda psnr: 10 ** (-psnr / 10)  # noqa: E731
    s = pd.DataFrame({"rate_info_bits_mean": [0.1, 12.0, 30.0], "psnr_of_mse_db_mean": [11.0, 15.0, 19.0]})
    rows = gap_to_bound("x", s, [(2.0, 13.0), (5.0, 15.0), (1.0, 20.0)])
    assert [r["psnr_of_mse_db"] for r in rows] == [13.0, 15.0]  # only inside the setting's range
    share = (mse(11.0) - mse(13.0)) / (mse(11.0) - mse(15.0))  # of the digits coded at the 15 dB point
    assert rows[0]["our_bits"] == pytest.approx(0.1 + share * (12.0 - 0.1))  # not exp(interp(log rate)): 1.1
    assert rows[0]["gap_bits"] == pytest.approx(rows[0]["our_bits"] - 2.0) and rows[1]["our_bits"] == 12.0


def test_the_reachable_bd_rate_reads_rates_off_the_time_sharing_chord():
    from rdsweep.analysis.bd import bd_row, reach_rate

    # two points a side: half the digits at each end reach half the rate at the middle PSNR, so the test curve
    # (1 + 0.8 (p - 10) bits) needs exactly half the anchor's (2 + 1.6 (p - 10)) everywhere
    assert reach_rate(np.array([1.0, 9.0]), np.array([10.0, 20.0]), np.array([2.0, 18.0]),
                      np.array([10.0, 20.0])) == pytest.approx(-50.0)
    # a point above the chord of its neighbours is never the cheapest way to its PSNR: mixing them is
    above = reach_rate(np.array([0.01, 3.62, 17.24]), np.array([10.92, 12.09, 16.66]), np.array([2.0, 18.0]),
                       np.array([10.0, 20.0]))
    assert above == pytest.approx(reach_rate(np.array([0.01, 17.24]), np.array([10.92, 16.66]),
                                             np.array([2.0, 18.0]), np.array([10.0, 20.0])))
    r_a, d_a = np.array([7.5, 12.9, 23.8, 41.4]), np.array([13.6, 15.0, 16.9, 18.9])
    scaled = bd_row(0.8 * r_a, d_a, r_a, d_a)  # 20 % fewer bits at every PSNR: both measures agree
    assert scaled["bd_rate_reach_pct"] == pytest.approx(-20.0)
    assert scaled["bd_rate_pct"] == pytest.approx(-20.0, abs=0.1)
    r_t, d_t = np.array([0.06, 12.2, 18.7, 31.2]), np.array([10.95, 15.4, 16.9, 19.1])  # a collapsed first point
    row = bd_row(r_t, d_t, r_a, d_a)
    assert row["bd_rate_pct"] < row["bd_rate_reach_pct"] - 5  # akima's curve through 0.06 bits promises more
    few = bd_row(r_t[1:3], d_t[1:3], r_a, d_a)  # akima needs 4 points, the chord 2
    assert np.isnan(few["bd_rate_pct"]) and np.isfinite(few["bd_rate_reach_pct"])


def test_crossings_read_both_curves_off_their_time_sharing_chords():
    from rdsweep.analysis.bd import bd_row, bd_table, crossings

    r_t, d_t = np.array([200.0, 500.0, 1000.0, 1500.0]), np.array([28.0, 32.0, 34.0, 35.0])
    # (1200, 35) lies below the chord from (600, 29) to (1600, 40), which mixing those two reaches: 0.011 dB/bit
    r_a, d_a = np.array([100.0, 600.0, 1200.0, 1600.0]), np.array([20.0, 29.0, 35.0, 40.0])
    c = crossings(r_t, d_t, r_a, d_a)
    # 34 + (r - 1000) / 500 = 29 + 0.011 (r - 600)  ->  r = 1066.7
    assert c["crossing_bits"] == "1067" and (c["rate_overlap_low"], c["rate_overlap_high"]) == (200.0, 1500.0)
    assert c["psnr_gain_max_db"] == pytest.approx(28.0 - (20.0 + 0.018 * 100))  # at the overlap's low end
    assert c["psnr_gain_min_db"] == pytest.approx(35.0 - (29.0 + 0.011 * 900), abs=0.01)
    # a test point below its own chord (and below the anchor) is not what the coder reaches: no extra crossings
    dip = crossings(np.insert(r_t, 2, 700.0), np.insert(d_t, 2, 29.5), r_a, d_a)
    assert dip["crossing_bits"] == "1067" and dip["psnr_gain_min_db"] == pytest.approx(c["psnr_gain_min_db"])
    touch = crossings(np.array([0.0, 2.0]), np.array([10.0, 14.0]), np.array([0.0, 2.0]), np.array([12.0, 12.0]))
    assert touch["crossing_bits"] == "1"  # rates from 0 (a linear grid)
    above = crossings(r_t, d_t + 10, r_a, d_a)
    assert above["crossing_bits"] == "none" and above["psnr_gain_min_db"] > 0
    assert crossings(r_t, d_t, r_a + 2000, d_a) == {}  # rates do not overlap
    assert "crossing_bits" not in bd_row(r_t, d_t, r_a, d_a)  # bd_table adds it, for the seed-mean curves only
    runs = lambda r, d: pd.DataFrame({"lmbda": np.arange(len(r)), "rate_info_bits": r, "psnr_db": d})  # noqa: E731
    table, _ = bd_table([("t", runs(r_t, d_t))], [("a", runs(r_a, d_a))])
    assert table.loc[0, "crossing_bits"] == "1067"


def test_figure_6_draws_the_chord_the_bound_gaps_read():
    from rdsweep.analysis.bd import gap_to_bound, mse_chord

    s = pd.DataFrame({"rate_info_bits_mean": [0.1, 12.0, 14.0, 30.0], "psnr_of_mse_db_mean": [11.0, 15.0, 15.1, 19.0]})
    r, d = mse_chord(s)
    assert (np.diff(r) > 0).all() and (np.diff(d) > 0).all() and (r[0], r[-1]) == (0.1, 30.0)
    assert 14.0 not in r  # (14, 15.1) lies above the chord from (12, 15) to (30, 19): mixing those is cheaper
    rows = gap_to_bound("x", s, [(2.0, 13.0), (5.0, 16.0)])
    assert len(rows) == 2
    for row in rows:
        assert row["our_bits"] == pytest.approx(np.interp(row["psnr_of_mse_db"], d, r), rel=2e-3)
