"""The training entry point end to end, on a few hundred real MNIST digits."""
import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import QUICK, one_error_line, run_tool, run_train

TIMING_KEYS = {"train_digits_per_s", "compile_s", "wall_s", "compress_digits_per_s", "decompress_digits_per_s"}
CONTRACT = ["lmbda", "latent_dims", "prior", "distortion", "epochs", "seed", "train_digits", "test_digits",
            "rate_info_bits", "rate_string_bits", "rate_container_bits", "psnr_db", "psnr_of_mse_db", "mae",
            "decode_mismatches", "train_digits_per_s", "wall_s", "model", "data"]


def test_one_lambda_writes_every_record(trained_run, mnist_dir):
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert all(k in metrics for k in CONTRACT)
    assert metrics["decode_mismatches"] == 0 and metrics["container_decode_mismatches"] == 0
    assert metrics["train_digits"] == 256 and metrics["test_digits"] == 200 and metrics["epochs"] == 1
    assert metrics["rate_info_bits"] <= metrics["rate_container_bits"] <= metrics["rate_info_bits"] + 1
    assert metrics["rate_string_bits"] >= metrics["rate_info_bits"]
    assert 5 < metrics["psnr_db"] < 60 and 0 < metrics["mae"] < 1
    assert list(pd.read_csv(trained_run / "history.csv")["epoch"]) == [1]
    for name in ("checkpoint.msgpack", "codec.npz", "config.yaml", "rdsweep.log"):
        assert (trained_run / name).is_file()
    made = metrics["provenance"]  # where the record came from
    assert {"rdsweep", "git_commit", "git_dirty", "jax", "jaxlib", "flax", "optax", "constriction", "cpu",
            "device"} <= set(made) and made["jax"] and made["constriction"] and made["cpu"]
    digits = np.load(trained_run / "digits.npz")  # each test digit's own figures, in test-set order
    assert {k: digits[k].shape for k in digits.files} == {k: (200,) for k in ("info_bits", "string_bits", "mse",
                                                                               "psnr_db", "ms_ssim")}
    assert digits["info_bits"].mean() == pytest.approx(metrics["rate_info_bits"])
    assert digits["psnr_db"].mean() == pytest.approx(metrics["psnr_db"])
    saved = yaml.safe_load((trained_run / "config.yaml").read_text())
    assert saved["data"]["dir"] == str(mnist_dir) and "${" not in (trained_run / "config.yaml").read_text()


