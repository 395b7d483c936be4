import contextlib
import fcntl
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# JAX's compilation cache, shared by every test process and every test run (tests compile the same few
# programs again and again: a quick training run takes 6 s instead of 15); set before JAX is imported
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(tempfile.gettempdir(), "rdsweep-tests-jax-cache"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from rdsweep import runtime  # noqa: E402

runtime.configure()  # the same XLA settings as the entry points: in-process results equal the tools'

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["data.train_limit=256", "data.test_limit=200", "train.epochs=1", "progress=false"]


def _locate_mnist() -> tuple[Path, str | None]:
    """MNIST's directory by the rule training uses (data.data_dir: $RDSWEEP_DATA_DIR, else the user cache),
    its files downloaded there if missing; and why they are not available (None if they are)."""
    from rdsweep import data
    from rdsweep.config import DataConfig
    from rdsweep.errors import RdsweepError

    directory = data.data_dir(DataConfig())
    try:
        data.download.fetch("mnist", directory)
    except RdsweepError as e:
        return directory, str(e)
    return directory, None


MNIST_DIR, NO_MNIST = _locate_mnist()


@pytest.fixture(scope="session")
def mnist_dir():
    """MNIST's directory. Every test that reads digits or trains uses this fixture: without MNIST they are left
    out of the run (deselected), with one line saying why."""
    return MNIST_DIR


def pytest_collection_modifyitems(config, items):
    if NO_MNIST:
        skipped = [item for item in items if "mnist_dir" in item.fixturenames]
        items[:] = [item for item in items if "mnist_dir" not in item.fixturenames]
        config.hook.pytest_deselected(items=skipped)


def pytest_terminal_summary(terminalreporter):
    if NO_MNIST:
        terminalreporter.write_line(f"no MNIST data: the tests that read digits or train were deselected ({NO_MNIST})")


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


@contextlib.contextmanager
def made_once(tmp_path_factory, name: str):
    """A directory ``name`` made once per test session, by whichever worker (xdist) gets there first: the
    others wait for it (a lock). Yields (path, whether it still has to be made)."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # the session's, shared by workers
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = root / f"{name}.done"
        yield root / name, not done.exists()
        done.touch()


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, mnist_dir):
    """One quick real training run (256 digits, 1 epoch), shared by the tests that only read it."""
    with made_once(tmp_path_factory, "trained-run") as (run_dir, make):
        if make:
            r = run_train("lmbda=500", *QUICK, f"hydra.run.dir={run_dir}")
            assert r.returncode == 0, r.stderr
    return run_dir


@pytest.fixture(scope="session")
def exported(trained_run, tmp_path_factory):
    with made_once(tmp_path_factory, "model") as (d, make):
        if make:
            d.mkdir()
            r = run_tool("export", trained_run, "-o", d / "model.rdsm")
            assert r.returncode == 0, r.stderr
    return d / "model.rdsm"


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


class FileProgress:
    """One line per test file as soon as its last test has run (with xdist too): its outcome counts and the
    time since the session started."""

    def __init__(self, reporter):
        self.reporter, self.t0 = reporter, time.monotonic()
        self.expected, self.outcomes = {}, {}

    def _expect(self, nodeids):
        if not self.expected:
            for nodeid in nodeids:
                f = nodeid.split("::")[0]
                self.expected[f] = self.expected.get(f, 0) + 1

    def pytest_collection_finish(self, session):
        self._expect([item.nodeid for item in session.items])

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids):
        self._expect(ids)

    def pytest_runtest_logreport(self, report):
        f = report.nodeid.split("::")[0]
        tests = self.outcomes.setdefault(f, {})
        if report.failed or report.skipped or report.when == "call" and report.nodeid not in tests:
            tests[report.nodeid] = "failed" if report.failed else "skipped" if report.skipped else \
                tests.get(report.nodeid, "passed")
        if report.when == "teardown" and len(tests) == self.expected.get(f):
            counts = {k: list(tests.values()).count(k) for k in ("passed", "failed", "skipped")}
            summary = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
            if self.reporter._tw.width_of_current_line:  # after the progress dots
                self.reporter._tw.line()
            self.reporter.write_line(f"{f}: {summary} ({time.monotonic() - self.t0:.0f} s)")


@pytest.hookimpl(trylast=True)  # after the terminal reporter is registered
def pytest_configure(config):
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and not hasattr(config, "workerinput"):  # the controller (or a run without xdist)
        config.pluginmanager.register(FileProgress(reporter), "rdsweep-file-progress")
