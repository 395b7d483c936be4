"""Baselines on the same test digits, metric and figure: DCT / 8x8 block DCT / PCA transform coding (entropy
coded for real with the same range coder) and classical image codecs (``analysis.classical``).

    rdsweep baselines [--out outputs/baselines] [--methods dct,blockdct,pca,png,jpeg,webp,...]

Each operating point writes OUT/<method>/param=<p>/metrics.json in the learned runs' schema (rate in
bits/digit, psnr_db, psnr_of_mse_db, mae, decode_mismatches), plus "kind": "baseline" and what the rate
counts, so the aggregation puts them in rd.csv and on Figure 6 and computes BD-rates.

Transform coding: orthonormal transform of each image (pixels 0..255; per channel for the DCTs), uniform
scalar quantization with step ``step``, one factorized table per coefficient fitted on the training images
(histogram + 1, with the learned codec's escape mechanism; the tables are the "model", charged once, not per
digit), a range-coded string per digit, decoded again and verified, inverse transform, round and saturate.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from scipy import fft
from tqdm.auto import tqdm

from rdsweep import data
from rdsweep.analysis.classical import CODECS, codec_points
from rdsweep.coding import messages
from rdsweep.coding.tables import CategoricalTables, quantize_pmf
from rdsweep.entropy.factorized import FactorizedEntropy
from rdsweep.errors import RdsweepError
from rdsweep.experiment.evaluate import distortion_metrics
from rdsweep.files import METRICS, atomic_write_text

STEPS = [2.0 ** (k / 2) for k in range(4, 21)]  # 4 .. 1024 on the 0..255 pixel scale
TRANSFORMS = ("dct", "blockdct", "pca")


# ---- transforms (orthonormal, on images (N, H, W, C) -> coefficients (N, M)) ----------------------------
def dct_forward(x):
    return fft.dctn(x.astype(np.float64), axes=(1, 2), norm="ortho").reshape(len(x), -1)


def dct_inverse(c, shape):
    return fft.idctn(c.reshape(-1, *shape), axes=(1, 2), norm="ortho")


def _pad8(n: int) -> int:
    return -(-n // 8) * 8


def blockdct_forward(x):
    N, H, W, C = x.shape
    p = np.pad(x.astype(np.float64), ((0, 0), (0, _pad8(H) - H), (0, _pad8(W) - W), (0, 0)), mode="edge")
    b = p.reshape(N, _pad8(H) // 8, 8, _pad8(W) // 8, 8, C).transpose(0, 1, 3, 5, 2, 4)
    return fft.dctn(b, axes=(4, 5), norm="ortho").reshape(N, -1)


def blockdct_inverse(c, shape):
    H, W, C = shape
    b = fft.idctn(c.reshape(-1, _pad8(H) // 8, _pad8(W) // 8, C, 8, 8), axes=(4, 5), norm="ortho")
    return b.transpose(0, 1, 4, 2, 5, 3).reshape(-1, _pad8(H), _pad8(W), C)[:, :H, :W]


class PCA:
    """KLT fitted on the training images: mean + orthonormal eigenvectors of the covariance."""

    def __init__(self, train):
        x = train.reshape(len(train), -1).astype(np.float64)
        self.mean = x.mean(axis=0)
        _, _, vt = np.linalg.svd(x - self.mean, full_matrices=False)
        self.basis = vt  # (M, M), rows = components, by decreasing variance

    def forward(self, x):
        return (x.reshape(len(x), -1) - self.mean) @ self.basis.T

    def inverse(self, c, shape):
        return (c @ self.basis + self.mean).reshape(-1, *shape)


def fit_tables(train_q: np.ndarray) -> FactorizedEntropy:
    """Per-coefficient tables from training histograms (+1 smoothing; an escape covers unseen values)."""
    lo, hi = train_q.min(axis=0), train_q.max(axis=0)
    K = int((hi - lo).max()) + 1
    hist = np.ones((train_q.shape[1], K + 1))
    for d in range(train_q.shape[1]):
        hist[d, :K] += np.bincount(train_q[:, d] - lo[d], minlength=K)
    return FactorizedEntropy(np.zeros(train_q.shape[1]), CategoricalTables(lo, quantize_pmf(hist)))


def transform_points(name, train, test, steps, progress=None):
    if name == "pca":
        pca = PCA(train)
        fwd, inv = pca.forward, pca.inverse
    else:
        fwd, inv = {"dct": (dct_forward, dct_inverse), "blockdct": (blockdct_forward, blockdct_inverse)}[name]
    c_train, c_test = fwd(train), fwd(test)
    for step in tqdm(steps, desc=name, disable=None if progress is None else not progress, leave=False):
        tables = fit_tables(np.rint(c_train / step).astype(np.int64))
        q = tables.quantize(c_test / step)
        layers = [("c", tables)]
        strings = messages.strings(layers, {"c": q})
        decoded = messages.decode_strings(layers, strings)["c"]
        recon = np.clip(np.rint(inv(decoded * step, test.shape[1:])), 0, 255).astype(np.uint8)
        yield {"param": step, "rate_info_bits": float(tables.info_bits(q).mean()),
               "rate_string_bits": float(np.mean([8 * len(s) for s in strings])),
               "rate_definition": "information content of the coded coefficients (strings: per-digit strings)",
               "decode_mismatches": int(np.any(decoded != q, axis=1).sum()),
               "model_table_entries": int(tables.tables.counts.size)}, recon


def record(method, point, test, recon) -> dict:
    return {"kind": "baseline", "prior": method, "distortion": None, "model": None, "latent_dims": None, "epochs": 0,
            "lmbda": point.pop("param"), "test_digits": len(test), **point, **distortion_metrics(test, recon)}


def run_baselines(out: Path, methods, data_cfg, steps=STEPS, progress=None):
    unknown = [m for m in methods if m not in TRANSFORMS and m not in CODECS]
    if unknown:
        raise RdsweepError(f"unknown baseline {unknown[0]!r}; choose from {', '.join(TRANSFORMS + tuple(CODECS))}")
    train, test = data.load_split(data_cfg, "train"), data.load_split(data_cfg, "test")
    for method in methods:
        points = transform_points(method, train, test, steps, progress) if method in TRANSFORMS else \
            codec_points(method, test, progress)
        shutil.rmtree(out / method, ignore_errors=True)  # no stale operating points from earlier settings
        for point, recon in points:
            rec = record(method, point, test, recon)
            label = "-" if rec["lmbda"] is None else f"{rec['lmbda']:.4g}"
            d = out / method / f"param={label}"
            d.mkdir(parents=True, exist_ok=True)
            atomic_write_text(d / METRICS, json.dumps(rec, indent=2) + "\n")
            print(f"{method:>14} {label:>8}: {rec['rate_info_bits']:8.2f} bits/digit  "
                  f"{rec['psnr_db']:6.2f} dB  mismatches {rec['decode_mismatches']}")
