"""Reading a run directory back: its resolved config and its trained model as a codec (export, figures)."""
from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from rdsweep import models
from rdsweep.codec import Codec, META
from rdsweep.errors import RdsweepError
from rdsweep.experiment import checkpoint
from rdsweep.files import (CHECKPOINT, CONFIG, FAILED, METRICS, RUN_DIRS, RUN_FILES, TABLES, ForeignRunError,
                           read_regular, temp_target)
from rdsweep.models import ModelSpec


def check_run_dir(run_dir: Path) -> None:
    """ForeignRunError unless ``run_dir`` may be a run's directory: absent, or a directory holding only what a
    run writes (``RUN_FILES`` as regular files, not links nor FIFOs; ``RUN_DIRS``; this package's temp files),
    its config.yaml an rdsweep run config, writable. Checked before anything is written there."""
    run_dir = Path(run_dir)
    if not os.path.lexists(run_dir):
        return
    if not run_dir.is_dir():
        raise ForeignRunError(f"{run_dir}: exists and is not a directory; give another hydra.run.dir")
    for entry in sorted(os.listdir(run_dir)):
        path = run_dir / entry
        if entry in RUN_FILES:
            if path.is_symlink() or not path.is_file():
                raise ForeignRunError(f"{path}: not a regular file (a link, FIFO or directory where a run writes "
                                      "its own file); remove it or give another hydra.run.dir")
        elif not (entry in RUN_DIRS and path.is_dir() and not path.is_symlink()) \
                and temp_target(entry) not in {*RUN_FILES, *RUN_DIRS}:
            raise ForeignRunError(f"{run_dir} is not an rdsweep run directory (it holds {entry[:80]!r}); give "
                                  "another hydra.run.dir")
    if (run_dir / CONFIG).is_file():
        text = read_regular(run_dir / CONFIG, 1 << 20, "run config ")
        try:
            cfg = parse_yaml(text)
            ok = isinstance(cfg, DictConfig) and all(k in cfg for k in ("lmbda", "model", "prior", "data"))
        except Exception:  # noqa: BLE001 - yaml and decoding errors come in many types
            ok = False
        if not ok:
            raise ForeignRunError(f"{run_dir / CONFIG} is not an rdsweep run config; give another hydra.run.dir")
    if not os.access(run_dir, os.W_OK | os.X_OK):
        raise RdsweepError(f"cannot write in {run_dir}: permission denied")


def check_sweep_dir(sweep_dir: Path) -> None:
    """ForeignRunError where Hydra would replace a file that is not its own: ``multirun.yaml`` in the sweep
    directory must be absent or a sweep's record (a regular file, a mapping with ``hydra.mode: MULTIRUN``)."""
    path = Path(sweep_dir) / "multirun.yaml"
    if not os.path.lexists(path):
        return
    try:
        cfg = parse_yaml(read_regular(path, 1 << 20, "sweep record "))
        ok = not path.is_symlink() and str(OmegaConf.select(cfg, "hydra.mode", default="")) == "MULTIRUN"
    except Exception:  # noqa: BLE001 - yaml, decoding and read errors come in many types
        ok = False
    if not ok:
        raise ForeignRunError(f"{path} is not a sweep's multirun.yaml (Hydra would replace it); give another "
                              "hydra.sweep.dir")


def parse_yaml(text: bytes):
    """A config file's YAML (UTF-8) as an OmegaConf node. Aliases are refused: a run writes none, and a few
    hundred bytes of nested aliases expand to billions of nodes."""
    import yaml

    source = text.decode("utf-8")
    if any(isinstance(event, yaml.AliasEvent) for event in yaml.parse(source, Loader=yaml.SafeLoader)):
        raise ValueError("YAML aliases (*name), which a run's config never holds")
    return OmegaConf.create(source)


def read_config(run_dir: Path):
    """The run's resolved config (config.yaml, written by the run itself), as an OmegaConf node."""
    path = Path(run_dir) / CONFIG
    if not path.exists():
        raise RdsweepError(f"{run_dir} is not an rdsweep run directory (no {CONFIG})")
    text = read_regular(path, 1 << 20)
    try:
        cfg = parse_yaml(text)
    except Exception as e:  # noqa: BLE001 - yaml and decoding errors come in many types
        raise RdsweepError(f"cannot read {path} ({type(e).__name__}: {e})") from None
    if not isinstance(cfg, DictConfig):
        raise RdsweepError(f"{path}: not a run config (a mapping)")
    return cfg


def tables_bytes(entropy_arrays: dict) -> bytes:
    """The coding tables as one .npz (keys ``<layer>.<array>``)."""
    buf = io.BytesIO()
    np.savez(buf, **{f"{layer}.{k}": v for layer, arrays in entropy_arrays.items() for k, v in arrays.items()})
    return buf.getvalue()


