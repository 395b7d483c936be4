"""logger=tensorboard: step scalars, per-epoch reconstructions and the final RD point as hparams."""
import glob

import pytest

from tests.conftest import QUICK, run_train


def test_a_run_logs_to_tensorboard(tmp_path, mnist_dir):
    pytest.importorskip("tensorboardX")
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    r = run_train("lmbda=500", *QUICK, "train.epochs=2", "logger=tensorboard", "logger.every_n_steps=1",
                  f"hydra.run.dir={tmp_path}")
    assert r.returncode == 0, r.stderr
    tags = {"scalars": set(), "images": set()}
    steps = []
    for f in glob.glob(str(tmp_path / "tensorboard" / "**" / "events*"), recursive=True):
        ea = event_accumulator.EventAccumulator(f)
        ea.Reload()
        for k in tags:
            tags[k] |= set(ea.Tags()[k])
        if "train/loss" in ea.Tags()["scalars"]:
            steps = [e.step for e in ea.Scalars("train/loss")]
    assert {"train/loss", "train/rate_bits", "train/distortion", "hparam/rate_info_bits", "hparam/psnr_db"} <= tags["scalars"]
    assert len(tags["images"]) == 1 and steps == [0, 1, 2, 3]  # 256 digits = 2 steps of 128, 2 epochs
    assert (tmp_path / "metrics.json").exists() and (tmp_path / "history.csv").exists()
