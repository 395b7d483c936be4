"""Images as files: uint8 .npy arrays, 8-bit PNGs, directories of PNGs (the codec CLI's inputs and outputs).

Every declared size (a .npy header's shape, a PNG's width and height) is checked against the bytes present
and against ``MAX_BYTES`` before pixel data is read; anything else gets one line naming the file.
"""
from __future__ import annotations

import io
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from rdsweep.errors import RdsweepError
from rdsweep.files import atomic_write_bytes, write_directory

MAX_BYTES = 1 << 30
_PNG_MODES = {1: "L", 3: "RGB"}


_NPY_HEADERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def read_npy(path, header_only: bool = False):
    """A uint8 .npy array of 2 to 4 dimensions, its header checked before its data is read (``header_only``:
    its shape, nothing else read)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version not in _NPY_HEADERS:
                raise RdsweepError(f"{path}: .npy format version {version[0]}.{version[1]} is not supported "
                                   "(this reads 1.0 and 2.0)")
            shape, fortran, dtype = _NPY_HEADERS[version](f, max_header_size=10000)
            offset = f.tell()
            size = path.stat().st_size
            if dtype != np.uint8 or not 2 <= len(shape) <= 4:
                raise RdsweepError(f"{path}: expected uint8 images, got {dtype} {shape}")
            if not all(type(d) is int and d >= 0 for d in shape):  # noqa: E721 - not a bool, nor negative
                raise RdsweepError(f"{path}: header declares an invalid shape {shape}")
            if math.prod(shape) > MAX_BYTES or offset + math.prod(shape) != size:
                raise RdsweepError(f"{path}: header declares {dtype} {shape} ({math.prod(shape)} bytes) but the "
                                   f"file holds {size - offset} bytes of data")
            if header_only:
                return tuple(shape)
            a = np.empty(math.prod(shape), np.uint8)  # read into place: no bytes object beside it
            view, done = memoryview(a), 0
            while done < len(a):
                got = f.readinto(view[done:])
                if not got:
                    raise RdsweepError(f"{path}: ends before the {len(a)} bytes of data its header declares")
                done += got
            a = a.reshape(shape, order="F" if fortran else "C")
    except (RdsweepError, MemoryError):
        raise
    except Exception as e:  # noqa: BLE001 - numpy's header parser raises many kinds (tokenize errors, ...)
        raise RdsweepError(f"{path}: not a readable .npy file ({e})") from None
    return np.ascontiguousarray(a)


def as_batch(a: np.ndarray, shape=None, where="") -> np.ndarray:
    """An array of images -> (N, H, W, C). Without ``shape``: (N, H, W) or (N, H, W, C). With the expected
    (H, W, C): also a single image, and (N, H, W) / (H, W) when C is 1."""
    if shape is None:
        if a.ndim in (3, 4) and (a.ndim == 3 or a.shape[3] in (1, 3)):
            return a[..., None] if a.ndim == 3 else a
        raise RdsweepError(f"{where}: expected images (N, H, W) or (N, H, W, C) with 1 or 3 channels, got {a.shape}")
    H, W, C = shape
    if a.shape[-3:] == (H, W, C) and a.ndim in (3, 4):
        return a.reshape(-1, H, W, C)
    if C == 1 and a.shape[-2:] == (H, W) and a.ndim in (2, 3):
        return a.reshape(-1, H, W, 1)
    one = f"({H}, {W})" if C == 1 else f"({H}, {W}, {C})"
    raise RdsweepError(f"{where}: expected uint8 of shape (N, {H}, {W}{', ' + str(C) if C > 1 else ''}) or {one}, "
                       f"got {a.dtype} {a.shape}")


_ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_ANIMATION = {b"acTL", b"fcTL", b"fdAT"}  # APNG: frames beyond the first


def _png_error(path) -> str | None:
    """Why a file is not one valid, still, 8-bit grey or RGB PNG, or None: every chunk's CRC, the header's fields,
    IHDR first and IEND last (nothing after it), consecutive IDAT chunks whose data inflates to exactly what
    the header declares (PIL fills missing rows with zeros and ignores extra data without a word), no
    animation. Read in pieces: nothing is inflated beyond one byte past the declared size."""
    with open(path, "rb") as f:
        if f.read(8) != _SIGNATURE:
            return "does not start with the PNG signature"
        inflate, expected, total, first, idat = zlib.decompressobj(), None, 0, True, "none"
        while True:
            head = f.read(8)
            if len(head) < 8:
                return "ends before its IEND chunk"
            n, kind = struct.unpack(">I4s", head)
            if n > (1 << 31) - 1 or (first and (kind != b"IHDR" or n != 13)):
                return "does not start with a 13-byte IHDR chunk" if first else "has a chunk longer than PNG allows"
            if kind in _ANIMATION:
                return "is an animated PNG (frames beyond the first)"
            if kind == b"IHDR" and not first:
                return "has a second IHDR chunk"
            idat = "after" if idat == "in" and kind != b"IDAT" else idat
            if kind == b"IDAT":
                if idat == "after":
                    return "has IDAT chunks that are not consecutive"
                idat = "in"
            crc, left = zlib.crc32(kind), n
            while left > 0:
                piece = f.read(min(left, 1 << 16))
                if not piece:
                    return f"ends inside its {kind.decode('latin-1')!r} chunk"
                crc, left = zlib.crc32(piece, crc), left - len(piece)
                if kind == b"IHDR":
                    w, h, depth, ctype, comp, filt, interlace = struct.unpack(">IIBBBBB", piece)
                    if depth != 8 or ctype not in (0, 2) or comp or filt or interlace > 1:
                        return (f"has header fields this reader does not take (bit depth {depth}, colour type "
                                f"{ctype}, compression {comp}, filter {filt}, interlace {interlace})")
                    bits = 8 * (1 if ctype == 0 else 3)
                    rows = lambda w, h: h * (1 + (w * bits + 7) // 8) if w and h else 0  # noqa: E731
                    expected = rows(w, h) if not interlace else sum(
                        rows((w - x + dx - 1) // dx if w > x else 0, (h - y + dy - 1) // dy if h > y else 0)
                        for x, y, dx, dy in _ADAM7)
                elif kind == b"IDAT":
                    total += len(inflate.decompress(piece, expected + 1 - total))
                    if inflate.unconsumed_tail or total > expected:
                        return f"holds more image data than its {w}x{h} header declares"
                    if inflate.unused_data:
                        return "has bytes after the end of its image data's zlib stream"
            if f.read(4) != struct.pack(">I", crc & 0xFFFFFFFF):
                return f"has a corrupt {kind.decode('latin-1')!r} chunk (CRC mismatch)"
            first = False
            if kind == b"IEND":
                break
        if f.read(1):
            return "has data after its IEND chunk"
    if total < expected or not inflate.eof:
        return f"holds {total} of the {expected} bytes of image data its header declares (rows missing)"
    return None


def read_png(path, shape) -> np.ndarray:
    """One 8-bit PNG of the expected (H, W, C) as (1, H, W, C); size and mode checked before decoding, and the
    image data checked to be exactly what the header declares."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    H, W, C = shape
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the size is checked just below
            im = Image.open(path)
        with im:
            if im.format != "PNG" or im.mode != _PNG_MODES[C] or im.size != (W, H):
                raise RdsweepError(f"{path}: expected an 8-bit {'grayscale' if C == 1 else 'RGB'} {H}x{W} PNG, "
                                   f"got {im.format} mode {im.mode} {im.size[1]}x{im.size[0]}")
            why = _png_error(path)  # before PIL decodes anything
            if why:
                raise RdsweepError(f"{path}: not a valid PNG: it {why}")
            return np.asarray(im, dtype=np.uint8).reshape(1, H, W, C)
    except RdsweepError:
        raise
    except (OSError, UnidentifiedImageError, ValueError, zlib.error, struct.error,
            Image.DecompressionBombError) as e:
        raise RdsweepError(f"{path}: not a readable PNG ({e})") from None


