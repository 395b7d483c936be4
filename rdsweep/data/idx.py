"""IDX files (the MNIST format) of uint8 images: read with every size checked, and written (tests, tools).

Header: magic ``0x0000080<d>`` (uint8 data, d dimensions), then d big-endian u32 sizes. Images are files
of 3 dimensions (N, H, W) or 4 (N, H, W, C); optionally gzipped. Every declared size is checked, in Python
integers (no 32-bit wrap), against sane limits and against the bytes actually present before anything is
allocated; a gzip file is inflated, keeping nothing, up to one byte past the size its header declares
(no gzip bombs), and only then read into the array.
"""
from __future__ import annotations

import gzip
import io
import math
import zlib
from pathlib import Path

import numpy as np

from rdsweep.errors import RdsweepError

MAX_IMAGE_SIDE = 4096
MAX_BYTES = 1 << 30  # 1 GiB of pixels per file
_CHUNK = 1 << 24


def _declared(path, head: bytes) -> tuple:
    if len(head) < 4:
        raise RdsweepError(f"{path}: not an IDX image file (expected a header, got {len(head)} bytes)")
    zero, kind, ndim = int.from_bytes(head[:2], "big"), head[2], head[3]
    if zero != 0 or kind != 0x08 or ndim not in (3, 4):
        raise RdsweepError(f"{path}: bad magic number 0x{int.from_bytes(head[:4], 'big'):08x} (expected "
                           "0x00000803 or 0x00000804: uint8 images of 3 or 4 dimensions)")
    if len(head) < 4 + 4 * ndim:
        raise RdsweepError(f"{path}: truncated IDX header ({len(head)} bytes, expected {4 + 4 * ndim})")
    dims = tuple(int.from_bytes(head[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    n, h, w, c = (*dims, 1) if ndim == 3 else dims
    if not (1 <= h <= MAX_IMAGE_SIDE and 1 <= w <= MAX_IMAGE_SIDE and c in (1, 3)):
        raise RdsweepError(f"{path}: images of {h}x{w}x{c}; expected sides 1..{MAX_IMAGE_SIDE} and 1 or 3 channels")
    if math.prod((n, h, w, c)) > MAX_BYTES:
        raise RdsweepError(f"{path}: header declares {n} images of {h}x{w}x{c}, more than {MAX_BYTES} bytes")
    return 4 + 4 * ndim, (n, h, w, c)


def _size_error(path, shape, expected, actual) -> RdsweepError:
    return RdsweepError(f"{path}: header says {shape[0]} images of {'x'.join(map(str, shape[1:]))} "
                        f"({expected} bytes) but the file has {actual} bytes")


def _read_into(f, out: np.ndarray) -> int:
    """Fill the flat uint8 array ``out`` from f; the number of bytes read (less at the end of the file)."""
    view, filled = memoryview(out), 0
    while filled < len(out):
        n = f.readinto(view[filled: filled + _CHUNK])
        if not n:
            break
        filled += n
    return filled


def idx_image_shape(path) -> tuple:
    """(H, W, C) of an IDX image file from its header alone (gzipped if its name ends in .gz)."""
    path = Path(path)
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
            return _declared(path, f.read(20))[1][1:]
    except (OSError, EOFError, zlib.error) as e:
        raise RdsweepError(f"cannot read IDX file {path}: {e}") from None


def read_idx_images(path) -> np.ndarray:
    """uint8 (N, H, W, C) from an IDX file (gzipped if its name ends in .gz); clear error on anything wrong.

    Nothing is allocated before the sizes agree: a plain file's size is its stat; a gzip stream is inflated once
    without keeping anything (at most one byte past the declared size: a gzip bomb costs time, never memory),
    then once more into the one array the images are returned in."""
    path = Path(path)
    gz = path.suffix == ".gz"
    try:
        with (gzip.open if gz else open)(path, "rb") as f:
            size, shape = _declared(path, f.read(20))
            expected = size + math.prod(shape)
            if not gz and path.stat().st_size != expected:
                raise _size_error(path, shape, expected, path.stat().st_size)
            if gz:
                f.seek(0)
                total = 0
                while total <= expected:  # up to one byte more than declared: detects trailing data
                    chunk = f.read(min(_CHUNK, expected + 1 - total))
                    if not chunk:
                        break
                    total += len(chunk)
                if total != expected:
                    raise _size_error(path, shape, expected, "more" if total > expected else total)
            if shape[0] == 0:
                raise RdsweepError(f"{path}: holds no images")
            f.seek(size)
            images = np.empty(expected - size, np.uint8)
            got = _read_into(f, images)
            if got != len(images) or (not gz and f.read(1)):  # changed while being read
                raise _size_error(path, shape, expected, size + got)
    except (OSError, EOFError, zlib.error) as e:  # includes gzip.BadGzipFile and truncated gzip streams
        raise RdsweepError(f"cannot read IDX file {path}: {e}") from None
    return images.reshape(shape)


def write_idx_images(path, images: np.ndarray) -> None:
    """uint8 (N, H, W) or (N, H, W, C) -> an IDX file (gzipped if the name ends in .gz)."""
    images = np.ascontiguousarray(images, np.uint8)
    buf = io.BytesIO()
    buf.write(bytes([0, 0, 8, images.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in images.shape))
    buf.write(images.tobytes())
    (gzip.open if str(path).endswith(".gz") else open)(path, "wb").write(buf.getvalue())
