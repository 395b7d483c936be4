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
import os
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
from rdsweep.files import METRICS, read_regular, write_directory

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


def _check_method_dir(d: Path) -> None:
    """``d`` (OUT/<method>) may be replaced only if it is absent or holds nothing but this command's records:
    ``param=*/metrics.json`` of kind baseline. Anything else of a user's stays, and the command is refused."""
    if not os.path.lexists(d):
        return
    if d.is_symlink() or not d.is_dir():
        raise RdsweepError(f"{d}: exists and is not a directory of baseline records; give another --out")
    for p in d.iterdir():
        record = p / METRICS
        ok = p.name.startswith("param=") and p.is_dir() and not p.is_symlink() and \
            [q.name for q in p.iterdir()] == [METRICS] and record.is_file() and not record.is_symlink()
        if ok:
            try:
                ok = json.loads(read_regular(record, 1 << 20)).get("kind") == "baseline"
            except (RdsweepError, ValueError, AttributeError):
                ok = False
        if not ok:
            raise RdsweepError(f"{d}: holds {p.name}, which rdsweep baselines did not write; give another --out "
                               "or move it")


def run_baselines(out: Path, methods, data_cfg, steps=None, progress=None) -> None:
    """Each method's operating points as records in OUT/<method>/param=<p>/metrics.json. OUT/<method> is
    written aside and renamed into place whole (no stale points of earlier settings), and only over a directory
    of this command's own records: everything is checked before any work."""
    out = Path(out)
    unknown = [m for m in methods if m not in TRANSFORMS and m not in CODECS]
    if unknown or not methods:
        raise RdsweepError(f"unknown baseline {unknown[0]!r}; choose from {', '.join(TRANSFORMS + tuple(CODECS))}"
                           if unknown else "no baseline method given")
    if any(not (0 < s <= 1e6) for s in steps or STEPS):
        raise RdsweepError(f"quantizer steps must be in (0, 1e6], not {list(steps)}")
    if os.path.lexists(out) and (out.is_symlink() or not out.is_dir()):
        raise RdsweepError(f"{out}: exists and is not a directory; give another --out")
    for method in dict.fromkeys(methods):
        _check_method_dir(out / method)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RdsweepError(f"cannot write {out}: {e.strerror or e}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise RdsweepError(f"cannot write {out}: permission denied")
    train, test = data.load_split(data_cfg, "train", progress), data.load_split(data_cfg, "test", progress)
    for method in dict.fromkeys(methods):
        points = transform_points(method, train, test, steps or STEPS, progress) if method in TRANSFORMS else \
            codec_points(method, test, progress)
        records = []
        for point, recon in points:
            rec = record(method, point, test, recon)
            records.append(rec)
            print(f"{method:>14} {_label(rec):>8}: {rec['rate_info_bits']:8.2f} bits/digit  "
                  f"{rec['psnr_db']:6.2f} dB  mismatches {rec['decode_mismatches']}")

        def fill(tmp: Path, records=records):
            for rec in records:
                (tmp / f"param={_label(rec)}").mkdir()
                (tmp / f"param={_label(rec)}" / METRICS).write_text(json.dumps(rec, indent=2) + "\n")

        _check_method_dir(out / method)  # again: written meanwhile?
        write_directory(out / method, fill, replace=True)


def _label(rec) -> str:
    return "-" if rec["lmbda"] is None else f"{rec['lmbda']:.4g}"
