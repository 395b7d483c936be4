import gzip

import numpy as np
import pytest
from omegaconf import OmegaConf

from rdsweep.data import load_split, read_idx_images
from rdsweep.errors import RdsweepError


def data_cfg(directory, **kw):
    return OmegaConf.create({"name": "mnist", "source": "auto", "dir": str(directory),
                             "train_limit": None, "test_limit": None, **kw})


def test_reads_the_canonical_mnist_files(mnist_dir):
    test = load_split(data_cfg(mnist_dir), "test")
    assert test.shape == (10000, 28, 28) and test.dtype == np.uint8
    assert 30 < test.mean() < 40  # MNIST's mean pixel is about 33
    assert load_split(data_cfg(mnist_dir, train_limit=300), "train").shape == (300, 28, 28)


def write_idx(path, header, payload=b"", compress=True):
    raw = np.array(header, dtype=">u4").tobytes() + payload
    (gzip.open if compress else open)(path, "wb").write(raw)


@pytest.mark.parametrize("header,payload,message", [
    ([0x801, 2, 28, 28], bytes(2 * 784), "bad magic number 0x00000801"),
    ([0x803, 3, 28, 28], bytes(2 * 784), "header says 3 images"),
    ([0x803, 1, 32, 32], bytes(1024), "images are 32x32, expected 28x28"),
    ([0x803], b"", "expected a 16-byte header"),
])
def test_malformed_files_name_the_path_and_the_problem(tmp_path, header, payload, message):
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    write_idx(path, header, payload)
    with pytest.raises(RdsweepError, match=message) as e:
        load_split(data_cfg(tmp_path), "test")
    assert str(path) in str(e.value)


def test_not_gzip_and_uncompressed_files(tmp_path):
    (tmp_path / "bad.gz").write_bytes(b"not gzip at all, really")
    with pytest.raises(RdsweepError, match="cannot read IDX file"):
        read_idx_images(tmp_path / "bad.gz")
    write_idx(tmp_path / "t10k-images-idx3-ubyte", [0x803, 1, 28, 28], bytes(range(256)) * 3 + bytes(16),
              compress=False)
    assert load_split(data_cfg(tmp_path), "test").shape == (1, 28, 28)


def test_missing_files_say_how_to_provide_them(tmp_path):
    with pytest.raises(RdsweepError, match="IDX files"):
        load_split(data_cfg(tmp_path / "nowhere"), "test")
    with pytest.raises(RdsweepError, match="no t10k-images-idx3-ubyte"):
        load_split(data_cfg(tmp_path, source="idx"), "test")
