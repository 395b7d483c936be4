import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from rdsweep import runtime

runtime.configure()  # the same XLA settings as the entry points: in-process results equal the tools'

ROOT = Path(__file__).resolve().parents[1]
MNIST_DIR = Path(os.environ.get("RDSWEEP_DATA_DIR", ROOT.parent / "shared" / "data" / "mnist"))
QUICK = ["data.train_limit=256", "data.test_limit=200", "train.epochs=1", "progress=false"]


@pytest.fixture(scope="session")
def mnist_dir():
    if not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists():
        pytest.fail(f"MNIST IDX files not found in {MNIST_DIR} (set RDSWEEP_DATA_DIR)")
    return MNIST_DIR


def _env(**extra):
    return {**os.environ, "RDSWEEP_DATA_DIR": str(MNIST_DIR), "PYTHONUNBUFFERED": "1", **extra}


def run_train(*args, cwd=ROOT, timeout=600, **env):
    """`python -m rdsweep ARGS` (the Hydra training entry), output captured."""
    return subprocess.run([sys.executable, "-m", "rdsweep", *map(str, args)], cwd=cwd, env=_env(**env),
                          capture_output=True, text=True, timeout=timeout)


def run_tool(*args, cwd=ROOT, timeout=600):
    """The `rdsweep` console script (as `python -m rdsweep.cli ARGS`)."""
    return subprocess.run([sys.executable, "-m", "rdsweep.cli", *map(str, args)], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=timeout)


def one_error_line(r, message=""):
    """The command failed with exit 1 and exactly one line `rdsweep: error: ...` containing message."""
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert len(lines) == 1 and lines[0].startswith("rdsweep: error: ") and message in lines[0], r.stderr


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, mnist_dir):
    """One quick real training run (256 digits, 1 epoch), shared by the tests that only read it."""
    run_dir = tmp_path_factory.mktemp("run") / "run"
    r = run_train("lmbda=500", *QUICK, f"hydra.run.dir={run_dir}")
    assert r.returncode == 0, r.stderr
    return run_dir


@pytest.fixture(scope="session")
def exported(trained_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "model.rdsm"
    r = run_tool("export", trained_run, "-o", out)
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture(scope="session")
def test_digits(mnist_dir):
    from rdsweep.data.idx import read_idx_images

    return read_idx_images(mnist_dir / "t10k-images-idx3-ubyte.gz")


def perturbed_params(density, key=0, scale=0.5):
    """A density's parameters moved away from their (symmetric, trivial) initial values."""
    params = density.init(jax.random.key(key), np.zeros((1, density.dims), np.float32))["params"]
    leaves, tree = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(jax.random.key(key + 1), len(leaves))
    leaves = [x + scale * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys)]
    return jax.tree_util.tree_unflatten(tree, leaves)


def seed_spec(shape=(28, 28, 1), latent_dims=50, prior="deep_factorized"):
    import dataclasses

    from rdsweep.entropy.densities import PRIORS
    from rdsweep.models import ModelSpec, get

    return ModelSpec(dataclasses.asdict(get("seed").Config()), dataclasses.asdict(PRIORS[prior][1](name=prior)),
                     latent_dims, tuple(shape))


def untrained_codec(shape=(28, 28, 1), latent_dims=50, prior="deep_factorized", model="seed", seed=0):
    """A codec from freshly initialised weights (no training): exact coding needs no trained model."""
    from rdsweep.codec import Codec
    from rdsweep.models import get

    spec = seed_spec(shape, latent_dims, prior)
    if model != "seed":
        import dataclasses
        spec = type(spec)(dataclasses.asdict(get(model).Config()), spec.prior, latent_dims, tuple(shape))
    M = get(model)
    params = M.init_params(spec, jax.random.key(seed))
    return Codec(M(spec, params, M.entropy_from_training(spec, params, 2.0**-8)), {"lmbda": 500.0})


def put(path, value):
    """A ``forge`` change: set state[path...] to value (or value(old))."""
    def change(state):
        node = state
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = value(node[path[-1]]) if callable(value) else value
    return change


def forge(src: Path, dst: Path, change=None, payload: bytes | None = None, version: int = 2) -> Path:
    """A model file whose payload is ``change``d (or replaced), then re-hashed: intact, maybe invalid."""
    import hashlib
    import struct

    from flax import serialization

    if payload is None:
        state = serialization.msgpack_restore(Path(src).read_bytes()[38:])
        change(state)
        payload = serialization.msgpack_serialize(state)
    Path(dst).write_bytes(struct.pack(">4sH32s", b"RDSM", version, hashlib.sha256(payload).digest()) + payload)
    return Path(dst)
