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
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), decoded)  # the same array, shape included


def test_the_command_line_takes_a_run_directory_as_the_api_does(trained_run, exported, test_digits, tmp_path):
    np.save(tmp_path / "in.npy", test_digits[:30])
    r = run_tool("compress", tmp_path / "in.npy", "-m", trained_run, "-o", tmp_path / "a.rds")
    assert r.returncode == 0 and "compressed 30 images" in r.stdout, r.stderr
    assert (tmp_path / "a.rds").read_bytes() == rdsweep.load(exported).compress(test_digits[:30])
    r = run_tool("decompress", tmp_path / "a.rds", "-m", trained_run, "-o", tmp_path / "a.npy")
    assert r.returncode == 0, r.stderr
    np.save(tmp_path / "one.npy", test_digits[:1])
    r = run_tool("compress", tmp_path / "one.npy", "-m", trained_run, "-o", tmp_path / "one.rds")
    assert "compressed 1 image " in r.stdout, r.stdout


def test_the_readme_python_snippet_runs_as_written(exported, test_digits, tmp_path, monkeypatch):
    from tests.conftest import ROOT

    text = (ROOT / "README.md").read_text()
    snippet = text.split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "model.rdsm").write_bytes(exported.read_bytes())
    np.save(tmp_path / "digits.npy", test_digits[:20, ..., 0])
    monkeypatch.chdir(tmp_path)
    scope = {}
    exec(compile(snippet, "README.md", "exec"), scope)  # noqa: S102 - the README's own example
    np.testing.assert_array_equal(scope["decoded"], rdsweep.load(exported).decompress(scope["data"]))


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
    with pytest.raises(RdsweepError, match="no images to compress"):  # as the command line: no 0-image files
        codec.compress(np.zeros((0, 28, 28), np.uint8))
