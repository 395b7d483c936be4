"""`rdsweep export / compress / decompress`: exact round trips across processes, and every failure mode."""
import argparse
import os

import numpy as np
import pytest
from PIL import Image

import rdsweep
from rdsweep.cli import rdo_rounds
from tests.conftest import one_error_line, run_tool


def roundtrip(exported, images, tmp_path):
    np.save(tmp_path / "in.npy", images[..., 0])
    r = run_tool("compress", tmp_path / "in.npy", "-m", exported, "-o", tmp_path / "out.rds")
    assert r.returncode == 0, r.stderr
    r = run_tool("decompress", tmp_path / "out.rds", "-m", exported, "-o", tmp_path / "out.npy")
    assert r.returncode == 0, r.stderr
    codec = rdsweep.load(exported)  # what decoding must give, computed in this (a third) process
    symbols = codec.encode(images)
    expected = codec.decode(symbols)
    mismatches = int(np.any(np.load(tmp_path / "out.npy") != expected, axis=(1, 2, 3)).sum())
    return mismatches, (tmp_path / "out.rds").stat().st_size, codec.info_bits(symbols)["y"].sum()


def test_roundtrip_500_digits_in_separate_processes(exported, test_digits, tmp_path):
    mismatches, size, info = roundtrip(exported, test_digits[:500], tmp_path)
    assert mismatches == 0
    assert info / 8 <= size <= info / 8 * 1.001 + 64  # one stream: header + a few bytes over the information


@pytest.mark.slow
def test_roundtrip_all_10k_test_digits(exported, test_digits, tmp_path):
    mismatches, size, info = roundtrip(exported, test_digits, tmp_path)
    print(f"10k digits: {size} bytes, information content {info / 8:.0f} bytes")
    assert mismatches == 0


def test_png_and_directory_inputs_and_outputs(exported, test_digits, tmp_path):
    src = tmp_path / "pngs"
    src.mkdir()
    for i in range(3):
        Image.fromarray(test_digits[i, ..., 0]).save(src / f"d{i}.png")
    assert run_tool("compress", src, "-m", exported, "-o", tmp_path / "a.rds").returncode == 0
    assert run_tool("compress", src / "d0.png", "-m", exported, "-o", tmp_path / "b.rds").returncode == 0
    r = run_tool("decompress", tmp_path / "a.rds", "-m", exported, "-o", tmp_path / "outdir")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "outdir").iterdir()) == ["d0.png", "d1.png", "d2.png"]  # names kept
    decoded = np.stack([np.asarray(Image.open(p)) for p in sorted((tmp_path / "outdir").iterdir())])
    codec = rdsweep.load(exported)
    np.testing.assert_array_equal(decoded, codec.decode(codec.encode(test_digits[:3]))[..., 0])
    assert oct((tmp_path / "outdir").stat().st_mode & 0o777) != oct(0o700)


def test_bad_input_is_one_line_naming_the_file(exported, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 27, 28), np.uint8))
    r = run_tool("compress", tmp_path / "x.npy", "-m", exported, "-o", tmp_path / "out.rds")
    one_error_line(r, f"{tmp_path / 'x.npy'}: expected uint8 of shape (N, 28, 28) or (28, 28), got uint8 (2, 27, 28)")
    assert not (tmp_path / "out.rds").exists()


def test_corrupt_file_or_model_leaves_no_output(exported, test_digits, tmp_path):
    data = rdsweep.load(exported).compress(test_digits[:10])
    (tmp_path / "bad.rds").write_bytes(data[:-3])
    r = run_tool("decompress", tmp_path / "bad.rds", "-m", exported, "-o", tmp_path / "out.npy")
    one_error_line(r, "truncated or padded file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.rds"]
    raw = bytearray(exported.read_bytes())
    raw[-10] ^= 1
    (tmp_path / "m.rdsm").write_bytes(bytes(raw))
    r = run_tool("decompress", tmp_path / "bad.rds", "-m", tmp_path / "m.rdsm", "-o", tmp_path / "out.npy")
    one_error_line(r, "model file is corrupted")


def test_outputs_follow_one_rule(exported, test_digits, tmp_path):
    np.save(tmp_path / "d.npy", test_digits[:5, ..., 0])
    before = (tmp_path / "d.npy").read_bytes()
    one_error_line(run_tool("compress", tmp_path / "d.npy", "-m", exported, "-o", tmp_path / "d.npy"),
                   "is an input of this command")
    assert (tmp_path / "d.npy").read_bytes() == before
    os.mkfifo(tmp_path / "fifo")
    one_error_line(run_tool("compress", tmp_path / "d.npy", "-m", exported, "-o", tmp_path / "fifo"),
                   "not a regular file or directory")
    one_error_line(run_tool("compress", tmp_path / "d.npy", "-m", exported, "-o", "/dev/null"),
                   "not a regular file or directory")
    assert (tmp_path / "fifo").exists() and not (tmp_path / "fifo").is_file()
    assert run_tool("compress", tmp_path / "d.npy", "-m", exported, "-o", tmp_path / "d.rds").returncode == 0
    assert run_tool("decompress", tmp_path / "d.rds", "-m", exported, "-o", tmp_path / "o.npy").returncode == 0
    for out in ("o.npy", "d.rds"):
        args = ("decompress", tmp_path / "d.rds") if out == "o.npy" else ("compress", tmp_path / "d.npy")
        one_error_line(run_tool(*args, "-m", exported, "-o", tmp_path / out), "exists (use --force")
        assert run_tool(*args, "-m", exported, "-o", tmp_path / out, "--force").returncode == 0
    one_error_line(run_tool("export", exported.parent, "-o", tmp_path / "m.rdsm"), "not an rdsweep run directory")


