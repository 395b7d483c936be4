"""Seeds: the runs of one setting and lambda that differ only in seed, summarised with 95% intervals."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from rdsweep.analysis.records import SETTING

CI_METRICS = ["rate_info_bits", "rate_string_bits", "psnr_db", "psnr_of_mse_db", "mae", "psnr_report_formula_db",
              "ms_ssim_db"]


def ci95(values) -> float:
    """Half-width of the 95% Student-t interval of the mean (NaN for fewer than 2 values)."""
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    if len(v) < 2:
        return float("nan")
    return float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """One row per setting and lambda: n_seeds, and <metric>_mean, <metric>_ci95 for each CI_METRICS."""
    rows = []
    for key, g in df.groupby(SETTING + ["lmbda"], sort=True):
        row = dict(zip(SETTING + ["lmbda"], key))
        row["n_seeds"] = int(g["seed"].nunique()) if "seed" in g else 1
        if "target_bits" in g and pd.to_numeric(g["target_bits"], errors="coerce").notna().any():
            row["target_bits"] = float(pd.to_numeric(g["target_bits"], errors="coerce").dropna().iloc[0])
        for m in CI_METRICS:
            if m in g and pd.to_numeric(g[m], errors="coerce").notna().any():
                values = pd.to_numeric(g[m], errors="coerce")
                row[f"{m}_mean"], row[f"{m}_ci95"] = float(values.mean()), ci95(values)
        rows.append(row)
    return pd.DataFrame(rows)


def interval(values) -> tuple[float, float, int]:
    """(mean, 95% half-width, n) of finite values."""
    v = np.asarray([x for x in values if np.isfinite(x)], np.float64)
    return (float(v.mean()) if len(v) else float("nan")), ci95(v), len(v)
