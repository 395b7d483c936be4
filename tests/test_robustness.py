"""Runs that are killed or fail: nothing written is lost, the others finish, the aggregation tells."""
import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd

from tests.conftest import MNIST_DIR, ROOT, run_cli


def test_sigkilled_run_resumes_from_its_last_checkpoint(tmp_path):
    args = ["lmbda=500", "data.train_limit=1280", "data.test_limit=100", "train.epochs=3", "progress=false",
            f"hydra.run.dir={tmp_path}"]
    proc = subprocess.Popen([sys.executable, "-m", "rdsweep", *args], cwd=ROOT,
                            env=dict(os.environ, RDSWEEP_DATA_DIR=str(MNIST_DIR)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = tmp_path / "checkpoint.msgpack"
    deadline = time.time() + 300
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert ckpt.exists() and not (tmp_path / "metrics.json").exists(), "killed too late to test anything"
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    assert "resuming" in r.stdout + r.stderr
    history = pd.read_csv(tmp_path / "history.csv")
    assert list(history["epoch"]) == [1, 2, 3]
    assert json.loads((tmp_path / "metrics.json").read_text())["decode_mismatches"] == 0


def test_a_failing_lambda_does_not_stop_the_sweep_and_is_reported(tmp_path):
    # lmbda=1e39 overflows float32: the very first loss is inf, as an injected NaN would be
    r = run_cli("-m", "lmbda=500,1e39", "data.train_limit=256", "data.test_limit=50", "train.epochs=1",
                "progress=false", f"hydra.sweep.dir={tmp_path}")
    assert r.returncode != 0
    assert "non-finite loss at epoch 1, step 1" in r.stderr
    assert (tmp_path / "lmbda=500" / "metrics.json").exists()
    assert len(list(tmp_path.glob("lmbda=1e*39/failed.txt"))) == 1  # Hydra names the dir lmbda=1e+39
    a = subprocess.run([sys.executable, "-m", "rdsweep.aggregate", str(tmp_path)], cwd=ROOT, capture_output=True,
                       text=True)
    assert a.returncode == 0, a.stderr
    assert "warning" in a.stderr and "39: failed: non-finite loss" in a.stderr
    rd = pd.read_csv(tmp_path / "rd.csv")
    assert list(rd["lmbda"]) == [500]
    assert "| 500 |" in (tmp_path / "table1.md").read_text()


def test_aggregation_is_deterministic_and_rejects_missing_dirs(tmp_path):
    run = tmp_path / "sweep" / "lmbda=300"
    run.mkdir(parents=True)
    record = {"lmbda": 300, "rate_info_bits": 12.0, "psnr_db": 19.0, "decode_mismatches": 0, "prior": "x",
              "distortion": "mae", "latent_dims": 50, "epochs": 5, "test_digits": 10000}
    (run / "metrics.json").write_text(json.dumps(record))
    (tmp_path / "sweep" / "lmbda=500").mkdir()
    (tmp_path / "sweep" / "lmbda=500" / "checkpoint.msgpack").write_bytes(b"")
    cmd = [sys.executable, "-m", "rdsweep.aggregate", str(tmp_path / "sweep")]
    first = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert first.returncode == 0 and "lmbda=500: incomplete" in first.stderr
    files = {p.name: p.read_bytes() for p in (tmp_path / "sweep").iterdir() if p.is_file()}
    assert subprocess.run(cmd, cwd=ROOT, capture_output=True).returncode == 0
    assert files == {p.name: p.read_bytes() for p in (tmp_path / "sweep").iterdir() if p.is_file()}
    assert set(files) == {"rd.csv", "table1.md", "rd_curve.png", "rd_curve.svg"}
    assert "| 300 | 12.00 | - | 19.00 | - | - | 12.84 | 18.37 | 11.45 | 11.93 | no | - |" in files["table1.md"].decode()
    bad = subprocess.run([sys.executable, "-m", "rdsweep.aggregate", str(tmp_path / "nope")], cwd=ROOT,
                         capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.startswith("rdsweep: error: no such directory")
