"""Any image shape through the same commands: 32x32 (MNIST padded by 2) and 3 channels (MNIST stacked)."""
import json

import numpy as np
import pytest

import rdsweep
from rdsweep.data.idx import write_idx_images
from tests.conftest import run_tool, run_train


@pytest.mark.parametrize("name,make", [
    ("32x32", lambda x: np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)))),
    pytest.param("rgb", lambda x: np.concatenate([x, 255 - x, x[:, ::-1]], axis=-1), marks=pytest.mark.slow),
])
def test_a_dataset_of_another_shape_trains_and_codes_exactly(test_digits, tmp_path, name, make):
    data = tmp_path / "data"
    data.mkdir()
    images = make(test_digits[:1300])
    suffix = "idx3" if images.shape[-1] == 1 else "idx4"
    write_idx_images(data / f"train-images-{suffix}-ubyte.gz", images[:1024][..., 0] if suffix == "idx3" else images[:1024])
    write_idx_images(data / f"t10k-images-{suffix}-ubyte.gz", images[1024:])
    run_dir = tmp_path / "run"
    r = run_train("lmbda=500", f"data.dir={data}", f"data.name={name}", "train.epochs=1", "progress=false",
                  f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["decode_mismatches"] == 0 and metrics["test_digits"] == 276 and metrics["data"] == name
    assert run_tool("export", run_dir, "-o", tmp_path / "m.rdsm").returncode == 0
    np.save(tmp_path / "in.npy", images[1024:1100])
    assert run_tool("compress", tmp_path / "in.npy", "-m", tmp_path / "m.rdsm", "-o", tmp_path / "x.rds").returncode == 0
    r = run_tool("decompress", tmp_path / "x.rds", "-m", tmp_path / "m.rdsm", "-o", tmp_path / "pngs")
    assert r.returncode == 0, r.stderr
    codec = rdsweep.load(tmp_path / "m.rdsm")
    assert codec.shape == images.shape[1:]
    decoded = rdsweep.load(tmp_path / "m.rdsm").decompress((tmp_path / "x.rds").read_bytes())
    np.testing.assert_array_equal(decoded, codec.decode(codec.encode(images[1024:1100])))
    from rdsweep.data.images import read_images
    np.testing.assert_array_equal(read_images(tmp_path / "pngs", codec.shape)[0], decoded)
