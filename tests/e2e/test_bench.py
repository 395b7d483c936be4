import re

import pytest

from tests.conftest import run_tool


ROWS = ("train digits/s", "compress digits/s", "decompress digits/s", "string overhead bits/digit",
        "expected at best with whole-byte strings", "container overhead %", "peak RSS MiB")


def test_bench_prints_its_table(trained_run, mnist_dir):
    """`make bench` (a benchmark, no timing asserted): every row printed, every test digit decoded exactly."""
    r = run_tool("bench", "--steps", "2", "--run", trained_run, "--data-dir", mnist_dir, "--test-limit", "300")
    assert r.returncode == 0, r.stderr
    assert re.search(r"JAX \S+ on .* \d+ cores", r.stdout)
    for row in ROWS:
        assert row in r.stdout, row
    assert re.search(r"\| decode mismatches +\| 0 \|", r.stdout)


@pytest.mark.slow
def test_bench_profiles_every_layer(mnist_dir):
    r = run_tool("bench", "--steps", "2", "--data-dir", mnist_dir, "--test-limit", "100", "--profile", "--reps", "1")
    assert r.returncode == 0, r.stderr
    for row in (*ROWS, "synthesis deconv1 (sub-pixel)", "1024 x 1024 x 1024 float32 matmul"):
        assert row in r.stdout, row
