"""The exported model (.rdsm): transforms' weights + integer coding tables + config, one file.

Layout: magic b"RDSM", format version (u16 big-endian), SHA-256 of the payload (32 bytes), payload (flax
msgpack of {"config": JSON text, "params": {"analysis", "synthesis"}, "codec": {"offset", "lo", "counts"}}).
The model's fingerprint (first 16 bytes of that SHA-256) is written into every compressed file and checked
on decode, so a file is never decoded with other weights or tables.
"""
from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np
from flax import serialization
from omegaconf import OmegaConf

from rdsweep.checkpoint import CHECKPOINT, CODEC, atomic_write_bytes
from rdsweep.codec import FactorizedCodec
from rdsweep.errors import RdsweepError
from rdsweep.model import CompressionModel, init_params
from rdsweep.prior import make_prior

MAGIC = b"RDSM"
VERSION = 1
_HEADER = struct.Struct(">4sH32s")


@dataclass
class ExportedModel:
    config: dict  # latent_dims, prior, lmbda, ...
    params: dict  # {"analysis": ..., "synthesis": ...}
    codec: FactorizedCodec
    fingerprint: bytes  # 16 bytes

    @property
    def model(self) -> CompressionModel:
        return CompressionModel(latent_dims=int(self.config["latent_dims"]), prior=self.config["prior"])


def _payload(config: dict, params, codec: FactorizedCodec) -> bytes:
    state = {"config": json.dumps(config, sort_keys=True),
             "params": serialization.to_state_dict({k: params[k] for k in ("analysis", "synthesis")}),
             "codec": {k: np.asarray(v) for k, v in codec.to_arrays().items()}}
    return serialization.msgpack_serialize(state)


def load_run(run_dir: Path) -> tuple[ExportedModel, bytes]:
    """A trained run directory (checkpoint + resolved config) as a model, and its .rdsm payload."""
    run_dir = Path(run_dir)
    cfg_path, ckpt_path = run_dir / ".hydra" / "config.yaml", run_dir / CHECKPOINT
    for p in (cfg_path, ckpt_path):
        if not p.is_file():
            raise RdsweepError(f"{run_dir} is not a trained run directory (no {p.relative_to(run_dir)})")
    cfg = OmegaConf.load(cfg_path)
    latent_dims, prior_name = int(cfg.latent_dims), str(cfg.prior.name)
    model = CompressionModel(latent_dims=latent_dims, prior=prior_name)
    params = init_params(model, jax.random.key(0))
    try:
        state = serialization.msgpack_restore(ckpt_path.read_bytes())
        params = serialization.from_state_dict(params, state["params"])
    except Exception as e:  # noqa: BLE001 - msgpack/structure errors come in many types
        raise RdsweepError(f"cannot read checkpoint {ckpt_path}: {e}") from None
    if (run_dir / CODEC).is_file():  # the tables the run was evaluated with: the one source of truth
        codec = FactorizedCodec.from_npz(run_dir / CODEC)
    else:  # a run stopped before its evaluation: build them as the run would have
        codec = FactorizedCodec.from_prior(make_prior(prior_name, latent_dims), params["entropy"],
                                           float(cfg.codec.tail_mass))
    config = {"latent_dims": latent_dims, "prior": prior_name, "lmbda": float(cfg.lmbda),
              "distortion": str(cfg.distortion), "epochs": int(state["epoch"]), "shape": [28, 28]}
    payload = _payload(config, params, codec)
    return ExportedModel(config, params, codec, hashlib.sha256(payload).digest()[:16]), payload


def export_run(run_dir: Path, out: Path) -> ExportedModel:
    """Write the .rdsm file of a trained run directory."""
    model, payload = load_run(run_dir)
    atomic_write_bytes(out, _HEADER.pack(MAGIC, VERSION, hashlib.sha256(payload).digest()) + payload)
    return model


def load_model(path: Path) -> ExportedModel:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise RdsweepError(f"cannot read model {path}: {e.strerror or e}") from None
    if len(raw) < _HEADER.size or raw[:4] != MAGIC:
        raise RdsweepError(f"{path} is not an rdsweep model file (.rdsm)")
    _, version, digest = _HEADER.unpack_from(raw)
    if version != VERSION:
        raise RdsweepError(f"{path}: model format version {version} is not supported (this is version {VERSION})")
    payload = raw[_HEADER.size:]
    if hashlib.sha256(payload).digest() != digest:
        raise RdsweepError(f"{path}: model file is corrupted (checksum mismatch)")
    try:
        state = serialization.msgpack_restore(payload)
        config = json.loads(state["config"])
        model = CompressionModel(latent_dims=int(config["latent_dims"]), prior=config["prior"])
        template = init_params(model, jax.random.key(0))
        params = serialization.from_state_dict({k: template[k] for k in ("analysis", "synthesis")}, state["params"])
        codec = FactorizedCodec.from_arrays(state["codec"])
    except RdsweepError:
        raise
    except Exception as e:  # noqa: BLE001
        raise RdsweepError(f"{path}: malformed model file ({e})") from None
    return ExportedModel(config, params, codec, digest[:16])
