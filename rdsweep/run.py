"""One run: validate config, load data, train (resuming), build coding tables, evaluate, write records."""
from __future__ import annotations

import json
import logging
import math
import os
import time
from pathlib import Path

import jax
import pandas as pd
from omegaconf import OmegaConf

from rdsweep import data, train
from rdsweep.checkpoint import CODEC, HISTORY, METRICS, atomic_write_bytes, atomic_write_text
from rdsweep.codec import FactorizedCodec
from rdsweep.errors import RdsweepError
from rdsweep.evaluate import evaluate
from rdsweep.model import CompressionModel, init_params
from rdsweep.prior import PRIORS, make_prior

log = logging.getLogger("rdsweep")


def _number(cfg, key, kind, low, low_ok=False):
    value = OmegaConf.select(cfg, key)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind is int:
        ok = ok and float(value).is_integer()
    if not ok or value < low or (value == low and not low_ok):
        bound = ">=" if low_ok else ">"
        raise RdsweepError(f"{key} must be a {'whole ' if kind is int else ''}number {bound} {low}, not {value!r}")


def validate(cfg) -> None:
    """Reject bad config values before any data is read or any training is done."""
    _number(cfg, "lmbda", float, 0)
    _number(cfg, "latent_dims", int, 1, low_ok=True)
    _number(cfg, "seed", int, 0, low_ok=True)
    _number(cfg, "train.epochs", int, 0, low_ok=True)
    _number(cfg, "train.batch_size", int, 1, low_ok=True)
    _number(cfg, "train.learning_rate", float, 0)
    _number(cfg, "eval.batch_size", int, 1, low_ok=True)
    _number(cfg, "codec.tail_mass", float, 0)
    if cfg.codec.tail_mass >= 0.5:
        raise RdsweepError(f"codec.tail_mass must be < 0.5, not {cfg.codec.tail_mass}")
    if cfg.distortion not in train.DISTORTIONS:
        raise RdsweepError(f"distortion must be one of {', '.join(train.DISTORTIONS)}, not {cfg.distortion!r}")
    if cfg.prior.name not in PRIORS:
        raise RdsweepError(f"unknown prior {cfg.prior.name!r}; choose one of {', '.join(PRIORS)}")


def run(cfg, run_dir: Path) -> dict:
    t_start = time.perf_counter()
    validate(cfg)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    train_images = data.load_split(cfg.data, "train")
    test_images = data.load_split(cfg.data, "test")
    log.info("data: %d training, %d test digits; JAX device %s", len(train_images), len(test_images),
             jax.devices()[0].device_kind)

    model = CompressionModel(latent_dims=int(cfg.latent_dims), prior=cfg.prior.name)
    params = init_params(model, jax.random.fold_in(jax.random.key(int(cfg.seed)), 0))
    params, history, info = train.fit(cfg, model, params, train_images, run_dir, log=log.info)
    atomic_write_text(run_dir / HISTORY, pd.DataFrame(history, columns=train.HISTORY_COLUMNS).to_csv(index=False))

    prior = make_prior(cfg.prior.name, int(cfg.latent_dims))
    codec = FactorizedCodec.from_prior(prior, params["entropy"], float(cfg.codec.tail_mass))
    atomic_write_bytes(run_dir / CODEC, codec.to_npz())
    metrics = {
        "lmbda": float(cfg.lmbda), "latent_dims": int(cfg.latent_dims), "prior": cfg.prior.name,
        "distortion": cfg.distortion, "epochs": int(cfg.train.epochs), "seed": int(cfg.seed),
        "train_digits": len(train_images),
    }
    metrics.update(evaluate(model, params, codec, test_images, int(cfg.eval.batch_size), bool(cfg.progress)))
    metrics.update({
        "train_digits_per_s": info["digits_per_s"], "compile_s": info["compile_s"],
        "final_train_loss": history[-1]["loss"] if history else None,
        "device": jax.devices()[0].device_kind, "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "wall_s": time.perf_counter() - t_start,
    })
    atomic_write_text(run_dir / METRICS, json.dumps(metrics, indent=2) + "\n")
    log.info("rate %.2f bits/digit (strings %.2f, container %.2f), PSNR %.2f dB, mismatches %d -> %s",
             metrics["rate_info_bits"], metrics["rate_string_bits"], metrics["rate_container_bits"],
             metrics["psnr_db"], metrics["decode_mismatches"], run_dir / METRICS)
    if metrics["decode_mismatches"] or metrics["container_decode_mismatches"]:
        raise RdsweepError(f"decoded symbols differ from the encoded ones ({metrics['decode_mismatches']} digits)")
    return metrics
