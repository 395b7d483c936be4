"""One run: validate the config, load data, train (resuming), build the coding tables, evaluate, write records.

A run directory holds: config.yaml (the resolved config: what later stages read), checkpoint.msgpack,
history.csv, codec.npz (the integer coding tables), metrics.json (the record), failed.txt (a failed run's
reason). One run at a time per directory (a lock).
"""
from __future__ import annotations

import io
import json
import logging
import os
import time
from pathlib import Path

import jax
import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from rdsweep import config, data, models, provenance
from rdsweep.codec import META, Codec
from rdsweep.distortion import has_ms_ssim
from rdsweep.errors import RdsweepError
from rdsweep.experiment import checkpoint, train
from rdsweep.experiment.evaluate import evaluate
from rdsweep.experiment.logger import make_logger
from rdsweep.experiment.rundir import check_run_dir, read_config, tables_bytes
from rdsweep.files import (CHECKPOINT, CONFIG, DIGITS, HISTORY, METRICS, POINTS, TABLES, ForeignRunError, RunLock,
                           atomic_write_bytes, atomic_write_text, read_regular)
from rdsweep.models import ModelSpec

log = logging.getLogger("rdsweep")


def load_data(cfg) -> tuple:
    """(training images, test images), both uint8 (N, H, W, C) of one shape."""
    train_images, test_images = (data.load_split(cfg.data, split, cfg.progress) for split in ("train", "test"))
    if train_images.shape[1:] != test_images.shape[1:]:
        raise RdsweepError(f"training images are {train_images.shape[1:]} but test images {test_images.shape[1:]}")
    if len(test_images) == 0:
        raise RdsweepError("no test images")
    return train_images, test_images


def run(dictconfig, run_dir: Path) -> dict:
    """Train and evaluate one setting into run_dir; the metrics.json record. RdsweepError on any failure
    (ForeignRunError, with nothing written, when run_dir holds another run)."""
    t_start = time.perf_counter()
    cfg = config.validate(dictconfig)
    resolved = OmegaConf.to_container(dictconfig, resolve=True, enum_to_str=True)
    run_dir = Path(run_dir)
    check_run_dir(run_dir)  # the entry point's precheck did too: here for launchers and the Python API
    run_dir.mkdir(parents=True, exist_ok=True)
    with RunLock(run_dir):
        metrics = finished_record(cfg, resolved, run_dir)
        if metrics is None:
            train_images, test_images = load_data(cfg)
            check_test_set(run_dir, len(test_images))
            spec = model_spec(cfg, train_images.shape[1:])  # sizes checked before anything is allocated
            saved = checkpoint.matching(run_dir, config.identity(cfg), spec, cfg.train.epochs)
            atomic_write_text(run_dir / CONFIG, OmegaConf.to_yaml(resolved))  # the first write in run_dir
            log.info("data: %d training, %d test images of %s; JAX device %s", len(train_images),
                     len(test_images), "x".join(map(str, train_images.shape[1:])), jax.devices()[0].device_kind)
            logger = make_logger(cfg, run_dir)
            try:
                metrics = train_and_evaluate(cfg, run_dir, spec, train_images, test_images, logger, saved)
            finally:
                logger.close()
            earlier_s = sum(max(0.0, row["epoch_s"]) for row in saved["history"]) if saved else 0.0  # resumed
            metrics["wall_s"] = time.perf_counter() - t_start + earlier_s  # every sitting's time
            atomic_write_text(run_dir / METRICS, json.dumps(metrics, indent=2) + "\n")
    if metrics.get("kind") != "variable-rate":
        log.info("rate %.2f bits/digit (strings %.2f, container %.2f), PSNR %.2f dB, mismatches %d -> %s",
                 metrics["rate_info_bits"], metrics["rate_string_bits"], metrics["rate_container_bits"],
                 metrics["psnr_db"], metrics["decode_mismatches"], run_dir / METRICS)
    if metrics["decode_mismatches"] or metrics["container_decode_mismatches"]:
        raise RdsweepError(f"decoded symbols differ from the encoded ones ({metrics['decode_mismatches']} digits)")
    return metrics


# what the log line and the mismatch check read from a record
_RECORDED = ("rate_info_bits", "rate_string_bits", "rate_container_bits", "psnr_db", "decode_mismatches",
             "container_decode_mismatches")
# settings that change neither the model nor its record: how a run shows progress, where the data lies
_NOT_COMPARED = {"progress", "logger", "data.dir", "data.mirrors"}


def _flat(tree, prefix="") -> dict:
    if not isinstance(tree, dict):
        return {prefix[:-1]: tree}
    return {k: v for key, sub in tree.items() for k, v in _flat(sub, f"{prefix}{key}.").items()}


def check_test_set(run_dir: Path, test_digits: int) -> None:
    """ForeignRunError where run_dir's record was coded on another number of test digits (data.test_limit is
    not in the run's name): evaluating here would replace that record."""
    if not (run_dir / METRICS).is_file():
        return
    try:
        before = json.loads(read_regular(run_dir / METRICS, 1 << 20, "a run record")).get("test_digits")
    except (RdsweepError, ValueError, AttributeError, OSError, RecursionError):
        return  # not a record: the run writes its own over it, as over any unfinished one
    if isinstance(before, int) and before != test_digits:
        raise ForeignRunError(f"{run_dir} holds this run's record on {before} test digits, not {test_digits} "
                              "(data.test_limit): give another hydra.run.dir, or delete its metrics.json")


