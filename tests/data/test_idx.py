"""IDX files and data loading: any shape, every declared size checked before allocation, clear errors."""
import gzip
import zlib

import numpy as np
import pytest

from rdsweep.config import DataConfig
from rdsweep.data import load_split
from rdsweep.data.idx import read_idx_images, write_idx_images
from rdsweep.errors import RdsweepError


def test_reads_the_canonical_mnist_files(mnist_dir):
    test = load_split(DataConfig(dir=str(mnist_dir)), "test")
    assert test.shape == (10000, 28, 28, 1) and test.dtype == np.uint8
    assert 30 < test.mean() < 40  # MNIST's mean pixel is about 33
    assert load_split(DataConfig(dir=str(mnist_dir), train_limit=300), "train").shape == (300, 28, 28, 1)


@pytest.mark.parametrize("images", [np.arange(2 * 32 * 32, dtype=np.uint8).reshape(2, 32, 32),
                                    np.arange(3 * 8 * 12 * 3, dtype=np.uint8).reshape(3, 8, 12, 3)])
def test_three_and_four_dimensional_files_round_trip(tmp_path, images):
    write_idx_images(tmp_path / "x.gz", images)
    got = read_idx_images(tmp_path / "x.gz")
    np.testing.assert_array_equal(got.reshape(images.shape), images)
    assert got.ndim == 4


def write_idx(path, header, payload=b"", compress=True):
    raw = np.array(header, dtype=">u4").tobytes() + payload
    (gzip.open if compress else open)(path, "wb").write(raw)


@pytest.mark.parametrize("header,payload,message", [
    ([0x801, 2, 28, 28], bytes(2 * 784), "bad magic number 0x00000801"),
    ([0x803, 3, 28, 28], bytes(2 * 784), "header says 3 images"),
    ([0x803, 2 + 2**28, 28, 28], bytes(2 * 784), "declares 268435458 images"),  # wraps at 32 bits
    ([0x803, 2**32 - 1, 4096, 4096], b"", "more than 1073741824 bytes"),
    ([0x803, 1, 0, 28], b"", "images of 0x28x1"),
    ([0x804, 1, 28, 28, 2], bytes(1568), "1 or 3 channels"),
    ([0x803, 0, 28, 28], b"", "holds no images"),
    ([0x803, 1, 28, 28], bytes(785), "has more bytes"),
    ([0x803], b"", "truncated IDX header"),
    ([], b"\0\0", "expected a header"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_malformed_files_name_the_path_and_the_problem(tmp_path, header, payload, message):
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    write_idx(path, header, payload)
    with pytest.raises(RdsweepError, match=message) as e:
        load_split(DataConfig(dir=str(tmp_path)), "test")
    assert str(path) in str(e.value)


def test_a_gzip_bomb_is_not_inflated_beyond_its_declared_size(tmp_path):
    """1 GiB of zeros behind a header declaring one image: refused after reading 785 bytes of it."""
    path = tmp_path / "bomb.gz"
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    with open(path, "wb") as f:
        f.write(comp.compress(np.array([0x803, 1, 28, 28], ">u4").tobytes()))
        for _ in range(1024):
            f.write(comp.compress(bytes(1 << 20)))
        f.write(comp.flush())
    assert path.stat().st_size < 2 << 20
    with pytest.raises(RdsweepError, match="has more bytes"):
        read_idx_images(path)


def test_not_gzip_and_uncompressed_files(tmp_path):
    (tmp_path / "bad.gz").write_bytes(b"not gzip at all, really")
    with pytest.raises(RdsweepError, match="cannot read IDX file"):
        read_idx_images(tmp_path / "bad.gz")
    write_idx(tmp_path / "t10k-images-idx3-ubyte", [0x803, 1, 28, 28], bytes(range(256)) * 3 + bytes(16),
              compress=False)
    assert load_split(DataConfig(dir=str(tmp_path)), "test").shape == (1, 28, 28, 1)


def test_missing_files_say_how_to_provide_them(tmp_path):
    with pytest.raises(RdsweepError, match=r"cannot download MNIST t10k-images-idx3-ubyte.gz \(http://127.0.0.1:9/t10k"
                                           r".*: download t10k-images-idx3-ubyte.gz from http://127.0.0.1:9/ into "):
        load_split(DataConfig(dir=str(tmp_path / "nowhere"), mirrors=["http://127.0.0.1:9/"]), "test")
    with pytest.raises(RdsweepError, match="no t10k-images-idx3-ubyte"):
        load_split(DataConfig(dir=str(tmp_path), source="idx"), "test")


def test_a_npy_file_instead_of_the_directory(tmp_path):
    np.save(tmp_path / "test.npy", np.zeros((4, 8, 8, 3), np.uint8))
    assert load_split(DataConfig(test_file=str(tmp_path / "test.npy")), "test").shape == (4, 8, 8, 3)
