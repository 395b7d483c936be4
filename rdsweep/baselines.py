"""Baselines on the same test digits, metric and figure: DCT / 8x8 block DCT / PCA transform coding (entropy
coded for real with the same range coder), and classical image codecs (one file per digit).

    python -m rdsweep.baselines [--out outputs/baselines] [--methods dct,blockdct,pca,png,jpeg,webp,...]

Each operating point writes OUT/<method>/<param>/metrics.json in the learned runs' schema (rate in bits/digit,
psnr_db, psnr_of_mse_db, mae, decode_mismatches), plus "kind": "baseline" and what the rate counts, so
`python -m rdsweep.aggregate` puts them in rd.csv and on Figure 6 and computes BD-rates.

Transform coding: orthonormal transform of each digit (pixels 0..255), uniform scalar quantization with
step `step`, one factorized model per coefficient fitted on the 60k training digits (histogram + 1, with the
same escape mechanism as the learned codec; the tables are the "model", charged once, not per digit), a
range-coded string per digit, decoded again and verified, inverse transform, round and saturate to uint8.
"""
from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf
from scipy import fft
from tqdm.auto import tqdm

from rdsweep import data
from rdsweep.checkpoint import METRICS, atomic_write_text
from rdsweep.codec import FactorizedCodec, quantize_pmf
from rdsweep.errors import RdsweepError, report_errors
from rdsweep.evaluate import psnr

STEPS = [2.0 ** (k / 2) for k in range(4, 21)]  # 4 .. 1024 on the 0..255 pixel scale
TRANSFORMS = ("dct", "blockdct", "pca")
CODECS = {  # name: (parameter values, lossy?)
    "png": ([None], False),
    "webp_lossless": ([None], False),
    "jpeg": ([1, 5, 10, 20, 30, 50, 70, 90, 95], True),
    "webp": ([0, 5, 10, 20, 40, 60, 80, 95], True),
    "jpeg2000": ([20, 25, 30, 35, 40, 45], True),  # imagecodecs' level: target PSNR (dB)
    "avif": ([0, 20, 40, 60, 80], True),  # quality (on RGB: gray input is coded lossless)
    "jpegxl": ([0.5, 1, 2, 3, 5, 8, 12], True),  # butteraugli distance
}


# ---- transforms (orthonormal on flattened 784-pixel digits) ---------------------------------------------
def dct_forward(x):
    return fft.dctn(x.astype(np.float64), axes=(1, 2), norm="ortho").reshape(len(x), -1)


def dct_inverse(c):
    return fft.idctn(c.reshape(-1, 28, 28), axes=(1, 2), norm="ortho")


def blockdct_forward(x):
    p = np.pad(x.astype(np.float64), ((0, 0), (0, 4), (0, 4)), mode="edge")  # 32x32: 4x4 blocks of 8x8
    b = p.reshape(len(x), 4, 8, 4, 8).transpose(0, 1, 3, 2, 4)
    return fft.dctn(b, axes=(3, 4), norm="ortho").reshape(len(x), -1)


def blockdct_inverse(c):
    b = fft.idctn(c.reshape(-1, 4, 4, 8, 8), axes=(3, 4), norm="ortho")
    return b.transpose(0, 1, 3, 2, 4).reshape(-1, 32, 32)[:, :28, :28]


class PCA:
    """KLT fitted on the training digits: mean + orthonormal eigenvectors of the covariance."""

    def __init__(self, train):
        x = train.reshape(len(train), -1).astype(np.float64)
        self.mean = x.mean(axis=0)
        _, _, vt = np.linalg.svd(x - self.mean, full_matrices=False)
        self.basis = vt  # (784, 784), rows = components, by decreasing variance

    def forward(self, x):
        return (x.reshape(len(x), -1) - self.mean) @ self.basis.T

    def inverse(self, c):
        return (c @ self.basis + self.mean).reshape(-1, 28, 28)


def fit_codec(train_q: np.ndarray) -> FactorizedCodec:
    """Per-coefficient tables from training histograms (+1 smoothing; an escape covers unseen values)."""
    lo, hi = train_q.min(axis=0), train_q.max(axis=0)
    K = int((hi - lo).max()) + 1
    hist = np.ones((train_q.shape[1], K + 1))
    idx = train_q - lo
    for d in range(train_q.shape[1]):
        hist[d, :K] += np.bincount(idx[:, d], minlength=K)
    return FactorizedCodec(np.zeros(train_q.shape[1]), lo, quantize_pmf(hist))


def transform_points(name, train, test, steps, progress=True):
    if name == "pca":
        pca = PCA(train)
        fwd, inv = pca.forward, pca.inverse
    else:
        fwd, inv = {"dct": (dct_forward, dct_inverse), "blockdct": (blockdct_forward, blockdct_inverse)}[name]
    c_train, c_test = fwd(train), fwd(test)
    for step in tqdm(steps, desc=name, disable=not progress, leave=False):
        codec = fit_codec(np.rint(c_train / step).astype(np.int64))
        q = codec.quantize(c_test / step)
        strings = codec.encode_many(q)
        decoded = codec.decode_many(strings)
        recon = np.clip(np.rint(inv(decoded * step)), 0, 255).astype(np.uint8)
        yield {"param": step, "rate_info_bits": float(codec.info_bits(q).mean()),
               "rate_string_bits": float(np.mean([8 * len(s) for s in strings])),
               "rate_definition": "information content of the coded coefficients (strings: per-digit strings)",
               "decode_mismatches": int(np.any(decoded != q, axis=1).sum()),
               "model_table_entries": int(codec.counts.size)}, recon


