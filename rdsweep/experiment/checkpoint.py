"""Training checkpoints (flax msgpack), one per run directory, written atomically after every epoch.

A checkpoint holds the full training state (params incl. the densities, optimizer state, epoch, history),
the model spec the params belong to, and the run's identity: every setting that changes the trajectory. A
checkpoint made with another identity is refused, never overwritten.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

from flax import serialization

from rdsweep.errors import RdsweepError
from rdsweep.files import CHECKPOINT, ForeignRunError, atomic_write_bytes, read_regular
from rdsweep.models import ModelSpec


def save(run_dir: Path, params, opt_state, epoch: int, history: list, identity: dict, spec: ModelSpec) -> None:
    state = {
        "params": serialization.to_state_dict(params),
        "opt_state": serialization.to_state_dict(opt_state),
        "epoch": epoch,
        "history": json.dumps(history),
        "identity": json.dumps(identity, sort_keys=True),
        "spec": json.dumps(spec.to_dict(), sort_keys=True),
    }
    atomic_write_bytes(Path(run_dir) / CHECKPOINT, serialization.msgpack_serialize(state))


def limit(spec: ModelSpec, epochs: int) -> int:
    """The most bytes a checkpoint of this model can take: its float32 parameters three times (the weights and
    Adam's two moments), the history's rows, and room for the rest."""
    import jax

    from rdsweep import models

    shapes = jax.eval_shape(lambda k: models.get(spec.model["name"]).init_params(spec, k), jax.random.key(0))
    weights = 4 * sum(math.prod(x.shape) for x in jax.tree_util.tree_leaves(shapes))
    return 3 * weights + (1 << 20) + 2048 * int(epochs)


MAX_BYTES = 1 << 30  # the largest model rdsweep trains (models.MAX_PARAMS) checkpoints in ~0.8 GB
HISTORY_NUMBERS = ("epoch", "loss", "digits_per_s", "epoch_s", "loss_start", "loss_end")  # what resuming reads of a row


def read(run_dir: Path, most: int = MAX_BYTES) -> dict:
    """The checkpoint state, every part's type checked: ``params`` and ``opt_state`` (state dicts), ``epoch``
    (int), ``history`` (a list of rows), ``identity`` and ``spec`` (dicts); at most ``most`` bytes are read
    (``limit``). RdsweepError naming what is wrong."""
    path = Path(run_dir) / CHECKPOINT
    data = read_regular(path, most, "checkpoint ")

    def bad(why: str) -> RdsweepError:
        return RdsweepError(f"cannot read checkpoint {path} ({why})")

    try:
        state = serialization.msgpack_restore(data)
        if not isinstance(state, dict):
            raise bad("not a mapping")
        parts = {k: json.loads(state[k]) for k in ("identity", "history", "spec")}
    except RdsweepError:
        raise
    except Exception as e:  # noqa: BLE001 - msgpack/JSON/structure errors come in many types
        raise bad(f"{type(e).__name__}: {e}") from None
    epoch, history = state.get("epoch"), parts["history"]
    if not (isinstance(state.get("params"), dict) and isinstance(state.get("opt_state"), dict)):
        raise bad("no params or optimizer state")
    if not (isinstance(parts["identity"], dict) and isinstance(parts["spec"], dict)):
        raise bad("its identity or model spec is not a mapping")
    if not (isinstance(epoch, int) and not isinstance(epoch, bool) and 0 <= epoch <= 10**6):
        raise bad(f"epoch {epoch!r} is not a whole number of epochs")
    if not isinstance(history, list) or len(history) != epoch or not all(
            isinstance(row, dict) and all(isinstance(row.get(k), (int, float)) and not isinstance(row.get(k), bool)
                                          and math.isfinite(row[k]) for k in HISTORY_NUMBERS) for row in history):
        raise bad(f"its history is not {epoch} rows of {', '.join(HISTORY_NUMBERS)}")
    return {**state, **parts}


def check_identity(run_dir: Path, saved: dict, identity: dict) -> None:
    """ForeignRunError naming the settings that differ, if the checkpoint's identity is not this run's."""
    if saved != identity:
        diff = sorted(k for k in set(saved) | set(identity) if saved.get(k) != identity.get(k))
        raise ForeignRunError(
            f"{Path(run_dir) / CHECKPOINT} was made with a different config ({', '.join(diff)}); use another run "
            "directory (hydra.run.dir=...) or delete it")


def matching(run_dir: Path, identity: dict, spec: ModelSpec, epochs: int) -> dict | None:
    """run_dir's checkpoint state (as ``read``, at most ``limit(spec, epochs)`` bytes) if it has one, None if
    not; ForeignRunError if it was made with other settings or for another model (spec: sizes, image shape)."""
    if not os.path.lexists(Path(run_dir) / CHECKPOINT):
        return None
    state = read(run_dir, limit(spec, epochs))
    check_identity(run_dir, state["identity"], identity)
    if state["spec"] != json.loads(json.dumps(spec.to_dict(), sort_keys=True)):
        raise ForeignRunError(f"{Path(run_dir) / CHECKPOINT} holds another model ({state['spec'].get('shape')} "
                              f"images; this run: {list(spec.shape)}); use another run directory or delete it")
    return state


def restore(run_dir: Path, state: dict, params, opt_state):
    """(params, opt_state, epoch, history) from run_dir's ``matching`` state, into the given templates; every
    array checked against the template's shape and dtype."""
    from rdsweep.codec import check_tree

    where = f"checkpoint {Path(run_dir) / CHECKPOINT}"
    try:
        p = check_tree(serialization.to_state_dict(params), state["params"], f"{where}: params")
        o = check_tree(serialization.to_state_dict(opt_state), state["opt_state"], f"{where}: optimizer state")
        return (serialization.from_state_dict(params, p), serialization.from_state_dict(opt_state, o),
                state["epoch"], state["history"])
    except RdsweepError:
        raise
    except Exception as e:  # noqa: BLE001
        raise RdsweepError(f"cannot read {where} ({type(e).__name__}: {e})") from None
