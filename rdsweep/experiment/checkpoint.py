"""Training checkpoints (flax msgpack), one per run directory, written atomically after every epoch.

A checkpoint holds the full training state (params incl. the densities, optimizer state, epoch, history),
the model spec the params belong to, and the run's identity: every setting that changes the trajectory. A
checkpoint made with another identity is refused, never overwritten.
"""
from __future__ import annotations

import json
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


def read(run_dir: Path) -> dict:
    """The raw checkpoint state (params as a state dict, spec/identity/history decoded)."""
    path = Path(run_dir) / CHECKPOINT
    data = read_regular(path, 1 << 32, "checkpoint ")
    try:
        state = serialization.msgpack_restore(data)
        return {**state, "identity": json.loads(state["identity"]), "history": json.loads(state["history"]),
                "spec": json.loads(state["spec"]), "epoch": int(state["epoch"])}
    except Exception as e:  # noqa: BLE001 - msgpack/structure errors come in many types
        raise RdsweepError(f"cannot read checkpoint {path} ({type(e).__name__}: {e})") from None


def check_identity(run_dir: Path, saved: dict, identity: dict) -> None:
    """ForeignRunError naming the settings that differ, if the checkpoint's identity is not this run's."""
    if saved != identity:
        diff = sorted(k for k in set(saved) | set(identity) if saved.get(k) != identity.get(k))
        raise ForeignRunError(
            f"{Path(run_dir) / CHECKPOINT} was made with a different config ({', '.join(diff)}); use another run "
            "directory (hydra.run.dir=...) or delete it")


def matching(run_dir: Path, identity: dict) -> dict | None:
    """run_dir's checkpoint state (as ``read``) if it has one, None if not; ForeignRunError if it was made
    with other settings."""
    if not (Path(run_dir) / CHECKPOINT).exists():
        return None
    state = read(run_dir)
    check_identity(run_dir, state["identity"], identity)
    return state


def restore(run_dir: Path, state: dict, params, opt_state):
    """(params, opt_state, epoch, history) from run_dir's ``matching`` state, into the given templates."""
    try:
        return (serialization.from_state_dict(params, state["params"]),
                serialization.from_state_dict(opt_state, state["opt_state"]), state["epoch"], state["history"])
    except Exception as e:  # noqa: BLE001
        raise RdsweepError(f"cannot read checkpoint {Path(run_dir) / CHECKPOINT} ({type(e).__name__}: {e})") from None
