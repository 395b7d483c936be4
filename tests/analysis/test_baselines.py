"""Baselines: transforms are orthonormal and invertible, coding is real and verified, records fit the schema."""
import json

import numpy as np
import pytest

from rdsweep.analysis import baselines
from rdsweep.analysis.bd import bd_table
from rdsweep.analysis.records import find_runs
from rdsweep.config import DataConfig


@pytest.mark.parametrize("shape", [(28, 28, 1), (20, 12, 3)])
@pytest.mark.parametrize("fwd,inv", [(baselines.dct_forward, baselines.dct_inverse),
                                     (baselines.blockdct_forward, baselines.blockdct_inverse)])
def test_dct_transforms_are_orthonormal_and_invert(fwd, inv, shape):
    x = np.random.default_rng(0).integers(0, 256, (3, *shape)).astype(np.uint8)
    c = fwd(x)
    np.testing.assert_allclose(inv(c, shape), x, atol=1e-9)
    if c.shape[1] == np.prod(shape):  # the full DCT preserves energy (block DCT works on an edge-padded image)
        np.testing.assert_allclose((c**2).sum(axis=1), (x.astype(float) ** 2).sum(axis=(1, 2, 3)), rtol=1e-9)


def test_pca_is_orthonormal():
    x = np.random.default_rng(1).integers(0, 256, (900, 28, 28, 1)).astype(np.uint8)
    pca = baselines.PCA(x)
    np.testing.assert_allclose(pca.basis @ pca.basis.T, np.eye(784), atol=1e-8)
    np.testing.assert_allclose(pca.inverse(pca.forward(x[:5]), x.shape[1:]), x[:5], atol=1e-7)


def test_records_in_the_learned_schema_and_bd_rate(tmp_path, mnist_dir):
    cfg = DataConfig(source="idx", dir=str(mnist_dir), train_limit=2000, test_limit=100)
    baselines.run_baselines(tmp_path, ["dct", "jpeg"], cfg, steps=[16, 64, 256, 1024], progress=False)
    rec = json.loads((tmp_path / "dct" / "param=64" / "metrics.json").read_text())
    assert rec["kind"] == "baseline" and rec["decode_mismatches"] == 0 and rec["test_digits"] == 100
    assert 10 < rec["psnr_db"] < 40 and rec["rate_string_bits"] >= rec["rate_info_bits"] > 0
    jpeg = json.loads((tmp_path / "jpeg" / "param=1" / "metrics.json").read_text())
    assert jpeg["rate_definition"].startswith("whole file") and jpeg["rate_info_bits"] > 1000  # headers count
    assert 0 < jpeg["rate_payload_bits"] < jpeg["rate_info_bits"] - 8 * 300  # JPEG headers are hundreds of bytes
    df, problems = find_runs([tmp_path])
    assert not problems and set(df["prior"]) == {"dct", "jpeg"}
    # a fake learned curve at half the DCT rate: BD-rate must come out near -50 %
    dct = df[df["prior"] == "dct"]
    learned = dct.assign(kind="learned", prior="fake", rate_info_bits=dct["rate_info_bits"] / 2)
    bd = bd_table([("fake", learned)], [("dct", dct)])[0]
    assert bd.iloc[0]["bd_rate_pct"] == pytest.approx(-50, abs=1)


def test_parameter_labels_are_rounded(tmp_path, mnist_dir):
    cfg = DataConfig(source="idx", dir=str(mnist_dir), train_limit=500, test_limit=20)
    baselines.run_baselines(tmp_path, ["dct"], cfg, steps=[2 ** 7.5], progress=False)
    assert [p.name for p in (tmp_path / "dct").iterdir()] == ["param=181"]
