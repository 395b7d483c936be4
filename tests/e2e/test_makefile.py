"""The Makefile's install step: one stamp per interpreter, unknown launchers refused."""
import os
import re
import subprocess
import venv
from pathlib import Path

import pytest

from tests.conftest import ROOT


def make_n(*args, env=None):
    return subprocess.run(["make", "-n", *args], cwd=ROOT, capture_output=True, text=True, env=env)


@pytest.fixture
def stamp():
    """This interpreter's install stamp, present (and fresh) for the test; removed after if it was not there."""
    path = ROOT / re.search(r"touch (\S+)", make_n("install").stdout + make_n("-B", "install").stdout).group(1)
    created = not path.exists()
    path.parent.mkdir(exist_ok=True)
    path.touch()
    yield path
    if created:
        path.unlink()


def test_a_new_interpreter_installs_again_though_this_ones_stamp_exists(stamp, tmp_path):
    venv.create(tmp_path / "v", with_pip=False)
    other = make_n("install", f"PYTHON={tmp_path / 'v' / 'bin' / 'python'}")
    assert "pip install" in other.stdout and Path(re.search(r"touch (\S+)", other.stdout).group(1)) != stamp


def test_the_stamp_is_stale_when_the_interpreters_rdsweep_is_another_checkout(stamp, tmp_path):
    """A second clone installed over this one (editable installs are per interpreter): install again."""
    (tmp_path / "rdsweep").mkdir()
    (tmp_path / "rdsweep" / "__init__.py").write_text("")
    assert "pip install" in make_n("install", env={**os.environ, "PYTHONPATH": str(tmp_path)}).stdout


def test_the_stamp_stays_fresh_when_this_checkout_is_installed(stamp):
    import rdsweep

    if Path(rdsweep.__file__).resolve().parent != ROOT / "rdsweep":
        pytest.skip("this interpreter's rdsweep is not this checkout (make install first)")
    assert "pip install" not in make_n("install").stdout


def test_an_unknown_launcher_is_refused():
    r = make_n("sweep", "LAUNCHER=slurmm")
    assert r.returncode != 0 and "LAUNCHER=slurmm is not one of basic, joblib, slurm" in r.stderr
    assert "hydra/launcher=slurm hydra.launcher.partition=p" in make_n("sweep", "LAUNCHER=slurm", "PARTITION=p").stdout
