"""Bjontegaard deltas between rate-distortion curves (``bjontegaard`` package, akima interpolation)."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from rdsweep.analysis.stats import interval


def curve(g: pd.DataFrame):
    """Lossy points on the Pareto front (each point must gain PSNR for its extra bits), by rate."""
    g = g[g["psnr_db"] < 100].sort_values(["rate_info_bits", "psnr_db"])
    keep = g["psnr_db"].to_numpy() > np.maximum.accumulate(np.r_[-np.inf, g["psnr_db"].to_numpy()[:-1]])
    g = g[keep]
    return g["rate_info_bits"].to_numpy(float), g["psnr_db"].to_numpy(float)


def lower_hull(x, y):
    """The points (x strictly increasing) on the lower convex hull of (x, y), as arrays: what mixing any of
    them reaches, the least y at each x."""
    def turns_up(o, a, b):  # b lies above the line through o and a
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]) > 0

    h = []
    for p in zip(np.asarray(x, float), np.asarray(y, float)):
        while len(h) >= 2 and not turns_up(h[-2], h[-1], p):
            h.pop()
        h.append(p)
    return np.array([q[0] for q in h]), np.array([q[1] for q in h])


def reach_rate(r_t, d_t, r_a, d_a, n: int = 1000) -> float:
    """The BD-rate with each curve's rate read off its lower convex hull in (PSNR, rate), linear in PSNR between
    hull points, instead of akima's curve through its points: % bits over the overlapping PSNR range, from the
    mean of the log ratio. Coding a share of the digits at each of two points reaches that chord exactly (rate
    and mean per-digit PSNR mix linearly), so this counts only what the coder reaches by time-sharing its
    measured points; where they lie far apart (a collapsed lambda) akima's interpolation can promise rates no
    model delivers. Needs PSNR strictly increasing along each curve (``curve``) and overlapping ranges; nan
    where a rate read off is not above 0."""
    lo, hi = max(d_t.min(), d_a.min()), min(d_t.max(), d_a.max())
    if hi <= lo:
        return float("nan")
    p = np.linspace(lo, hi, n)
    rt, ra = np.interp(p, *lower_hull(d_t, r_t)), np.interp(p, *lower_hull(d_a, r_a))
    if not (np.all(rt > 0) and np.all(ra > 0)):
        return float("nan")
    return float(100 * np.expm1(np.mean(np.log(rt) - np.log(ra))))


def crossings(r_t, d_t, r_a, d_a, n: int = 4000) -> dict:
    """Where two curves cross, over their overlapping rate range: each curve's PSNR read off its upper concave
    hull in (rate, PSNR), linear in rate between hull points (what time-sharing its points reaches, as
    ``reach_rate``). ``psnr_gain_min_db`` / ``psnr_gain_max_db``: the least and most PSNR the test curve has over
    the other at equal rate there (both above 0: above it everywhere in the overlap); ``crossing_bits``: the
    rates (bits/digit) where the difference changes sign, "none" if it never does. Empty where the rate ranges
    do not overlap."""
    if len(r_t) < 2 or len(r_a) < 2:
        return {}
    lo, hi = max(r_t.min(), r_a.min()), min(r_t.max(), r_a.max())
    if hi <= lo:
        return {}
    (xt, yt), (xa, ya) = lower_hull(r_t, -d_t), lower_hull(r_a, -d_a)  # upper hulls, PSNR negated
    r = np.unique(np.r_[np.linspace(lo, hi, n), xt[(xt > lo) & (xt < hi)], xa[(xa > lo) & (xa < hi)]])
    gain = np.interp(r, xa, ya) - np.interp(r, xt, yt)
    nz = np.nonzero(gain)[0]  # a sign change between neighbouring non-zero gains, through any zeros between them
    at = [r[i + 1] if j > i + 1 else r[i] + (r[j] - r[i]) * gain[i] / (gain[i] - gain[j])
          for i, j in zip(nz[:-1], nz[1:]) if gain[i] * gain[j] < 0]
    return {"rate_overlap_low": lo, "rate_overlap_high": hi, "psnr_gain_min_db": float(gain.min()),
            "psnr_gain_max_db": float(gain.max()), "crossing_bits": "; ".join(f"{x:.4g}" for x in at) or "none"}


def bd_row(r_t, d_t, r_a, d_a) -> dict:
    """BD-rate (% bits the test curve needs relative to the anchor at equal PSNR; negative = fewer), BD-PSNR
    (dB gained at equal rate) and ``bd_rate_reach_pct`` (``reach_rate``), over the overlapping PSNR range, with
    a note when undefined."""
    import bjontegaard as bd

    lo = max(d_t.min(initial=np.inf), d_a.min(initial=np.inf))
    hi = min(d_t.max(initial=-np.inf), d_a.max(initial=-np.inf))
    row = {"learned_points": len(r_t), "baseline_points": len(r_a), "psnr_overlap_low": lo,
           "psnr_overlap_high": hi, "bd_rate_pct": np.nan, "bd_psnr_db": np.nan, "bd_rate_reach_pct": np.nan}
    if len(r_t) >= 2 and len(r_a) >= 2:
        row["bd_rate_reach_pct"] = reach_rate(r_t, d_t, r_a, d_a)
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


def _seeds(g: pd.DataFrame) -> dict:
    """The runs of each seed ({None: g} for a curve without seeds, e.g. a baseline)."""
    seeds = [x for x in g["seed"].unique() if x != "-"] if "seed" in g else []
    return {s: g[g["seed"] == s] for s in sorted(seeds)} if len(seeds) > 1 else {None: g}


def _pairs(a: pd.DataFrame, b: pd.DataFrame) -> list:
    """Curves to compare seed by seed: matched seeds where both sides have them, else every combination."""
    sa, sb = _seeds(a), _seeds(b)
    common = sorted(set(sa) & set(sb) - {None})
    if len(common) >= 2:
        return [(sa[s], sb[s]) for s in common]
    return [(x, y) for x in sa.values() for y in sb.values()]


def _mean_curve(g: pd.DataFrame):
    return curve(g.groupby("lmbda", sort=True)[["rate_info_bits", "psnr_db"]].mean().reset_index())


MAX_ALL_PAIRS = 40  # settings; beyond, each is compared with the baselines and the first setting only


def bd_table(settings: list, anchors: list) -> tuple[pd.DataFrame, str | None]:
    """Each learned setting (label, runs) against every other curve (label, runs): one row each; and a note
    when there are more than MAX_ALL_PAIRS learned settings: each is then compared with the non-learned
    anchors (baselines) and the first setting only, so the table grows linearly, not quadratically.

    With one seed a side, ``bd_rate_pct`` / ``bd_psnr_db`` compare the two curves. With several seeds, they
    are computed for each pair of seeds (matched seeds where both sides have them, else every combination):
    ``bd_rate_pct`` is then their mean, ``bd_rate_ci95`` the 95% Student-t half-width over the ``bd_pairs``
    pairs where it is defined (the note says how many are not, and why), ``bd_rate_ci_includes_0`` whether
    the interval holds 0 (the same for BD-PSNR); the BD-rate of the seed-mean curves is kept as
    ``bd_rate_pct_of_means``. ``bd_rate_reach_*``: the same for ``reach_rate`` (defined from 2 points a curve).
    Where the seed-mean curves cross: ``crossings``.
    """
    learned = {name for name, _ in settings}
    note = None
    if len(settings) > MAX_ALL_PAIRS:
        first = settings[0][0]
        anchors = [(a, b) for a, b in anchors if a not in learned or a == first]
        note = (f"{len(settings)} learned settings: BD-rates against the baselines and {first!r} only (all pairs "
                f"would be {len(settings) * (len(settings) - 1):,})")
    means = {name: _mean_curve(g) for name, g in [*settings, *anchors]}
    rows = []
    for name, g in settings:
        r_t, d_t = means[name]
        for anchor, b in anchors:
            if anchor == name:
                continue
            row = {"learned": name, "baseline": anchor, **bd_row(r_t, d_t, *means[anchor]),
                   **crossings(r_t, d_t, *means[anchor])}  # of the seed-mean curves only
            pairs = _pairs(g, b)
            if len(pairs) > 1:
                per = [bd_row(*curve(x), *curve(y)) for x, y in pairs]
                row["bd_rate_pct_of_means"] = row["bd_rate_pct"]
                row["bd_rate_reach_pct_of_means"] = row["bd_rate_reach_pct"]
                for m in ("bd_rate", "bd_psnr", "bd_rate_reach"):
                    unit = "db" if m == "bd_psnr" else "pct"
                    mean, ci, n = interval([p[f"{m}_{unit}"] for p in per])
                    row.update({f"{m}_{unit}": mean, f"{m}_ci95": ci})
                    if m == "bd_rate":
                        row["bd_pairs"] = n
                    if np.isfinite(ci):
                        row[f"{m}_ci_includes_0"] = "yes" if abs(mean) <= ci else "no"
                lost = [p.get("note", "") for p in per if np.isnan(p["bd_rate_pct"])]
                if lost and len(lost) < len(per):
                    why = "; ".join(dict.fromkeys(lost))
                    row["note"] = "; ".join(filter(None, [row.get("note"),
                                                          f"{len(lost)} of {len(per)} seed pairs undefined ({why})"]))
            rows.append(row)
    return pd.DataFrame(rows), note


def gap_to_bound(label: str, s: pd.DataFrame, bound: list) -> list:
    """A setting's distance to a rate-distortion estimate: at each of the bound's points (rate, PSNR) inside the
    setting's PSNR-of-mean-MSE range, the setting's rate there and the difference in bits. The rate is read off
    the lower convex hull of its seed-mean points in (mean MSE, rate), linear in the mean MSE between hull
    points: time-sharing (coding a share of the digits at each point) reaches exactly that chord, so the gap
    is one the coder reaches, not a guess from a curve drawn through far-apart points. A seed-mean point's
    MSE is read back from the seeds' mean PSNR of the mean MSE, so it is their geometric mean, within a few
    per cent of their mean at these seeds' spread. ``s``: the setting's summary rows (rate_info_bits_mean,
    psnr_of_mse_db_mean)."""
    hull = _mse_hull(s)
    rows = []
    for bound_rate, psnr in bound:
        if hull is not None and hull[0][0] <= -(10.0 ** (-psnr / 10)) <= hull[0][-1]:
            ours = float(np.interp(-(10.0 ** (-psnr / 10)), *hull))
            rows.append({"setting": label, "psnr_of_mse_db": psnr, "bound_bits": bound_rate, "our_bits": ours,
                         "gap_bits": ours - bound_rate})
    return rows


def _mse_hull(s: pd.DataFrame):
    """(-MSE, rate) on the lower convex hull of a summary's seed-mean points on their Pareto front (rate,
    PSNR of the mean MSE), -MSE increasing; None with fewer than 2 such points."""
    if "psnr_of_mse_db_mean" not in s:
        return None
    g = s[["rate_info_bits_mean", "psnr_of_mse_db_mean"]].dropna().sort_values("rate_info_bits_mean")
    d = g["psnr_of_mse_db_mean"].to_numpy()
    keep = d > np.maximum.accumulate(np.r_[-np.inf, d[:-1]])
    if keep.sum() < 2:
        return None
    return lower_hull(-(10.0 ** (-d[keep] / 10)), g["rate_info_bits_mean"].to_numpy()[keep])


def mse_chord(s: pd.DataFrame, n: int = 64):
    """(rates, PSNRs of the mean MSE) along the chord ``gap_to_bound`` reads, n points evenly spaced in MSE
    between the hull's ends: the line Figure 6 draws through a setting's points against the bound (empty
    with fewer than 2 points)."""
    hull = _mse_hull(s)
    if hull is None:
        return np.array([]), np.array([])
    hx, hr = hull
    x = np.unique(np.r_[np.linspace(hx[0], hx[-1], n), hx])
    return np.interp(x, hx, hr), -10 * np.log10(-x)
