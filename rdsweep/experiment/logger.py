"""Optional TensorBoard logging of a run (``logger=tensorboard``; needs the ``tensorboard`` extra, which
installs tensorboardX, not TensorFlow). history.csv and metrics.json stay the records of truth.

Writes ``<run dir>/tensorboard/``: scalars every ``every_n_steps`` steps (loss, rate, distortion and the
model's rate terms, by global step), reconstructions of a fixed set of test digits through the rounded
latents after every epoch, and the final rate-distortion point as hparams. ``tensorboard --logdir outputs``
shows a sweep's runs side by side.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from rdsweep.errors import RdsweepError


class NullLogger:
    """Logs nothing (``logger=none``, the default)."""

    every = 0

    def scalars(self, step: int, values: dict) -> None:
        pass

    def images(self, epoch: int, originals: np.ndarray, recon: np.ndarray) -> None:
        pass

    def hparams(self, hparams: dict, metrics: dict) -> None:
        pass

    def close(self) -> None:
        pass


class TensorBoardLogger(NullLogger):
    def __init__(self, run_dir: Path, every_n_steps: int):
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise RdsweepError("logger=tensorboard needs tensorboardX: pip install 'rdsweep[tensorboard]'") from None
        self.writer = SummaryWriter(str(Path(run_dir) / "tensorboard"))
        self.every = every_n_steps

    def scalars(self, step: int, values: dict) -> None:
        for name, value in values.items():
            self.writer.add_scalar(f"train/{name}", float(value), step)

    def images(self, epoch: int, originals: np.ndarray, recon: np.ndarray) -> None:
        """Originals above their reconstructions, as one image (H x W x C uint8 grids side by side)."""
        grid = np.concatenate([np.concatenate(list(originals), axis=1), np.concatenate(list(recon), axis=1)], axis=0)
        # top row: the test digits; bottom row: decoded from their rounded latents
        self.writer.add_image("reconstructions/test_digits_over_decoded", grid, epoch, dataformats="HWC")

    def hparams(self, hparams: dict, metrics: dict) -> None:
        self.writer.add_hparams({k: v for k, v in hparams.items() if isinstance(v, (int, float, str, bool))},
                                {f"hparam/{k}": float(v) for k, v in metrics.items()}, name=".")

    def close(self) -> None:
        self.writer.close()


def make_logger(cfg, run_dir: Path) -> NullLogger:
    kind = cfg.logger.name
    return TensorBoardLogger(run_dir, cfg.logger.every_n_steps) if kind == "tensorboard" else NullLogger()