def test_unwritable_output_and_missing_model_are_one_line(exported, tmp_path):
    np.save(tmp_path / "in.npy", np.zeros((2, 28, 28), np.uint8))
    r = run_tool("compress", tmp_path / "in.npy", "-m", exported, "-o", tmp_path / "no" / "such" / "out.rds")
    one_error_line(r, f"cannot write {tmp_path / 'no' / 'such' / 'out.rds'}")
    r = run_tool("compress", tmp_path / "in.npy", "-m", tmp_path / "missing.rdsm", "-o", tmp_path / "out.rds")
    one_error_line(r, "cannot read model")
    assert not (tmp_path / "out.rds").exists()


def test_help_and_version():
    r = run_tool("compress", "--help")
    assert r.returncode == 0 and "the model file (.rdsm" in r.stdout and "--force" in r.stdout
    r = run_tool("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"rdsweep {rdsweep.__version__}"


def test_export_takes_the_runs_stored_tables(trained_run, tmp_path):
    """The .rdsm carries the tables the run was evaluated with (codec.npz), never a recomputation."""
    import shutil

    from rdsweep.experiment.rundir import read_tables, tables_bytes

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    tables = read_tables(run / "codec.npz")
    counts = tables["y"]["counts"].copy()
    counts[0, [0, 1]] = counts[0, [1, 0]]  # still a valid table, but not what the prior would give
    (run / "codec.npz").write_bytes(tables_bytes({"y": {**tables["y"], "counts": counts}}))
    assert run_tool("export", run, "-o", tmp_path / "m.rdsm").returncode == 0
    np.testing.assert_array_equal(rdsweep.load(tmp_path / "m.rdsm").model.entropy["y"].tables.counts, counts)


def test_info_tells_what_a_model_file_and_a_compressed_file_hold(exported, trained_run, test_digits, tmp_path):
    import json

    r = run_tool("info", exported)
    assert r.returncode == 0, r.stderr
    made = json.loads((trained_run / "metrics.json").read_text())["provenance"]
    for text in ("rdsweep model file (.rdsm)", "valid", "yes", "latent_dims / shape", "50 / [28, 28, 1]",
                 "lmbda 500.0", "analysis 1,276,120", "coding tables"):
        assert text in r.stdout, (text, r.stdout)
    assert [ln.split() for ln in r.stdout.splitlines() if ln.startswith("made with jax ")] == \
        [["made", "with", "jax", made["jax"]]]
    assert rdsweep.load(exported).meta["provenance"] == made  # the training run's, carried into the model file
    data = rdsweep.load(exported).compress(test_digits[:7], names=[f"{i}.png" for i in range(7)])
    (tmp_path / "x.rds").write_bytes(data)
    r = run_tool("info", tmp_path / "x.rds")
    assert r.returncode == 0, r.stderr
    for text in ("compressed file (.rds) version 4", "7 of 28x28x1", rdsweep.load(exported).fingerprint.hex(),
                 "names", "0.png, 1.png, 2.png, ..."):
        assert text in r.stdout, (text, r.stdout)
    (tmp_path / "junk").write_bytes(b"hello")
    one_error_line(run_tool("info", tmp_path / "junk"), "neither a model file (.rdsm) nor a compressed file")


def test_compress_with_the_encoders_search_decodes_what_the_search_chose(exported, test_digits, tmp_path):
    images = test_digits[:60]
    np.save(tmp_path / "in.npy", images[..., 0])
    r = run_tool("compress", tmp_path / "in.npy", "-m", exported, "-o", tmp_path / "rdo.rds", "--rdo", "2")
    assert r.returncode == 0, r.stderr
    r = run_tool("decompress", tmp_path / "rdo.rds", "-m", exported, "-o", tmp_path / "out.npy")
    assert r.returncode == 0, r.stderr
    codec = rdsweep.load(exported)
    plain = codec.encode(images)
    searched, stats = codec.search(images, plain, 2)
    assert stats["rdo_moves"] > 0 and stats["rdo_loss_after"] < stats["rdo_loss_before"]
    assert np.array_equal(np.load(tmp_path / "out.npy"), codec.decode(searched))
    r = run_tool("compress", tmp_path / "in.npy", "-m", exported, "-o", tmp_path / "bad.rds", "--rdo", "101")
    assert r.returncode == 2 and "--rdo: must be a whole number of rounds 0..100, not '101'" in r.stderr
    assert not (tmp_path / "bad.rds").exists()
    for bad in ("-1", "two", "1.5", ""):
        with pytest.raises(argparse.ArgumentTypeError, match="whole number of rounds"):
            rdo_rounds(bad)
