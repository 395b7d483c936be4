import re

from tests.conftest import run_tool


def test_bench_prints_its_table(trained_run, mnist_dir):
    """`make bench` (a benchmark, no timing asserted): every row printed, every test digit decoded exactly."""
    r = run_tool("bench", "--steps", "2", "--run", trained_run, "--data-dir", mnist_dir, "--profile")
    assert r.returncode == 0, r.stderr
    assert re.search(r"JAX \S+ on .* \d+ cores", r.stdout)
    for row in ("train digits/s", "compress digits/s", "decompress digits/s", "string overhead bits/digit",
                "expected at best with whole-byte strings", "container overhead %", "peak RSS MiB",
                "synthesis deconv1 (sub-pixel)", "1024 x 1024 x 1024 float32 matmul"):
        assert row in r.stdout, row
    assert re.search(r"\| decode mismatches +\| 0 \|", r.stdout)
