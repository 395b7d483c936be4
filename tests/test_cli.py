"""The Hydra entry point end to end, on a few hundred real MNIST digits."""
import json
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from tests.conftest import MNIST_DIR, QUICK, ROOT, run_cli

TIMING_KEYS = {"train_digits_per_s", "compile_s", "wall_s", "compress_digits_per_s", "decompress_digits_per_s"}
CONTRACT = ["lmbda", "latent_dims", "prior", "distortion", "epochs", "seed", "train_digits", "test_digits",
            "rate_info_bits", "rate_string_bits", "rate_container_bits", "psnr_db", "psnr_of_mse_db", "mae",
            "decode_mismatches", "train_digits_per_s", "wall_s"]


def test_one_lambda_writes_every_record(trained_run):
    run_dir = trained_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert all(k in metrics for k in CONTRACT)
    assert metrics["decode_mismatches"] == 0 and metrics["container_decode_mismatches"] == 0
    assert metrics["train_digits"] == 256 and metrics["test_digits"] == 200 and metrics["epochs"] == 1
    assert metrics["rate_info_bits"] <= metrics["rate_container_bits"] <= metrics["rate_info_bits"] + 1
    assert metrics["rate_string_bits"] >= metrics["rate_info_bits"]
    assert 5 < metrics["psnr_db"] < 60 and 0 < metrics["mae"] < 1
    history = pd.read_csv(run_dir / "history.csv")
    assert list(history["epoch"]) == [1]
    for name in ("checkpoint.msgpack", "codec.npz", ".hydra/config.yaml"):
        assert (run_dir / name).is_file()


def test_rerun_resumes_from_the_checkpoint(trained_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(trained_run, run_dir)
    r = run_cli("lmbda=500", *QUICK[:-2], "train.epochs=2", "progress=false", f"hydra.run.dir={run_dir}")
    assert r.returncode == 0, r.stderr
    assert "resuming" in r.stdout + r.stderr and "after epoch 1" in r.stdout + r.stderr
    assert list(pd.read_csv(run_dir / "history.csv")["epoch"]) == [1, 2]
    assert json.loads((run_dir / "metrics.json").read_text())["epochs"] == 2


def test_same_seed_same_metrics(trained_run, tmp_path):
    r = run_cli("lmbda=500", *QUICK, f"hydra.run.dir={tmp_path}")
    assert r.returncode == 0, r.stderr
    first = json.loads((trained_run / "metrics.json").read_text())
    second = json.loads((tmp_path / "metrics.json").read_text())
    assert {k: v for k, v in first.items() if k not in TIMING_KEYS} == \
           {k: v for k, v in second.items() if k not in TIMING_KEYS}
    assert (trained_run / "codec.npz").read_bytes() == (tmp_path / "codec.npz").read_bytes()


@pytest.mark.parametrize("override,message", [
    ("lmbda=-1", "lmbda must be a number > 0"),
    ("lmbda=abc", "lmbda must be a number > 0"),
    ("latent_dims=0", "latent_dims must be a whole number >= 1"),
    ("distortion=l3", "distortion must be one of mae, mse"),
    ("data.dir=/nonexistent/mnist", "no MNIST IDX files in data.dir=/nonexistent/mnist"),
])
def test_bad_config_is_one_clear_line_and_nonzero_exit(tmp_path, override, message):
    r = run_cli(override, "progress=false", f"hydra.run.dir={tmp_path}")
    assert r.returncode != 0
    assert f"rdsweep: error: {message}" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "checkpoint.msgpack").exists()


def test_unknown_prior_fails_before_training(tmp_path):
    r = run_cli("prior=cauchy", f"hydra.run.dir={tmp_path}")
    assert r.returncode != 0 and "prior" in r.stderr and "cauchy" in r.stderr
    assert "Traceback" not in r.stderr


def test_report_figures_from_a_run(trained_run, tmp_path):
    r = subprocess.run([sys.executable, "-m", "rdsweep.figures", str(trained_run), "--out", str(tmp_path)],
                       cwd=ROOT, capture_output=True, text=True, env={**os.environ, "RDSWEEP_DATA_DIR": str(MNIST_DIR)})
    assert r.returncode == 0, r.stderr
    names = {p.name for p in tmp_path.glob("*.png")}
    assert names == {"sample_digit.png", "quantization_noise.png", "noisy_reconstruction.png", "decoded.png",
                     "random_strings.png", "strings_hex.png"}
