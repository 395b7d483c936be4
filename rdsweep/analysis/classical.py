"""Classical image codecs as baselines: one file per digit (PNG, WebP, JPEG, JPEG 2000, AVIF, JPEG XL),
rate = the whole file (headers included: what a user pays at this size), decoded again and measured.

Needs the ``baselines`` extra (imagecodecs; Pillow is a core dependency).
"""
from __future__ import annotations

import io
import sys

import numpy as np
from tqdm.auto import tqdm

from rdsweep.errors import RdsweepError

CODECS = {  # name: parameter values
    "png": [None],
    "webp_lossless": [None],
    "jpeg": [1, 5, 10, 20, 30, 50, 70, 90, 95],
    "webp": [0, 5, 10, 20, 40, 60, 80, 95],
    "jpeg2000": [20, 25, 30, 35, 40, 45],  # imagecodecs' level: target PSNR (dB)
    "avif": [0, 20, 40, 60, 80],  # quality (on RGB: gray input is coded lossless)
    "jpegxl": [0.5, 1, 2, 3, 5, 8, 12],  # butteraugli distance
}


def _imagecodecs():
    try:
        import imagecodecs
    except ImportError:
        raise RdsweepError("the classical codec baselines need imagecodecs: pip install 'rdsweep[baselines]'") from None
    return imagecodecs


def _encoder(name, param):
    from PIL import Image

    def pil(fmt, **kw):
        def enc(im):
            buf = io.BytesIO()
            Image.fromarray(im[..., 0] if im.shape[-1] == 1 else im).save(buf, format=fmt, **kw)
            return buf.getvalue()
        return enc

    if name in ("png", "webp_lossless", "jpeg", "webp"):
        return {"png": lambda: pil("PNG", optimize=True),
                "webp_lossless": lambda: pil("WEBP", lossless=True, quality=100, method=6),
                "jpeg": lambda: pil("JPEG", quality=param),
                "webp": lambda: pil("WEBP", quality=param, method=6)}[name]()
    ic = _imagecodecs()
    rgb = lambda im: np.repeat(im, 3, axis=-1) if im.shape[-1] == 1 else im  # noqa: E731
    gray = lambda im: im[..., 0] if im.shape[-1] == 1 else im  # noqa: E731
    return {"jpeg2000": lambda im: ic.jpeg2k_encode(gray(im), level=param),
            # AVIF codes gray input losslessly, so RGB; speed 6: 20x faster than the default, same sizes
            "avif": lambda im: ic.avif_encode(rgb(im), level=param, speed=6),
            "jpegxl": lambda im: ic.jpegxl_encode(gray(im), distance=param)}[name]


def payload_bytes(name: str, blob: bytes) -> int | None:
    """The coded image data without container headers, where the format makes it easy to find:
    PNG: the IDAT chunks' data; JPEG: the entropy-coded data after the start-of-scan header up to EOI;
    WebP: the VP8/VP8L chunk's data. None for the other formats."""
    if name == "png":
        total, pos = 0, 8
        while pos + 8 <= len(blob):
            length, kind = int.from_bytes(blob[pos:pos + 4], "big"), blob[pos + 4:pos + 8]
            total += length if kind == b"IDAT" else 0
            pos += 12 + length
        return total
    if name == "jpeg":
        sos = blob.find(b"\xff\xda")
        header = int.from_bytes(blob[sos + 2:sos + 4], "big")
        return len(blob) - (sos + 2 + header) - 2  # minus the EOI marker
    if name in ("webp", "webp_lossless"):
        for kind in (b"VP8 ", b"VP8L"):
            at = blob.find(kind, 12)
            if at >= 0:
                return int.from_bytes(blob[at + 4:at + 8], "little")
    return None


def _decode(blob, channels: int):
    out = _imagecodecs().imread(blob)
    out = out[..., None] if out.ndim == 2 else out
    return out[..., :1] if channels == 1 else out[..., :3]


def codec_points(name, test, progress=None):
    """(operating point, reconstructions) for each parameter of codec ``name`` on test (N, H, W, C)."""
    for param in tqdm(CODECS[name], desc=name, disable=None if progress is None else not progress, leave=False):
        try:
            enc = _encoder(name, param)
            files = [enc(im) for im in test]
            recon = np.stack([_decode(f, test.shape[-1]) for f in files]).astype(np.uint8)
        except RdsweepError:
            raise
        except Exception as e:  # noqa: BLE001 - a codec missing from this build of imagecodecs/Pillow
            print(f"rdsweep baselines: warning: {name} {param}: {e}; skipped", file=sys.stderr)
            return
        bits = 8 * np.array([len(f) for f in files])
        point = {"param": param, "rate_info_bits": float(bits.mean()), "rate_string_bits": float(bits.mean()),
                 "rate_definition": "whole file per digit, headers included", "decode_mismatches": 0,
                 "file_bytes_min": int(bits.min() // 8)}
        payload = [payload_bytes(name, f) for f in files]
        if payload[0] is not None:
            point["rate_payload_bits"] = float(8 * np.mean(payload))  # without container headers
        yield point, recon
