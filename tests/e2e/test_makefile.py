"""The Makefile's install step: one stamp per interpreter, unknown launchers refused."""
import re
import subprocess
import venv
from pathlib import Path

from tests.conftest import ROOT


def make_n(*args):
    return subprocess.run(["make", "-n", *args], cwd=ROOT, capture_output=True, text=True)


def test_a_new_interpreter_installs_again_though_this_ones_stamp_exists(tmp_path):
    stamp = ROOT / re.search(r"touch (\S+)", make_n("install").stdout + make_n("-B", "install").stdout).group(1)
    created = not stamp.exists()
    stamp.parent.mkdir(exist_ok=True)
    stamp.touch()
    try:
        venv.create(tmp_path / "v", with_pip=False)
        other = make_n("install", f"PYTHON={tmp_path / 'v' / 'bin' / 'python'}")
        assert "pip install" in other.stdout and Path(re.search(r"touch (\S+)", other.stdout).group(1)) != stamp
    finally:
        if created:
            stamp.unlink()


def test_an_unknown_launcher_is_refused():
    r = make_n("sweep", "LAUNCHER=slurmm")
    assert r.returncode != 0 and "LAUNCHER=slurmm is not one of basic, joblib, slurm" in r.stderr
    assert "hydra/launcher=slurm hydra.launcher.partition=p" in make_n("sweep", "LAUNCHER=slurm", "PARTITION=p").stdout
