"""Runs that are killed, fail, diverge or collide: nothing written is lost, the others finish, the records tell."""
import json
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from tests.conftest import ROOT, _env, one_error_line, run_tool, run_train

pytestmark = pytest.mark.usefixtures("mnist_dir")  # every test here trains on MNIST


def start(*args):
    return subprocess.Popen([sys.executable, "-m", "rdsweep", *args], cwd=ROOT, env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_for(path, proc, timeout=300):
    deadline = time.time() + timeout
    while not path.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)


def test_sigkilled_run_resumes_from_its_last_checkpoint(tmp_path):
    args = ["lmbda=500", "data.train_limit=1280", "data.test_limit=100", "train.epochs=3", "progress=false",
            f"hydra.run.dir={tmp_path}"]
    proc = start(*args)
    wait_for(tmp_path / "checkpoint.msgpack", proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (tmp_path / "checkpoint.msgpack").exists() and not (tmp_path / "metrics.json").exists(), "killed too late"
    r = run_train(*args)
    assert r.returncode == 0, r.stderr
    assert "resuming" in r.stdout + r.stderr
    assert list(pd.read_csv(tmp_path / "history.csv")["epoch"]) == [1, 2, 3]
    assert json.loads((tmp_path / "metrics.json").read_text())["decode_mismatches"] == 0


def test_two_runs_in_one_directory_the_second_is_refused(tmp_path):
    first = start("lmbda=1000", "train.epochs=3", "data.train_limit=1280", "data.test_limit=100", "progress=false",
                  f"hydra.run.dir={tmp_path}")
    wait_for(tmp_path / "config.yaml", first)
    r = run_train("lmbda=2000", "train.epochs=1", "data.train_limit=256", "progress=false", f"hydra.run.dir={tmp_path}")
    one_error_line(r, "is in use by another run")
    assert first.wait(timeout=600) == 0, first.stderr.read()
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["lmbda"] == 1000 and metrics["epochs"] == 3


def test_a_diverging_run_fails_instead_of_recording_garbage(tmp_path):
    r = run_train("lmbda=500", "train.learning_rate=10", "data.train_limit=1280", "data.test_limit=50",
                  "train.epochs=1", "progress=false", f"hydra.run.dir={tmp_path}")
    one_error_line(r)
    assert "diverged" in r.stderr and "learning rate" in r.stderr
    assert not (tmp_path / "metrics.json").exists() and (tmp_path / "failed.txt").exists()


def test_a_failing_job_does_not_stop_the_sweep_and_is_reported(tmp_path):
    r = run_train("-m", "lmbda=500", "data.train_limit=256,10", "data.test_limit=50", "train.epochs=1",
                  "progress=false", f"hydra.sweep.dir={tmp_path}")
    assert r.returncode == 1 and r.stderr.strip().splitlines()[-1].startswith("rdsweep: error: only 10 training")
    assert len(list(tmp_path.glob("*-n256/lmbda=500/metrics.json"))) == 1
    assert len(list(tmp_path.glob("*-n10/lmbda=500/failed.txt"))) == 1
    a = run_tool("aggregate", tmp_path)
    assert a.returncode == 0, a.stderr
    assert "warning" in a.stderr and "failed: only 10 training digits" in a.stderr
    assert list(pd.read_csv(tmp_path / "rd.csv")["lmbda"]) == [500]
