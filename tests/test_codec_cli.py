"""`rdsweep export / compress / decompress`: exact round trips across processes, and every failure mode."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from rdsweep import container
from rdsweep.data import read_idx_images
from rdsweep.errors import RdsweepError
from rdsweep.evaluate import batched, make_transforms
from rdsweep.export import load_model
from tests.conftest import run_tool


@pytest.fixture(scope="module")
def exported(trained_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "model.rdsm"
    r = run_tool("export", trained_run, "-o", out)
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture(scope="module")
def test_digits(mnist_dir):
    return read_idx_images(mnist_dir / "t10k-images-idx3-ubyte.gz")


def expected_reconstruction(model_path, images):
    """What decoding must give: analysis -> quantize -> dequantize -> synthesis, computed in this process."""
    m = load_model(model_path)
    analysis, synthesis = make_transforms(m.model, m.params)
    q = m.codec.quantize(batched(analysis, images, 1000))
    return q, batched(synthesis, m.codec.dequantize(q), 1000)


def roundtrip(exported, images, tmp_path):
    np.save(tmp_path / "in.npy", images)
    r = run_tool("compress", tmp_path / "in.npy", "-m", exported, "-o", tmp_path / "out.rds")
    assert r.returncode == 0, r.stderr
    r = run_tool("decompress", tmp_path / "out.rds", "-m", exported, "-o", tmp_path / "out.npy")
    assert r.returncode == 0, r.stderr
    q, expected = expected_reconstruction(exported, images)
    decoded = np.load(tmp_path / "out.npy")
    mismatches = int(np.any(decoded != expected, axis=(1, 2)).sum())
    size = (tmp_path / "out.rds").stat().st_size
    m = load_model(exported)
    return mismatches, size, m.codec.info_bits(q).sum()


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
        Image.fromarray(test_digits[i], mode="L").save(src / f"d{i}.png")
    assert run_tool("compress", src, "-m", exported, "-o", tmp_path / "a.rds").returncode == 0
    assert run_tool("compress", src / "d0.png", "-m", exported, "-o", tmp_path / "b.rds").returncode == 0
    r = run_tool("decompress", tmp_path / "a.rds", "-m", exported, "-o", tmp_path / "outdir")
    assert r.returncode == 0, r.stderr
    decoded = [np.asarray(Image.open(p)) for p in sorted((tmp_path / "outdir").iterdir())]
    np.testing.assert_array_equal(np.stack(decoded), expected_reconstruction(exported, test_digits[:3])[1])


@pytest.mark.parametrize("make,message", [
    (lambda p: Image.new("L", (32, 32)).save(p / "x.png"), "expected an 8-bit grayscale 28x28 PNG, got mode L 32x32"),
    (lambda p: Image.new("RGB", (28, 28)).save(p / "x.png"), "got mode RGB"),
    (lambda p: np.save(p / "x.npy", np.zeros((2, 28, 28), np.float32)), "expected uint8 of shape (N, 28, 28)"),
    (lambda p: np.save(p / "x.npy", np.zeros((2, 27, 28), np.uint8)), "got uint8 (2, 27, 28)"),
    (lambda p: (p / "x.txt").write_text("hi"), "give a .npy, a .png or a directory"),
])
def test_bad_inputs_name_the_file_and_the_expected_shape(exported, tmp_path, make, message):
    make(tmp_path)
    src = next(tmp_path.iterdir())
    r = run_tool("compress", src, "-m", exported, "-o", tmp_path / "out.rds")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith("rdsweep: error: ") and message in r.stderr and str(src) in r.stderr
    assert not (tmp_path / "out.rds").exists()


@pytest.fixture(scope="module")
def valid_file(exported, test_digits):
    m = load_model(exported)
    analysis, _ = make_transforms(m.model, m.params)
    q = m.codec.quantize(batched(analysis, test_digits[:20], 1000))
    return m, q, container.pack(q, m.codec, m.fingerprint)


def test_valid_file_unpacks(valid_file):
    m, q, data = valid_file
    np.testing.assert_array_equal(container.unpack(data, m.codec, m.fingerprint), q)


def test_every_truncation_is_a_clear_error(valid_file):
    m, _, data = valid_file
    for n in range(len(data)):
        with pytest.raises(RdsweepError):
            container.unpack(data[:n], m.codec, m.fingerprint)
    print(f"{len(data)} truncations: all refused")


def test_every_single_bit_flip_is_a_clear_error(valid_file):
    m, _, data = valid_file
    for i in range(8 * len(data)):
        bad = bytearray(data)
        bad[i // 8] ^= 1 << (i % 8)
        with pytest.raises(RdsweepError):
            container.unpack(bytes(bad), m.codec, m.fingerprint)
    print(f"{8 * len(data)} single-bit flips: all refused")


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=200), st.booleans())
def test_random_bytes_never_crash(valid_file, blob, with_magic):
    m, _, data = valid_file
    blob = (data[:33] + blob) if with_magic else blob
    with pytest.raises(RdsweepError):
        container.unpack(blob, m.codec, m.fingerprint)


def with_version(data: bytes, version: int, payload: bytes | None = None) -> bytes:
    """data (a valid .rds) with another version byte (and payload), its length and CRC made valid again."""
    import struct
    import zlib
    head = bytearray(data[:33])
    head[4] = version
    if payload is not None:
        head[29:33] = struct.pack(">I", len(payload))
    body = bytes(head) + (data[33:-4] if payload is None else payload)
    return body + struct.pack(">I", zlib.crc32(body))


def test_wrong_model_and_wrong_version(valid_file):
    m, q, data = valid_file
    with pytest.raises(RdsweepError, match="another model"):
        container.unpack(data, m.codec, bytes(16))
    with pytest.raises(RdsweepError, match="format version 3 is not supported"):
        container.unpack(with_version(data, 3), m.codec, m.fingerprint)


def test_version_1_files_range_coded_still_decode(valid_file):
    m, q, data = valid_file
    v1 = with_version(data, 1, m.codec.encode_range_stream(q))
    np.testing.assert_array_equal(container.unpack(v1, m.codec, m.fingerprint), q)
    with pytest.raises(RdsweepError, match="corrupted stream"):  # a v1 payload is not a v2 one
        container.unpack(with_version(v1, 2), m.codec, m.fingerprint)


def test_cli_corrupt_file_leaves_no_output(exported, valid_file, tmp_path):
    _, _, data = valid_file
    (tmp_path / "bad.rds").write_bytes(data[:-3])
    r = run_tool("decompress", tmp_path / "bad.rds", "-m", exported, "-o", tmp_path / "out.npy")
    assert r.returncode == 1 and r.stderr.startswith("rdsweep: error: ") and "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == [tmp_path / "bad.rds"]
    corrupt_model = tmp_path / "m.rdsm"
    raw = bytearray(exported.read_bytes())
    raw[-10] ^= 1
    corrupt_model.write_bytes(bytes(raw))
    r = run_tool("decompress", tmp_path / "bad.rds", "-m", corrupt_model, "-o", tmp_path / "out.npy")
    assert r.returncode == 1 and "model file is corrupted" in r.stderr


def test_unwritable_output_and_missing_model_are_one_line_errors(exported, tmp_path):
    np.save(tmp_path / "in.npy", np.zeros((2, 28, 28), np.uint8))
    r = run_tool("compress", tmp_path / "in.npy", "-m", exported, "-o", tmp_path / "no" / "such" / "out.rds")
    assert r.returncode == 1 and r.stderr.startswith("rdsweep: error: ") and "Traceback" not in r.stderr
    r = run_tool("compress", tmp_path / "in.npy", "-m", tmp_path / "missing.rdsm", "-o", tmp_path / "out.rds")
    assert r.returncode == 1 and "cannot read model" in r.stderr and not (tmp_path / "out.rds").exists()


def test_export_takes_the_runs_stored_tables(trained_run, tmp_path):
    """The .rdsm carries the tables the run was evaluated with (codec.npz), never a recomputation."""
    import shutil

    from rdsweep.codec import FactorizedCodec
    from rdsweep.export import export_run

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    codec = FactorizedCodec.from_npz(run / "codec.npz")
    counts = codec.counts.copy()
    counts[0, [0, 1]] = counts[0, [1, 0]]  # still a valid table, but not what the prior would give
    (run / "codec.npz").write_bytes(FactorizedCodec(codec.offset, codec.lo, counts).to_npz())
    np.testing.assert_array_equal(export_run(run, tmp_path / "m.rdsm").codec.counts, counts)
    np.testing.assert_array_equal(load_model(tmp_path / "m.rdsm").codec.counts, counts)