def read_tables(path: Path) -> dict:
    data = read_regular(path, 1 << 30)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            out = {}
            for key in z.files:
                layer, _, name = key.rpartition(".")
                out.setdefault(layer or "y", {})[name] = z[key]
            return out
    except Exception as e:  # noqa: BLE001 - zip, npy and decoding errors come in many types
        raise RdsweepError(f"cannot read coding tables {path} ({type(e).__name__}: {e})") from None


def load_codec(run_dir: Path, lmbda: float | None = None) -> Codec:
    """A trained run directory as a codec: its checkpoint's weights, and the coding tables it was evaluated
    with (codec.npz; built from its trained densities, as the run would, if it stopped before evaluating). A
    variable-rate run codes at one operating point: ``lmbda`` (any of its range; the tables of the points it
    evaluated are read, others built from its trained density)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RdsweepError(f"{run_dir}: no such run directory (train it first, e.g. make sweep, or name another)")
    if (run_dir / FAILED).is_file() and not (run_dir / CHECKPOINT).exists():
        reason = read_regular(run_dir / FAILED, 1 << 16).decode("utf-8", "replace").strip()
        raise RdsweepError(f"{run_dir}: this run failed, it holds no trained model ({' '.join(reason.split())})")
    cfg = read_config(run_dir)
    if not (run_dir / CHECKPOINT).is_file():
        raise RdsweepError(f"{run_dir} holds no trained model (no {CHECKPOINT})")
    state = checkpoint.read(run_dir, _checkpoint_bound(cfg))
    spec = state["spec"]
    try:
        meta = {k: OmegaConf.select(cfg, k) for k in META}
        meta.update(epochs=state["epoch"], data=OmegaConf.select(cfg, "data.name"),
                    distortion=str(OmegaConf.select(cfg, "distortion")),
                    precision=OmegaConf.select(cfg, "train.precision"))
        if (run_dir / METRICS).is_file():  # the training run's provenance goes into its exported model
            meta["provenance"] = json.loads(read_regular(run_dir / METRICS, 1 << 20)).get("provenance")
    except Exception as e:  # noqa: BLE001 - OmegaConf's errors on a hand-made config.yaml
        raise RdsweepError(f"{run_dir / CONFIG}: not a run config ({type(e).__name__}: {e})") from None
    M = models.get(spec.get("model", {}).get("name") if isinstance(spec.get("model"), dict) else None)
    tail_mass = float(OmegaConf.select(cfg, "codec.tail_mass", default=2.0**-8))
    stored = read_tables(run_dir / TABLES) if (run_dir / TABLES).is_file() else None
    if M.variable_rate:
        if lmbda is None:
            raise RdsweepError(f"{run_dir} holds a variable-rate model: say at which lambda to code (--lmbda, "
                               f"Python lmbda=); it evaluated {', '.join(k.split('@')[1] for k in stored or {})}")
        meta["lmbda"] = float(lmbda)
        key = next((k for k in stored or {} if _point(k) == float(lmbda)), None)  # a point the run evaluated
        if key is not None:
            entropy = {"y": stored[key]}
        else:
            s, params = _trained(run_dir, M, spec, state)
            entropy = {name: layer.to_arrays() for name, layer in M.point(s, params, tail_mass, float(lmbda)).items()}
    elif stored is not None:
        entropy = stored
    else:
        s, params = _trained(run_dir, M, spec, state)
        entropy = {name: layer.to_arrays() for name, layer in M.entropy_from_training(s, params, tail_mass).items()}
    params = {k: state["params"].get(k) for k in M.stored}
    return Codec.from_parts({**spec, **meta}, params, entropy, str(run_dir))


def _point(key: str) -> float | None:
    """The lambda of a variable-rate run's stored tables ``y@<lambda>``."""
    try:
        return float(key.split("@", 1)[1])
    except (IndexError, ValueError):
        return None


def _checkpoint_bound(cfg) -> int:
    """The most bytes the run's checkpoint may take: ``checkpoint.limit`` of the model its config describes on
    the images its data config names (a file header's shape); the largest model's bound where those are not at
    hand (data elsewhere, a hand-edited config)."""
    from rdsweep import data
    from rdsweep.experiment.run import model_spec

    try:
        shape = data.image_shape(cfg.data)
        if shape is not None:
            return checkpoint.limit(model_spec(cfg, shape), int(cfg.train.epochs))
    except Exception:  # noqa: BLE001 - any reason not to know the model: the general bound still holds
        pass
    return checkpoint.MAX_BYTES


def _trained(run_dir: Path, M, spec: dict, state: dict) -> tuple[ModelSpec, dict]:
    """The run's model spec and all its trained parameters (densities, gains, ...), checked against the model."""
    import jax
    from flax import serialization

    from rdsweep.codec import _spec, check_tree

    _, s = _spec(spec, str(run_dir))
    template = serialization.to_state_dict(jax.eval_shape(lambda k: M.init_params(s, k), jax.random.key(0)))
    return s, check_tree(template, state["params"], f"checkpoint {run_dir / CHECKPOINT}: params")
