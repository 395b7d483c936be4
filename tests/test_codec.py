"""The public Python API: rdsweep.load, compress/decompress, strings, information content."""
import numpy as np
import pytest

import rdsweep
from rdsweep.errors import RdsweepError
from tests.conftest import run_tool


def test_python_api_equals_the_command_line_byte_for_byte(exported, test_digits, tmp_path):
    codec = rdsweep.load(exported)
    images = test_digits[:1000]
    data = codec.compress(images)
    np.save(tmp_path / "in.npy", images[..., 0])
    r = run_tool("compress", tmp_path / "in.npy", "-m", exported, "-o", tmp_path / "out.rds")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out.rds").read_bytes() == data
    decoded = codec.decompress(data)
    assert decoded.shape == (1000, 28, 28, 1) and decoded.dtype == np.uint8
    r = run_tool("decompress", tmp_path / "out.rds", "-m", exported, "-o", tmp_path / "out.npy")
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), decoded[..., 0])


def test_the_chain_step_by_step(exported, test_digits):
    codec = rdsweep.load(exported)
    symbols = codec.encode(test_digits[:50])
    strings = codec.strings(symbols)
    decoded = codec.decode_strings(strings)
    np.testing.assert_array_equal(decoded["y"], symbols["y"])
    info = codec.info_bits(symbols)["y"]
    assert np.all(8 * np.array([len(s) for s in strings]) >= info - 8)  # whole bytes around the information
    np.testing.assert_array_equal(codec.decode(decoded), codec.decompress(codec.compress(test_digits[:50])))


def test_a_run_directory_loads_like_its_export(trained_run, exported, test_digits):
    assert rdsweep.load(trained_run).compress(test_digits[:20]) == rdsweep.load(exported).compress(test_digits[:20])


def test_images_of_the_wrong_shape_or_type_are_refused(exported):
    codec = rdsweep.load(exported)
    for bad in (np.zeros((2, 28, 28, 3), np.uint8), np.zeros((2, 28, 28), np.float32), np.zeros((28, 28), np.uint8)):
        with pytest.raises(RdsweepError, match="expected uint8 images of shape"):
            codec.compress(bad)
    assert codec.decompress(codec.compress(np.zeros((0, 28, 28), np.uint8))).shape == (0, 28, 28, 1)