def read_images(path, shape, most: int | None = None) -> tuple[np.ndarray, list | None]:
    """(uint8 (N, H, W, C), the images' file names) from a .npy (no names), a PNG, or a directory of PNGs
    (sorted by name), for images of ``shape``; more than ``most`` images are refused before any is read."""
    path = Path(path)

    def bound(n: int) -> None:
        if most is not None and n > most:
            raise RdsweepError(f"{path}: {n} images, more than the {most} one file holds for this model (split them)")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".png")
        if not files:
            raise RdsweepError(f"{path}: no .png files in this directory")
        for p in files:
            if not p.is_file():
                raise RdsweepError(f"{p}: is not a regular file (a directory of PNGs must hold only PNG files "
                                   "under .png names)")
        if len(files) * math.prod(shape) > MAX_BYTES:
            raise RdsweepError(f"{path}: {len(files)} images are more than {MAX_BYTES} bytes")
        bound(len(files))
        return np.concatenate([read_png(p, shape) for p in files]), [p.name for p in files]
    if not path.exists():
        raise RdsweepError(f"{path}: no such file or directory")
    if not path.is_file():
        raise RdsweepError(f"{path}: not a regular file")
    if path.suffix.lower() == ".npy":
        declared = read_npy(path, header_only=True)
        bound(math.prod(declared) // math.prod(shape))
        return as_batch(read_npy(path), shape, str(path)), None
    if path.suffix.lower() == ".png":
        return read_png(path, shape), [path.name]
    raise RdsweepError(f"{path}: give a .npy, a .png or a directory of .png files")


def write_images(images: np.ndarray, out, replace: bool = True, names=None) -> None:
    """uint8 (N, H, W, C) -> a .npy file of that shape, or a directory of PNGs named ``names`` (default 00000.png,
    ...), atomically."""
    from PIL import Image

    out = Path(out)
    if out.suffix.lower() == ".npy":
        buf = io.BytesIO()
        np.save(buf, images)
        atomic_write_bytes(out, buf.getvalue(), replace)
        return
    if names is None:
        width = max(5, len(str(len(images) - 1)))
        names = [f"{i:0{width}d}.png" for i in range(len(images))]

    def fill(tmp: Path):
        for name, im in zip(names, images):
            Image.fromarray(im[..., 0] if im.shape[-1] == 1 else im).save(tmp / name, format="PNG")

    write_directory(out, fill, replace)
