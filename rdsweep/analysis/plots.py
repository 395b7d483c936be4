"""Figures of the aggregation stage: Figure 6 (rate vs PSNR) and the latent-dimension study.

Drawn with matplotlib's object API (``matplotlib.figure.Figure``): no backend, no global state. Every series
has its own colour and marker; settings with several seeds show their mean with 95% error bars on both axes.
"""
from __future__ import annotations

import io
import itertools
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from rdsweep.analysis.bd import curve, mse_chord
from rdsweep.analysis.records import SETTING, whole
from rdsweep.files import atomic_write_bytes
from rdsweep.analysis.reference import NERD, NERD_LABEL, REFERENCE_RERUN, REPORT, REPORT_TABLE1, RERUN, nerd_psnr

MARKERS = "osD^v<>phX*P8H"
COLORS = matplotlib.colormaps["tab20"].colors


def styles():
    """An endless supply of distinct (colour, marker) pairs: no two series look alike."""
    for i in itertools.count():
        yield COLORS[(2 * i) % 20 if i < 10 else (2 * (i - 10) + 1) % 20], MARKERS[i % len(MARKERS)]


MAX_LEGEND = 40  # series; a figure with more has no legend (its rd_summary.csv names them)
MAX_LABEL = 90  # characters of one series' name in a legend


