import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
MNIST_DIR = Path(os.environ.get("RDSWEEP_DATA_DIR", ROOT.parent / "shared" / "data" / "mnist"))


@pytest.fixture(scope="session")
def mnist_dir():
    if not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists():
        pytest.fail(f"MNIST IDX files not found in {MNIST_DIR} (set RDSWEEP_DATA_DIR)")
    return MNIST_DIR


def run_cli(*args, cwd=ROOT, timeout=600):
    """Run `python -m rdsweep ARGS` (the Hydra entry), capture output."""
    env = dict(os.environ, RDSWEEP_DATA_DIR=str(MNIST_DIR), PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "rdsweep", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


QUICK = ["data.train_limit=256", "data.test_limit=200", "train.epochs=1", "progress=false"]


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, mnist_dir):
    """One quick real training run (256 digits, 1 epoch), shared by the tests that only read it."""
    run_dir = tmp_path_factory.mktemp("run")
    r = run_cli("lmbda=500", *QUICK, f"hydra.run.dir={run_dir}")
    assert r.returncode == 0, r.stderr
    return run_dir


def run_tool(*args, timeout=600):
    """Run the `rdsweep` console script (as `python -m rdsweep.cli`)."""
    cmd = [sys.executable, "-m", "rdsweep.cli", *map(str, args)]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def perturbed_params(prior, key=0, scale=0.5):
    """Prior parameters moved away from their (symmetric, trivial) initial values."""
    params = prior.init(jax.random.key(key), np.zeros((1, prior.dims), np.float32))["params"]
    leaves, tree = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(jax.random.key(key + 1), len(leaves))
    leaves = [x + scale * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys)]
    return jax.tree_util.tree_unflatten(tree, leaves)
