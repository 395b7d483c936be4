"""model=hyperprior and model=meanscale (side information) through everything: training, records, export, the CLI
in separate processes, the API."""
import json

import numpy as np
import pytest

import rdsweep
from tests.conftest import QUICK, made_once, run_tool, run_train


@pytest.fixture(scope="session", params=["hyperprior", "meanscale"])
def hyper_run(tmp_path_factory, mnist_dir, request):
    with made_once(tmp_path_factory, f"{request.param}-run") as (run_dir, make):
        if make:
            r = run_train(f"model={request.param}", "lmbda=2000", *QUICK, f"hydra.run.dir={run_dir}")
            assert r.returncode == 0, r.stderr
    return run_dir


@pytest.fixture(scope="session")
def hyper_model(hyper_run, tmp_path_factory):
    with made_once(tmp_path_factory, f"{hyper_run.name}-model") as (d, make):
        if make:
            d.mkdir()
            assert run_tool("export", hyper_run, "-o", d / "h.rdsm").returncode == 0
    return d / "h.rdsm"


def test_records_report_the_side_information(hyper_run):
    m = json.loads((hyper_run / "metrics.json").read_text())
    assert m["model"] in ("hyperprior", "meanscale") and m["decode_mismatches"] == 0
    assert m["container_decode_mismatches"] == 0
    assert m["rate_info_bits"] == pytest.approx(m["rate_side_bits"] + m["rate_y_bits"])
    assert "rate_side_bits" in (hyper_run / "history.csv").read_text().splitlines()[0]
    assert f"name: {m['model']}" in (hyper_run / "config.yaml").read_text()


def roundtrip(model, images, tmp_path):
    np.save(tmp_path / "in.npy", images[..., 0])
    assert run_tool("compress", tmp_path / "in.npy", "-m", model, "-o", tmp_path / "x.rds").returncode == 0
    r = run_tool("decompress", tmp_path / "x.rds", "-m", model, "-o", tmp_path / "out.npy")
    assert r.returncode == 0, r.stderr
    codec = rdsweep.load(model)  # a third process: what decoding must give
    return int(np.any(np.load(tmp_path / "out.npy") != codec.decode(codec.encode(images)), axis=(1, 2, 3)).sum())


def test_two_process_round_trip(hyper_model, test_digits, tmp_path):
    assert roundtrip(hyper_model, test_digits[:500], tmp_path) == 0


@pytest.mark.slow
def test_two_process_round_trip_of_all_10k_test_digits(hyper_model, test_digits, tmp_path):
    assert roundtrip(hyper_model, test_digits, tmp_path) == 0


def test_api_and_strings(hyper_model, test_digits):
    codec = rdsweep.load(hyper_model)
    symbols = codec.encode(test_digits[:100])
    assert set(symbols) == {"side", "y"}
    decoded = codec.decode_strings(codec.strings(symbols))
    assert all(np.array_equal(decoded[k], symbols[k]) for k in symbols)
    info = codec.info_bits(symbols)
    assert set(info) == {"side", "y"} and np.all(info["side"] >= 0)