def save(fig: Figure, out: Path, name: str, svg: bool = False) -> None:
    """name.png (and .svg), each rendered in memory, then written atomically: a figure is never half-written."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, metadata={"Software": None})
    atomic_write_bytes(out / f"{name}.png", buf.getvalue())
    if svg:
        buf = io.BytesIO()
        with matplotlib.rc_context({"svg.hashsalt": "rdsweep"}):  # deterministic SVG ids
            fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
        atomic_write_bytes(out / f"{name}.svg", buf.getvalue())


def text(label) -> str:
    """A name from a record as plain text in a figure: no math ($ escaped), one line, bounded length."""
    label = " ".join(str(label).split()).replace("$", r"\$")
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 3] + "..."


def legend(ax, **kw) -> None:
    if len(ax.get_legend_handles_labels()[0]) <= MAX_LEGEND:
        ax.legend(**kw)


def _errorbars(ax, s, x: str, y: str, label, color, marker, lw=2.0, ls="-"):
    """Means of a summary with 95% error bars (where there are several seeds) on both axes, joined by straight
    lines (``ls``; "none": markers only)."""
    xe, ye = s.get(f"{x}_ci95"), s.get(f"{y}_ci95")
    several = s["n_seeds"].max() > 1
    ax.errorbar(s[f"{x}_mean"], s[f"{y}_mean"], xerr=xe if several else None, yerr=ye if several else None,
                fmt="", ls=ls, marker=marker, color=color, lw=lw, ms=5, capsize=3 if several else 0,
                label=text(f"{label} (n={s['n_seeds'].min()}{'' if s['n_seeds'].nunique() == 1 else '+'} seeds)"
                           if several else label))


def rd_figure(settings: list, baselines: list, out: Path, pixels=None) -> None:
    """settings: (label, summary) of the learned settings; baselines: (label, runs). Writes rd_curve.png/.svg:
    left, PSNR on the uint8 reconstructions (Figure 6) with the TFC re-run and the baselines; right, the
    report's own PSNR formula (its uint8 squares wrap modulo 256) with the report's Table 1 points."""
    fig = Figure(figsize=(18, 5.5), layout="constrained")
    ax, ax3, ax2 = fig.subplots(1, 3, gridspec_kw={"width_ratios": [3, 2, 2]})
    style = styles()
    for label, s in settings:
        c, m = next(style)
        _errorbars(ax, s, "rate_info_bits", "psnr_db", label, c, m)
        if "psnr_of_mse_db_mean" in s and s["psnr_of_mse_db_mean"].notna().all():
            _errorbars(ax3, s, "rate_info_bits", "psnr_of_mse_db", label, c, m, ls="none")
            ax3.plot(*mse_chord(s), "-", color=c, lw=1.5)  # the time-sharing chord bound.csv reads
        alike = s[s["lmbda"].isin(list(REPORT_TABLE1))]  # the report's lambdas only
        if len(alike) and "psnr_report_formula_db_mean" in s and alike["psnr_report_formula_db_mean"].notna().all():
            _errorbars(ax2, alike, "rate_info_bits", "psnr_report_formula_db", label, c, m)
    for label, g in baselines:
        r, d = curve(g)
        if len(r) >= 2:
            c, m = next(style)
            definition = str(g["rate_definition"].iloc[0]) if "rate_definition" in g else ""  # an optional field
            what = " (whole files)" if "file" in definition else ""
            ax.plot(r, d, "--", marker=m, color=c, lw=1, ms=4, label=text(f"{label}{what}"))
    lam = sorted(REFERENCE_RERUN)
    c, m = next(style)
    ax.plot([REFERENCE_RERUN[k][0] for k in lam], [REFERENCE_RERUN[k][1] for k in lam], ":", marker=m, color=c,
            label=RERUN)
    ax2.plot([REPORT_TABLE1[k][0] for k in lam], [REPORT_TABLE1[k][1] for k in lam], "k*--", ms=10,
             label=REPORT)
    for k in lam:
        ax2.annotate(f"λ={k}", REPORT_TABLE1[k], textcoords="offset points", xytext=(5, -12), fontsize=8)
    ax3.plot([r for r, _ in NERD], [nerd_psnr(d) for _, d in NERD], "k^:", ms=6, label=NERD_LABEL)
    ax3.set_xscale("log")
    ax3.set_title("Against an estimate of the rate-distortion function", fontsize=10)
    ax3.set_ylabel("PSNR (dB) of the mean MSE over the digits")
    ax3.text(0.98, 0.02, "NERD: MNIST training digits resized to 32x32, D = summed squared error\nper image, "
                         "shown as 10 log10(784 / D) (about +-0.5 dB of the 28x28 value)",
             transform=ax3.transAxes, fontsize=6, va="bottom", ha="right")
    if baselines:
        ax.set_xscale("log")
    ax.set_title("Rate-distortion on the test digits (Figure 6)")
    ax.set_ylabel("PSNR (dB) of the uint8 reconstructions, mean over test digits")
    ax2.set_title("Against the report's Table 1, by its own PSNR code")
    ax2.set_ylabel("PSNR (dB) as the report computes it (uint8 squares wrap mod 256)")
    for a in (ax, ax3, ax2):
        a.set_xlabel("rate (bits/digit)")
        a.grid(alpha=0.3)
        if a is not ax:  # below the axes: the points span the panel
            legend(a, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12))
        else:
            legend(a, fontsize=7)
        if pixels:
            top = a.secondary_xaxis("top", functions=(lambda b, p=pixels: b / p, lambda b, p=pixels: b * p))
            top.set_xlabel("bits per pixel")
    save(fig, out, "rd_curve", svg=True)


def latent_figure(summary, out: Path, labels: dict) -> bool:
    """Rate and PSNR against latent_dims, one line per setting and lambda that has several latent sizes (the
    runs of a line differ in nothing else), ticks at the latent sizes present, 95% error bars over seeds.
    ``labels``: setting key (SETTING values) -> its name. False (no figure) when no such line exists."""
    others = [c for c in SETTING if c != "latent_dims"]
    lines = [(k, g.sort_values("latent_dims")) for k, g in summary.groupby(others + ["lmbda"], sort=True)
             if g["latent_dims"].nunique() > 1]
    if not lines:
        return False
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    a1, a2 = fig.subplots(1, 2)
    style = styles()
    sizes = sorted({int(v) for _, g in lines for v in g["latent_dims"]})
    for key, g in lines:
        c, m = next(style)
        n = g["n_seeds"].min()
        name = labels.get(tuple(g.iloc[0][SETTING]), "").replace(f"latent {whole(g.iloc[0]['latent_dims'])}, ", "")
        for ax, metric in ((a1, "psnr_db"), (a2, "rate_info_bits")):
            ax.errorbar(g["latent_dims"], g[f"{metric}_mean"], yerr=g[f"{metric}_ci95"] if n > 1 else None,
                        fmt="-", marker=m, color=c, capsize=3,
                        label=text(f"{name}, λ={key[-1]:g}" + (f" (n={n})" if n > 1 else "")))
    for ax, name, least in ((a1, "PSNR (dB)", 1.0), (a2, "rate (bits/digit)", 4.0)):
        ax.set_xscale("log")
        ax.set_xticks(sizes, [str(s) for s in sizes])
        ax.minorticks_off()
        ax.set_xlabel("latent dimensions")
        ax.set_ylabel(name)
        lo, hi = ax.get_ylim()
        if hi - lo < least:  # a flat line stays flat: no magnified noise
            mid = (lo + hi) / 2
            ax.set_ylim(mid - least / 2, mid + least / 2)
        ax.grid(alpha=0.3)
        legend(ax, fontsize=7)
    fig.suptitle("Does the latent dimension matter? (each line: one setting and lambda, only the latent size "
                 "changes; 95% intervals over seeds)", fontsize=10)
    save(fig, out, "latent_study")
    return True


def pixels_of(df) -> float | None:
    """Pixels per image if every record says the same (for the bits-per-pixel axis)."""
    if "image_pixels" not in df:
        return None
    values = set(v for v in df["image_pixels"] if v != "-" and np.isfinite(float(v)))
    return float(values.pop()) if len(values) == 1 else None
