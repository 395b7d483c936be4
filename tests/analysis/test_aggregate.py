"""The aggregation stage: deterministic, never stopped by one bad record, works with baselines alone."""
import json

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
    assert set(files) == {"rd.csv", "table1.md", "rd_curve.png", "rd_curve.svg"}
    assert "| 300 | 12.00 | - | 19.00 | - | - | 12.84 | 18.37 | 11.45 | 11.93 | no | - |" in files["table1.md"].decode()


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


@pytest.mark.parametrize("case", sorted(BAD))
def test_one_bad_record_is_listed_and_left_out_the_rest_is_written(tmp_path, case):
    put(tmp_path, "good", GOOD)
    put(tmp_path, "bad", **{k: v for k, v in BAD[case].items() if k != "why"})
    put(tmp_path, "failed", failed=b"boom \xff\xfe\n")
    r = run_tool("aggregate", tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "failed: boom" in r.stderr
    if BAD[case]["why"]:
        assert f"bad: left out: {BAD[case]['why']}" in r.stderr or BAD[case]["why"] in r.stderr
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
