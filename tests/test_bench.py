import re
import subprocess
import sys

from tests.conftest import ROOT


def test_bench_prints_its_table(trained_run, mnist_dir):
    """`make bench` (a benchmark, no timing asserted): every row printed, every test digit decoded exactly."""
    cmd = [sys.executable, "-m", "rdsweep.bench", "--steps", "2", "--run", str(trained_run),
           "--data-dir", str(mnist_dir), "--profile"]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert re.search(r"JAX \S+ on .* \d+ cores", r.stdout)
    for row in ("train digits/s", "compress digits/s", "decompress digits/s", "string overhead bits/digit",
                "expected at best with whole-byte strings", "container overhead %", "peak RSS MiB",
                "synthesis deconv1 (sub-pixel)", "1024 x 1024 x 1024 float32 matmul"):
        assert row in r.stdout, row
    assert re.search(r"\| decode mismatches +\| 0 \|", r.stdout)
