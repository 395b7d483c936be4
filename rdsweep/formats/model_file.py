"""The exported model file (.rdsm): config + the coding side's weights + integer coding tables, one file.

Layout: magic ``RDSM``, format version (u16, big-endian), SHA-256 of the payload (32 bytes), payload (flax
msgpack). Version 2 payload: ``{"config": JSON text, "params": {collection: weights}, "entropy": {layer:
{array name: array}}}``, where config holds the model spec (``model``, ``prior``, ``latent_dims``, ``shape``)
and the run's settings (``lmbda``, ``distortion``, ...). Version 1 (still read): seed model on 28x28 digits,
``{"config", "params": {"analysis", "synthesis"}, "codec": {"offset", "lo", "counts"}}``.

The checksum proves the payload intact, not valid: ``rdsweep.codec`` validates everything in it against the
model its config describes before any use. The fingerprint (the SHA-256's first 16 bytes) goes into every
compressed file, so a file is never decoded with other weights or tables.
"""
from __future__ import annotations

import hashlib
import json
import math
import struct
from pathlib import Path

import numpy as np
from flax import serialization

from rdsweep.errors import RdsweepError
from rdsweep.files import atomic_write_bytes, open_regular

MAGIC = b"RDSM"
VERSION = 2
READABLE = (1, 2)
MAX_BYTES = 1 << 31  # larger model files are refused before reading
_HEADER = struct.Struct(">4sH32s")
_CHUNK = 1 << 22


def pack_payload(config: dict, params: dict, entropy: dict) -> bytes:
    state = {"config": json.dumps(config, sort_keys=True), "params": serialization.to_state_dict(params),
             "entropy": {name: {k: np.asarray(v) for k, v in arrays.items()} for name, arrays in entropy.items()}}
    return serialization.msgpack_serialize(state)


def fingerprint(payload: bytes) -> bytes:
    return hashlib.sha256(payload).digest()[:16]


def write(path: Path, payload: bytes, replace: bool = True) -> None:
    atomic_write_bytes(path, _HEADER.pack(MAGIC, VERSION, hashlib.sha256(payload).digest()) + payload, replace)


def _config(text) -> dict:
    """The config's JSON text: a mapping whose numbers are finite and whose integers fit in 64 bits (a size read
    from a file is bounded before anything uses it: no 10**400, no NaN or Infinity)."""
    def integer(s):
        if len(s.lstrip("-")) > 19 or not -(1 << 63) <= int(s) < (1 << 63):
            raise ValueError(f"integer {s[:24]}{'...' if len(s) > 24 else ''} out of range")
        return int(s)

    def number(s):
        if not math.isfinite(float(s)):
            raise ValueError(f"number {s[:24]} out of range")
        return float(s)

    def constant(s):
        raise ValueError(f"{s} is not a number")

    config = json.loads(text, parse_int=integer, parse_float=number, parse_constant=constant)
    if not isinstance(config, dict):
        raise ValueError("config is not a mapping")
    return config


def read(path: Path) -> tuple[dict, dict, dict, bytes]:
    """(config, params state dict, entropy arrays, fingerprint) of a model file; its checksum verified.

    The file must be a regular file of at most MAX_BYTES; its checksum is verified reading it in chunks, before
    the payload is held in memory (a corrupted large file costs no memory). The contents are not validated here
    (see the module doc).
    """
    path = Path(path)
    with open_regular(path, MAX_BYTES, "model ") as (f, size):
        try:
            head = f.read(_HEADER.size)
            if len(head) < _HEADER.size or head[:4] != MAGIC:
                raise RdsweepError(f"{path} is not an rdsweep model file (.rdsm)")
            _, version, digest = _HEADER.unpack(head)
            if version not in READABLE:
                raise RdsweepError(f"{path}: model format version {version} is not supported (this reads 1 and "
                                   f"{VERSION})")
            sha = hashlib.sha256()
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                sha.update(chunk)
            if sha.digest() != digest:
                raise RdsweepError(f"{path}: model file is corrupted (checksum mismatch)")
            f.seek(_HEADER.size)
            payload = f.read()
        except OSError as e:
            raise RdsweepError(f"cannot read model {path}: {e.strerror or e}") from None
    if hashlib.sha256(payload).digest() != digest:  # changed between the two reads
        raise RdsweepError(f"{path}: model file is corrupted (checksum mismatch)")
    try:
        state = serialization.msgpack_restore(payload)
        config = _config(state["config"])
        if version == 1:
            config = {**config, "model": {"name": "seed"}, "prior": {"name": config["prior"]},
                      "shape": [*config.get("shape", [28, 28]), 1]}
            return config, state["params"], {"y": state["codec"]}, digest[:16]
        return config, state["params"], state["entropy"], digest[:16]
    except RdsweepError:
        raise
    except Exception as e:  # noqa: BLE001 - msgpack/JSON/structure errors come in many types
        raise RdsweepError(f"{path}: malformed model file ({type(e).__name__}: {e})") from None