# ---- classical codecs --------------------------------------------------------------------------------
def _encoder(name, param):
    import imagecodecs
    from PIL import Image

    def pil(fmt, **kw):
        def enc(im):
            buf = io.BytesIO()
            Image.fromarray(im, mode="L").save(buf, format=fmt, **kw)
            return buf.getvalue()
        return enc

    return {
        "png": lambda: pil("PNG", optimize=True),
        "webp_lossless": lambda: pil("WEBP", lossless=True, quality=100, method=6),
        "jpeg": lambda: pil("JPEG", quality=param),
        "webp": lambda: pil("WEBP", quality=param, method=6),
        "jpeg2000": lambda: lambda im: imagecodecs.jpeg2k_encode(im, level=param),
        "avif": lambda: lambda im: imagecodecs.avif_encode(np.repeat(im[..., None], 3, axis=-1), level=param,
                                                          speed=6),  # default speed: 20x slower, same sizes
        "jpegxl": lambda: lambda im: imagecodecs.jpegxl_encode(im, distance=param),
    }[name]()


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


def _decode(blob):
    import imagecodecs

    out = imagecodecs.imread(blob)
    return out if out.ndim == 2 else out[..., 0]


def codec_points(name, test, progress=True):
    params, _ = CODECS[name]
    for param in tqdm(params, desc=name, disable=not progress, leave=False):
        try:
            enc = _encoder(name, param)
            files = [enc(im) for im in test]
            recon = np.stack([_decode(f) for f in files]).astype(np.uint8)
        except Exception as e:  # noqa: BLE001 - a codec missing from this build of imagecodecs/Pillow
            print(f"rdsweep.baselines: warning: {name} {param}: {e}; skipped", file=sys.stderr)
            return
        bits = 8 * np.array([len(f) for f in files])
        point = {"param": param, "rate_info_bits": float(bits.mean()), "rate_string_bits": float(bits.mean()),
                 "rate_definition": "whole file per digit, headers included", "decode_mismatches": 0,
                 "file_bytes_min": int(bits.min() // 8)}
        payload = [payload_bytes(name, f) for f in files]
        if payload[0] is not None:
            point["rate_payload_bits"] = float(8 * np.mean(payload))  # without container headers
        yield point, recon


def record(method, point, test, recon):
    err = test.astype(np.float64) - recon.astype(np.float64)
    mse = np.mean(err**2, axis=(1, 2))
    return {"kind": "baseline", "prior": method, "distortion": "-", "latent_dims": "-", "epochs": 0,
            "lmbda": point.pop("param"), "test_digits": len(test), **point,
            "psnr_db": float(np.mean(psnr(mse))), "psnr_of_mse_db": float(psnr(mse.mean())),
            "mae": float(np.mean(np.abs(err)) / 255.0)}


def run_baselines(out: Path, methods, data_cfg, steps=STEPS, progress=True):
    train, test = data.load_split(data_cfg, "train"), data.load_split(data_cfg, "test")
    for method in methods:
        if method in TRANSFORMS:
            points = transform_points(method, train, test, steps, progress)
        elif method in CODECS:
            points = codec_points(method, test, progress)
        else:
            raise RdsweepError(f"unknown baseline {method!r}; choose from {', '.join(TRANSFORMS + tuple(CODECS))}")
        shutil.rmtree(out / method, ignore_errors=True)  # no stale operating points from earlier settings
        for point, recon in points:
            rec = record(method, point, test, recon)
            d = out / method / f"param={rec['lmbda']}"
            d.mkdir(parents=True, exist_ok=True)
            atomic_write_text(d / METRICS, json.dumps(rec, indent=2) + "\n")
            print(f"{method:>14} {str(rec['lmbda']):>8}: {rec['rate_info_bits']:8.2f} bits/digit  "
                  f"{rec['psnr_db']:6.2f} dB  mismatches {rec['decode_mismatches']}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rdsweep.baselines", description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("outputs/baselines"))
    ap.add_argument("--methods", default=",".join(TRANSFORMS + tuple(CODECS)))
    ap.add_argument("--data-dir", default=None, help="MNIST IDX directory (default: $RDSWEEP_DATA_DIR or data/mnist)")
    ap.add_argument("--test-limit", type=int, default=None)
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    import os

    cfg = OmegaConf.create({"source": "auto", "train_limit": None, "test_limit": args.test_limit,
                            "dir": args.data_dir or os.environ.get("RDSWEEP_DATA_DIR", "data/mnist")})
    return report_errors(run_baselines, args.out, [m for m in args.methods.split(",") if m], cfg, STEPS,
                         not args.no_progress)


if __name__ == "__main__":
    sys.exit(main())
