"""IDX files (the MNIST format) of uint8 images: read with every size checked, and written (tests, tools).

Header: magic ``0x0000080<d>`` (uint8 data, d dimensions), then d big-endian u32 sizes. Images are files
of 3 dimensions (N, H, W) or 4 (N, H, W, C); optionally gzipped. Every declared size is checked, in Python
integers (no 32-bit wrap), against sane limits and against the bytes actually present before anything is
allocated; a gzip file is inflated only up to the size its header declares (no gzip bombs).
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


def read_idx_images(path) -> np.ndarray:
    """uint8 (N, H, W, C) from an IDX file (gzipped if its name ends in .gz); clear error on anything wrong."""
    path = Path(path)
    gz = path.suffix == ".gz"
    try:
        with (gzip.open if gz else open)(path, "rb") as f:
            raw = bytearray(f.read(20))
            size, shape = _declared(path, bytes(raw))
            expected = size + math.prod(shape)
            if not gz and path.stat().st_size != expected:
                raise _size_error(path, shape, expected, path.stat().st_size)
            while len(raw) <= expected:  # up to one byte more than declared: detects trailing data
                chunk = f.read(min(_CHUNK, expected + 1 - len(raw)))
                if not chunk:
                    break
                raw += chunk
    except (OSError, EOFError, zlib.error) as e:  # includes gzip.BadGzipFile and truncated gzip streams
        raise RdsweepError(f"cannot read IDX file {path}: {e}") from None
    if len(raw) != expected:
        raise _size_error(path, shape, expected, "more" if len(raw) > expected else len(raw))
    if shape[0] == 0:
        raise RdsweepError(f"{path}: holds no images")
    return np.frombuffer(raw, dtype=np.uint8, offset=size).reshape(shape)


def write_idx_images(path, images: np.ndarray) -> None:
    """uint8 (N, H, W) or (N, H, W, C) -> an IDX file (gzipped if the name ends in .gz)."""
    images = np.ascontiguousarray(images, np.uint8)
    buf = io.BytesIO()
    buf.write(bytes([0, 0, 8, images.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in images.shape))
    buf.write(images.tobytes())
    (gzip.open if str(path).endswith(".gz") else open)(path, "wb").write(buf.getvalue())