def finished_record(cfg, resolved: dict, run_dir: Path) -> dict | None:
    """A finished run whose checkpoint was removed (to save space, or a run copied from elsewhere) has
    nothing to resume or re-evaluate from: its record is kept, not trained over, if its config.yaml and
    record agree with these settings (all but _NOT_COMPARED); else ForeignRunError. None: not such a run."""
    if not (run_dir / METRICS).exists() or (run_dir / CHECKPOINT).exists():
        return None
    try:
        record = json.loads(read_regular(run_dir / METRICS, 1 << 20, "a run record"))
        kept, now = _flat(OmegaConf.to_container(read_config(run_dir))), _flat(resolved)
        needed = _RECORDED if record.get("kind") != "variable-rate" else _RECORDED[-2:]
        differ = [f"{k} missing" for k in needed if not isinstance(record.get(k), (int, float))]
        differ += [k for k, v in config.record(cfg).items() if record.get(k) != v] + [
            k for k, v in now.items() if k in kept and kept[k] != v and k not in _NOT_COMPARED
            and k.split(".")[0] not in _NOT_COMPARED]
    except (RdsweepError, ValueError, AttributeError, OSError, RecursionError) as e:
        differ = [f"unreadable: {e}"]
    if differ:
        raise ForeignRunError(f"{run_dir} holds a finished run (metrics.json, config.yaml, no checkpoint) that is "
                              f"not this one ({', '.join(dict.fromkeys(differ))}): use another run directory or "
                              "delete it")
    log.info("%s is finished (metrics.json, no checkpoint to resume): record kept; delete the directory to "
             "train again", run_dir)
    return record


def model_spec(cfg, shape) -> ModelSpec:
    """The model spec of a config on images of ``shape`` (H, W, C), checked (sizes, parameter count, tables)."""
    spec = ModelSpec(config.as_dict(cfg.model), config.as_dict(cfg.prior), int(cfg.latent_dims), tuple(shape))
    models.get(cfg.model.name).check(spec, float(cfg.codec.tail_mass))
    if config.value_of(cfg.distortion) == "ms_ssim" and not has_ms_ssim(spec.shape):
        raise RdsweepError(f"distortion=ms_ssim needs images of 28x28 or more (three scales of a 7x7 window), not "
                           f"{'x'.join(map(str, spec.shape))}")
    return spec


def train_and_evaluate(cfg, run_dir: Path, spec: ModelSpec, train_images, test_images, logger, saved=None) -> dict:
    """Train (resuming from ``saved``, a ``checkpoint.matching`` state), build the coding tables, code the test
    images for real: the record (no wall_s)."""
    M = models.get(cfg.model.name)
    params = M.init_params(spec, jax.random.fold_in(jax.random.key(int(cfg.seed)), 0))
    net = M.make_net(spec, quantizer=cfg.train.quantizer, precision=cfg.train.precision)
    params, history, info = train.fit(cfg, spec, net, params, train_images, run_dir, log=log.info,
                                      logger=logger, preview=test_images[: cfg.logger.images], saved=saved)
    atomic_write_text(run_dir / HISTORY, pd.DataFrame(history).to_csv(index=False))
    train.check_converging(cfg, history)

    entropy = M.entropy_from_training(spec, params, float(cfg.codec.tail_mass))
    atomic_write_bytes(run_dir / TABLES, tables_bytes({k: v.to_arrays() for k, v in entropy.items()}))
    made = provenance.collect()
    common = {"train_digits": len(train_images), "train_digits_per_s": info["digits_per_s"],
              "compile_s": info["compile_s"], "final_train_loss": history[-1]["loss"] if history else None,
              "device": jax.devices()[0].device_kind, "xla_flags": os.environ.get("XLA_FLAGS", ""),
              "provenance": made}
    if not M.variable_rate:
        metrics = evaluate_point(cfg, M, spec, params, entropy, test_images, run_dir, config.record(cfg), common)
        logger.hparams(config.record(cfg), {k: metrics[k] for k in RECORDED_NUMBERS})
        return metrics
    points = []  # a variable-rate model: one record per operating point, in points/lmbda=<lambda>/
    for name, layer in entropy.items():
        lmbda = float(name.split("@", 1)[1])
        out = run_dir / POINTS / f"lmbda={lmbda:g}"
        out.mkdir(parents=True, exist_ok=True)
        record = evaluate_point(cfg, M, spec, params, {"y": layer}, test_images, out,
                                {**config.record(cfg), "lmbda": lmbda}, common)
        atomic_write_text(out / METRICS, json.dumps(record, indent=2) + "\n")
        log.info("lmbda %g: rate %.2f bits/digit, PSNR %.2f dB, mismatches %d", lmbda, record["rate_info_bits"],
                 record["psnr_db"], record["decode_mismatches"])
        points.append({k: record[k] for k in ("lmbda", *RECORDED_NUMBERS, "decode_mismatches",
                                              "container_decode_mismatches")})
    return {**config.record(cfg), "kind": "variable-rate", "points": points, **common,
            **{k: sum(p[k] for p in points) for k in ("decode_mismatches", "container_decode_mismatches")}}


RECORDED_NUMBERS = ("rate_info_bits", "rate_string_bits", "psnr_db", "mae")


def evaluate_point(cfg, M, spec, params, entropy: dict, test_images, out: Path, header: dict, common: dict) -> dict:
    """Code the test images for real with these entropy layers; digits.npz into ``out``; the record."""
    codec = Codec(M(spec, params, entropy, int(cfg.eval.batch_size)),
                  {**{k: header[k] for k in META}, "provenance": common["provenance"]})
    digits: dict = {}
    metrics = {**header, **evaluate(codec, test_images, int(cfg.eval.batch_size), cfg.progress, digits,
                                    int(cfg.codec.rdo_rounds)), **common}
    buf = io.BytesIO()
    np.savez_compressed(buf, **digits)
    atomic_write_bytes(out / DIGITS, buf.getvalue())
    return metrics
