"""Image files for the codec: .npy, PNG, directories; declared sizes checked before reading."""
import numpy as np
import pytest
from PIL import Image

from rdsweep.data.images import read_images, read_npy, write_images
from rdsweep.errors import RdsweepError

SHAPE = (28, 28, 1)


def npy_with_header(path, shape, data=b""):
    """A .npy file whose header declares ``shape`` (uint8), followed by ``data``."""
    import io
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|u1", "fortran_order": False, "shape": shape})
    path.write_bytes(buf.getvalue() + data)


@pytest.mark.parametrize("make,message", [
    (lambda p: Image.new("L", (32, 32)).save(p / "x.png"), "expected an 8-bit grayscale 28x28 PNG, got PNG mode L 32x32"),
    (lambda p: Image.new("RGB", (28, 28)).save(p / "x.png"), "got PNG mode RGB"),
    (lambda p: Image.new("L", (28, 28)).save(p / "x.png", format="JPEG"), "got JPEG"),
    (lambda p: np.save(p / "x.npy", np.zeros((2, 28, 28), np.float32)), "expected uint8 images, got float32"),
    (lambda p: np.save(p / "x.npy", np.zeros((2, 27, 28), np.uint8)), "got uint8 (2, 27, 28)"),
    (lambda p: (p / "x.npy").write_bytes(b""), "not a readable .npy file"),
    (lambda p: npy_with_header(p / "x.npy", (10**11, 28, 28)), "header declares"),
    (lambda p: npy_with_header(p / "x.npy", (3, 28, 28), bytes(100)), "holds 100 bytes"),
    (lambda p: (p / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(20)), "not a readable PNG"),
    (lambda p: (p / "x.txt").write_text("hi"), "give a .npy, a .png or a directory"),
])
def test_bad_inputs_name_the_file_and_what_was_expected(tmp_path, make, message):
    make(tmp_path)
    src = next(tmp_path.iterdir())
    with pytest.raises(RdsweepError, match=message.replace("(", r"\(").replace(")", r"\)")) as e:
        read_images(src, SHAPE)
    assert str(src) in str(e.value)


def test_a_huge_png_header_is_refused_before_decoding(tmp_path):
    import struct
    import zlib
    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))  # noqa: E731
    (tmp_path / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    with pytest.raises(RdsweepError, match="20000x20000|not a readable PNG"):
        read_images(tmp_path / "x.png", SHAPE)


def test_a_directory_entry_named_like_a_png_is_not_silently_skipped(tmp_path):
    Image.new("L", (28, 28)).save(tmp_path / "a.png")
    (tmp_path / "sub.png").mkdir()
    Image.new("L", (28, 28)).save(tmp_path / "sub.png" / "b.png")
    with pytest.raises(RdsweepError, match="sub.png: is not a regular file"):
        read_images(tmp_path, SHAPE)


@pytest.mark.parametrize("shape", [(28, 28, 1), (8, 12, 3)])
def test_npy_and_png_directories_round_trip(tmp_path, shape):
    images = np.random.default_rng(0).integers(0, 256, (3, *shape)).astype(np.uint8)
    write_images(images, tmp_path / "out.npy")
    write_images(images, tmp_path / "pngs")
    write_images(images, tmp_path / "named", names=["b.png", "a.png", "c.png"])
    got, names = read_images(tmp_path / "out.npy", shape)
    np.testing.assert_array_equal(got, images)
    assert names is None and read_npy(tmp_path / "out.npy").shape == (3, *shape)  # what the Python API gives
    got, names = read_images(tmp_path / "pngs", shape)
    np.testing.assert_array_equal(got, images)
    assert names == ["00000.png", "00001.png", "00002.png"]
    got, names = read_images(tmp_path / "named", shape)  # sorted by name
    np.testing.assert_array_equal(got, images[[1, 0, 2]])
    assert names == ["a.png", "b.png", "c.png"]
