"""Bjontegaard deltas between rate-distortion curves (``bjontegaard`` package, akima interpolation)."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd


def curve(g: pd.DataFrame):
    """Lossy points on the Pareto front (each point must gain PSNR for its extra bits), by rate."""
    g = g[g["psnr_db"] < 100].sort_values(["rate_info_bits", "psnr_db"])
    keep = g["psnr_db"].to_numpy() > np.maximum.accumulate(np.r_[-np.inf, g["psnr_db"].to_numpy()[:-1]])
    g = g[keep]
    return g["rate_info_bits"].to_numpy(float), g["psnr_db"].to_numpy(float)


def bd_row(r_t, d_t, r_a, d_a) -> dict:
    """BD-rate (% bits the test curve needs relative to the anchor at equal PSNR; negative = fewer) and
    BD-PSNR (dB gained at equal rate), over the overlapping PSNR range, with a note when undefined."""
    import bjontegaard as bd

    lo = max(d_t.min(initial=np.inf), d_a.min(initial=np.inf))
    hi = min(d_t.max(initial=-np.inf), d_a.max(initial=-np.inf))
    row = {"learned_points": len(r_t), "baseline_points": len(r_a), "psnr_overlap_low": lo,
           "psnr_overlap_high": hi, "bd_rate_pct": np.nan, "bd_psnr_db": np.nan}
    if len(r_t) < 4 or len(r_a) < 4 or hi <= lo:
        row["note"] = "PSNR ranges do not overlap" if hi <= lo else "fewer than 4 lossy points"
        return row
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            row["bd_rate_pct"] = float(bd.bd_rate(r_a, d_a, r_t, d_t, method="akima", require_matching_points=False))
            row["bd_psnr_db"] = float(bd.bd_psnr(r_a, d_a, r_t, d_t, method="akima", require_matching_points=False))
        except (ValueError, ZeroDivisionError) as e:
            row["note"] = str(e)
    rates_apart = min(r_t.max(), r_a.max()) <= max(r_t.min(), r_a.min())
    if np.isnan(row["bd_psnr_db"]) and "note" not in row and rates_apart:
        row["note"] = "rate ranges do not overlap: no BD-PSNR"
    return row


def bd_table(settings: list, anchors: list) -> pd.DataFrame:
    """Each learned setting (label, runs) against every other curve (label, runs): one row each."""
    rows = []
    for name, g in settings:
        r_t, d_t = curve(g)
        for anchor, b in anchors:
            if anchor != name:
                rows.append({"learned": name, "baseline": anchor, **bd_row(r_t, d_t, *curve(b))})
    return pd.DataFrame(rows)
