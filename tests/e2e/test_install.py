"""A normal install (the wheel, not editable) runs every entry point from any directory."""
import json
import subprocess
import sys

import pytest

from tests.conftest import MNIST_DIR, ROOT


@pytest.mark.slow
def test_the_wheel_trains_and_codes_from_another_directory(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                    tmp_path / "dist", ROOT], check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("rdsweep-*.whl"))
    # the dependencies come from this interpreter's site-packages; rdsweep itself only from the wheel
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", tmp_path / "venv"], check=True)
    bin_ = tmp_path / "venv" / "bin"
    subprocess.run([bin_ / "pip", "install", "-q", "--no-deps", "--force-reinstall", wheel], check=True,
                   capture_output=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"PATH": f"{bin_}:/usr/bin:/bin", "HOME": str(tmp_path)}
    where = subprocess.run([bin_ / "python", "-c", "import rdsweep; print(rdsweep.__file__)"], cwd=elsewhere,
                           env=env, capture_output=True, text=True, check=True).stdout
    assert str(tmp_path / "venv") in where and str(ROOT) not in where
    r = subprocess.run([bin_ / "rdsweep-train", "--help"], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert r.returncode == 0 and "lmbda" in r.stdout
    r = subprocess.run([bin_ / "python", "-m", "rdsweep", "lmbda=500", "train.epochs=1", "data.train_limit=1000",
                        "data.test_limit=200", f"data.dir={MNIST_DIR}", "progress=false"],
                       cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    metrics = json.loads(next(elsewhere.glob("outputs/runs/*/lmbda=500/metrics.json")).read_text())
    assert metrics["decode_mismatches"] == 0 and metrics["container_decode_mismatches"] == 0
    run_dir = next(elsewhere.glob("outputs/runs/*/lmbda=500"))
    for cmd in (["export", run_dir, "-o", "m.rdsm"], ["--version"], ["aggregate", "outputs/runs"]):
        r = subprocess.run([bin_ / "rdsweep", *map(str, cmd)], cwd=elsewhere, env=env, capture_output=True, text=True)
        assert r.returncode == 0, (cmd, r.stderr)