def test_rerun_resumes_from_the_checkpoint(trained_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(trained_run, run_dir)
    r = run_train("lmbda=500", *QUICK[:-2], "train.epochs=2", "progress=false", f"hydra.run.dir={run_dir}")
    assert r.returncode == 0, r.stderr
    assert "resuming" in r.stdout + r.stderr and "after epoch 1" in r.stdout + r.stderr
    assert list(pd.read_csv(run_dir / "history.csv")["epoch"]) == [1, 2]
    assert json.loads((run_dir / "metrics.json").read_text())["epochs"] == 2


def test_a_checkpoint_of_another_setting_is_refused_not_overwritten(trained_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(trained_run, run_dir)
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file() and p.name != "rdsweep.log"}
    r = run_train("lmbda=501", *QUICK, f"hydra.run.dir={run_dir}")
    one_error_line(r, "was made with a different config (lmbda)")
    assert before == {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file() and p.name != "rdsweep.log"}


def test_a_finished_run_without_its_checkpoint_keeps_its_record(trained_run, tmp_path):
    """Checkpoints removed to save space (or runs copied from another machine): nothing is retrained over."""
    run_dir = tmp_path / "run"
    shutil.copytree(trained_run, run_dir)
    (run_dir / "checkpoint.msgpack").unlink()
    kept = {name: (run_dir / name).read_bytes() for name in ("metrics.json", "history.csv", "config.yaml")}
    r = run_train("lmbda=500", *QUICK, f"hydra.run.dir={run_dir}")
    assert r.returncode == 0 and "record kept" in r.stdout + r.stderr, r.stderr
    assert kept == {name: (run_dir / name).read_bytes() for name in kept}
    assert not (run_dir / "checkpoint.msgpack").exists()
    for other in ("train.epochs=2", "codec.tail_mass=0.01"):  # a training and an evaluation setting
        r = run_train("lmbda=500", *QUICK[:-2], other, "progress=false", f"hydra.run.dir={run_dir}")
        one_error_line(r, "holds a finished run (metrics.json, config.yaml, no checkpoint) that is not this one")
        assert other.split("=")[0] in r.stderr  # names the setting that differs
        assert kept == {name: (run_dir / name).read_bytes() for name in kept}
        assert not (run_dir / "failed.txt").exists()  # the aggregation still counts the kept record


def test_same_seed_same_metrics(trained_run, tmp_path):
    r = run_train("lmbda=500", *QUICK, f"hydra.run.dir={tmp_path}")
    assert r.returncode == 0, r.stderr
    first = json.loads((trained_run / "metrics.json").read_text())
    second = json.loads((tmp_path / "metrics.json").read_text())
    assert {k: v for k, v in first.items() if k not in TIMING_KEYS} == \
           {k: v for k, v in second.items() if k not in TIMING_KEYS}
    assert (trained_run / "codec.npz").read_bytes() == (tmp_path / "codec.npz").read_bytes()


@pytest.mark.parametrize("override,message", [
    ("lmbda=-1", "lmbda must be a number > 0"),
    ("train.epochs=one", "train.epochs=one: Value 'one' of type 'str' could not be converted to Integer"),
    ("prior=nope", "Could not find 'prior/nope'; available options in 'prior'"),
    ("data.dir=/nonexistent/mnist data.mirrors=[http://127.0.0.1:9/]",
     "cannot download MNIST train-images-idx3-ubyte.gz (http://127.0.0.1:9/train-images-idx3-ubyte.gz: "),
    ("data.dir=/nonexistent/mnist data.source=idx", "no train-images-idx3-ubyte[.gz] in data.dir=/nonexistent/mnist"),
    ("+experiment=nope", "Could not find 'experiment/nope'"),
    ("experiment=table1", "Could not override 'experiment'"),
])
def test_bad_config_is_one_line_and_nothing_is_written(tmp_path, override, message):
    r = run_train(*override.split(), "progress=false", f"hydra.run.dir={tmp_path / 'run'}")
    one_error_line(r, message)
    assert not (tmp_path / "run").exists() and not os.path.lexists("/nonexistent")


def test_report_figures_from_a_run(trained_run, tmp_path):
    r = run_tool("figures", trained_run, "--out", tmp_path, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert {p.name for p in tmp_path.glob("*.png")} == {
        "sample_digit.png", "quantization_noise.png", "noisy_reconstruction.png", "decoded.png",
        "random_strings.png", "strings_hex.png", "digits_by_cost.png"}


def test_another_test_limit_does_not_replace_the_record(trained_run, tmp_path):
    """data.test_limit is not in the run's name: the same run directory evaluated on another number of test
    digits would replace the record; it is refused in one line, the record kept."""
    run_dir = tmp_path / "run"
    shutil.copytree(trained_run, run_dir)
    before = (run_dir / "metrics.json").read_bytes()
    r = run_train("lmbda=500", *[a if not a.startswith("data.test_limit") else "data.test_limit=100" for a in QUICK],
                  f"hydra.run.dir={run_dir}")
    one_error_line(r, "holds this run's record on 200 test digits, not 100 (data.test_limit)")
    assert (run_dir / "metrics.json").read_bytes() == before


def test_soft_rounding_trains_and_codes_exactly(tmp_path):
    run_dir = tmp_path / "soft"
    r = run_train("lmbda=500", "model=hyperprior", "train.quantizer=soft", *QUICK, f"hydra.run.dir={run_dir}")
    assert r.returncode == 0, r.stderr
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["variant"] == "n256-soft" and metrics["decode_mismatches"] == 0 and 5 < metrics["psnr_db"] < 60


def test_the_encoders_search_re_codes_a_trained_checkpoint_without_training_again(trained_run, tmp_path):
    """codec.rdo_rounds is the encoder's, not in the checkpoint's identity: a copy of a trained run's checkpoint is
    resumed at its last epoch and only coded again, under a run name of its own."""
    shutil.copy(trained_run / "checkpoint.msgpack", tmp_path / "checkpoint.msgpack")
    r = run_train("lmbda=500", *QUICK, "codec.rdo_rounds=2", f"hydra.run.dir={tmp_path}")
    assert r.returncode == 0, r.stderr
    assert "after epoch 1" in r.stdout and "epoch 1/1:" not in r.stdout
    m, base = (json.loads((d / "metrics.json").read_text()) for d in (tmp_path, trained_run))
    assert m["variant"].endswith("rdo2") and m["rdo_rounds"] == 2 and m["decode_mismatches"] == 0
    assert m["rdo_loss_before"] == pytest.approx(base["rate_info_bits"] + 500 * base["mae"], rel=1e-5)
    assert m["rdo_loss_after"] == pytest.approx(m["rate_info_bits"] + 500 * m["mae"], rel=1e-5)
    assert m["rdo_loss_after"] < m["rdo_loss_before"] and m["rdo_moves"] > 0
