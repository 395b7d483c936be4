"""Paired comparisons on the same test digits: intervals from a bootstrap over the digits, next to the seeds'.

Every run writes each test digit's information content and MSE (digits.npz). Two settings evaluated on the
same test digits (same data and test set size: the first N test digits) can then be compared digit by digit:
resampling the digits with replacement (the same resample for every run of both settings, B times) and
recomputing each seed-mean curve gives the spread a BD-rate or a rate difference has from the choice of test
digits alone. That interval is not the seed interval (which measures training randomness): both are reported.
"""
from __future__ import annotations

import itertools
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from rdsweep.analysis.bd import bd_row
from rdsweep.files import DIGITS

B = 200  # bootstrap resamples
MAX_SETTINGS = 12  # beyond, no paired comparisons (B x pairs BD-rates grow quadratically)


def load_digits(run_dir) -> dict | None:
    """A run's per-digit arrays (info_bits, mse, psnr_db), None if it has none or they are unreadable."""
    from rdsweep.errors import RdsweepError
    from rdsweep.files import read_regular

    path = Path(run_dir) / DIGITS
    try:
        import io

        with np.load(io.BytesIO(read_regular(path, 1 << 28)), allow_pickle=False) as z:
            out = {k: np.asarray(z[k], np.float64) for k in ("info_bits", "psnr_db")}
    except (RdsweepError, OSError, ValueError, KeyError):
        return None
    n = len(out["info_bits"])
    return out if n and all(v.shape == (n,) and np.all(np.isfinite(v)) for v in out.values()) else None


def _curve(runs: pd.DataFrame, digits: dict, idx: np.ndarray) -> dict:
    """lambda -> (rates (B,), PSNRs (B,)): the seed-mean of each resample's mean per-digit figures."""
    out = {}
    for lmbda, g in runs.groupby("lmbda", sort=True):
        rates = np.mean([digits[r]["info_bits"][idx].mean(axis=1) for r in g["run"]], axis=0)
        psnrs = np.mean([digits[r]["psnr_db"][idx].mean(axis=1) for r in g["run"]], axis=0)
        out[float(lmbda)] = (rates, psnrs)
    return out


def _interval(values) -> tuple[float, float]:
    v = np.asarray([x for x in values if np.isfinite(x)])
    return (float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))) if len(v) >= B // 2 else (np.nan, np.nan)


def paired(settings: list, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """settings: (label, runs) of learned settings. (BD rows: learned, baseline (the other setting),
    bd_rate_paired_lo/hi; difference rows: a, b, lmbda, rate and PSNR difference b - a with 95% paired
    intervals), for the pairs on the same test digits whose runs all have digits.npz."""
    if len(settings) > MAX_SETTINGS:
        return pd.DataFrame(), pd.DataFrame()
    digits = {r: load_digits(r) for _, g in settings for r in g["run"]}
    usable = [(name, g) for name, g in settings if all(digits[r] is not None for r in g["run"])]
    rng = np.random.default_rng(seed)
    resamples: dict = {}
    bd_rows, diff_rows = [], []
    for (a, ga), (b, gb) in itertools.permutations(usable, 2):
        sets = {len(digits[r]["info_bits"]) for r in [*ga["run"], *gb["run"]]}
        if len(sets) != 1 or ga["data"].iloc[0] != gb["data"].iloc[0]:
            continue  # not the same test digits
        n = sets.pop()
        idx = resamples.setdefault(n, rng.integers(0, n, (B, n)))
        ca, cb = _curve(ga, digits, idx), _curve(gb, digits, idx)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            per = [bd_row(*_points(cb, i), *_points(ca, i))["bd_rate_pct"] for i in range(B)]
        lo, hi = _interval(per)
        bd_rows.append({"learned": b, "baseline": a, "bd_rate_paired_lo": lo, "bd_rate_paired_hi": hi})
        if a < b:  # each difference once
            for lmbda in sorted(set(ca) & set(cb)):
                (ra, pa), (rb, pb) = ca[lmbda], cb[lmbda]
                full = np.arange(n)[None]
                (ra0, pa0), (rb0, pb0) = _curve(ga[ga["lmbda"] == lmbda], digits, full)[lmbda], \
                    _curve(gb[gb["lmbda"] == lmbda], digits, full)[lmbda]
                diff_rows.append({"a": a, "b": b, "lmbda": lmbda, "rate_diff_bits": float(rb0[0] - ra0[0]),
                                  "rate_diff_lo": _interval(rb - ra)[0], "rate_diff_hi": _interval(rb - ra)[1],
                                  "psnr_diff_db": float(pb0[0] - pa0[0]), "psnr_diff_lo": _interval(pb - pa)[0],
                                  "psnr_diff_hi": _interval(pb - pa)[1], "test_digits": n})
    return pd.DataFrame(bd_rows), pd.DataFrame(diff_rows)


def _points(curve: dict, i: int):
    """Resample i's curve as (rates, PSNRs) on its Pareto front, by rate (as bd.curve)."""
    pts = sorted((r[i], p[i]) for r, p in curve.values())
    keep, best = [], -np.inf
    for r, p in pts:
        if p > best:
            keep.append((r, p))
            best = p
    return np.array([k[0] for k in keep]), np.array([k[1] for k in keep])
