"""Atomic checkpoints of the training state (flax msgpack), one file per run directory."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from flax import serialization

from rdsweep.errors import RdsweepError

# the files of a run directory (one place for their names)
CHECKPOINT = "checkpoint.msgpack"
METRICS = "metrics.json"
HISTORY = "history.csv"
CODEC = "codec.npz"
FAILED = "failed.txt"  # written by a failed job of a sweep; the aggregation reports it
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file in the same directory, fsync, then rename: never a truncated file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def save(run_dir: Path, params, opt_state, epoch: int, history: list, identity: dict) -> None:
    state = {
        "params": serialization.to_state_dict(params),
        "opt_state": serialization.to_state_dict(opt_state),
        "epoch": epoch,
        "history": json.dumps(history),
        "identity": json.dumps(identity, sort_keys=True),
    }
    atomic_write_bytes(Path(run_dir) / CHECKPOINT, serialization.msgpack_serialize(state))


def load(run_dir: Path, params, opt_state, identity: dict):
    """Restore (params, opt_state, epoch, history) if the run dir has a checkpoint, else None."""
    path = Path(run_dir) / CHECKPOINT
    if not path.exists():
        return None
    try:
        state = serialization.msgpack_restore(path.read_bytes())
        saved = json.loads(state["identity"])
        restored = (serialization.from_state_dict(params, state["params"]),
                    serialization.from_state_dict(opt_state, state["opt_state"]),
                    int(state["epoch"]), json.loads(state["history"]))
    except Exception as e:  # msgpack/structure errors come in many types
        raise RdsweepError(f"cannot read checkpoint {path}: {e}") from None
    if saved != identity:
        diff = sorted(k for k in set(saved) | set(identity) if saved.get(k) != identity.get(k))
        raise RdsweepError(
            f"{path} was made with a different config ({', '.join(diff)}); use another run directory "
            "(hydra.run.dir=...) or delete it")
    return restored
